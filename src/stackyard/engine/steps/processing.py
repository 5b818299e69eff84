"""``ProcessingStep``: one processing job; its outputs go into the content-addressed store."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any

from stackyard import artifacts, runtime
from stackyard._checks import container_path, uri_to_path
from stackyard.engine._execute import Attempt, check_job, job_name, run_job
from stackyard.engine.steps._base import StepType, Tokens
from stackyard.errors import DefinitionError, StepFailed, UsageError
from stackyard.runtime._job import host_path

if TYPE_CHECKING:
    from stackyard.engine._definition import PipelineDef, StepDef

_PREFIX = "/opt/ml/processing"


def _outputs(args: Any) -> list[dict[str, Any]]:
    return args.get("ProcessingOutputConfig", {}).get("Outputs", []) if isinstance(
        args, dict) else []


class ProcessingStepType(StepType):
    name = "Processing"
    adoptable = True

    def validate(self, step: StepDef, pdef: PipelineDef) -> None:
        """The script exists, every container path stays under /opt/ml/processing (a
        definition may come from JSON, not only from the SDK), property files name outputs."""
        for inp in step.arguments.get("ProcessingInputs", []):
            container_path(inp["S3Input"]["LocalPath"], _PREFIX)
            if inp.get("InputName") == "code":
                path = uri_to_path(inp["S3Input"]["S3Uri"])
                if not path.is_file():
                    raise DefinitionError(f"step {step.name!r}: script {path} does not exist")
        outs = set()
        for out in _outputs(step.arguments):
            container_path(out["S3Output"]["LocalPath"], _PREFIX)
            outs.add(out["OutputName"])
        for pf in step.raw.get("PropertyFiles", []):
            if pf["OutputName"] not in outs:
                raise DefinitionError(
                    f"step {step.name!r}: property file {pf['PropertyFileName']!r} names "
                    f"output {pf['OutputName']!r}, which the step does not have "
                    f"(outputs: {', '.join(sorted(outs)) or 'none'})")

    def property_error(self, step: StepDef, tokens: Tokens) -> str | None:
        head = tokens[0] if tokens else None
        if head in ("ProcessingJobName", "ProcessingJobStatus", "ProcessingJobArn"):
            return None
        if head == "ProcessingOutputConfig" and len(tokens) >= 3 and tokens[1] == "Outputs":
            outputs = {o["OutputName"] for o in _outputs(step.arguments)}
            if tokens[2] not in outputs:
                return (f"step {step.name!r} has no output {tokens[2]!r} "
                        f"(outputs: {', '.join(sorted(outputs)) or 'none'})")
            if tokens[3:] in (["S3Output", "S3Uri"], ["OutputName"]):
                return None
        if head == "PropertyFiles" and len(tokens) == 2:
            names = {p["PropertyFileName"] for p in step.raw.get("PropertyFiles", [])}
            return None if tokens[1] in names else (
                f"step {step.name!r} has no property file {tokens[1]!r}")
        return super().property_error(step, tokens)

    def cache_inputs(self, step: StepDef, resolved: Any) -> list[tuple[str, str]]:
        return [(i["InputName"], str(i["S3Input"]["S3Uri"]))
                for i in resolved["ProcessingInputs"]]

    def execute(self, a: Attempt, req: dict[str, Any]) -> dict[str, Any]:
        name = job_name(a.run_id, a.step.name)
        check_job(run_job(a, runtime.processing_spec(name, req)))
        outputs: dict[str, Any] = {}
        for out in _outputs(req):
            local = host_path(a.job_dir, out["S3Output"]["LocalPath"])
            try:
                uri = artifacts.put_tree(local)
            except (OSError, shutil.Error) as e:
                raise StepFailed(f"cannot store output {out['OutputName']!r}: {e}",
                                 "JobError") from e
            if out["S3Output"].get("S3Uri"):
                try:  # adds the output's files; never removes what is there
                    artifacts.publish(uri, str(out["S3Output"]["S3Uri"]))
                except UsageError as e:
                    raise StepFailed(str(e), "JobError") from e
            outputs[out["OutputName"]] = {"OutputName": out["OutputName"], "S3Output": {
                "S3Uri": uri, "LocalPath": out["S3Output"]["LocalPath"],
                "Destination": out["S3Output"].get("S3Uri")}}
        props = {pf["PropertyFileName"]: {"OutputName": pf["OutputName"],
                                          "FilePath": pf["FilePath"]}
                 for pf in a.step.raw.get("PropertyFiles", [])}
        return {"ProcessingJobName": name, "ProcessingJobStatus": "Completed",
                "ProcessingOutputConfig": {"Outputs": outputs}, "PropertyFiles": props}

    def lineage(self, arguments: dict[str, Any], outputs: dict[str, Any],
                uri: str) -> dict[str, Any]:
        info: dict[str, Any] = {"inputs": []}
        for inp in arguments.get("ProcessingInputs", []):
            src = str(inp["S3Input"]["S3Uri"])
            if inp["InputName"] == "code":
                info["code"] = {"path": str(uri_to_path(src)), "entry_point": None}
            else:
                info["inputs"].append((inp["InputName"], src))
        return info
