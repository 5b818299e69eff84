"""The pipeline session and what it hands to steps.

``processor.run()``, ``estimator.fit()``, ``tuner.fit()`` and ``model.register()`` called
with ``sagemaker_session=PipelineSession()`` return a ``JobArgs`` instead of running: the
request a step carries as its arguments. The job classes (``stackyard.jobs``,
``stackyard.tuning``) build these; the workflow only reads them, so it depends on no job
class.
"""

from __future__ import annotations

from typing import Any


class PipelineSession:
    """Pass as ``sagemaker_session=`` so ``run()``/``fit()`` return step arguments."""

    is_pipeline_session = True


def in_pipeline(session: Any) -> bool:
    return bool(getattr(session, "is_pipeline_session", False))


class JobArgs:
    """What ``processor.run()``/``estimator.fit()`` return inside a pipeline session:
    the job request (``kind`` names the step type it suits), to be handed to a step as
    ``step_args``."""

    def __init__(self, kind: str, request: dict[str, Any]) -> None:
        self.kind = kind
        self.request = request
