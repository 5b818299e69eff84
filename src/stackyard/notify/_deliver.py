"""Publishing a notification and delivering it, with retries that never block the caller.

``publish`` records the notification first (the store is the outbox), then makes one
delivery attempt with a short timeout; a failure is retried later by ``deliver_pending``,
which the server loop calls every tick, waiting ``RETRY_DELAYS`` between attempts. After
the last retry the notification is ``Failed`` with the last error. A delivery is claimed in
the store before it is tried, so two deliverers never send the same notification at once.
Errors recorded or shown never quote a webhook's URL (its path is often its secret) nor the
SMTP password.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from stackyard import _home
from stackyard._checks import json_safe
from stackyard.errors import UsageError
from stackyard.notify._channels import EMAIL, LOG, WEBHOOK, channel_name, shown
from stackyard.store import open_store

log = logging.getLogger("stackyard.notify")

# seconds before retry 1, 2, ...; one first attempt plus len(RETRY_DELAYS) retries
RETRY_DELAYS = (2.0, 10.0, 60.0, 300.0)
TIMEOUT = 5.0  # one attempt at one channel, seconds
CLAIM = 4 * TIMEOUT  # how long a claimed delivery stays hidden from other deliverers
MAX_MESSAGE = 256 * 1024  # SNS's limit, in bytes of JSON


def _message(message: Any) -> str | dict[str, Any]:
    if isinstance(message, str):
        text = message
    elif isinstance(message, dict):
        try:
            text = json.dumps(json_safe(message), sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise UsageError(f"message: a dict must be JSON data ({e})") from None
        message = json.loads(text)
    else:
        raise UsageError(f"message must be text or a dict, not {type(message).__name__}")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_MESSAGE:
        raise UsageError(f"message is larger than {MAX_MESSAGE // 1024} KiB")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError("message is not valid UTF-8 text") from None
    return message


def _subject(subject: Any) -> str | None:
    if subject is None:
        return None
    if (not isinstance(subject, str) or not subject or len(subject) > 100
            or any(ord(ch) < 32 or ord(ch) == 127 for ch in subject)):
        raise UsageError(f"subject {str(subject)[:40]!r}: at most 100 characters on one line")
    return subject


def publish(channel: str, message: str | dict[str, Any], *, subject: str | None = None,
            event: dict[str, Any] | None = None, dedupe: str | None = None,
            deliver: bool = True) -> str:
    """Record a notification to ``channel`` and (``deliver``) try it once now; returns its
    id. A channel that does not exist still gets the record, marked failed ("no such
    channel"). ``dedupe``: publishing again with the same key returns the first id and sends
    nothing (for callers that may repeat themselves after a crash)."""
    name = channel_name(channel)
    body = _message(message)
    subject = _subject(subject)
    if event is not None and not isinstance(event, dict):
        raise UsageError(f"event must be a dict, not {type(event).__name__}")
    event = None if event is None else json.loads(json.dumps(json_safe(event), default=str))
    store = open_store()
    row = {"id": str(uuid.uuid4()), "channel": name, "subject": subject, "message": body,
           "event": event, "dedupe": dedupe}
    ch = store.get_channel(name)
    if ch is None:
        row |= {"status": "Failed", "reason": f"no such channel {name!r}; create it with "
                                              "`stackyard channels create`"}
        stored, _ = store.add_notification(row)
        return stored["id"]
    now = time.time()
    stored, new = store.add_notification(row, claim_until=now + CLAIM if deliver else 0.0)
    if new and deliver:
        _attempt(store, stored, ch, now)
    return stored["id"]


def deliver_pending(now: float | None = None, limit: int = 50) -> int:
    """Try every notification that is due by ``now`` (default: the time now) and claimed by
    nobody; returns how many were tried. The server loop calls this once a tick."""
    now = time.time() if now is None else now
    store = open_store()
    rows = store.claim_notifications(now, now + CLAIM, limit)
    for row in rows:
        ch = store.get_channel(row["channel"])
        if ch is None:
            store.finish_delivery(row["id"], delivered=False, next_at=None,
                                  error=f"no such channel {row['channel']!r} (deleted?)")
            continue
        _attempt(store, row, ch, now)
    return len(rows)


def list_notifications(channel: str | None = None, status: str | None = None,
                       limit: int = 100) -> list[dict[str, Any]]:
    """Notifications newest first: what was sent, where, and whether it was delivered."""
    if status is not None and status not in ("Pending", "Delivered", "Failed"):
        raise UsageError(f"status {status!r}: write Pending, Delivered or Failed")
    name = None if channel is None else channel_name(channel)
    rows = open_store().list_notifications(name, status, limit)
    return [{k: r[k] for k in ("id", "channel", "subject", "message", "event", "status",
                               "attempts", "last_error", "created_at", "delivered_at")}
            | {"next_attempt_at": r["next_at"] if r["status"] == "Pending" else None}
            for r in rows]


def _attempt(store: Any, row: dict[str, Any], channel: dict[str, Any], now: float) -> None:
    """One delivery attempt of ``row`` (claimed by the caller), recorded whatever happens."""
    try:
        _SENDERS[channel["kind"]](row, channel["target"])
    except Exception as e:  # noqa: BLE001 - any failure of a channel is a failed attempt
        error = _safe_error(e, channel)
        tried = int(row["attempts"]) + 1
        retry = None if tried > len(RETRY_DELAYS) else now + RETRY_DELAYS[tried - 1]
        store.finish_delivery(row["id"], delivered=False, error=error, next_at=retry)
        log.warning("notification %s to %s: attempt %d failed: %s%s", row["id"],
                    row["channel"], tried, error, "" if retry else " (giving up)")
        return
    store.finish_delivery(row["id"], delivered=True, error=None, next_at=None)


def _safe_error(e: Exception, channel: dict[str, Any]) -> str:
    """The error of one attempt, with the webhook URL (and any piece of it without its
    query) and the SMTP password replaced by what may be shown."""
    text = f"{type(e).__name__}: {e}"
    url = channel["target"].get("url")
    if url:
        for secret in (url, url.split("?", 1)[0], urlparse(url).path):
            if len(secret) > 1:
                text = text.replace(secret, shown(channel["kind"], channel["target"]))
    password = _home.smtp_settings()["password"]
    if password:
        text = text.replace(password, "***")
    return text[:500]


def _payload(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "channel": row["channel"], "subject": row["subject"],
            "message": row["message"], "event": row["event"],
            "time": datetime.fromtimestamp(row["created_at"], UTC).isoformat()}


class DeliveryError(Exception):
    """A channel refused a message (an HTTP status, an SMTP refusal)."""


def _webhook(row: dict[str, Any], target: dict[str, Any]) -> None:
    import httpx  # only deliveries pay for it

    r = httpx.post(target["url"], json=_payload(row), timeout=TIMEOUT, follow_redirects=False,
                   headers={"User-Agent": "stackyard-notify", "X-Stackyard-Notification":
                            row["id"]})
    if not 200 <= r.status_code < 300:
        raise DeliveryError(f"HTTP {r.status_code} from {shown(WEBHOOK, target)}")


def _email(row: dict[str, Any], target: dict[str, Any]) -> None:
    import smtplib
    from email.message import EmailMessage

    cfg = _home.smtp_settings()
    host, port = cfg["host"], cfg["port"]
    if target.get("smtp"):
        host, _, port = target["smtp"].rpartition(":")
        host = host.strip("[]")
    msg = EmailMessage()
    msg["From"], msg["To"] = cfg["from"], target["address"]
    msg["Subject"] = row["subject"] or f"stackyard: {row['channel']}"
    msg["X-Stackyard-Notification"] = row["id"]
    body = row["message"]
    text = body if isinstance(body, str) else json.dumps(body, indent=2, sort_keys=True)
    if row["event"]:
        text += "\n\nevent:\n" + json.dumps(row["event"], indent=2, sort_keys=True)
    msg.set_content(text)
    with smtplib.SMTP(host, int(port), timeout=TIMEOUT) as smtp:
        if cfg["starttls"].strip().lower() in ("1", "true", "yes"):
            smtp.starttls()
        if cfg["user"] and cfg["password"]:
            smtp.login(cfg["user"], cfg["password"])
        refused = smtp.send_message(msg)
        if refused:
            raise DeliveryError(f"the SMTP server refused {', '.join(refused)}")


def _log(row: dict[str, Any], target: dict[str, Any]) -> None:
    """One JSON line in ``$STACKYARD_HOME/notifications.log`` (0600) and the Python log."""
    line = json.dumps(_payload(row), sort_keys=True)
    fd = os.open(_home.home() / "notifications.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                 0o600)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)
    log.info("notification %s: %s", row["channel"], line)


_SENDERS = {WEBHOOK: _webhook, EMAIL: _email, LOG: _log}
