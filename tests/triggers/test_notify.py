"""Notifications through real receivers: a loopback webhook, a local SMTP server, the log;
retries with backoff that end in Failed; two deliverers never send one notification twice."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import pytest

from stackyard import notify
from stackyard.errors import NotFoundError, UsageError


def _one(nid: str) -> dict:
    return next(n for n in notify.list_notifications() if n["id"] == nid)


def test_webhook_gets_a_json_post_with_the_event(webhook) -> None:
    notify.create_channel("ops", webhook=webhook.url)
    event = {"type": "run-failed", "run_id": "20260101-000000-abcdef", "status": "Failed",
             "failure_reason": "step Train failed"}
    nid = notify.publish("ops", {"text": "run failed"}, subject="run failed", event=event)
    assert len(webhook.received) == 1
    body = webhook.received[0]
    assert body["id"] == nid and body["channel"] == "ops" and body["subject"] == "run failed"
    assert body["message"] == {"text": "run failed"} and body["event"] == event
    assert webhook.headers[0]["X-Stackyard-Notification"] == nid
    row = _one(nid)
    assert row["status"] == "Delivered" and row["attempts"] == 1 and row["delivered_at"]


def test_email_goes_through_a_real_smtp_server(mailbox) -> None:
    notify.create_channel("mail", email="ops@example.com", smtp=f"127.0.0.1:{mailbox.port}")
    nid = notify.publish("mail", "the model drifted", subject="drift on churn",
                         event={"type": "drift-detected"})
    assert _one(nid)["status"] == "Delivered"
    (msg,) = mailbox.messages
    assert msg["To"] == "ops@example.com" and msg["Subject"] == "drift on churn"
    assert msg["X-Stackyard-Notification"] == nid
    text = msg.get_payload()
    assert "the model drifted" in text and "drift-detected" in text


def test_email_settings_come_from_the_environment(mailbox, monkeypatch) -> None:
    monkeypatch.setenv("STACKYARD_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("STACKYARD_SMTP_PORT", str(mailbox.port))
    monkeypatch.setenv("STACKYARD_SMTP_FROM", "robot@example.org")
    notify.create_channel("mail", email="ops@example.com")
    assert _one(notify.publish("mail", "hello"))["status"] == "Delivered"
    assert mailbox.messages[0]["From"] == "robot@example.org"


def test_log_channel_writes_a_private_json_line(stackyard_home) -> None:
    notify.create_channel("audit", log=True)
    nid = notify.publish("audit", "hello", event={"type": "run-succeeded"})
    path = stackyard_home / "notifications.log"
    line = json.loads(path.read_text().splitlines()[-1])
    assert line["id"] == nid and line["message"] == "hello"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _one(nid)["status"] == "Delivered"


def test_failing_webhook_is_retried_with_backoff_then_shown_failed(webhook) -> None:
    webhook.statuses = [500]
    notify.create_channel("ops", webhook=webhook.url)
    t0 = time.time()
    nid = notify.publish("ops", "hello")
    row = _one(nid)
    assert row["status"] == "Pending" and row["attempts"] == 1
    assert row["next_attempt_at"] >= t0 + notify.RETRY_DELAYS[0]
    assert notify.deliver_pending(t0) == 0  # not due yet: nothing is tried
    now = row["next_attempt_at"]
    for _ in notify.RETRY_DELAYS:
        assert notify.deliver_pending(now) == 1
        now = _one(nid)["next_attempt_at"] or now
    row = _one(nid)
    assert row["status"] == "Failed" and row["attempts"] == 1 + len(notify.RETRY_DELAYS)
    assert "HTTP 500" in row["last_error"] and "s3cr3t" not in row["last_error"]
    assert len(webhook.received) == 1 + len(notify.RETRY_DELAYS)
    assert notify.deliver_pending(now + 1e6) == 0  # failed for good: never tried again


def test_a_retry_that_succeeds_delivers(webhook) -> None:
    webhook.statuses = [503, 200]
    notify.create_channel("ops", webhook=webhook.url)
    nid = notify.publish("ops", "hello")
    assert _one(nid)["status"] == "Pending"
    assert notify.deliver_pending(time.time() + notify.RETRY_DELAYS[0]) == 1
    row = _one(nid)
    assert row["status"] == "Delivered" and row["attempts"] == 2
    assert row["last_error"] is None


def test_unreachable_webhook_error_never_shows_the_secret_path() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    notify.create_channel("ops", webhook=f"http://127.0.0.1:{port}/hooks/T0K3N/x?sig=S1G")
    row = _one(notify.publish("ops", "hello"))
    assert row["status"] == "Pending" and row["last_error"]
    assert "T0K3N" not in row["last_error"] and "S1G" not in row["last_error"]
    (ch,) = notify.list_channels()
    assert ch["target"] == f"http://127.0.0.1:{port}/…"


def test_unknown_channel_still_records_the_notification() -> None:
    nid = notify.publish("nobody", "hello", subject="s")
    row = _one(nid)
    assert row["status"] == "Failed" and "no such channel" in row["last_error"]
    assert row["channel"] == "nobody" and row["message"] == "hello"


def test_a_topic_arn_names_its_channel(webhook) -> None:
    notify.create_channel("alerts", webhook=webhook.url)
    nid = notify.publish("arn:aws:sns:us-east-1:123456789012:alerts", "hi")
    assert _one(nid)["channel"] == "alerts" and len(webhook.received) == 1


def test_dedupe_key_records_and_sends_once(webhook) -> None:
    notify.create_channel("ops", webhook=webhook.url)
    a = notify.publish("ops", "hello", dedupe="rule:r1:event:7")
    b = notify.publish("ops", "hello", dedupe="rule:r1:event:7")
    assert a == b and len(webhook.received) == 1 and len(notify.list_notifications()) == 1


def test_a_claimed_delivery_is_taken_over_when_its_claim_runs_out(webhook) -> None:
    """What a publisher killed between recording and delivering leaves: a claimed Pending
    row. Nobody else touches it while the claim holds; afterwards it is delivered."""
    from stackyard.notify._deliver import CLAIM

    notify.create_channel("ops", webhook=webhook.url)
    t0 = time.time()
    nid = notify.publish("ops", "hello", deliver=False)
    from stackyard.store import open_store

    open_store().claim_notifications(t0 + 1, t0 + 1 + CLAIM, 10)  # the "killed" claimer
    assert notify.deliver_pending(t0 + 2) == 0 and webhook.received == []
    assert notify.deliver_pending(t0 + 2 + CLAIM) == 1
    assert _one(nid)["status"] == "Delivered" and len(webhook.received) == 1


def test_two_deliverers_at_once_send_each_notification_once(webhook, stackyard_home) -> None:
    notify.create_channel("ops", webhook=webhook.url)
    ids = {notify.publish("ops", f"m{i}", deliver=False) for i in range(30)}
    code = "from stackyard import notify; notify.deliver_pending(limit=3)\n" * 12
    procs = [subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ))
             for _ in range(2)]
    assert [p.wait(120) for p in procs] == [0, 0]
    got = [b["id"] for b in webhook.received]
    assert sorted(got) == sorted(ids)  # every one, none twice
    assert {n["status"] for n in notify.list_notifications()} == {"Delivered"}


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"webhook": "ftp://x/y"}, "http://"),
    ({"webhook": "http://exa mple.com/"}, "http://"),
    ({"webhook": "http://999.1.1.1/"}, "not an IP address"),
    ({"email": "ops@example.com\nBcc: x@y"}, "--email"),
    ({"email": "<x@y>"}, "--email"),
    ({"webhook": "http://h/", "log": True}, "exactly one"),
    ({}, "exactly one"),
    ({"log": True, "smtp": "h:25"}, "--smtp"),
    ({"email": "a@b.c", "smtp": "h:0"}, "--smtp port"),
    ({"email": "a@b.c", "smtp": "h"}, "HOST:PORT"),
])
def test_bad_channels_are_refused(kwargs, says) -> None:
    with pytest.raises(UsageError, match=says):
        notify.create_channel("c", **kwargs)
    assert notify.list_channels() == []


@pytest.mark.parametrize(("args", "kwargs", "says"), [
    (("../x", "m"), {}, "channel name"),
    (("c", 3), {}, "text or a dict"),
    (("c", {"x": object()}), {}, "JSON data"),
    (("c", "m"), {"subject": "two\nlines"}, "one line"),
    (("c", "m"), {"subject": "x" * 101}, "100 characters"),
    (("c", "m"), {"event": ["x"]}, "event must be a dict"),
    (("c", "x" * (256 * 1024 + 1)), {}, "KiB"),
])
def test_bad_publish_is_refused_before_anything_is_recorded(args, kwargs, says) -> None:
    with pytest.raises(UsageError, match=says):
        notify.publish(*args, **kwargs)
    assert notify.list_notifications() == []


def test_channel_names_exist_once() -> None:
    notify.create_channel("c", log=True)
    with pytest.raises(UsageError, match="exists"):
        notify.create_channel("c", log=True)
    notify.delete_channel("c")
    with pytest.raises(NotFoundError):
        notify.delete_channel("c")


def test_cli_channels_and_notifications(sy, webhook) -> None:
    made = sy.cli_json("channels", "create", "ops", "--webhook", webhook.url)
    assert made["kind"] == "webhook" and "s3cr3t" not in json.dumps(made)
    listed = sy.cli("channels", "list")
    assert listed.returncode == 0 and "ops" in listed.stdout and "s3cr3t" not in listed.stdout
    notify.publish("ops", "hello")
    rows = sy.cli_json("notifications", "list")
    assert rows[0]["status"] == "Delivered" and rows[0]["message"] == "hello"
    assert sy.cli_json("notifications", "list", "--status", "Failed") == []
    for bad in (["channels", "create", "x", "--webhook", "nope"],
                ["channels", "create", "x"],
                ["channels", "create", "ops", "--log"],
                ["channels", "delete", "missing"],
                ["notifications", "list", "--limit", "0"]):
        r = sy.cli(*bad)
        assert r.returncode == 2 and r.stderr.startswith("error:"), (bad, r.stderr)
    assert sy.cli("channels", "delete", "ops").returncode == 0
    assert sy.cli_json("channels", "list") == []


@pytest.mark.parametrize("smtp", ["me:Passw0rdX@smtp.example:587", "Passw0rdX@smtp.example:25"])
def test_an_smtp_login_on_the_command_line_is_refused_without_echoing_it(smtp) -> None:
    """`--smtp USER:PASSWORD@HOST:PORT` was refused quoting the whole host, password and all."""
    with pytest.raises(UsageError, match="STACKYARD_SMTP_PASSWORD") as e:
        notify.create_channel("c", email="a@b.co", smtp=smtp)
    assert "Passw0rdX" not in str(e.value)
    assert notify.list_channels() == []
