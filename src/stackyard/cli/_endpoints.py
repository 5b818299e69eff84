"""``stackyard endpoints ...`` and ``stackyard serve``: real-time inference."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stackyard.cli._args import HOST, JSON, OPTIONAL_PORT, PORT, name_of, number
from stackyard.cli._render import escape, out, print_json, status, table, when

if TYPE_CHECKING:
    from types import ModuleType

endpoints = typer.Typer(help="Managed real-time endpoints.", no_args_is_help=True)


def _ctl() -> ModuleType:
    from stackyard.serving import _control

    return _control


def _name(name: str) -> str:
    return name_of("endpoint", name)


def _variants(model: str | None, variant: list[str], shadow: list[str]) -> list[dict[str, Any]]:
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


MODEL = Annotated[str | None, typer.Option("--model", help="GROUP/VERSION (or a model folder) "
                                                            "for the AllTraffic variant.")]
VARIANT = Annotated[list[str], typer.Option("--variant", help="NAME=GROUP/VERSION[:WEIGHT], "
                                                              "repeatable (A/B, canary).")]
SHADOW = Annotated[list[str], typer.Option("--shadow", help="NAME=GROUP/VERSION: gets a copy "
                                                            "of traffic; answers captured.")]


@endpoints.command()
def create(
    name: str, model: MODEL = None, variant: VARIANT = [],  # noqa: B006
    shadow: SHADOW = [],  # noqa: B006
    routing: Annotated[str, typer.Option(help="weighted or bandit (Thompson sampling on "
                                              "POST /feedback rewards).")] = "weighted",
    port: OPTIONAL_PORT = None,
    host: HOST = "127.0.0.1",
    capture_percent: Annotated[float, number("--capture-percent", "Share of requests "
                                             "captured.", lo=0, hi=100)] = 0.0,
    max_concurrency: Annotated[int, number("--max-concurrency", "Beyond this: 429.", lo=1,
                                           hi=100_000, integer=True)] = 64,
    max_body_mb: Annotated[float, number("--max-body-mb", "Beyond this: 413.", lo=0,
                                         hi=100_000)] = 6.0,
    workers: Annotated[int, number("--workers", "Server worker threads.", lo=1, hi=1024,
                                   integer=True)] = 1,
    allow_unapproved: Annotated[bool, typer.Option(
        help="Allow PendingManualApproval versions (Rejected never serve).")] = False,
) -> None:
    """Start a managed endpoint in the background and record it."""
    name = _name(name)
    d = _ctl().create_endpoint(name, _variants(model, variant, shadow), port=port, host=host,
                            routing=routing, capture_percent=capture_percent,
                            max_concurrency=max_concurrency, max_body_mb=max_body_mb,
                            workers=workers, allow_unapproved=allow_unapproved)
    out.print(f"endpoint [bold]{name}[/] {status(d['status'])} at {d['url']} (pid {d['pid']})")


@endpoints.command("list")
def list_(json: JSON = False) -> None:
    """Recorded endpoints and whether their servers run."""
    rows = _ctl().list_endpoints()
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
    d = _ctl().describe_endpoint(_name(name))
    if json:
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


@endpoints.command()
def logs(name: str) -> None:
    """The endpoint server's log."""
    path = _ctl().logs_path(_name(name))
    if path.exists():
        out.print(path.read_text(errors="replace"), markup=False, end="")


@endpoints.command()
def update(
    name: str, model: MODEL = None, variant: VARIANT = [], shadow: SHADOW = [],  # noqa: B006
    traffic: Annotated[str, typer.Option(help="all, canary:10% or linear:25%.")] = "all",
    bake_seconds: Annotated[float, number("--bake-seconds", "Watch time per traffic step.",
                                          lo=0, hi=86_400)] = 10.0,
    max_error_rate: Annotated[float, number("--max-error-rate", "Roll back above this share "
                                            "of 5xx answers.", lo=0, hi=1)] = 0.05,
) -> None:
    """Blue/green update: load the new fleet, health-check, shift traffic, roll back on
    errors."""
    def progress(dep: dict[str, Any]) -> None:
        share = f" {dep['share']:.0%} of traffic" if dep.get("share") is not None else ""
        out.print(f"  {dep['status']}{share} {dep.get('reason') or ''}", markup=False)

    name = _name(name)
    d = _ctl().update_endpoint(name, _variants(model, variant, shadow), traffic, bake_seconds,
                            max_error_rate, on_progress=progress)
    result = d["deployment"]["status"]
    out.print(f"endpoint {name}: update {result}")
    if result != "Completed":
        raise typer.Exit(1)


@endpoints.command()
def delete(name: str) -> None:
    """Stop the server (in-flight requests finish) and forget the endpoint."""
    _ctl().delete_endpoint(_name(name))
    out.print(f"endpoint {name} deleted")


@endpoints.command()
def start(name: str) -> None:
    """Bring a recorded endpoint back (after a reboot or a crash)."""
    d = _ctl().start_endpoint(_name(name))
    out.print(f"endpoint [bold]{name}[/] {status(d['status'])} at {d['url']}")


def serve(
    model: Annotated[str, typer.Argument(help="GROUP/VERSION or a model folder.")],
    entry_point: Annotated[str | None, typer.Option(help="For a folder: the script "
                                                         "with model_fn & co.")] = None,
    port: PORT = 8080, host: HOST = "127.0.0.1",
    allow_unapproved: bool = False,
) -> None:
    """Serve one model in the foreground (Ctrl-C stops it)."""
    import uvicorn

    from stackyard.serving._app import State, create_app
    from stackyard.serving._fleet import build_fleet

    spec = _ctl().model_spec(model, entry_point)
    config = {"variants": [{"name": "AllTraffic", "model": spec}],
              "allow_unapproved": allow_unapproved}
    state = State(Path(model).name.replace("/", "-"), build_fleet(config), config)
    out.print(f"serving {model} on http://{host}:{port} (POST /invocations, GET /ping)",
              markup=False)
    uvicorn.run(create_app(state), host=host, port=port, log_level="warning")
