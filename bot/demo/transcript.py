"""Where the demo's output goes, and what its numbers mean.

:class:`Transcript` writes to the terminal (or a pipe), keeps the plain text of the current
step for ``expect`` lines, and can print while someone is typing at the prompt without
mangling their line. :class:`Screen` remembers what each printed ``[N …]`` refers to, so
``press N`` acts on exactly what the user saw.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from bot.demo.view import Style, frame, strip_ansi


class Transcript:
    """Ordered output with the current step's text kept for assertions."""

    def __init__(self, out: TextIO, style: Style, width: int) -> None:
        self.out = out
        self.style = style
        self.width = width
        self._lock = threading.RLock()
        self._step: list[str] = []
        self.at_prompt = False  # set while the console waits for input (interactive only)
        self.redraw: Callable[[], str] | None = None  # the prompt and what has been typed so far

    def new_step(self) -> None:
        with self._lock:
            self._step = []

    @property
    def step_text(self) -> str:
        with self._lock:
            return "\n".join(self._step)

    def echo(self, prompt: str, line: str) -> None:
        """A script line as if typed at the prompt (script mode)."""
        self.print(self.style.green(prompt) + line, record=False)

    def print(self, text: str = "", *, record: bool = True) -> None:
        with self._lock:
            if record:
                self._step.append(strip_ansi(text))
            if self.at_prompt and self.redraw is not None:
                # Printed while the user is typing: clear their line, print, then put it back.
                self.out.write("\r\x1b[K" + text + "\n" + self.redraw())
            else:
                self.out.write(text + "\n")
            self.out.flush()

    def block(self, title: str, body: str) -> None:
        self.print(frame(title, self.style, self.width) + "\n" + body)

    def note(self, text: str) -> None:
        """Something the console itself says (not Slack, not Recon)."""
        self.print(self.style.dim(f"· {text}"))

    def problem(self, text: str) -> None:
        """A console usage problem, explained."""
        self.print(self.style.yellow(f"! {text}"))


@dataclass(frozen=True)
class Target:
    """What a printed number refers to."""

    number: int
    surface: str  # "message" | "home" | "modal" | "page"
    element: Any  # render.Element, or browser.Control
    source: Any  # the Message snapshot, the view id, or the browser Page
    index: int | None = None  # a browser control's index on its page


class Screen:
    """Numbers shown since the last step began (messages, Home, pages) and in the open modal.

    Message numbers only ever grow within a step, so a message that is updated gets new
    numbers and the old ones say "that changed" instead of pressing the wrong thing. The
    modal's numbers start at 1 each time it is drawn: while a modal is open, it is what you
    interact with, as in Slack.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.targets: dict[int, Target] = {}
        self.next = 1
        self._fresh = True
        self.modal: dict[int, Target] = {}
        self.modal_view: str | None = None
        self.stale: set[int] = set()

    def new_step(self) -> None:
        with self._lock:
            self._fresh = True

    def start(self) -> int:
        """The first number for something about to be drawn (clearing the last step's on first use)."""
        with self._lock:
            if self._fresh:
                self.targets, self.next, self._fresh, self.stale = {}, 1, False, set()
            return self.next

    def add(self, target: Target) -> None:
        with self._lock:
            self.targets[target.number] = target
            self.next = max(self.next, target.number + 1)

    def retire(self, key: Any) -> None:
        """Numbers drawn for an older version of ``key`` (a message that changed) go stale."""
        with self._lock:
            for number, target in list(self.targets.items()):
                if _key(target) == key:
                    self.stale.add(number)
                    del self.targets[number]

    def set_modal(self, view_id: str, targets: list[Target]) -> None:
        with self._lock:
            self.modal_view = view_id
            self.modal = {t.number: t for t in targets}

    def clear_modal(self) -> None:
        with self._lock:
            self.modal_view, self.modal = None, {}

    def numbers(self) -> list[int]:
        with self._lock:
            return sorted(self.targets)


def _key(target: Target) -> Any:
    source = target.source
    if target.surface == "message":
        return ("message", source.channel, source.ts)
    if target.surface == "page":
        return ("page", id(source))
    return (target.surface, source)


def key_of(target: Target) -> Any:
    return _key(target)


_NUMBERS = re.compile(r"\[\d+ ")


def comparable(text: str) -> str:
    """Rendered text without its numbers, to tell a real change from a renumbering."""
    return _NUMBERS.sub("[", text)
