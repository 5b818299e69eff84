"""``stackyard pipelines ...``: what pipelines exist and their definition versions."""

from __future__ import annotations

import click

from stackyard.cli._args import json_option, name_type
from stackyard.cli._remote import api, remote
from stackyard.cli._render import out, print_json, table, when


@click.group()
def pipelines() -> None:
    """Inspect pipeline definitions."""


@pipelines.command("list")
@json_option
def list_(json_: bool) -> None:
    """Every pipeline with its latest version and run count."""
    if (server := remote()) is not None:
        rows = server.get(api("pipelines"))
    else:
        from stackyard import engine

        rows = engine.list_pipelines()
    if json_:
        print_json(rows)
        return
    table(["pipeline", "latest version", "runs", "updated"],
          [[r["name"], r["latest_version"], r["runs"], when(r["updated_at"])] for r in rows])


@pipelines.command()
@click.argument("name", type=name_type("pipeline"))
@json_option
def describe(name: str, json_: bool) -> None:
    """Definition versions of one pipeline (the latest definition in full with --json)."""
    if (server := remote()) is not None:
        d = server.get(api("pipelines", name))
    else:
        from stackyard import engine

        d = engine.describe_pipeline(name)
    if json_:
        print_json(d)
        return
    table(["version", "created", "digest", "steps"],
          [[v["version"], when(v["created_at"]), v["digest"][:12],
            ", ".join(s["Name"] for s in v["definition"]["Steps"])] for v in d["versions"]],
          title=f"pipeline {name}")
    out.print("use --json for the full definitions")
