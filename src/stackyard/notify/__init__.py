"""Notification channels (webhook, e-mail, log) and the record of what was sent (issue 12)."""
