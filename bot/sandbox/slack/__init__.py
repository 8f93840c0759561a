"""An offline Slack for tests, the demo and benchmarks: Web API + signed delivery over HTTP.

Imports nothing from the bot; it is "the other side of the wire".
"""

from bot.sandbox.slack.delivery import Delivery, Forge, sign
from bot.sandbox.slack.models import ManualClock, Message, SlackError, View
from bot.sandbox.slack.sandbox import SlackSandbox

__all__ = ["Delivery", "Forge", "ManualClock", "Message", "SlackError", "SlackSandbox", "View", "sign"]
