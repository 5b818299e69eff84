"""stackyard."""
