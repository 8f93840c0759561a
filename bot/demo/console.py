"""The interactive prompt: read a line, run it, show what happened; Ctrl-C or Ctrl-D leaves.

Recon's clock may post a digest while you are typing; it is printed above your line and your
half-typed text is put back, as chat clients do.
"""

from __future__ import annotations

import threading
from types import ModuleType

from bot.demo.session import Session
from bot.demo.transcript import Transcript

BACKGROUND_POLL_S = 0.2


def _readline() -> ModuleType | None:
    """Line editing and history where the platform has it (not on every Windows Python)."""
    try:
        import readline
    except ImportError:
        return None
    return readline


def _prompt(session: Session, transcript: Transcript) -> str:
    text = session.prompt
    if not transcript.style.enabled:
        return text
    # \001 … \002 tell readline the colour codes take no room on screen.
    return f"\001\x1b[32m\002{text}\001\x1b[0m\002"


def _background(session: Session, stop: threading.Event) -> None:
    """Show what arrives between steps (a digest from the clock, a late reply)."""
    while not stop.wait(BACKGROUND_POLL_S):
        session.drain()


def ask_to_confirm(dialog: str) -> bool:
    """Slack's confirm dialog, answered at the terminal."""
    try:
        answer = input("Confirm? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def run_interactive(session: Session, transcript: Transcript) -> int:
    readline = _readline()
    visible_prompt = session.prompt

    def redraw() -> str:
        typed = readline.get_line_buffer() if readline is not None else ""
        return transcript.style.green(visible_prompt) + typed

    transcript.redraw = redraw
    stop = threading.Event()
    printer = threading.Thread(target=_background, args=(session, stop), name="demo-printer", daemon=True)
    printer.start()
    try:
        while True:
            visible_prompt = session.prompt
            transcript.at_prompt = True
            try:
                line = input(_prompt(session, transcript))
            finally:
                transcript.at_prompt = False
            if session.run_line(line).quit:
                break
    except (EOFError, KeyboardInterrupt):
        transcript.print("", record=False)
    finally:
        stop.set()
        printer.join(timeout=2)
        transcript.redraw = None
    return 0
