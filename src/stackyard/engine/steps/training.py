"""``TrainingStep``: one training job; its metrics are recorded per attempt.

The request checks and inputs are shared with ``TuningStep`` (whose training job
definition is the same request), which lives above the engine and imports them from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackyard import runtime
from stackyard._checks import check_name, inside
from stackyard.engine._execute import Attempt, check_job, job_name, run_job
from stackyard.engine.steps._base import StepType, Tokens
from stackyard.errors import DefinitionError

if TYPE_CHECKING:
    from stackyard.engine._definition import PipelineDef, StepDef


def check_training_request(step: StepDef, req: dict[str, Any]) -> None:
    """Metric regexes compile, channel names are names, and the entry point exists inside
    its source folder."""
    try:
        runtime.compile_metrics(req.get("AlgorithmSpecification", {})
                                .get("MetricDefinitions", []))
    except DefinitionError as e:
        raise DefinitionError(f"step {step.name!r}: {e}") from None
    for channel in req.get("InputDataConfig", []):
        check_name(channel.get("ChannelName"), "channel")
    code = req.get("Code", {})
    if code.get("SourceDir"):
        entry = inside(code["SourceDir"], code.get("EntryPoint", ""), "entry point")
    else:
        entry = Path(code.get("EntryPointPath") or code.get("EntryPoint", ""))
    if not entry.is_file():
        raise DefinitionError(f"step {step.name!r}: entry point {entry} does not exist")


def training_inputs(req: dict[str, Any]) -> list[tuple[str, str]]:
    """The channels' data and the code (label ``code``) of a resolved training request."""
    inputs = [(c["ChannelName"], str(c["DataSource"]["S3DataSource"]["S3Uri"]))
              for c in req["InputDataConfig"]]
    return [*inputs, ("code", req["Code"]["SourceDir"] or req["Code"]["EntryPointPath"])]


def training_lineage(req: dict[str, Any]) -> dict[str, Any]:
    code = req.get("Code", {})
    path = code.get("SourceDir") or code.get("EntryPointPath")
    return {"code": {"path": path, "entry_point": code.get("EntryPoint")},
            "hyperparameters": dict(req.get("HyperParameters", {})),
            "inputs": [(ch["ChannelName"], str(ch["DataSource"]["S3DataSource"]["S3Uri"]))
                       for ch in req.get("InputDataConfig", [])]}


class TrainingStepType(StepType):
    name = "Training"
    adoptable = True

    def validate(self, step: StepDef, pdef: PipelineDef) -> None:
        check_training_request(step, step.arguments)

    def property_error(self, step: StepDef, tokens: Tokens) -> str | None:
        head = tokens[0] if tokens else None
        if head in ("TrainingJobName", "TrainingJobStatus", "TrainingJobArn"):
            return None
        if tokens in (["ModelArtifacts", "S3ModelArtifacts"],
                      ["OutputDataConfig", "S3OutputPath"]):
            return None
        if head == "HyperParameters" and len(tokens) == 2:
            return None
        if head == "FinalMetricDataList" and len(tokens) == 3 and tokens[2] == "Value":
            args = step.arguments if isinstance(step.arguments, dict) else {}
            metrics = {m["Name"] for m in args.get("AlgorithmSpecification", {})
                       .get("MetricDefinitions", [])}
            return None if tokens[1] in metrics else (
                f"step {step.name!r} defines no metric {tokens[1]!r} "
                f"(metric_definitions: {', '.join(sorted(metrics)) or 'none'})")
        return super().property_error(step, tokens)

    def cache_inputs(self, step: StepDef, resolved: Any) -> list[tuple[str, str]]:
        return training_inputs(resolved)

    def execute(self, a: Attempt, req: dict[str, Any]) -> dict[str, Any]:
        name = job_name(a.run_id, a.step.name)
        spec = runtime.training_spec(name, req)
        result = run_job(a, spec)
        series = runtime.job_metrics(a.job_dir, spec.metric_definitions)
        a.store.put_metrics(a.run_id, a.step.name, a.n, series)
        check_job(result)
        return runtime.training_outputs(a.job_dir, name, req, series)

    def lineage(self, arguments: dict[str, Any], outputs: dict[str, Any],
                uri: str) -> dict[str, Any]:
        return training_lineage(arguments)
