"""Handing slow work from a listener to the services' executor, after Slack has its ack.

Two rules the whole Slack layer follows:

* Bolt's listener pool only acks and hands off. Anything that calls Xero runs on
  ``services.executor`` (sized for Xero work), so 50 slow searches never delay the 51st ack.
* The hand-off happens after the ack has been *sent*, not merely produced. Otherwise a fast
  follow-up (the search result replacing "Searching…", the modal result replacing "Saving…")
  can reach Slack before the ack it replaces, and the ack would then overwrite it. In HTTP mode
  ``bot.web`` puts a list under :data:`AFTER_RESPONSE` in the request context and runs it when
  the response body has been written; elsewhere (Socket Mode, unit tests) the job starts right
  after ``ack()``.

A job's exceptions never vanish: they go to its ``on_error`` (which tells the user) and, if even
that fails, to the log with the traceback.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, MutableMapping
from concurrent.futures import Executor
from typing import Any

from bot.slack.labels import OrgLabels

log = logging.getLogger(__name__)

AFTER_RESPONSE = "recon_after_response"

Job = Callable[[], None]
OnError = Callable[[BaseException], None]


def guarded(job: Job, on_error: OnError, what: str) -> Job:
    """``job`` with its failure routed to ``on_error``; a failing ``on_error`` is logged."""

    def run() -> None:
        try:
            job()
        except Exception as exc:  # noqa: BLE001 - every failure goes to the user via on_error
            try:
                on_error(exc)
            except Exception:
                log.exception("%s failed and the user could not be told", what)

    return run


class AckFirst:
    """Gives acks priority over follow-up work inside one process.

    CPython runs one thread at a time, so 30 searches rendering their results can hold up the
    ack of the next slash command by tens of milliseconds. The web layer counts the Slack
    requests it is answering; a follow-up job waits (at most ``max_wait`` seconds) until none
    are, then runs. Xero work takes seconds anyway, so the delay costs nothing a user notices.
    """

    def __init__(self, max_wait: float = 0.25) -> None:
        self.max_wait = max_wait
        self._busy = 0
        self._quiet = threading.Condition()

    def enter(self) -> None:
        with self._quiet:
            self._busy += 1

    def exit(self) -> None:
        with self._quiet:
            self._busy -= 1
            if self._busy <= 0:
                self._busy = 0
                self._quiet.notify_all()

    def wait_quiet(self) -> None:
        with self._quiet:
            self._quiet.wait_for(lambda: self._busy == 0, timeout=self.max_wait)


class Handoff:
    """Schedules jobs on an executor once the current request's ack is out.

    Also carries the per-process helpers the listeners share (``labels``).
    """

    def __init__(
        self, executor: Executor, labels: OrgLabels | None = None, ack_first: AckFirst | None = None
    ) -> None:
        self.executor = executor
        self.labels = labels or OrgLabels()
        self.ack_first = ack_first

    def later(
        self,
        context: MutableMapping[str, Any] | None,
        job: Job,
        *,
        on_error: OnError,
        what: str,
    ) -> Job:
        """Register ``job``; call the returned function right after ``ack()``.

        Must be called *before* ``ack()``: the web layer collects after-response jobs when the
        ack is produced, so a job added afterwards could be missed.
        """
        task = self._prioritised(guarded(job, on_error, what))

        def submit() -> None:
            self.executor.submit(task)

        hooks = context.get(AFTER_RESPONSE) if context is not None else None
        if isinstance(hooks, list):
            hooks.append(submit)
            return _noop
        return submit

    def now(self, job: Job, *, on_error: OnError, what: str) -> None:
        """Run on the executor at once (no ack involved, e.g. after a Home event)."""
        self.executor.submit(self._prioritised(guarded(job, on_error, what)))

    def _prioritised(self, task: Job) -> Job:
        ack_first = self.ack_first
        if ack_first is None:
            return task

        def run() -> None:
            ack_first.wait_quiet()
            task()

        return run


def _noop() -> None:
    return None


def run_after_response(hooks: list[Job]) -> None:
    """Called by the web layer when the response has gone out."""
    for submit in hooks:
        try:
            submit()
        except Exception:
            log.exception("could not schedule follow-up work")
