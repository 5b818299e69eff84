"""``stackyard models ...``: the model registry from the command line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from stackyard.cli._args import MODEL_REF, json_option, name_type
from stackyard.cli._remote import api, remote
from stackyard.cli._render import escape, out, print_json, status, table, when
from stackyard.errors import UsageError

if TYPE_CHECKING:
    from rich.tree import Tree

    from stackyard.registry import ModelRegistry

GROUP = name_type("model group")
comment_option = click.option("--comment", "-m", help="Why (kept in the audit trail).")


@click.group()
def models() -> None:
    """Model package groups, versions and approvals."""


@models.command()
@json_option
def groups(json_: bool) -> None:
    """Model package groups with their version counts."""
    server = remote()
    rows = server.get(api("models")) if server else _registry().list_groups()
    if json_:
        print_json(rows)
        return
    table(["group", "versions", "latest", "approved", "created"],
          [[r["name"], r["versions"], r["latest_version"], r["approved"] or 0,
            when(r["created_at"])] for r in rows])


@models.command("list")
@click.argument("group", type=GROUP)
@click.option("--status", "status_", help="Only this approval status.")
@json_option
def list_(group: str, status_: str | None, json_: bool) -> None:
    """Versions of a group, oldest first."""
    if (server := remote()) is not None:
        rows = server.get(api("models", group), status=status_)
        if json_:
            print_json(rows)
            return
        table(["ref", "status", "registered"],
              [[r["ref"], status(r["approval_status"]), when(r["created_at"])] for r in rows])
        return
    pkgs = _registry().list_packages(group, status_)
    if json_:
        print_json([p.summary() for p in pkgs])
        return
    table(["ref", "status", "registered", "metrics"],
          [[p.ref, status(p.approval_status), when(p.created_at), _metric_brief(p.record)]
           for p in pkgs])


def _registry() -> ModelRegistry:
    from stackyard.registry import ModelRegistry

    return ModelRegistry()


def _metric_brief(record: dict[str, Any]) -> str:
    parts = []
    for group in record.get("model_metrics", {}).values():
        for src in group.values():
            parts.extend(_leaves(src.get("content"), ""))
    return ", ".join(parts[:4])


def _leaves(doc: Any, prefix: str) -> list[str]:
    if isinstance(doc, dict):
        if set(doc) == {"value"} or ("value" in doc and not isinstance(doc["value"], dict)):
            return [f"{prefix}={doc['value']:.4g}" if isinstance(doc["value"], float)
                    else f"{prefix}={doc['value']}"]
        return [x for k, v in doc.items() for x in _leaves(v, k)]
    return []


def _show(d: dict[str, Any]) -> None:
    out.print(f"[bold]{d['ref']}[/] {status(d['approval_status'])} registered "
              f"{when(d['created_at'])}")
    plain = {"markup": False}  # recorded text, printed literally
    out.print(f"model: {d['model_data']}  sha256 {d['model_sha256'][:16]}…", **plain)
    spec = d["inference_spec"]
    out.print(f"inference: entry point {spec['entry_point']}, content types "
              f"{spec['content_types']} -> {spec['response_types']}", **plain)
    if d.get("description"):
        out.print(f"description: {d['description']}", **plain)
    for group, kinds in d["model_metrics"].items():
        for kind, src in kinds.items():
            out.print(f"metrics {group}.{kind}: "
                      f"{', '.join(_leaves(src['content'], '')) or src['uri']}", **plain)
    for group, kinds in d["drift_check_baselines"].items():
        for kind, src in kinds.items():
            out.print(f"baseline {group}.{kind}: {src['uri']}", **plain)
    if d["customer_metadata_properties"]:
        out.print(f"metadata: {d['customer_metadata_properties']}", **plain)
    table(["when", "from", "to", "who", "comment"],
          [[when(h["ts"]), h["from_status"], h["to_status"], h["who"], h["comment"]]
           for h in d["approval_history"]], title="approval history")


@models.command()
@click.argument("ref", type=MODEL_REF)
@json_option
def describe(ref: str, json_: bool) -> None:
    """Everything recorded for GROUP/VERSION: metrics, baselines, lineage, approvals."""
    d = _describe(ref)
    if json_:
        print_json(d)
        return
    _show(d)


@models.command()
@click.argument("group", type=GROUP)
@click.option("--approved", is_flag=True, help="The latest Approved version.")
@json_option
def latest(group: str, approved: bool, json_: bool) -> None:
    """The newest version of GROUP (or the newest Approved one)."""
    if (server := remote()) is not None:
        d = server.get(api("models", group, "latest"), approved=str(approved).lower())
        if json_:
            print_json(d)
            return
        _show(d)
        return
    reg = _registry()
    pkg = reg.latest(group, "Approved" if approved else None)
    d = reg.describe(pkg.ref)
    if json_:
        print_json(d)
        return
    _show(d)


def _describe(ref: str) -> dict[str, Any]:
    if (server := remote()) is not None:
        return server.get(api("models", *ref.split("/")))
    return _registry().describe(ref)


def _transition(ref: str, to: str, comment: str | None) -> None:
    if (server := remote()) is not None:
        verb = "approve" if to == "Approved" else "reject"
        d = server.post(api("models", *ref.split("/"), verb), {"comment": comment})
        out.print(f"{d['ref']}: {status(d['approval_status'])}")
        return
    pkg = _registry().update_approval(ref, to, comment)
    out.print(f"{pkg.ref}: {status(pkg.approval_status)}")


@models.command()
@click.argument("ref", type=MODEL_REF)
@comment_option
def approve(ref: str, comment: str | None) -> None:
    """Approve GROUP/VERSION (subscribed pipelines start)."""
    _transition(ref, "Approved", comment)


@models.command()
@click.argument("ref", type=MODEL_REF)
@comment_option
def reject(ref: str, comment: str | None) -> None:
    """Reject GROUP/VERSION (also revokes an approval)."""
    _transition(ref, "Rejected", comment)


@models.command()
@click.argument("ref", type=MODEL_REF)
@json_option
def lineage(ref: str, json_: bool) -> None:
    """From data and code to the model: the steps, inputs and hashes behind GROUP/VERSION."""
    from rich.tree import Tree

    d = _describe(ref)
    lin = d["lineage"]
    if json_:
        print_json(lin)
        return
    root = Tree(f"[bold]{d['ref']}[/] model sha256 {d['model_sha256'][:12]}…")
    _tree(root, lin["model"])
    if lin.get("inference_code"):
        c = lin["inference_code"]
        root.add(f"inference code {escape(c['path'])} sha256 {str(c['sha256'])[:12]}…"
                 + (f" git {c['git_commit'][:10]}" if c.get("git_commit") else ""))
    env = lin["environment"]
    root.add(escape(f"python {env['python']}; " + ", ".join(f"{k} {v}" for k, v in
                                                            env["packages"].items())))
    out.print(root)


def _tree(parent: Tree, node: dict[str, Any]) -> None:
    step = node.get("produced_by")
    if step is None:
        parent.add(f"[green]data[/] {escape(node['uri'])} sha256 {str(node['sha256'])[:12]}…")
        return
    label = (f"[cyan]{escape(step['type'])}[/] step [bold]{escape(step['step'])}[/] of run "
             f"{escape(step['run_id'])} ({escape(step['pipeline'])})")
    branch = parent.add(label)
    if step.get("hyperparameters"):
        branch.add(escape(f"hyperparameters {step['hyperparameters']}"))
    if step.get("code"):
        c = step["code"]
        branch.add(f"code {escape(c['path'])} sha256 {str(c['sha256'])[:12]}…"
                   + (f" git {c['git_commit'][:10]}" if c.get("git_commit") else ""))
    for inp in step["inputs"]:
        sub = branch.add(f"input [bold]{escape(inp['name'])}[/]")
        _tree(sub, inp)


@models.command("on-approve")
@click.argument("group", type=GROUP)
@click.option("--run", "run", type=click.Path(path_type=Path), required=True,
              help="Pipeline file to start on approval.")
@click.option("-p", "--param", "param", multiple=True, metavar="NAME=VALUE",
              help="Another pipeline parameter (repeatable).")
@click.option("--parameter", default="ModelPackage", show_default=True,
              help="The pipeline parameter that receives GROUP/VERSION.")
def on_approve(group: str, run: Path, param: tuple[str, ...], parameter: str) -> None:
    """Start FILE.py whenever a version of GROUP is approved (GROUP/VERSION is passed as
    the parameter named by --parameter).

    Approving a version then RUNS this pipeline file's code (and its steps' scripts) as
    whoever approves, from any process that records the approval: subscribe only files you
    trust, and keep them where others cannot change them."""
    from stackyard.cli._runs import load_pipeline, parse_params

    pipeline = load_pipeline(run)
    names = {p.name for p in pipeline.parameters}
    if parameter not in names:
        raise UsageError(f"{run} has no parameter {parameter!r} to receive the approved "
                         f"version; add ParameterString({parameter!r}) (parameters: "
                         f"{', '.join(sorted(names)) or 'none'})")
    unknown = set(parse_params(param)) - names
    if unknown:
        raise UsageError(f"{run} has no parameter(s) {', '.join(sorted(unknown))}")
    sid = _registry().subscribe_on_approve(group, {
        "file": str(run.resolve()), "parameter": parameter, "params": list(param),
        "cwd": os.getcwd()})
    out.print(f"subscription {sid}: approving a version of {group} starts {run}", markup=False)
