"""``stackyard endpoints ...`` and ``stackyard serve``: real-time inference."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from stackyard.cli._render import out, print_json, status, table, when
from stackyard.serving import _control as ctl

endpoints = typer.Typer(help="Managed real-time endpoints.", no_args_is_help=True)
JSON = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _variants(model: str | None, variant: list[str], shadow: list[str]) -> list[dict[str, Any]]:
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


MODEL = Annotated[str | None, typer.Option("--model", help="GROUP/VERSION (or a model folder) "
                                                            "for the AllTraffic variant.")]
VARIANT = Annotated[list[str], typer.Option("--variant", help="NAME=GROUP/VERSION[:WEIGHT], "
                                                              "repeatable (A/B, canary).")]
SHADOW = Annotated[list[str], typer.Option("--shadow", help="NAME=GROUP/VERSION: gets a copy "
                                                            "of traffic; answers captured.")]
TOKEN = Annotated[str | None, typer.Option(
    "--auth-token", help="Require Authorization: Bearer TOKEN on every request but /ping "
                         "(required with a --host beyond loopback; prefer --auth-token-file, "
                         "which keeps it out of the process list).")]
TOKEN_FILE = Annotated[Path | None, typer.Option(
    "--auth-token-file", help="Read the token from this file's first line.")]


@endpoints.command()
def create(
    name: str, model: MODEL = None, variant: VARIANT = [],  # noqa: B006
    shadow: SHADOW = [],  # noqa: B006
    routing: Annotated[str, typer.Option(help="weighted or bandit (Thompson sampling on "
                                              "POST /feedback rewards).")] = "weighted",
    port: Annotated[int | None, typer.Option(help="Default: a free port.")] = None,
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    capture_percent: Annotated[float, typer.Option(help="Share of requests captured.")] = 0.0,
    max_concurrency: Annotated[int, typer.Option(help="Beyond this: 429.")] = 64,
    max_body_mb: Annotated[float, typer.Option(help="Beyond this: 413.")] = 6.0,
    workers: int = 1,
    allow_unapproved: Annotated[bool, typer.Option(
        help="Allow PendingManualApproval versions (Rejected never serve).")] = False,
    auth_token: TOKEN = None, auth_token_file: TOKEN_FILE = None,
) -> None:
    """Start a managed endpoint in the background and record it."""
    d = ctl.create_endpoint(name, _variants(model, variant, shadow), port=port, host=host,
                            routing=routing, capture_percent=capture_percent,
                            max_concurrency=max_concurrency, max_body_mb=max_body_mb,
                            workers=workers, allow_unapproved=allow_unapproved,
                            auth_token=auth_token, auth_token_file=auth_token_file)
    out.print(f"endpoint [bold]{name}[/] {status(d['status'])} at {d['url']} (pid {d['pid']})")


@endpoints.command("list")
def list_(json: JSON = False) -> None:
    """Recorded endpoints and whether their servers run."""
    rows = ctl.list_endpoints()
    if json:
        print_json(rows)
        return
    table(["name", "status", "url", "variants", "updated"],
          [[r["name"], status(r["status"]), r["url"],
            ", ".join(f"{v['name']}={v['model']}" + (" (shadow)" if v["shadow"] else
                                                     f" w={v['weight']}") for v in
                      r["variants"]), when(r["updated_at"])] for r in rows])


@endpoints.command()
def describe(name: str, json: JSON = False) -> None:
    """URL, variants, weights, status, pid and the last deployment of an endpoint."""
    d = ctl.describe_endpoint(name)
    if json:
        print_json(d)
        return
    out.print(f"[bold]{name}[/] {status(d['status'])} {d['url']} pid={d['pid']} "
              f"routing={d['routing']} capture={d['capture_percent']}%")
    table(["variant", "model", "weight", "shadow"],
          [[v["name"], v["model"], v["weight"], v["shadow"]] for v in d["variants"]])
    if d["deployment"]:
        dep = d["deployment"]
        out.print(f"last update: {dep.get('status')} traffic={dep.get('traffic')} "
                  f"{dep.get('reason') or ''}")


@endpoints.command()
def logs(name: str) -> None:
    """The endpoint server's log."""
    path = ctl.logs_path(name)
    if path.exists():
        out.print(path.read_text(errors="replace"), markup=False, end="")


@endpoints.command()
def update(
    name: str, model: MODEL = None, variant: VARIANT = [], shadow: SHADOW = [],  # noqa: B006
    traffic: Annotated[str, typer.Option(help="all, canary:10% or linear:25%.")] = "all",
    bake_seconds: Annotated[float, typer.Option(help="Watch time per traffic step.")] = 10.0,
    max_error_rate: Annotated[float, typer.Option(help="Roll back above this share of "
                                                       "5xx answers.")] = 0.05,
    timeout: Annotated[float | None, typer.Option(
        help="Seconds the whole update may take before it is rolled back (default: 120 "
             "plus the bake time of every traffic step).")] = None,
) -> None:
    """Blue/green update: load the new fleet, health-check, shift traffic, roll back on
    errors, on --timeout, or when the server dies."""
    def progress(dep: dict[str, Any]) -> None:
        share = f" {dep['share']:.0%} of traffic" if dep.get("share") is not None else ""
        out.print(f"  {dep['status']}{share} {dep.get('reason') or ''}", markup=False)

    d = ctl.update_endpoint(name, _variants(model, variant, shadow), traffic, bake_seconds,
                            max_error_rate, on_progress=progress, timeout=timeout)
    result = d["deployment"]["status"]
    out.print(f"endpoint {name}: update {result}", markup=False)
    if result != "Completed":
        raise typer.Exit(1)


@endpoints.command()
def delete(name: str) -> None:
    """Stop the server (in-flight requests finish) and forget the endpoint."""
    ctl.delete_endpoint(name)
    out.print(f"endpoint {name} deleted")


@endpoints.command()
def start(name: str) -> None:
    """Bring a recorded endpoint back (after a reboot or a crash)."""
    d = ctl.start_endpoint(name)
    out.print(f"endpoint [bold]{name}[/] {status(d['status'])} at {d['url']}")


def serve(
    model: Annotated[str, typer.Argument(help="GROUP/VERSION or a model folder.")],
    entry_point: Annotated[str | None, typer.Option(help="For a folder: the script "
                                                         "with model_fn & co.")] = None,
    port: int = 8080, host: str = "127.0.0.1",
    allow_unapproved: bool = False,
    auth_token: TOKEN = None, auth_token_file: TOKEN_FILE = None,
) -> None:
    """Serve one model in the foreground (Ctrl-C stops it)."""
    import uvicorn

    from stackyard.serving._app import State, create_app
    from stackyard.serving._fleet import build_fleet
    from stackyard.serving._server import Protocol

    token = ctl.resolve_token(host, auth_token, auth_token_file)
    spec = ctl.model_spec(model, entry_point)
    config = {"variants": [{"name": "AllTraffic", "model": spec}],
              "allow_unapproved": allow_unapproved}
    state = State(Path(model).name.replace("/", "-"), build_fleet(config), config, token)
    out.print(f"serving {model} on http://{host}:{port} (POST /invocations, GET /ping)"
              + (" (token required)" if token else ""), markup=False)
    uvicorn.run(create_app(state), host=host, port=port, log_level="warning", http=Protocol)
