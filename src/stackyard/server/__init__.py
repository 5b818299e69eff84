"""The long-running ``stackyard server``: schedules, rules, callback answers, notifications
and the JSON HTTP API over the store (issue 12)."""
