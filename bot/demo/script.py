"""``recon-bot demo --script FILE``: run console lines without a terminal and print the transcript.

Each line is echoed after the prompt, then whatever appeared. The run stops with exit status 1
at the first step that fails (see :mod:`bot.demo.session` for what counts), unless the next
line is ``expect-error`` — the way to script a deliberate unhappy path::

    /recon search from:2025-13-45
    expect-error couldn't read
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.demo.commands import UsageError, parse
from bot.demo.session import Session
from bot.demo.transcript import Transcript

EXIT_OK = 0
EXIT_FAILED = 1


def _expects_error(lines: Sequence[str], index: int) -> bool:
    """Is the next meaningful line after ``index`` an ``expect-error``?"""
    for line in lines[index + 1 :]:
        try:
            command = parse(line)
        except UsageError:
            return False
        if command is None:
            continue
        return command.name == "expect-error"
    return False


def run_script(session: Session, transcript: Transcript, lines: Sequence[str]) -> int:
    style = transcript.style
    steps = checks = 0
    for index, raw in enumerate(lines):
        line = raw.rstrip("\n")
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            transcript.print(style.dim(stripped), record=False)
            continue
        if not stripped.lower().startswith("expect"):
            transcript.echo(session.prompt, stripped)  # expectations print their own one-line verdict
        result = session.run_line(stripped)
        if result.name in ("expect", "expect-error"):
            checks += 1
        else:
            steps += 1
        if result.quit:
            break
        if result.ok:
            continue
        if result.name not in ("expect", "expect-error") and _expects_error(lines, index):
            continue
        transcript.print(style.red(f"✗ line {index + 1} failed: {stripped}"), record=False)
        for error in result.errors:
            transcript.print(style.red(f"  - {error}"), record=False)
        return EXIT_FAILED
    summary = f"✓ script finished: {steps} step(s) and {checks} check(s), no failures"
    transcript.print(style.green(summary), record=False)
    return EXIT_OK
