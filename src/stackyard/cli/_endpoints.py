"""``stackyard endpoints ...`` and ``stackyard serve``: real-time inference."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from stackyard.cli._args import HOST, PORT, json_option, name_type, number
from stackyard.cli._remote import api, remote
from stackyard.cli._render import escape, out, print_json, status, table, when

if TYPE_CHECKING:
    from types import ModuleType

ENDPOINT = name_type("endpoint")


@click.group()
def endpoints() -> None:
    """Managed real-time endpoints."""


def _ctl() -> ModuleType:
    from stackyard.serving import _control

    return _control


def _variants(model: str | None, variant: tuple[str, ...], shadow: tuple[str, ...]
              ) -> list[dict[str, Any]]:
    ctl = _ctl()
    out_: list[dict[str, Any]] = []
    if model:
        out_.append({"name": "AllTraffic", "model": ctl.model_spec(model), "weight": 1.0})
    for v in variant:
        name, ref, weight = ctl.parse_variant(v)
        out_.append({"name": name, "model": ctl.model_spec(ref), "weight": weight})
    for v in shadow:
        name, ref, _ = ctl.parse_variant(v)
        out_.append({"name": name, "model": ctl.model_spec(ref), "weight": 0.0, "shadow": True})
    if not out_:
        from stackyard.errors import UsageError

        raise UsageError("name a model: --model GROUP/VERSION or --variant NAME=GROUP/VERSION")
    return out_


model_options = [
    click.option("--model", help="GROUP/VERSION (or a model folder) for the AllTraffic "
                                 "variant."),
    click.option("--variant", multiple=True, metavar="NAME=GROUP/VERSION[:WEIGHT]",
                 help="A weighted variant, repeatable (A/B, canary)."),
    click.option("--shadow", multiple=True, metavar="NAME=GROUP/VERSION",
                 help="Gets a copy of traffic; answers captured."),
]


def _token_options(f: Any) -> Any:
    """``--auth-token`` and ``--auth-token-file``, for every command that starts a server."""
    f = click.option("--auth-token-file", type=click.Path(dir_okay=False, path_type=Path),
                     help="Read the token from this file's first line.")(f)
    return click.option("--auth-token", help="Require Authorization: Bearer TOKEN on every "
                        "request but /ping (required with a --host beyond loopback; prefer "
                        "--auth-token-file, which keeps it out of the process list).")(f)


def _model_options(f: Any) -> Any:
    for option in reversed(model_options):
        f = option(f)
    return f


@endpoints.command()
@click.argument("name", type=ENDPOINT)
@_model_options
@click.option("--routing", type=click.Choice(["weighted", "bandit"]), default="weighted",
              show_default=True, help="bandit: Thompson sampling on POST /feedback rewards.")
@click.option("--port", type=PORT, help="TCP port (default: a free one).")
@click.option("--host", type=HOST, default="127.0.0.1", show_default=True,
              help="Bind address.")
@click.option("--capture-percent", type=number("--capture-percent", lo=0, hi=100),
              default=0.0, show_default=True, help="Share of requests captured.")
@click.option("--max-concurrency", type=number("--max-concurrency", lo=1, hi=100_000,
                                               integer=True),
              default=64, show_default=True, help="Beyond this: 429.")
@click.option("--max-body-mb", type=number("--max-body-mb", lo=0, hi=1024, lo_open=True),
              default=6.0, show_default=True, help="Beyond this: 413.")
@click.option("--workers", type=number("--workers", lo=1, hi=1024, integer=True), default=1,
              show_default=True, help="Server worker threads.")
@click.option("--allow-unapproved", is_flag=True,
              help="Allow PendingManualApproval versions (Rejected never serve).")
@_token_options
def create(name: str, model: str | None, variant: tuple[str, ...], shadow: tuple[str, ...],
           routing: str, port: int | None, host: str, capture_percent: float,
           max_concurrency: int, max_body_mb: float, workers: int,
           allow_unapproved: bool, auth_token: str | None, auth_token_file: Path | None
           ) -> None:
    """Start a managed endpoint in the background and record it."""
    d = _ctl().create_endpoint(name, _variants(model, variant, shadow), port=port, host=host,
                               routing=routing, capture_percent=capture_percent,
                               max_concurrency=max_concurrency, max_body_mb=max_body_mb,
                               workers=workers, allow_unapproved=allow_unapproved,
                               auth_token=auth_token, auth_token_file=auth_token_file)
    out.print(f"endpoint [bold]{name}[/] {status(d['status'])} at {d['url']} (pid {d['pid']})")


@endpoints.command("list")
@json_option
def list_(json_: bool) -> None:
    """Recorded endpoints and whether their servers run."""
    server = remote()
    rows = server.get(api("endpoints")) if server else _ctl().list_endpoints()
    if json_:
        print_json(rows)
        return
    table(["name", "status", "url", "variants", "updated"],
          [[r["name"], status(r["status"]), r["url"],
            ", ".join(f"{v['name']}={v['model']}" + (" (shadow)" if v["shadow"] else
                                                     f" w={v['weight']}") for v in
                      r["variants"]), when(r["updated_at"])] for r in rows])


@endpoints.command()
@click.argument("name", type=ENDPOINT)
@json_option
def describe(name: str, json_: bool) -> None:
    """URL, variants, weights, status, pid and the last update with its steps."""
    server = remote()
    d = server.get(api("endpoints", name)) if server else _ctl().describe_endpoint(name)
    if json_:
        print_json(d)
        return
    out.print(f"[bold]{name}[/] {status(d['status'])} {escape(d['url'])} pid={d['pid']} "
              f"routing={d['routing']} capture={d['capture_percent']}%")
    table(["variant", "model", "weight", "shadow"],
          [[v["name"], v["model"], v["weight"], v["shadow"]] for v in d["variants"]])
    if d["deployment"]:
        dep = d["deployment"]
        out.print(f"last update: {dep.get('status')} traffic={dep.get('traffic')} "
                  f"{dep.get('reason') or ''}", markup=False)
    if d.get("updates"):
        u = d["updates"][0]
        start = u["steps"][0]["at"]
        table(["time", "+s", "step"], [[when(s["at"]), f"{s['at'] - start:.1f}", s["text"]]
                                       for s in u["steps"]],
              title=f"update {u['generation']}: {u['status']}")


@endpoints.command()
@click.argument("name", type=ENDPOINT)
def logs(name: str) -> None:
    """The endpoint server's log."""
    path = _ctl().logs_path(name)
    if path.exists():
        out.print(path.read_text(errors="replace"), markup=False, end="")


@endpoints.command()
@click.argument("name", type=ENDPOINT)
@_model_options
@click.option("--traffic", default="all", show_default=True,
              help="all, canary:10% or linear:25%.")
@click.option("--bake-seconds", type=number("--bake-seconds", lo=0, hi=86_400), default=10.0,
              show_default=True, help="Watch time per traffic step.")
@click.option("--max-error-rate", type=number("--max-error-rate", lo=0, hi=1), default=0.05,
              show_default=True, help="Roll back above this share of 5xx answers.")
@click.option("--timeout", type=number("--timeout", lo=0, hi=86_400, lo_open=True),
              help="Seconds the whole update may take before it is rolled back (default: 120 "
                   "plus the bake time of every traffic step).")
def update(name: str, model: str | None, variant: tuple[str, ...], shadow: tuple[str, ...],
           traffic: str, bake_seconds: float, max_error_rate: float,
           timeout: float | None) -> int:
    """Blue/green update: load the new fleet, health-check, shift traffic, roll back on
    errors, on --timeout, or when the server dies."""
    def progress(dep: dict[str, Any]) -> None:
        share = f" {dep['share']:.0%} of traffic" if dep.get("share") is not None else ""
        out.print(f"  {dep['status']}{share} {dep.get('reason') or ''}", markup=False)

    d = _ctl().update_endpoint(name, _variants(model, variant, shadow), traffic, bake_seconds,
                               max_error_rate, on_progress=progress, timeout=timeout)
    result = d["deployment"]["status"]
    out.print(f"endpoint {name}: update {result}", markup=False)
    return 0 if result == "Completed" else 1


@endpoints.command()
@click.argument("name", type=ENDPOINT)
def delete(name: str) -> None:
    """Stop the server (in-flight requests finish) and forget the endpoint."""
    _ctl().delete_endpoint(name)
    out.print(f"endpoint {name} deleted")


@endpoints.command()
@click.argument("name", type=ENDPOINT)
def start(name: str) -> None:
    """Bring a recorded endpoint back (after a reboot or a crash)."""
    d = _ctl().start_endpoint(name)
    out.print(f"endpoint [bold]{name}[/] {status(d['status'])} at {d['url']}")


@click.command()
@click.argument("model")
@click.option("--entry-point", help="For a folder: the script with model_fn & co.")
@click.option("--port", type=PORT, default=8080, show_default=True, help="TCP port.")
@click.option("--host", type=HOST, default="127.0.0.1", show_default=True,
              help="Bind address.")
@click.option("--allow-unapproved", is_flag=True,
              help="Allow PendingManualApproval versions (Rejected never serve).")
@_token_options
def serve(model: str, entry_point: str | None, port: int, host: str,
          allow_unapproved: bool, auth_token: str | None, auth_token_file: Path | None
          ) -> None:
    """Serve one model in the foreground (Ctrl-C stops it). MODEL is GROUP/VERSION or a
    model folder."""
    import uvicorn

    from stackyard.errors import UsageError
    from stackyard.inference import ModelError
    from stackyard.serving._app import State, create_app
    from stackyard.serving._fleet import build_fleet
    from stackyard.serving._server import Protocol

    token = _ctl().resolve_token(host, auth_token, auth_token_file)
    spec = _ctl().model_spec(model, entry_point)
    config = {"variants": [{"name": "AllTraffic", "model": spec}],
              "allow_unapproved": allow_unapproved}
    try:
        fleet = build_fleet(config)
    except ModelError as e:  # the folder or its code does not load: the user's to fix
        raise UsageError(f"cannot serve {model}: {e}") from None
    state = State(Path(model).name.replace("/", "-"), fleet, config, token)
    out.print(f"serving {model} on http://{host}:{port} (POST /invocations, GET /ping)"
              + (" (token required)" if token else ""), markup=False)
    uvicorn.run(create_app(state), host=host, port=port, log_level="warning", http=Protocol)
