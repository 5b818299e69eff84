"""The web UI: SageMaker Studio's MLOps views, served by ``stackyard server`` or ``stackyard ui``
(issue 14)."""
