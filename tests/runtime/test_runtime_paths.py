"""Paths with spaces and non-ASCII letters everywhere: the pipeline file, code, source_dir,
inputs, outputs and STACKYARD_HOME, given as plain paths and as percent-encoded file://
URIs (one conversion, ``_checks.uri_to_path``, decodes them all)."""

from __future__ import annotations

PIPELINE = """
from pathlib import Path
from stackyard.jobs import Estimator, ProcessingInput, ProcessingOutput, ScriptProcessor
from stackyard.workflow import Pipeline, PipelineSession, ProcessingStep, TrainingStep

here = Path(__file__).parent
session = PipelineSession()
prep = ProcessingStep("Prep", step_args=ScriptProcessor(
    command=["python3"], sagemaker_session=session).run(
    code=(here / "code" / "prep.py").as_uri(),
    inputs=[ProcessingInput(source=(here / "data in").as_uri(),
                            destination="/opt/ml/processing/input")],
    outputs=[ProcessingOutput(output_name="rows", source="/opt/ml/processing/rows",
                              destination=str(here / "out put"))]))
train = TrainingStep("Train", step_args=Estimator(
    entry_point="train.py", source_dir=(here / "src dir").as_uri(),
    sagemaker_session=session).fit(
    {"rows": prep.properties.ProcessingOutputConfig.Outputs["rows"].S3Output.S3Uri}))
pipeline = Pipeline(name="spaces", steps=[prep, train])
"""

PREP = """
import pathlib, shutil
src = pathlib.Path("/opt/ml/processing/input/rows.csv")
shutil.copy(src, "/opt/ml/processing/rows/rows.csv")
"""

TRAIN = """
import os, pathlib
rows = pathlib.Path(os.environ["SM_CHANNEL_ROWS"], "rows.csv").read_text()
pathlib.Path(os.environ["SM_MODEL_DIR"], "model.txt").write_text(f"trained on {rows}")
"""


def test_spaces_and_non_ascii_in_every_path(sy):
    base = sy.tmp / "My Projects" / "données"
    for rel, text in (("pipeline.py", PIPELINE), ("code/prep.py", PREP),
                      ("src dir/train.py", TRAIN), ("data in/rows.csv", "a,b\n1,2\n")):
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_text(text)
    home = base / "état home"
    r = sy.cli("run", base / "pipeline.py", cwd=base,
               env=sy.cli_env(STACKYARD_HOME=str(home)))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Succeeded" in r.stdout + r.stderr and "%20" not in r.stdout + r.stderr
    assert (base / "out put" / "rows.csv").read_text() == "a,b\n1,2\n"
    model_txt = next(home.glob("runs/*/jobs/Train/attempt-1/ml/model/model.txt"))
    assert model_txt.read_text() == "trained on a,b\n1,2\n"
    assert (home / "stackyard.db").is_file() and not (sy.home / "stackyard.db").exists()
