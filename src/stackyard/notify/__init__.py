"""NOTIFY: named channels (a webhook, an e-mail address over SMTP, stackyard's log) and a
durable record of every notification sent through them.

``publish(channel, message, *, subject=None, event=None) -> id`` records a notification and
tries it once; ``deliver_pending(now)`` retries failed ones with backoff (the server loop
calls it); ``list_notifications()`` shows what was sent and whether it arrived. A rule's
``--then notify NAME`` and a state machine's ``sns:publish`` (a topic ARN's last part names
the channel) both come here.
"""

from stackyard.notify._channels import (
    create_channel,
    delete_channel,
    describe_channel,
    list_channels,
)
from stackyard.notify._deliver import RETRY_DELAYS, deliver_pending, list_notifications, publish

__all__ = ["RETRY_DELAYS", "create_channel", "delete_channel", "deliver_pending",
           "describe_channel", "list_channels", "list_notifications", "publish"]
