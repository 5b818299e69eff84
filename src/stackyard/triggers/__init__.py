"""Schedules and event rules: what starts pipelines, state machines and monitors on its own
(issue 12)."""
