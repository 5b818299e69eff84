"""Amazon States Language state machines, run locally and durably (issue 11)."""
