"""docs/demo.md's transcripts, regenerated from the journey script, so the page cannot drift.

The page quotes what ``recon-bot demo --script tests/demo/journey.txt`` prints: the whole
transcript, and excerpts of single steps in the walkthrough. Each quote sits between markers::

    <!-- journey: transcript -->            the whole run
    <!-- journey: press 1 -->               the first step typed as ``press 1`` after the
                                            previous excerpt (excerpts follow the script's order)
    <!-- journey: submit | first 12 -->     … only its first 12 lines, then "…"
    <!-- journey: home | first 3, last 2 --> … its first 3 and last 2 lines
    ```
    (replaced on every run)
    ```
    <!-- /journey -->

The run pins the demo's time (``--start-at``), so the same script prints the same transcript
every time. What still differs by nature — the free ports, the temporary directory, the start-up
time — is replaced by placeholders, and the script's ``expect`` verdicts are left out of the
page (they are checks, not something Slack shows).

``python -m bot.demo.walkthrough`` rewrites the page; ``--check`` exits 1 with a diff when the
page is out of date (tests/demo/test_journey.py does the same).
"""

from __future__ import annotations

import argparse
import difflib
import io
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

JOURNEY = Path("tests/demo/journey.txt")
PAGE = Path("docs/demo.md")
# The options the page's transcript is made with; tests/demo/test_journey.py runs the same.
START_AT = "2026-11-28T18:45:00+00:00"
DEMO_OPTIONS = ("--start-at", START_AT)
REGENERATE = "python -m bot.demo.walkthrough"

_MARKER = re.compile(r"^<!-- journey: (?P<spec>.+?) -->\n(?P<body>.*?)^<!-- /journey -->$", re.M | re.S)
_PROMPT = re.compile(r"^@\w+ in #[\w-]+> (?P<line>.*)$")
_EXPECT_VERDICT = re.compile(r"^· ✓ expect: ")
_SUMMARY = "✓ script finished"
_SCRUB = (
    (re.compile(r"http://127\.0\.0\.1:\d+"), "http://127.0.0.1:<port>"),
    (re.compile(r"(Database\s+)\S+/(recon\.db)"), r"\1<temporary directory>/\2"),
)
_READY = re.compile(r"^\(ready in [\d.]+ s\)\n", re.M)


class WalkthroughError(Exception):
    """The page cannot be made: the journey failed, or a marker names a step it does not have."""


def run_journey(journey: Path = JOURNEY) -> str:
    """The transcript of ``recon-bot demo --script journey`` with the page's options."""
    from bot.demo import main

    out = io.StringIO()
    status = main(["--script", str(journey), *DEMO_OPTIONS], out=out)
    if status != 0:
        tail = "\n".join(out.getvalue().splitlines()[-15:])
        raise WalkthroughError(f"{journey} failed (exit status {status}); fix it first:\n{tail}")
    return out.getvalue()


def page_transcript(raw: str) -> str:
    """The run as the page shows it: placeholders for what varies by nature, no expect verdicts."""
    text = _READY.sub("", raw)
    for pattern, replacement in _SCRUB:
        text = pattern.sub(replacement, text)
    lines = [line for line in text.splitlines() if not _EXPECT_VERDICT.match(line)]
    return "\n".join(lines).strip("\n")


@dataclass(frozen=True)
class Step:
    line: str  # what was typed
    lines: tuple[str, ...]  # the prompt line and everything printed until the next one


def steps(transcript: str) -> list[Step]:
    found: list[Step] = []
    current: list[str] | None = None
    typed = ""
    for line in transcript.splitlines():
        match = _PROMPT.match(line)
        if match or line.startswith(_SUMMARY):
            if current is not None:
                found.append(Step(typed, tuple(_trim(current))))
            current, typed = ([line], match.group("line")) if match else (None, "")
        elif current is not None:
            current.append(line)
    if current is not None:
        found.append(Step(typed, tuple(_trim(current))))
    return found


def _trim(lines: list[str]) -> list[str]:
    """A step without the script's comments that introduce the next one."""
    while len(lines) > 1 and lines[-1].startswith("# "):
        lines.pop()
    return lines


_SPEC = re.compile(r"^(?P<line>.+?)(?:\s*\|\s*(?P<keep>.+))?$")
_KEEP = re.compile(r"^(?:first (?P<first>\d+))?(?:,?\s*last (?P<last>\d+))?$")


def excerpt(step: Step, keep: str | None) -> str:
    prompt, body = step.lines[0], list(step.lines[1:])
    if keep:
        match = _KEEP.match(keep.strip())
        if not match or not (match.group("first") or match.group("last")):
            raise WalkthroughError(f"can't read “{keep}”: write `first N`, `last N` or `first N, last M`")
        first, last = int(match.group("first") or 0), int(match.group("last") or 0)
        if first + last < len(body):
            body = body[:first] + ["…"] + (body[-last:] if last else [])
    return "\n".join([prompt, *body])


def render(page: str, transcript: str) -> str:
    """``page`` with every quote between markers replaced from ``transcript``."""
    shown = page_transcript(transcript)
    all_steps = steps(shown)
    position = 0

    def quote(match: re.Match[str]) -> str:
        nonlocal position
        spec = match.group("spec").strip()
        if spec == "transcript":
            body = shown
        else:
            parts = _SPEC.match(spec)
            assert parts is not None  # the pattern matches any non-empty spec
            wanted = parts.group("line").strip()
            index = next((i for i in range(position, len(all_steps)) if all_steps[i].line == wanted), None)
            if index is None:
                later = ", ".join(f"`{s.line}`" for s in all_steps[position:][:12]) or "none"
                raise WalkthroughError(
                    f"{PAGE} quotes the step `{wanted}`, which the journey does not have after the "
                    f"previous quote (the steps there: {later})"
                )
            position = index + 1
            body = excerpt(all_steps[index], parts.group("keep"))
        return f"<!-- journey: {spec} -->\n```\n{body}\n```\n<!-- /journey -->"

    rendered = _MARKER.sub(quote, page)
    if rendered == page and not _MARKER.search(page):
        raise WalkthroughError(f"{PAGE} has no <!-- journey: … --> markers")
    return rendered


def diff(old: str, new: str, name: str = str(PAGE)) -> str:
    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), f"{name} (committed)", f"{name} (from the journey)", lineterm=""
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.demo.walkthrough",
        description=f"Regenerate the transcripts in {PAGE} from {JOURNEY} (run from the repository root).",
    )
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if the page is out of date"
    )
    parser.add_argument("--journey", type=Path, default=JOURNEY, help=f"the script (default {JOURNEY})")
    parser.add_argument("--page", type=Path, default=PAGE, help=f"the page (default {PAGE})")
    args = parser.parse_args(argv)
    try:
        page = args.page.read_text(encoding="utf-8")
        new = render(page, run_journey(args.journey))
    except (OSError, WalkthroughError) as exc:
        print(f"walkthrough: {exc}", file=sys.stderr)
        return 2
    if new == page:
        print(f"{args.page} is up to date with {args.journey}")
        return 0
    if args.check:
        print(diff(page, new, str(args.page)))
        print(f"\n{args.page} is out of date with {args.journey}; regenerate it with: {REGENERATE}")
        return 1
    args.page.write_text(new, encoding="utf-8")
    print(f"{args.page}: transcripts regenerated from {args.journey}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
