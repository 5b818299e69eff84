"""``stackyard pipelines ...``: what pipelines exist and their definition versions."""

from __future__ import annotations

import typer

from stackyard.cli._args import JSON, name_of
from stackyard.cli._render import out, print_json, table, when

pipelines = typer.Typer(help="Inspect pipeline definitions.", no_args_is_help=True)


@pipelines.command("list")
def list_(json: JSON = False) -> None:
    """Every pipeline with its latest version and run count."""
    from stackyard import engine

    rows = engine.list_pipelines()
    if json:
        print_json(rows)
        return
    table(["pipeline", "latest version", "runs", "updated"],
          [[r["name"], r["latest_version"], r["runs"], when(r["updated_at"])] for r in rows])


@pipelines.command()
def describe(name: str, json: JSON = False) -> None:
    """Definition versions of one pipeline (the latest definition in full with --json)."""
    from stackyard import engine

    d = engine.describe_pipeline(name_of("pipeline", name))
    if json:
        print_json(d)
        return
    table(["version", "created", "digest", "steps"],
          [[v["version"], when(v["created_at"]), v["digest"][:12],
            ", ".join(s["Name"] for s in v["definition"]["Steps"])] for v in d["versions"]],
          title=f"pipeline {name}")
    out.print("use --json for the full definitions")
