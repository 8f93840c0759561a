"""One demo session: type what you would type in Slack, see what Slack would show.

:class:`Session` runs one line at a time (:meth:`Session.run_line`): it acts as the current
person (a slash command, a button press, a modal submission, a browser visit), then waits until
Recon has finished answering — its work pool is empty, Slack has seen no new activity for a
moment, and nothing on screen still says ⏳ — printing everything that person can see as it
arrives. Each step reports the errors it met, which is how ``--script`` decides to stop.

What counts as an error: Slack's own failure messages (``dispatch_failed``, ``operation_timeout``,
"We had some trouble connecting"), Block Kit the stand-in rejected or warned about, a Web API call or
response_url post Slack refused, a Recon message or modal that opens with ⚠, a modal showing
validation errors, a web page answering 4xx/5xx, an ERROR logged by the bot, a console line
that could not be run, and Recon still working after the timeout.

:mod:`bot.demo.console` is the prompt loop; :mod:`bot.demo.script` runs files.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from bot.demo import view as v
from bot.demo.browser import Browser, Control, Page, is_local
from bot.demo.commands import CONSOLE_HELP, Command, UsageError, parse, slack_client_text
from bot.demo.transcript import Screen, Target, Transcript, comparable
from bot.demo.world import CHANNEL_ID, CHANNEL_NAME, STEP, WORKSPACE_NAME, DemoWorld

SLACKBOT = "USLACKBOT"
QUIET_S = 0.15  # no new activity for this long (and an empty work pool) = Recon has answered
SETTLE_TIMEOUT_S = 30.0
POLL_S = 0.02
_GUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_MESSAGE_KINDS = {"message", "ephemeral", "updated"}
_VIEW_KINDS = {"view_opened", "view_pushed", "view_updated", "view_errors"}


@dataclass
class StepResult:
    line: str
    name: str | None = None  # the command's name; None for blank lines and comments
    errors: list[str] = field(default_factory=list)
    output: str = ""
    quit: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


class _LogFeed(logging.Handler):
    """Log records join the event feed so they print in order with what Slack shows."""

    def __init__(self, feed: queue.Queue[tuple[str, Any]]) -> None:
        super().__init__(level=logging.INFO)
        self._feed = feed

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING or record.name.startswith("bot.jobs"):
            self._feed.put(("log", record))


class Session:
    """One demo session: who you are, what is on screen, and the steps run so far."""

    def __init__(
        self,
        world: DemoWorld,
        transcript: Transcript,
        *,
        confirm: Callable[[str], bool] | None = None,
        settle_timeout: float = SETTLE_TIMEOUT_S,
    ) -> None:
        self.world = world
        self.t = transcript
        self.style = transcript.style
        self.width = transcript.width
        self.screen = Screen()
        self.user = "alice"
        self.confirm = confirm or (lambda _dialog: True)
        self.settle_timeout = settle_timeout
        self.pending: dict[str, dict[tuple[str, str], str]] = {}  # typed into a modal, not yet submitted
        self.last_txn: str | None = None
        self._feed: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._lock = threading.RLock()
        self._shown: dict[Any, str] = {}
        self._working: dict[Any, bool] = {}
        self._errors: list[str] = []
        self._last_errors: list[str] = []
        self._browsers: dict[str, Browser] = {}
        self._checked: dict[int, dict[int, bool]] = {}
        self._watching_home = False
        self._held: dict[Any, Any] | None = None  # channel posts kept back during a time jump
        self._held_logs: list[str] | None = None
        self._baseline: tuple[int, int, int, int] = (0, 0, 0, 0)
        self._digest_baseline: set[tuple[int, str, Any]] = set()
        self._quiet: tuple[tuple[int, ...], float] = ((), 0.0)  # activity when last settled, and since when
        self.log_handler = _LogFeed(self._feed)
        world.slack.subscribe(self._on_slack_event)

    # ================================================================== identity
    @property
    def me(self) -> Any:
        return self.world.cast[self.user]

    @property
    def person(self) -> Any:
        return self.world.person(self.user)

    @property
    def prompt(self) -> str:
        return f"@{self.user} in #{CHANNEL_NAME}> "

    def names(self) -> dict[str, str]:
        return self.world.names()

    # ================================================================== steps
    def run_line(self, line: str) -> StepResult:
        """Run one console line and wait for everything it causes; never raises for user mistakes."""
        try:
            command = parse(line)
        except UsageError as exc:
            self._begin()
            self._usage(str(exc))
            return self._end(line, "invalid")
        if command is None:
            return StepResult(line)
        if command.name in ("expect", "expect-error"):
            return self._expectation(line, command)
        with self._lock:  # the background printer waits; this step shows its own results
            self._begin()
            try:
                self.world.next_step()
                self._dispatch(command)
            except UsageError as exc:
                self._usage(str(exc))
            self._settle_step()
            return self._end(line, command.name, quit=command.name == "quit")

    def _begin(self) -> None:
        with self._lock:
            self.t.new_step()
            self.screen.new_step()
            self._errors = []
            self._working = {}
            self._watching_home = False
            slack = self.world.slack
            self._baseline = (
                len(slack.invalid_payloads),
                len(slack.calls),
                len(slack.response_url_posts),
                len(slack.warnings),
            )
            self._digest_baseline = self._digest_troubles()

    def _end(self, line: str, name: str, *, quit: bool = False) -> StepResult:
        with self._lock:
            errors = list(self._errors)
            self._last_errors = errors
            return StepResult(line, name, errors, self.t.step_text, quit)

    def _usage(self, text: str) -> None:
        self.t.problem(text)
        self._error(text)

    def _error(self, text: str) -> None:
        with self._lock:
            self._errors.append(text)

    def _settle_step(self) -> None:
        if not self.settle():
            self.t.note(
                f"Recon is still working after {self.settle_timeout:.0f} s; what it sends will appear here."
            )
            self._error(f"timed out after {self.settle_timeout:.0f} s waiting for Recon to answer")
        self._check_slack_records()
        self._check_digests()

    def _digest_troubles(self) -> set[tuple[int, str, Any]]:
        from storage.digests import runs_in_trouble

        services = self.world.services
        if services is None:
            return set()
        return {(r.id, r.status, r.finished_at) for r in runs_in_trouble(services.db)}

    def _check_digests(self) -> None:
        """A digest that could not be posted during the step (even one the clock will retry)
        fails the step: otherwise a script would sail past it, as only its owner's DM and
        ``/recon digest status`` show it."""
        from storage.digests import runs_in_trouble

        services = self.world.services
        if services is None:
            return
        for run in runs_in_trouble(services.db):
            if (run.id, run.status, run.finished_at) not in self._digest_baseline:
                why = (run.detail or run.status).strip()
                self._report(f"the digest for {run.local_date:%a %d %b %Y} was not posted: {why}")

    def settle(self, timeout: float | None = None) -> bool:
        """Print what arrives until Recon is done: pool empty, quiet for a moment, nothing ⏳ left."""
        deadline = time.monotonic() + (self.settle_timeout if timeout is None else timeout)
        last = self.world.activity()
        seen, quiet_since = self._quiet
        changed = quiet_since if last == seen else time.monotonic()
        while True:
            self.drain()
            now = time.monotonic()
            activity = self.world.activity()
            if activity != last:
                last, changed = activity, now
            with self._lock:
                working = any(self._working.values())
            if self.world.busy == 0 and now - changed >= QUIET_S and not working and self._feed.empty():
                self._quiet = (activity, changed)
                return True
            if now >= deadline:
                return False
            time.sleep(POLL_S)

    def _check_slack_records(self) -> None:
        """Failures only Slack's records show: rejected Block Kit, refused API calls, response_url errors."""
        slack = self.world.slack
        invalid, calls, posts, warned = self._baseline
        for payload in slack.invalid_payloads[invalid:]:
            detail = payload.errors[0] if payload.errors else "invalid"
            self._report(f"Slack rejected Block Kit from Recon ({payload.source}): {detail}")
        for call in slack.calls[calls:]:
            if not call.ok:
                self._report(
                    f"Slack answered Recon's {call.method} with error {call.response.get('error')!r}"
                )
        for warning in slack.warnings[warned:]:
            self._report(f"Slack flagged something Recon sent: {warning}")
        for post in slack.response_url_posts[posts:]:
            if post.status != 200 or not post.response.get("ok", True):
                self._report(
                    f"Slack refused a response_url post (HTTP {post.status}: {post.response.get('error')})"
                )

    def _report(self, text: str) -> None:
        self.t.print(self.style.red(f"✗ {text}"))
        self._error(text)

    # ================================================================== expectations
    def _expectation(self, line: str, command: Command) -> StepResult:
        """``expect``/``expect-error`` check the last step without starting a new one."""
        errors: list[str] = []
        wanted = command.text
        if command.name == "expect":
            self.settle()  # anything still on its way counts as "appeared"
            if wanted.casefold() in self.t.step_text.casefold():
                self.t.print(self.style.dim(f"· ✓ expect: {wanted}"), record=False)
            else:
                errors.append(f"expected to see “{wanted}”, but it did not appear")
        else:
            said = "\n".join(self._last_errors)
            if not self._last_errors:
                errors.append("expected the last step to fail, but it succeeded")
            elif wanted and wanted.casefold() not in (said + "\n" + self.t.step_text).casefold():
                errors.append(f"the last step failed, but not with “{wanted}”: {said}")
            else:
                verdict = f"✓ expect-error{': ' + wanted if wanted else ''} (failed as intended)"
                self.t.print(self.style.dim(f"· {verdict}"), record=False)
        for error in errors:
            self.t.print(self.style.red(f"✗ {command.name}: {error}"), record=False)
        return StepResult(line, command.name, errors, "")

    # ================================================================== the feed
    def _on_slack_event(self, item: Any) -> None:
        """Runs in the stand-in as Slack records a change. On a pinned clock the message is
        copied now, so every version is shown whatever the console's timing (see :meth:`drain`)."""
        snapshot = None
        if self.world.options.pinned and item.kind in _MESSAGE_KINDS:
            ephemeral_to = item.user if item.kind == "ephemeral" or item.kind == "updated" else None
            snapshot = self.world.find_message(item.channel, item.ref, ephemeral_to)
        elif self.world.options.pinned and (item.kind in _VIEW_KINDS or item.kind == "home_published"):
            try:
                snapshot = self.world.slack.view(item.ref or "")
            except KeyError:
                snapshot = None
        self._feed.put(("event", (item, snapshot)))

    def drain(self) -> None:
        """Show everything that arrived, once per thing: the latest version of each — or, on a
        pinned clock (a transcript that must not depend on timing), every version in order."""
        with self._lock:
            items: list[tuple[str, Any]] = []
            while True:
                try:
                    items.append(self._feed.get_nowait())
                except queue.Empty:
                    break
            every = self.world.options.pinned
            last_index = {}
            for index, (kind, item) in enumerate(items):
                if kind == "event":
                    last_index[_event_key(item[0])] = index
            for index, (kind, item) in enumerate(items):
                if kind == "log":
                    self._show_log(item)
                elif every or last_index.get(_event_key(item[0])) == index:
                    self._show_event(*item)

    def _show_log(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.ERROR:
            self.t.print(self.style.red(f"· Recon logged an error ({record.name}): {message}"))
            self._error(f"Recon logged an error: {message}")
        elif record.levelno >= logging.WARNING:
            self.t.note(f"log ({record.name}): {message}")
        elif self._held_logs is not None:
            self._held_logs.append(message.removeprefix("clock: "))  # summarised after a time jump
        else:
            self.t.note("clock: " + message.removeprefix("clock: "))

    def _show_event(self, event: Any, snapshot: Any = None) -> None:
        me = self.me.slack_id
        if event.kind in _MESSAGE_KINDS:
            self._show_message_event(event, snapshot)
        elif event.kind == "deleted":
            key = ("message", event.channel, event.ref)
            if key in self._shown:
                self.t.note("a message above was removed")
                self.screen.retire(key)
                self._working.pop(key, None)
        elif event.kind in _VIEW_KINDS and event.user == me:
            self.show_view(event.ref, view=snapshot)
            if event.kind == "view_errors":
                self._error(f"the modal shows errors — {event.summary.split('—', 1)[-1].strip()}")
        elif event.kind == "home_published" and event.user == me and self._watching_home:
            self.show_home(home=snapshot)
        elif event.kind == "view_closed" and event.user == me:
            self._view_closed(event.ref)
        elif event.kind == "failure" and event.user == me and not event.channel:
            self.t.print(self.style.yellow(f"{v.ERROR_MARK} Slack: {event.summary}"))
            self._error(f"Slack: {event.summary}")

    def _show_message_event(self, event: Any, snapshot: Any = None) -> None:
        me = self.me.slack_id
        ephemeral_to = (
            event.user if event.kind == "ephemeral" or (event.kind == "updated" and event.user) else None
        )
        if ephemeral_to is not None and ephemeral_to != me:
            return
        if ephemeral_to is None and event.channel not in self.world.visible_channels(self.user):
            return
        message = snapshot or self.world.find_message(event.channel, event.ref, ephemeral_to)
        if message is not None:
            self.show_message(message)

    # ================================================================== showing things
    def show_message(self, message: Any, *, force: bool = False) -> None:
        key = ("message", message.channel, message.ts)
        names = self.names()
        probe = v.render_slack_message(message, width=self.width, names=names)
        if not force and self._shown.get(key) == comparable(probe.text):
            return
        if self._held is not None and message.channel == CHANNEL_ID and not message.ephemeral_to:
            self._held[key] = message  # a time jump: only the latest channel post is drawn, afterwards
            if v.is_error_text(probe.text):
                self._error(f"Recon: {_first_line(probe.text)}")
            return
        updated = key in self._shown and not force
        start = self.screen.start()
        rendered = v.render_slack_message(message, start=start, width=self.width, names=names)
        self.screen.retire(key)
        for element in rendered.elements:
            self.screen.add(Target(element.number, "message", element, message))
        self.t.block(self._where(message, updated), v.colour_body(rendered.text, self.style))
        self._shown[key] = comparable(rendered.text)
        self._working[key] = v.is_working(rendered.text)
        first = _first_line(rendered.text)
        if message.user == SLACKBOT:
            self._error(f"Slack: {first}")
        elif not force and v.is_error_text(rendered.text):
            self._error(f"Recon: {first}")

    def _where(self, message: Any, updated: bool) -> str:
        names = self.names()
        place = f"#{CHANNEL_NAME}" if message.channel == CHANNEL_ID else "DM with Recon"
        if message.user == SLACKBOT:
            author = "Slackbot"
        elif message.bot_id:
            author = "Recon"
        else:
            author = "@" + names.get(message.user or "", message.user or "?")
        parts = [place, author]
        if message.ephemeral_to:
            parts.append("only visible to you")
        if updated:
            parts.append("updated")
        return " · ".join(parts)

    def show_view(self, view_id: str | None, *, force: bool = False, view: Any = None) -> None:
        """The modal as it is now, or as it was when Slack recorded a change (``view``)."""
        if view is None:
            try:
                view = self.world.slack.view(view_id or "")
            except KeyError:
                return
        if view.type == "home":
            self.show_home(force=force, home=view)
            return
        if view.closed or view.user_id != self.me.slack_id:
            return
        key = ("modal", view.id)
        rendered = v.render_slack_view(
            view, pending=self.pending.get(view.id), width=min(self.width, 80), names=self.names()
        )
        self.screen.set_modal(view.id, [Target(e.number, "modal", e, view.id) for e in rendered.elements])
        if not force and self._shown.get(key) == comparable(rendered.text):
            return
        first_time = key not in self._shown
        self.t.block("Recon · modal", v.colour_body(rendered.text, self.style))
        self._shown[key] = comparable(rendered.text)
        self._working[key] = v.is_working(rendered.text)
        found = _GUID.search(rendered.text)
        if found:
            self.last_txn = found.group(0)
        if any(e.kind == "input" for e in rendered.elements) and first_time:
            self.t.note("type with `fill N <text>`, then `submit` — or `cancel`")
        if not force and v.is_error_text(rendered.text):
            body = rendered.text.split("\n", 3)[-1]  # below the title box
            self._error(f"Recon (modal): {_first_line(body)}")

    def _view_closed(self, view_id: str | None) -> None:
        key = ("modal", view_id)
        self._working.pop(key, None)
        if self.screen.modal_view == view_id:
            self.screen.clear_modal()
        if key in self._shown:
            self.t.note("the modal closed")
            del self._shown[key]

    def show_home(self, *, force: bool = False, home: Any = None) -> bool:
        home = home or self.world.slack.home(self.me.slack_id)
        if home is None:
            return False
        key = ("home", home.id)
        probe = v.render_slack_view(home, width=self.width, names=self.names())
        if not force and self._shown.get(key) == comparable(probe.text):
            return True
        start = self.screen.start()
        rendered = v.render_slack_view(home, start=start, width=self.width, names=self.names())
        self.screen.retire(key)
        for element in rendered.elements:
            self.screen.add(Target(element.number, "home", element, home.id))
        body = rendered.text.removeprefix("HOME\n====\n")  # the frame already says where this is
        self.t.block("Recon · App Home", v.colour_body(body, self.style))
        self._shown[key] = comparable(rendered.text)
        return True

    def show_page(self, page: Page, *, navigated: bool = True) -> None:
        xero, slack, bot = self.world.xero.url, self.world.slack.url, self.world.bot_url
        for hop in page.hops if navigated else []:
            path = urlsplit(hop.url).path
            party = _party(hop.url, xero, slack, bot)
            line = f"browser → {party}: {hop.method} {path} → {hop.status}"
            redirect = hop.status in (301, 302, 303) and hop.location
            if redirect:
                line += f", on to {_party(hop.location or '', xero, slack, bot)}"
            self.t.note(line)
            if not (redirect and hop.method == "GET" and path.endswith("/connect/authorize")):
                continue
            if party == "Slack":
                self.t.note(
                    f"Slack: signed in as @{self.me.name} ({self.me.real_name}) in {WORKSPACE_NAME}; "
                    "Sign in with Slack tells Recon who you are"
                )
            elif self.world.xero.consent == "auto":
                login = self.world.xero_login_of(self.user) or {}
                self.t.note(
                    f"Xero: signed in as {login.get('name', '?')}; consent given automatically "
                    "(`xero consent prompt` to choose)"
                )
        journey = _journey(page.hops, xero, slack) if navigated else ""
        if journey:
            self.t.note(f"Signed in to Slack as @{self.me.name} → {journey}")
        checked = self._checked.setdefault(id(page), {})
        start = self.screen.start()
        number = start
        numbers: dict[int, int] = {}
        for index, control in enumerate(page.controls):
            numbers[index] = number
            self.screen.add(Target(number, "page", control, page, index))
            number += 1

        def draw(match: re.Match[str]) -> str:
            index = int(match.group(1))
            control = page.controls[index]
            n = numbers[index]
            if control.kind == "checkbox":
                return f"[{n} {'☑' if checked.get(index, control.checked) else '☐'}]"
            if control.kind == "link":
                return f"[{n} {control.label} ↗]"
            return f"[{n} {control.label}]"

        lines = [re.sub("\x00(\\d+)\x00", draw, line) for line in page.lines]
        if len(lines) > 1 and len(lines[0]) <= 2 and lines[1].startswith("# "):
            lines[:2] = [f"{lines[0]} {lines[1][2:]}"]  # the page's ✅/⚠️ mark belongs with its heading
        body = "\n".join(lines)
        party = _party(page.url, xero, slack, bot)
        self.t.block(f"Browser · {page.title or party}", v.colour_body(body, self.style))
        if not page.ok:
            self._error(f"HTTP {page.status} from {party}: {page.title}")

    # ================================================================== commands
    def _dispatch(self, command: Command) -> None:
        handler = getattr(self, "cmd_" + command.name.replace("-", "_"))
        handler(command)

    def cmd_slash(self, command: Command) -> None:
        if (command.target or "").lower() != "/recon":
            raise UsageError(
                f"{command.target} is not a valid command in this workspace — the demo has `/recon` "
                "(try `/recon help`)."
            )
        people = {p.name: p.slack_id for p in self.world.cast.values()}
        text = slack_client_text(command.text, {CHANNEL_NAME: CHANNEL_ID}, people)
        if command.text.strip().lower().startswith("edit "):
            found = _GUID.search(command.text.lower())
            self.last_txn = found.group(0) if found else self.last_txn
        self.person.command("/recon", text, channel=CHANNEL_ID)

    def cmd_press(self, command: Command) -> None:
        modal = self.world.top_modal(self.user)
        if modal is not None and command.number is None and self._press_modal_button(modal, command):
            return
        self._activate(self._number(command), want_link=False)

    def _press_modal_button(self, modal: Any, command: Command) -> bool:
        """``press done`` / ``press save``: the modal's own close and submit buttons, as in Slack."""
        wanted = _label_key(command.target or "")
        if not wanted:
            return False
        if modal.close and _label_key(v.text_of(modal.close)).startswith(wanted):
            self.cmd_cancel(command)
            return True
        if modal.submit and _label_key(v.text_of(modal.submit)).startswith(wanted):
            self.cmd_submit(command)
            return True
        return False

    def cmd_open(self, command: Command) -> None:
        self._activate(self._number(command), want_link=True)

    def _number(self, command: Command) -> int:
        """``press 3`` → 3; ``press next`` → the first control labelled "Next…" on screen."""
        if command.number is not None:
            return command.number
        wanted = _label_key(command.target or "")
        modal = self.world.top_modal(self.user)
        if modal is not None and self.screen.modal_view != modal.id:
            self.show_view(modal.id, force=True)
        pool = self.screen.modal if modal is not None else self.screen.targets
        labels = {n: _label_key(t.element.label) for n, t in sorted(pool.items())}
        for number, label in labels.items():
            if label == wanted or label.startswith(wanted):
                return number
        shown = ", ".join(f"{n} {pool[n].element.label}" for n in labels) or "nothing with a label"
        raise UsageError(f"Nothing on screen is labelled “{command.target}”. There is: {shown}.")

    def _activate(self, number: int, *, want_link: bool) -> None:
        modal = self.world.top_modal(self.user)
        if modal is not None:
            target = self._modal_target(modal, number)
            element = target.element
            if element.kind == "input":
                raise UsageError(f"{number} is a text field — type into it with `fill {number} <text>`.")
            if want_link and element.kind != "link":
                raise UsageError(f"{number} is a button, not a link — use `press {number}`.")
            self._press_slack(element, modal.id, modal.blocks)
            return
        target = self._screen_target(number)
        if target.surface == "page":
            self._press_page(target, want_link=want_link)
            return
        element = target.element
        if want_link and element.kind != "link":
            raise UsageError(f"{number} is a button, not a link — use `press {number}`.")
        if element.kind in ("input", "select"):
            raise UsageError(f"{number} is a {element.kind}; the demo can press buttons and open links.")
        if target.surface == "message":
            self._press_slack(element, target.source, target.source.blocks)
        else:
            home = self.world.slack.home(self.me.slack_id)
            self._press_slack(element, target.source, home.blocks if home else [])

    def _modal_target(self, modal: Any, number: int) -> Target:
        if self.screen.modal_view != modal.id:
            self.show_view(modal.id, force=True)
        target = self.screen.modal.get(number)
        if target is None:
            numbers = sorted(self.screen.modal)
            have = f"its controls are {_span(numbers)}" if numbers else "it has no buttons of its own"
            raise UsageError(
                f"A modal is open, so numbers refer to it — {have}. `submit` or `cancel` it to get back "
                "to the messages."
            )
        return target

    def _screen_target(self, number: int) -> Target:
        target = self.screen.targets.get(number)
        if target is not None:
            return target
        numbers = self.screen.numbers()
        if number in self.screen.stale:
            raise UsageError(
                f"{number} was on a message that has changed since — "
                f"use the newest numbers ({_span(numbers)})."
            )
        if not numbers:
            raise UsageError(
                "Nothing on screen has numbers yet. Numbers appear in [brackets] on buttons and links "
                "— try `/recon connect` or `home`."
            )
        raise UsageError(f"There's no {number} — the last thing shown has {_span(numbers)}.")

    def _press_slack(self, element: Any, on: Any, blocks: list[dict[str, Any]]) -> None:
        raw = v.find_element(blocks, element.block_id, element.action_id) or {}
        confirm = raw.get("confirm")
        if isinstance(confirm, dict):
            dialog = v.confirm_dialog(confirm, self.width, self.names())
            self.t.block("Slack · confirm", v.colour_body(dialog, self.style))
            if not self.confirm(dialog):
                self.t.note("cancelled — nothing was sent to Recon")
                return
            self.t.note(f"confirmed: {v.text_of(confirm.get('confirm')) or 'Yes'}")
        try:
            self.person.press(button=element, on=on)
        except (LookupError, ValueError) as exc:
            raise UsageError(f"That can't be pressed any more ({exc}). Use what is on screen now.") from None
        if element.kind == "link" and element.url:
            self.settle()
            self.open_url(element.url)

    def _press_page(self, target: Target, *, want_link: bool) -> None:
        control: Control = target.element
        page: Page = target.source
        if want_link and control.kind != "link":
            raise UsageError(
                f"{target.number} is a {control.kind} on the page — use `press {target.number}`."
            )
        if control.kind == "link":
            self.open_url(control.href or "")
        elif control.kind == "checkbox":
            checked = self._checked.setdefault(id(page), {})
            index = target.index if target.index is not None else 0
            checked[index] = not checked.get(index, control.checked)
            self.show_page(page, navigated=False)
        else:
            checked = self._checked.get(id(page), {})
            try:
                result = self._browser().submit(page, control, checked)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            self.show_page(result)

    def _browser(self) -> Browser:
        """This person's own browser, signed in to Slack as them (so `as bob` means Bob's browser)."""
        browser = self._browsers.get(self.user)
        if browser is None:
            browser = self._browsers[self.user] = Browser()
            self.world.sign_in_to_slack(self.user, browser.session)
        return browser

    def open_url(self, url: str) -> None:
        """Be the person's browser: Slack deep links open Slack, local pages are fetched and shown."""
        if url.startswith("slack://"):
            if "tab=home" in url or url.startswith("slack://app"):
                self.t.note("the browser hands over to Slack, which opens Recon's Home tab")
                self._watching_home = True
                self.person.open_home()
            else:
                self.t.note("the browser hands over to Slack")
            return
        if not is_local(url):
            host = urlsplit(url).hostname or url
            self.t.note(f"that link goes to {host}, outside the offline demo — a real browser would open it")
            return
        self.world.sign_in_to_xero(self.user)
        try:
            page = self._browser().open(url)
        except (OSError, ValueError) as exc:
            raise UsageError(f"The browser couldn't open that link: {exc}") from None
        self.show_page(page)

    def cmd_fill(self, command: Command) -> None:
        modal = self.world.top_modal(self.user)
        if modal is None:
            raise UsageError("No modal is open. Press Edit on a search result (or `/recon edit <id>`) first.")
        if self.screen.modal_view != modal.id:
            self.show_view(modal.id, force=True)
        inputs = [t for t in self.screen.modal.values() if t.element.kind == "input"]
        if not inputs:
            raise UsageError("This modal has no fields to fill.")
        if command.number is not None:
            target = self.screen.modal.get(command.number)
            if target is None or target.element.kind != "input":
                raise UsageError(
                    f"The modal's fields are {_span([t.number for t in inputs])} — "
                    f"e.g. `fill {inputs[0].number} INV-7`."
                )
        else:
            word = command.target or ""
            matches = [t for t in inputs if t.element.label.lower().startswith(word)]
            if len(matches) != 1:
                labels = ", ".join(f"{t.number} {t.element.label}" for t in inputs)
                raise UsageError(f"Which field? The modal has: {labels}.")
            target = matches[0]
        element = target.element
        self.pending.setdefault(modal.id, {})[(element.block_id, element.action_id)] = command.text
        self.show_view(modal.id, force=True)

    def cmd_submit(self, _command: Command) -> None:
        modal = self.world.top_modal(self.user)
        if modal is None:
            raise UsageError("No modal is open, so there is nothing to submit.")
        if not modal.submit:
            raise UsageError("This modal has no Submit button — `cancel` closes it.")
        typed = self.pending.pop(modal.id, {})
        values: dict[str, dict[str, Any]] = {}
        for (block_id, action_id), text in typed.items():
            values.setdefault(block_id, {})[action_id] = text
        try:
            self.person.submit(modal.id, values)
        except (LookupError, ValueError) as exc:
            raise UsageError(f"Slack wouldn't submit that modal: {exc}") from None

    def cmd_cancel(self, _command: Command) -> None:
        modal = self.world.top_modal(self.user)
        if modal is None:
            raise UsageError("No modal is open.")
        self.pending.pop(modal.id, None)
        self.person.close_view(modal.id)

    def cmd_home(self, _command: Command) -> None:
        self._watching_home = True
        self.person.open_home()
        self.settle()
        if not self.show_home() and not self.world.slack.home(self.me.slack_id):
            self.t.note("Recon hasn't published a Home tab for you.")

    def cmd_dms(self, _command: Command) -> None:
        messages = self.world.slack.dms(self.me.slack_id)[-5:]
        if not messages:
            self.t.note("No DMs from Recon yet — they arrive when you connect, or when Recon needs you.")
        for message in messages:
            self.show_message(message, force=True)

    def cmd_channel(self, _command: Command) -> None:
        messages = self.world.slack.messages(CHANNEL_ID)[-6:]
        if not messages:
            self.t.note(
                f"#{CHANNEL_NAME} is quiet — digests appear here (`/recon digest on`, `/recon digest now`)."
            )
        for message in messages:
            self.show_message(message, force=True)

    def cmd_as(self, command: Command) -> None:
        name = command.target or ""
        if name not in self.world.cast:
            people = ", ".join(sorted(self.world.cast))
            raise UsageError(f"There's nobody called {name} here. People: {people}.")
        self.user = name
        self.screen = Screen()
        self.t.note(f"you are now @{name} ({self.me.real_name}) in #{CHANNEL_NAME}")

    def cmd_status(self, _command: Command) -> None:
        self.t.print(describe(self.world, self.user))

    def cmd_help(self, _command: Command) -> None:
        self.t.print(CONSOLE_HELP)

    def cmd_quit(self, _command: Command) -> None:
        return None

    def cmd_audit(self, command: Command) -> None:
        rows = self.world.audit(command.number or 20)
        tenants = {t["tenant_id"]: t["name"] for t in self.world.xero.tenants}
        self.t.block("Recon · audit log", v.audit_table(rows, self.names(), tenants))

    def cmd_time(self, command: Command) -> None:
        clock = self.world.clock
        if command.delta is None or clock is None:
            now = self.world.services.now()
            self.t.note(f"it is {now:%a %d %b %Y %H:%M} UTC in the demo (Xero's and Recon's clock)")
            return
        self._held, self._held_logs = {}, []
        try:
            now = clock.advance(command.delta)
            self.t.note(f"time moved forward {_human(command.delta)} — it is now {now:%a %d %b %Y %H:%M} UTC")
            self.settle()
        except ValueError as exc:
            raise UsageError(f"Can't move time like that: {exc}.") from None
        finally:
            held, self._held = self._held, None
            logs, self._held_logs = self._held_logs, None
        for line, times in Counter(logs).items():
            self.t.note(f"clock: {line}" + (f" (×{times})" if times > 1 else ""))
        if len(held) > 1:
            self.t.note(f"{len(held)} messages were posted in #{CHANNEL_NAME} on the way; here is the latest")
        if held:
            latest = list(held.values())[-1]
            self.show_message(self.world.find_message(latest.channel, latest.ts) or latest, force=True)

    def cmd_xero_consent(self, command: Command) -> None:
        self.world.xero.consent = command.target or "auto"
        how = (
            "consent is given automatically"
            if command.target == "auto"
            else "Xero's consent page asks you to choose organisations and Allow"
        )
        self.t.note(f"from now on {how}")

    def _txn_id(self, ref: str | None) -> str:
        if ref in (None, "", "this", "."):
            if not self.last_txn:
                raise UsageError(
                    "Which transaction? Open one with Edit first (then `this` means it), or give its ID."
                )
            return self.last_txn
        if not _GUID.fullmatch(ref.lower()):
            raise UsageError(f"{ref} isn't a BankTransactionID (a GUID like 0057c2ec-b23d-…) or `this`.")
        return ref.lower()

    def cmd_xero_show(self, command: Command) -> None:
        txn_id = self._txn_id(command.target)
        try:
            tenant, txn = self.world.find_transaction(txn_id)
        except KeyError:
            raise UsageError(f"No organisation in the sandbox has transaction {txn_id}.") from None
        history = self.world.xero.history(tenant["tenant_id"], txn_id)
        body = v.transaction_detail(tenant, txn) + "\nHistory:\n" + "\n".join(v.history_lines(history[-6:]))
        self.t.block("Xero · stored transaction", body)

    def cmd_xero_edit(self, command: Command) -> None:
        txn_id = self._txn_id(command.target)
        try:
            tenant, _txn = self.world.find_transaction(txn_id)
        except KeyError:
            raise UsageError(f"No organisation in the sandbox has transaction {txn_id}.") from None
        fields: dict[str, Any] = dict(command.fields)
        if "IsReconciled" in fields:
            fields["IsReconciled"] = str(fields["IsReconciled"]).lower() in ("yes", "true")
        after = self.world.xero.modify_transaction(tenant["tenant_id"], txn_id, **fields)
        who = self.world.xero.users[0]["name"]
        self.t.block(f"Xero · changed by {who} (a colleague, in Xero)", v.transaction_detail(tenant, after))


# ====================================================================== helpers
def _event_key(event: Any) -> Any:
    if event.kind in _MESSAGE_KINDS or event.kind == "deleted":
        return ("message", event.channel, event.ref)
    return (event.kind, event.seq) if event.kind in ("failure", "view_closed") else ("view", event.ref)


def _label_key(label: str) -> str:
    """``‹ Prev`` → ``prev``; ``Next ›`` → ``next``: how people refer to buttons when typing."""
    return " ".join(re.sub(r"[^\w\s'-]", " ", label.lower()).split())


def _first_line(text: str) -> str:
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped and not set(stripped) <= set("=-+|"):
            return stripped
    return ""


def _span(numbers: list[int]) -> str:
    if not numbers:
        return "none"
    if numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"{numbers[0]}" if len(numbers) == 1 else f"{numbers[0]}–{numbers[-1]}"
    return ", ".join(str(n) for n in numbers)


def _party(url: str, xero: str, slack: str, bot: str) -> str:
    if url.startswith(xero):
        return "Xero"
    if url.startswith(slack):
        return "Slack"
    if url.startswith(bot):
        return "Recon"
    return urlsplit(url).hostname or url


def _journey(hops: list[Any], xero: str, slack: str) -> str:
    """After Sign in with Slack, what came next: "Xero consent → back to Recon", or the refusal."""
    if not any(h.url.startswith(slack) for h in hops):
        return ""
    via_xero = any(h.url.startswith(xero) for h in hops)
    end = "back to Recon" if via_xero else "Recon"
    if hops[-1].status >= 400:
        end += f" refused it (HTTP {hops[-1].status})"
    return " → ".join([*(["Xero consent"] if via_xero else []), end])


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    return " ".join(p for p in parts if p) or f"{seconds}s"


def describe(world: DemoWorld, user: str) -> str:
    """The banner: what runs where, who you are, what to type first."""
    person = world.cast[user]
    orgs = ", ".join(f"{t['name']} ({t['currency']})" for t in world.xero.tenants)
    others = ", ".join(f"@{p}" for p in world.cast if p != user)
    count = len(world.xero.tenants)
    lines = [
        "Recon demo — everything runs on this machine; nothing goes to the internet.",
        f"  Slack stand-in   {world.slack.url}   workspace “{WORKSPACE_NAME}”",
        f"  Xero sandbox     {world.xero.url}   {count} organisation(s), "
        f"{world.options.transactions} bank transactions each:",
        f"                   {orgs}",
        f"  Recon (the bot)  {world.bot_url}   /slack/events · /healthz · the consent routes:",
        "                   /connect/start → Sign in with Slack → /connect/slack → Xero → /xero/callback",
        "  Recon's clock    in-process: daily digests and token keep-alive (`time +25h` moves time on)",
        *(
            [
                f"                   time starts at {world.services.now():%a %d %b %Y %H:%M} UTC and moves "
                f"{STEP.seconds} s a step"
            ]
            if world.options.pinned
            else []
        ),
        f"  Database         {world.database_path} (deleted on exit)",
        "",
        f"You are @{person.name} ({person.real_name}) in #{CHANNEL_NAME}, with {others}.",
        "Type `/recon connect` to start, `help` for the console's commands, `quit` to leave.",
    ]
    return "\n".join(lines)
