"""Who may call the server, and junk in every route: never a 500, always {"error": ...}."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from server_helpers import TOKEN

from stackyard.server import create_app

JUNK = ["١", "²", "-5", "0", "99999999999999999999", "nan", "inf", "a b", "[/]", "x" * 300,
        "%00", "<script>", "é", "g/1"]


def test_a_token_is_needed_for_everything_but_health_and_the_docs(api):
    bare = httpx.Client(base_url=api.url)
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"},
                    {"Authorization": TOKEN}, {"Authorization": f"Bearer {TOKEN}x"}):
        r = bare.get("/api/runs", headers=headers)
        assert r.status_code == 401 and set(r.json()) == {"error"}
        assert TOKEN not in r.text
    r = bare.post("/api/models/g/1/approve", json={"who": "mallory"})
    assert r.status_code == 401
    for path in ("/api/health", "/docs", "/redoc", "/openapi.json",
                 "/static-offline-docs/swagger-ui-bundle.js"):
        assert bare.get(path).status_code == 200, path
    assert api.client().get("/api/runs").status_code == 200


def test_the_docs_load_nothing_from_the_network_and_list_every_route(api):
    c = httpx.Client(base_url=api.url)
    for page in ("/docs", "/redoc"):
        html = c.get(page).text
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), page
    paths = c.get("/openapi.json").json()["paths"]
    for p in ("/api/runs", "/api/runs/{run_id}/logs", "/api/models/{group}/{version}/approve",
              "/api/callbacks/{token}/success", "/api/tuning-jobs/{name}",
              "/api/monitoring/runs/{run_id}/report", "/api/endpoints/{name}",
              "/api/schedules/{name}/trigger", "/api/rules/{name}",
              "/api/state-machines/{name}/executions/{execution}/history",
              "/api/task-tokens/success"):
        assert p in paths, p


def test_without_a_token_only_loopback_hosts_and_json_writes_are_served(open_api):
    c = httpx.Client(base_url=open_api.url)
    assert c.get("/api/runs").status_code == 200
    assert c.get("/api/runs", headers={"Host": "localhost:1"}).status_code == 200
    r = c.get("/api/runs", headers={"Host": "evil.example"})   # DNS rebinding
    assert r.status_code == 403 and "loopback" in r.json()["error"]
    for headers in ({}, {"Content-Type": "text/plain"},
                    {"Content-Type": "application/x-www-form-urlencoded"}):
        r = c.post("/api/runs/20990101-000000-abcdef/stop", content=b"{}", headers=headers)
        assert r.status_code == 415 and "application/json" in r.json()["error"]   # CSRF
    r = c.post("/api/runs/20990101-000000-abcdef/stop", json={})
    assert r.status_code == 404


def _routes() -> list[tuple[str, str, list[str], list[str]]]:
    """Every API operation, from the app's own OpenAPI document (a route added later is
    walked without editing this test)."""
    doc = create_app(token=None, with_loop=False).openapi()
    out = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            params = op.get("parameters", [])
            out.append((method.upper(), path,
                        [p["name"] for p in params if p["in"] == "path"],
                        [p["name"] for p in params if p["in"] == "query"]))
    return out


# Bodies that are well-formed JSON but wrong for the routes that create things.
BODIES = [json.dumps(b).encode() for b in (
    {"name": "s1", "expression": "61 * * * *", "target": {"state_machine": "nosuch"}},
    {"name": "s1", "expression": "rate(1 day)", "target": {}},
    {"name": "s1", "expression": "rate(1 day)", "timezone": "Mars/Base",
     "target": {"pipeline": "relative.py"}},
    {"name": "s1", "expression": "rate(0 seconds)",
     "target": {"pipeline": "/nonexistent/p.py", "notify": "x"}},
    {"name": "r1", "on": "never", "target": {"notify": "nosuch"}},
    {"name": "r1", "on": "run-failed", "filter": {"detail": 5}, "target": {"notify": "x"}},
    {"name": "r1", "on": "file-arrived", "watch": "relative dir", "target": {"notify": "x"}},
    {"name": "m1", "definition": "not json"},
    {"name": "m1", "definition": {"StartAt": "A", "States": {"A": {"Type": "Nope"}}}},
    {"definition": {"StartAt": 5}}, {"name": "../x", "definition": {}},
    {"input": "x" * 300_000, "name": "e/1"}, {"name": "٣"},
    {"token": "nosuch", "output": {"a": 1}}, {"token": "é" * 2000, "error": "E" * 300},
)]


def test_junk_in_every_path_query_and_body_is_an_error_answer_never_a_500(open_api):
    routes = _routes()
    assert len(routes) >= 25
    c = httpx.Client(base_url=open_api.url, timeout=30)
    failures, n = [], 0

    def check(method: str, url: str, **kw) -> None:
        nonlocal n
        n += 1
        r = c.request(method, url, **kw)
        if r.status_code >= 500:
            failures.append(f"{method} {url} {kw}: {r.status_code} {r.text[:200]}")
        elif r.status_code >= 400 and (
                not r.headers.get("content-type", "").startswith("application/json")
                or set(r.json()) != {"error"}):
            failures.append(f"{method} {url}: not an error object: {r.text[:200]}")

    for method, path, params, query in routes:
        ok = dict.fromkeys(params, "nosuch-1")
        writes = method in ("POST", "PUT", "DELETE")   # past the Content-Type guard
        body = {"json": {}} if writes else {}
        for p in params:
            for junk in JUNK:
                url = path.format(**{**ok, p: junk.replace("/", "%2F")})
                check(method, url, **body)
        for q in query:
            for junk in JUNK:
                check(method, path.format(**ok), params={q: junk}, **body)
        if writes:
            for content in (b"not json", b"[1, 2]", b'{"who": ' + b"9" * 400 + b"}",
                            b'{"outputs": {"a": null}}', b'{"reason": ["x"]}',
                            b"\xff\xfe", b'{"comment": "' + b"c" * 20_000 + b'"}',
                            *BODIES):
                check(method, path.format(**ok), content=content,
                      headers={"Content-Type": "application/json"})
    assert not failures, "\n".join(failures[:20]) + f"\n({len(failures)} of {n})"
    assert n > 400


@pytest.mark.parametrize("argv, words", [
    (["server", "--host", "0.0.0.0"], "--token-file"),
    (["server", "--host", "0.0.0.0", "--token-file", "/nonexistent/token"], "cannot read"),
    (["server", "--port", "70000"], "--port must be <= 65535"),
])
def test_the_server_refuses_to_start_unsafely_before_writing_anything(sy, argv, words):
    r = sy.cli(*argv, timeout=30)
    assert r.returncode == 2 and words in r.stderr and r.stderr.count("\n") == 1, r.stderr
    sy.assert_nothing_written()


def test_a_short_token_or_a_taken_port_is_refused(sy):
    short = sy.work / "short token"
    short.write_text("abc\n")
    r = sy.cli("server", "--token-file", short, timeout=30)
    assert r.returncode == 2 and "at least 16" in r.stderr and "abc" not in r.stderr
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = sy.cli("server", "--port", s.getsockname()[1], timeout=30)
    assert r.returncode == 2 and "cannot listen" in r.stderr, r.stderr
