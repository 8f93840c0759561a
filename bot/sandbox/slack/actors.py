"""What a person does in Slack: run a command, press a button, submit or close a modal.

Each action builds the payload Slack would send, delivers it signed to the bot, and then
applies the bot's ack the way Slack does (ephemeral ack text for commands, `response_action`
for view submissions, the error a user sees when the ack is late or fails).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from bot.sandbox.slack import payloads
from bot.sandbox.slack.blockkit import block_elements, entered_state
from bot.sandbox.slack.delivery import Delivery, Forge
from bot.sandbox.slack.models import Channel, Message, ResponseUrl, SlackError, User, View

if TYPE_CHECKING:
    from bot.sandbox.slack.sandbox import SlackSandbox

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
SLACKBOT = "USLACKBOT"
MODAL_TROUBLE = "We had some trouble connecting. Try again?"


class SandboxUser:
    """A person in the workspace. All methods return the `Delivery` that reached the bot."""

    def __init__(self, sandbox: SlackSandbox, user: User) -> None:
        self._ss = sandbox
        self.user = user

    @property
    def id(self) -> str:
        return self.user.id

    @property
    def name(self) -> str:
        return self.user.name

    def __repr__(self) -> str:
        return f"SandboxUser({self.user.id!r}, {self.user.name!r})"

    # ------------------------------------------------------------- slash command
    def command(
        self,
        command: str,
        text: str = "",
        *,
        channel: str | None = None,
        signature: str | None = None,
        timestamp: int | str | None = None,
        body: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Delivery:
        ss, ws = self._ss, self._ss.workspace
        where = ws.resolve_channel(channel) if channel else ws.dm_channel(self.id)
        trigger_id = ws.issue_trigger(self.id)
        entry = ws.issue_response_url(self.id, where.id, "command", None)
        response_url = ss.response_url(entry.token)
        form = payloads.slash_command_form(ss.team, self.user, where, command, text, response_url, trigger_id)
        try:
            delivery = ss.deliver(
                "slash_command",
                form,
                payloads.form_body(form),
                FORM,
                Forge(signature, timestamp, body, headers),
            )
            delivery.response_url, delivery.trigger_id = response_url, trigger_id
            self._show_command_ack(command, where, entry, delivery)
        finally:
            entry.acked.set()
        return delivery

    def _show_command_ack(self, command: str, where: Channel, entry: ResponseUrl, delivery: Delivery) -> None:
        """What Slack shows after the ack: the failure, or the ack body as a message."""
        ws = self._ss.workspace
        if delivery.failed:
            self._slackbot_says(where, f'{command} failed with the error "{delivery.failed}"', delivery)
            return
        ack = _command_ack(delivery.body)
        if ack is None:
            return
        try:
            ws.check("slash command ack", "message", ack)
        except SlackError as error:
            delivery.failed = error.code
            self._slackbot_says(where, f'{command} failed with the error "{error.code}"', delivery)
            return
        public = ack.get("response_type") == "in_channel"
        message = ws.post(
            where,
            text=ack.get("text") or "",
            blocks=ack.get("blocks"),
            user=ws.bot_user_id,
            bot=True,
            ephemeral_to=None if public else self.id,
            via="ack",
        )
        entry.original = (message.channel, message.ts, message.ephemeral_to)
        delivery.outcome.append(f"ack shown as {'in_channel' if public else 'ephemeral'} {message.ts}")

    def _slackbot_says(self, where: Channel, text: str, delivery: Delivery) -> None:
        ws = self._ss.workspace
        delivery.user_sees = text
        ws.post(where, text=text, blocks=None, user=SLACKBOT, bot=False, ephemeral_to=self.id, via="slackbot")
        ws.note("failure", text, user=self.id, channel=where.id)

    # --------------------------------------------------------------- block_actions
    def press(
        self,
        action_id: str | None = None,
        *,
        button: Any = None,
        on: Message | View | str,
        value: Any = None,
        block_id: str | None = None,
        signature: str | None = None,
        timestamp: int | str | None = None,
        body: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Delivery:
        """Click a button (or choose `value` in a select/overflow) on a message or a view.

        `button` may be anything with `action_id` and `block_id` attributes, such as an element
        returned by `render.render_message`.
        """
        if button is not None:
            action_id = getattr(button, "action_id", None) or action_id
            block_id = getattr(button, "block_id", None) or block_id
        if not action_id:
            raise ValueError("press() needs action_id= or button=")
        ss, ws = self._ss, self._ss.workspace
        forge = Forge(signature, timestamp, body, headers)
        action_ts = ws.next_ts()
        if isinstance(on, Message):
            live = ws.find_message(on.channel, on.ts, on.ephemeral_to)
            if live.is_ephemeral and live.ephemeral_to != self.id:
                raise ValueError("that ephemeral message is not visible to this user")
            block, element = _find_element(live.blocks, action_id, block_id)
            state = _action_state(element, value)
            action = payloads.action_item(block, element, action_ts, state)
            channel = ws.resolve_channel(live.channel)
            entry = ws.issue_response_url(
                self.id, channel.id, "message", (live.channel, live.ts, live.ephemeral_to)
            )
            response_url = ss.response_url(entry.token)
            trigger_id = ws.issue_trigger(self.id)
            payload = payloads.block_actions_from_message(
                ss.team, self.user, channel, live, action, trigger_id, response_url
            )
            try:
                delivery = ss.deliver(
                    "block_actions", payload, payloads.interactivity_body(payload), FORM, forge
                )
            finally:
                entry.acked.set()
            delivery.response_url, delivery.trigger_id = response_url, trigger_id
        else:
            view = self._live_view(on)
            block, element = _find_element(view.blocks, action_id, block_id)
            state = _action_state(element, value)
            if state is not None and element.get("type") != "overflow":
                with ws.lock:
                    view.entered[(block["block_id"], element["action_id"])] = state
            action = payloads.action_item(block, element, action_ts, state)
            trigger_id = ws.issue_trigger(self.id)
            payload = payloads.block_actions_from_view(ss.team, self.user, view, action, trigger_id)
            delivery = ss.deliver("block_actions", payload, payloads.interactivity_body(payload), FORM, forge)
            delivery.trigger_id = trigger_id
        if delivery.failed:
            delivery.user_sees = "⚠ This didn't work. Try again?"
            ws.note("failure", f"{self.name}: button {action_id!r} failed ({delivery.failed})", user=self.id)
        return delivery

    def _live_view(self, on: View | str) -> View:
        ws = self._ss.workspace
        view_id = on if isinstance(on, str) else on.id
        with ws.lock:
            view = ws.views.get(view_id)
            if view is None or view.closed:
                raise ValueError(f"view {view_id} is not open")
            if view.user_id != self.id:
                raise ValueError(f"view {view_id} belongs to {view.user_id}")
            if view.type == "modal":
                stack = ws.stacks.get(self.id) or []
                if not stack or stack[-1] != view.id:
                    raise ValueError(f"view {view_id} is not the visible (top) view")
            return view

    # ------------------------------------------------------------- view_submission
    def submit(
        self,
        view_id: str | View,
        values: dict[str, dict[str, Any]] | None = None,
        *,
        signature: str | None = None,
        timestamp: int | str | None = None,
        body: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Delivery:
        """Type `values` ({block_id: {action_id: value}}) into the top modal and press Submit."""
        ss, ws = self._ss, self._ss.workspace
        view = self._live_view(view_id)
        if view.type != "modal" or not view.submit:
            raise ValueError("this view has no Submit button")
        for block_key, per_action in (values or {}).items():
            for action_key, value in per_action.items():
                block, element = _find_element(view.blocks, action_key, block_key)
                with ws.lock:
                    view.entered[(block_key, action_key)] = entered_state(element, value)
        missing = _client_side_problems(view)
        if missing:
            ws.show_errors(view, missing)
            return Delivery(
                kind="view_submission",
                payload={},
                failed="client_validation",
                user_sees="; ".join(missing.values()),
                outcome=["not sent: Slack's own checks"],
            )
        trigger_id = ws.issue_trigger(self.id)
        payload = payloads.view_submission(ss.team, self.user, view, trigger_id)
        delivery = ss.deliver(
            "view_submission",
            payload,
            payloads.interactivity_body(payload),
            FORM,
            Forge(signature, timestamp, body, headers),
        )
        delivery.trigger_id = trigger_id
        if delivery.failed:
            self._modal_trouble(view, delivery)
            return delivery
        self._apply_submission_ack(view, delivery)
        return delivery

    def _modal_trouble(self, view: View, delivery: Delivery) -> None:
        delivery.user_sees = MODAL_TROUBLE
        self._ss.workspace.note(
            "failure", f"modal {view.id}: {MODAL_TROUBLE} ({delivery.failed})", user=self.id, ref=view.id
        )

    def _apply_submission_ack(self, view: View, delivery: Delivery) -> None:
        ws = self._ss.workspace
        if not delivery.body.strip():
            ws.pop_view(self.id)
            delivery.outcome.append("closed")
            return
        ack = delivery.ack_json
        if not isinstance(ack, dict):
            delivery.failed = "invalid_response"
            self._modal_trouble(view, delivery)
            return
        action = ack.get("response_action")
        try:
            if action == "errors":
                errors = ack.get("errors")
                bad = _bad_error_keys(view, errors)
                if bad:
                    raise SlackError("invalid_arguments", bad)
                ws.show_errors(view, errors)
            elif action == "update":
                ws.check("response_action update", "modal", ack.get("view"))
                ws.update_view(view, ack["view"], expected_hash=None)
            elif action == "push":
                ws.check("response_action push", "modal", ack.get("view"))
                ws.push_modal(self.id, ack["view"])
            elif action == "clear":
                ws.clear_views(self.id)
            elif action is None:
                ws.pop_view(self.id)
                action = "closed"
            else:
                raise SlackError("invalid_arguments", [f"unknown response_action {action!r}"])
        except SlackError as error:
            delivery.failed = error.code
            delivery.outcome.extend(error.errors)
            self._modal_trouble(view, delivery)
            return
        delivery.outcome.append(str(action))

    # ------------------------------------------------------------- close / home
    def close_view(
        self, view_id: str | View, *, signature: str | None = None, timestamp: int | str | None = None
    ) -> Delivery:
        """Press Cancel/Close on the top modal (a pushed view goes back one step)."""
        ss, ws = self._ss, self._ss.workspace
        view = self._live_view(view_id)
        stack = ws.stack(self.id)
        clear_all = len(stack) <= 1 or view.clear_on_close
        payload = payloads.view_closed(ss.team, self.user, view, is_cleared=clear_all and len(stack) > 1)
        if clear_all:
            ws.clear_views(self.id)
        else:
            ws.pop_view(self.id)
        if not view.notify_on_close:
            return Delivery(kind="view_closed", payload=payload, outcome=["not sent (notify_on_close false)"])
        return ss.deliver(
            "view_closed", payload, payloads.interactivity_body(payload), FORM, Forge(signature, timestamp)
        )

    def open_home(
        self, *, tab: str = "home", signature: str | None = None, timestamp: int | str | None = None
    ) -> Delivery:
        ss, ws = self._ss, self._ss.workspace
        dm = ws.dm_channel(self.id)
        with ws.lock:
            home = ws.views.get(ws.homes.get(self.id, ""))
        payload = payloads.app_home_opened(ss.team, self.user, dm.id, home, ws.clock(), tab=tab)
        return ss.deliver(
            "event_callback", payload, payloads.json_body(payload), JSON, Forge(signature, timestamp)
        )


# ----------------------------------------------------------------------- helpers
def _command_ack(body: str) -> dict[str, Any] | None:
    """A slash command ack as the message Slack would show, or None when the body is empty."""
    if not body.strip():
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return {"text": body}
    if isinstance(parsed, dict):
        return parsed
    return {"text": body}


def _find_element(
    blocks: list[dict[str, Any]], action_id: str, block_id: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    for block in blocks:
        if block_id and block.get("block_id") != block_id:
            continue
        for element in block_elements(block):
            if element.get("action_id") == action_id:
                return block, element
    available = [e.get("action_id") for b in blocks for e in block_elements(b)]
    raise LookupError(f"no element {action_id!r} (block {block_id!r}); available: {available}")


def _action_state(element: dict[str, Any], value: Any) -> dict[str, Any] | None:
    kind = element.get("type")
    if kind == "button":
        return None
    if kind == "overflow":
        return entered_state({**element, "type": "static_select"}, value) | {"type": "overflow"}
    return entered_state(element, value)


def _client_side_problems(view: View) -> dict[str, str]:
    """What Slack's client refuses before sending: empty required inputs, length limits."""
    problems: dict[str, str] = {}
    values = view.state_values()
    for block in view.blocks:
        if block.get("type") != "input" or not isinstance(block.get("element"), dict):
            continue
        element = block["element"]
        state = values.get(block["block_id"], {}).get(element.get("action_id"), {})
        filled = _has_value(state)
        if not filled and not block.get("optional"):
            problems[block["block_id"]] = "Please fill out this field."
            continue
        text = state.get("value")
        if isinstance(text, str):
            if element.get("max_length") and len(text) > element["max_length"]:
                problems[block["block_id"]] = f"Must be {element['max_length']} characters or fewer."
            elif element.get("min_length") and len(text) < element["min_length"]:
                problems[block["block_id"]] = f"Must be at least {element['min_length']} characters."
    return problems


def _has_value(state: dict[str, Any]) -> bool:
    return any(v not in (None, "", []) for k, v in state.items() if k != "type")


def _bad_error_keys(view: View, errors: Any) -> list[str]:
    if not isinstance(errors, dict) or not errors:
        return ["errors: must be a non-empty object keyed by block_id"]
    inputs = {b["block_id"] for b in view.blocks if b.get("type") == "input"}
    return [f"errors: {key!r} is not the block_id of an input block" for key in errors if key not in inputs]
