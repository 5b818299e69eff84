"""TRIGGERS: what starts work on its own — schedules (cron, AWS cron/rate, seconds rates;
catch-up and overlap rules) and event rules (EventBridge patterns over model, run, drift
and file-arrival events) — and ``serve``, the one loop that fires them exactly once.

Everything works without a server: creating a schedule or rule is a row in the store, and
whichever loop runs (``stackyard server``) picks it up. ``dispatch_events`` lets any process
react to the events it just caused (``stackyard models approve`` does).
"""

from stackyard.triggers._loop import dispatch_events, react_now, serve, start_pending, tick_once
from stackyard.triggers._patterns import check_pattern, matches, parse_pattern
from stackyard.triggers._rules import ON, create_rule, delete_rule, describe_rule, list_rules
from stackyard.triggers._schedules import (
    create_schedule,
    delete_schedule,
    describe_schedule,
    list_schedules,
    pause_schedule,
    resume_schedule,
    trigger_schedule,
)
from stackyard.triggers._targets import describe as describe_target
from stackyard.triggers._targets import (
    monitor_target,
    notify_target,
    pipeline_target,
    state_machine_target,
)

__all__ = [
    "ON", "check_pattern", "create_rule", "create_schedule", "delete_rule", "delete_schedule",
    "describe_rule", "describe_schedule", "describe_target", "dispatch_events", "list_rules",
    "list_schedules", "matches", "monitor_target", "notify_target", "parse_pattern",
    "pause_schedule", "pipeline_target", "react_now", "resume_schedule", "serve", "start_pending",
    "state_machine_target", "tick_once", "trigger_schedule",
]
