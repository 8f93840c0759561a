"""Block Kit → readable terminal text, with the interactive elements numbered.

The demo console prints what a Slack user would see and lets the person at the keyboard
"press 3"; tests assert on the same text. Pure functions only: no I/O, no sandbox state.

The two kinds of text object are rendered the way Slack treats them
(https://api.slack.com/reference/surfaces/formatting):

* ``mrkdwn``: ``<…>`` is a link or a mention (``<!channel>`` becomes ``@channel``, a ping),
  ``*bold*``, ``_italic_`` and ``~strike~`` lose their markers (they only work at word
  boundaries), text inside a ``code span`` takes no other formatting, and the three entities
  ``&amp; &lt; &gt;`` are decoded — so text the app escaped (``&lt;!channel&gt;``) shows as
  harmless characters, and a test can tell a real ping from a string.
* ``plain_text``: shown exactly as sent — no formatting, no mentions, no links, no entity
  decoding — which is what makes it the right home for names that came from Xero.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.slack.blockkit import CHOICE_TYPES, TEXT_INPUT_TYPES

SELECT_TYPES = CHOICE_TYPES | {"overflow"}  # shown as a pick-list (overflow keeps no state)


@dataclass(frozen=True)
class Element:
    """One numbered interactive thing on screen, with what is needed to press it."""

    number: int
    kind: str  # "button" | "link" | "input" | "select"
    label: str
    action_id: str | None
    block_id: str | None
    value: str | None = None
    url: str | None = None
    element_type: str = ""


@dataclass
class Rendered:
    text: str
    elements: list[Element] = field(default_factory=list)

    def element(self, number: int) -> Element:
        for element in self.elements:
            if element.number == number:
                return element
        raise LookupError(f"no element numbered {number}")

    def __str__(self) -> str:
        return self.text


# ------------------------------------------------------------------------ mrkdwn
_LINK = re.compile(r"<([^<>]+)>")
_CODE = re.compile(r"`([^`\n]+)`")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_BOLD = re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?!\s)([^_\n]+?)(?<!\s)_(?![\w_])")
_STRIKE = re.compile(r"(?<![\w~])~(?!\s)([^~\n]+?)(?<!\s)~(?![\w~])")


def _decode(text: str) -> str:
    """Slack's three entities, in one pass (``&amp;lt;`` is the text ``&lt;``, not ``<``)."""
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)


def mrkdwn_to_text(text: str, names: Mapping[str, str] | None = None) -> str:
    """Slack mrkdwn → what a reader sees: links as `label (url)`, mentions as `@name`."""
    names = names or {}

    def link(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            return "@" + (label or names.get(target[1:], target[1:]))
        if target.startswith("#"):
            return "#" + (label or names.get(target[1:], target[1:]))
        if target.startswith("!"):
            special = target[1:]
            if special.startswith("subteam^"):
                return label or "@" + special.split("^", 1)[1]
            if special.startswith("date^"):
                return label or special
            return "@" + special.split("^", 1)[0]
        if label:
            return f"{label} ({target})"
        return target.removeprefix("mailto:")

    def formatted(part: str) -> str:
        out = _LINK.sub(link, part)
        out = _BOLD.sub(r"\1", out)
        out = _ITALIC.sub(r"\1", out)
        out = _STRIKE.sub(r"\1", out)
        return _decode(out)

    pieces: list[str] = []
    last = 0
    for match in _CODE.finditer(text):
        pieces.append(formatted(text[last : match.start()]))
        pieces.append(_decode(match.group(1)))  # inline code: no other formatting
        last = match.end()
    pieces.append(formatted(text[last:]))
    return "".join(pieces)


def text_of(obj: Any, names: Mapping[str, str] | None = None) -> str:
    """A text object as readable text: mrkdwn rendered, plain_text exactly as sent."""
    if isinstance(obj, str):
        return obj
    if not isinstance(obj, dict):
        return ""
    raw = str(obj.get("text", ""))
    if obj.get("type") == "mrkdwn":
        return mrkdwn_to_text(raw, names)
    return raw


# --------------------------------------------------------------------- rendering
class _Canvas:
    """Accumulates lines and numbered elements while walking the blocks."""

    def __init__(self, width: int, start: int, names: Mapping[str, str] | None) -> None:
        self.width = max(width, 20)
        self.lines: list[str] = []
        self.elements: list[Element] = []
        self.next_number = start
        self.names = names

    def wrap(self, text: str, indent: str = "") -> list[str]:
        out: list[str] = []
        for paragraph in text.split("\n"):
            wrapped = textwrap.wrap(
                paragraph, self.width - len(indent), replace_whitespace=False, drop_whitespace=True
            ) or [""]
            out.extend(indent + line for line in wrapped)
        return out

    def add(
        self, kind: str, label: str, element: dict[str, Any], block: dict[str, Any], value: str | None = None
    ) -> Element:
        item = Element(
            number=self.next_number,
            kind=kind,
            label=label,
            action_id=element.get("action_id"),
            block_id=block.get("block_id"),
            value=value if value is not None else element.get("value"),
            url=element.get("url"),
            element_type=str(element.get("type", "")),
        )
        self.next_number += 1
        self.elements.append(item)
        return item

    def control(
        self,
        element: dict[str, Any],
        block: dict[str, Any],
        state: dict[str, Any] | None = None,
        label: str | None = None,
    ) -> str:
        """Draw one interactive element as `[n label]` and register it."""
        kind = element.get("type", "")
        if kind == "button":
            label = text_of(element.get("text"), self.names)
            if element.get("url"):
                item = self.add("link", label, element, block)
                return f"[{item.number} {label} ↗]"
            item = self.add("button", label, element, block)
            return f"[{item.number} {label}]"
        if kind in SELECT_TYPES:
            shown = _selection(element, state) or text_of(element.get("placeholder")) or "choose"
            item = self.add("select", label or shown, element, block)
            arrow = "…" if kind == "overflow" else "▾"
            return f"[{item.number} {shown} {arrow}]" if kind != "overflow" else f"[{item.number} …]"
        if kind in TEXT_INPUT_TYPES:
            value = (state or {}).get("value") if state else element.get("initial_value")
            shown = value if value else f"({text_of(element.get('placeholder')) or 'empty'})"
            item = self.add("input", label or str(shown), element, block, value=value)
            return f"[{item.number} {shown}]"
        if kind == "image":
            return f"[image: {element.get('alt_text', '')}]"
        return f"[{kind}]"


def _selection(element: dict[str, Any], state: dict[str, Any] | None) -> str:
    source = state if state is not None else {}
    option = source.get("selected_option") if state is not None else element.get("initial_option")
    options = source.get("selected_options") if state is not None else element.get("initial_options")
    if option:
        return text_of(option.get("text"))
    if options:
        return ", ".join(text_of(o.get("text")) for o in options)
    for key, initial in (
        ("selected_date", "initial_date"),
        ("selected_time", "initial_time"),
        ("selected_user", "initial_user"),
        ("selected_channel", "initial_channel"),
        ("selected_conversation", "initial_conversation"),
    ):
        chosen = source.get(key) if state is not None else element.get(initial)
        if chosen:
            return str(chosen)
    return ""


def _block(
    canvas: _Canvas, block: dict[str, Any], state: Mapping[str, Any], errors: Mapping[str, str]
) -> None:
    kind = block.get("type")
    lines = canvas.lines
    names = canvas.names
    if kind == "header":
        title = text_of(block.get("text"), names)
        lines.append(title.upper())
        lines.append("=" * min(len(title), canvas.width))
    elif kind == "section":
        body = canvas.wrap(text_of(block.get("text"), names)) if block.get("text") else []
        fields = [text_of(f, names) for f in block.get("fields") or []]
        body.extend(_columns(fields, canvas.width))
        accessory = block.get("accessory")
        if isinstance(accessory, dict):
            drawn = canvas.control(accessory, block, _state_for(state, block, accessory))
            if body and len(body[-1]) + len(drawn) + 2 <= canvas.width:
                body[-1] = body[-1].ljust(canvas.width - len(drawn)) + drawn
            else:
                body.append(drawn.rjust(canvas.width))
        lines.extend(body)
    elif kind == "context":
        parts = []
        for element in block.get("elements") or []:
            if element.get("type") == "image":
                parts.append(f"[image: {element.get('alt_text', '')}]")
            else:
                parts.append(text_of(element, names))
        lines.extend(canvas.wrap("  ".join(parts), indent="  "))
    elif kind == "divider":
        lines.append("-" * canvas.width)
    elif kind == "image":
        title = text_of(block.get("title"), names)
        lines.append(f"[image: {block.get('alt_text', '')}]" + (f" {title}" if title else ""))
    elif kind == "actions":
        drawn = [canvas.control(e, block, _state_for(state, block, e)) for e in block.get("elements") or []]
        lines.extend(_flow(drawn, canvas.width))
    elif kind == "input":
        _input(canvas, block, state, errors)
    elif kind == "markdown":
        lines.extend(canvas.wrap(str(block.get("text", ""))))
    elif kind == "rich_text":
        lines.extend(canvas.wrap(_rich_text(block)))
    else:
        lines.append(f"[unsupported block: {kind}]")


def _input(
    canvas: _Canvas, block: dict[str, Any], state: Mapping[str, Any], errors: Mapping[str, str]
) -> None:
    label = text_of(block.get("label"), canvas.names)
    canvas.lines.append(label + (" (optional)" if block.get("optional") else ""))
    element = block.get("element")
    if isinstance(element, dict):
        drawn = canvas.control(element, block, _state_for(state, block, element), label=label)
        canvas.lines.append("  " + drawn)
    if block.get("hint"):
        canvas.lines.extend(canvas.wrap(text_of(block.get("hint")), indent="  "))
    error = errors.get(str(block.get("block_id")))
    if error:
        canvas.lines.append(f"  ! {error}")


def _state_for(
    state: Mapping[str, Any], block: dict[str, Any], element: dict[str, Any]
) -> dict[str, Any] | None:
    per_block = state.get(str(block.get("block_id")))
    if not per_block:
        return None
    found = per_block.get(str(element.get("action_id")))
    return found if isinstance(found, dict) else None


def _columns(fields: list[str], width: int) -> list[str]:
    """Section fields side by side in two columns, as Slack lays them out on desktop."""
    if not fields:
        return []
    column = (width - 2) // 2

    def wrap(text: str) -> list[str]:
        return [piece for line in text.split("\n") for piece in (textwrap.wrap(line, column) or [""])]

    out: list[str] = []
    for left, right in zip(fields[0::2], fields[1::2] + [""], strict=False):
        left_lines, right_lines = wrap(left), wrap(right)
        for n in range(max(len(left_lines), len(right_lines))):
            a = left_lines[n] if n < len(left_lines) else ""
            b = right_lines[n] if n < len(right_lines) else ""
            out.append((a.ljust(column) + "  " + b).rstrip())
    return out


def _flow(items: Iterable[str], width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for item in items:
        if current and len(current) + 1 + len(item) > width:
            lines.append(current)
            current = item
        else:
            current = f"{current} {item}" if current else item
    if current:
        lines.append(current)
    return lines


def _rich_text(block: dict[str, Any]) -> str:
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "text":
                parts.append(str(node.get("text", "")))
            elif node.get("type") == "link":
                parts.append(str(node.get("text") or node.get("url", "")))
            elif node.get("type") == "user":
                parts.append("@" + str(node.get("user_id", "")))
            elif node.get("type") == "channel":
                parts.append("#" + str(node.get("channel_id", "")))
            for child in node.get("elements") or []:
                walk(child)

    walk(block)
    return "".join(parts)


def _blocks(source: Any) -> tuple[list[dict[str, Any]], str]:
    if isinstance(source, str):
        return [], source
    if isinstance(source, list):
        return source, ""
    if isinstance(source, dict):
        return list(source.get("blocks") or []), str(source.get("text") or "")
    return list(getattr(source, "blocks", None) or []), str(getattr(source, "text", "") or "")


def render_message(
    blocks_or_text: Any, width: int = 100, *, start: int = 1, names: Mapping[str, str] | None = None
) -> Rendered:
    """A message (block list, `{"text", "blocks"}` dict, text, or a sandbox Message) as text.

    When there are blocks Slack shows the blocks and uses `text` only for notifications.
    """
    blocks, text = _blocks(blocks_or_text)
    canvas = _Canvas(width, start, names)
    if not blocks:
        canvas.lines.extend(canvas.wrap(mrkdwn_to_text(text, names)))
    for block in blocks:
        _block(canvas, block, {}, {})
    return Rendered("\n".join(line.rstrip() for line in canvas.lines), canvas.elements)


def render_view(
    view: Any, width: int = 72, *, start: int = 1, names: Mapping[str, str] | None = None
) -> Rendered:
    """A modal or Home tab (a view dict or a sandbox View) with inputs, values and errors."""
    spec = view if isinstance(view, dict) else _view_dict(view)
    canvas = _Canvas(width, start, names)
    state = (spec.get("state") or {}).get("values") or {}
    errors = spec.get("errors") or {}
    if spec.get("type") == "home":
        canvas.lines.extend(["HOME", "=" * 4])
    else:
        title = text_of(spec.get("title"))
        canvas.lines.append(f"+{'-' * (len(title) + 2)}+")
        canvas.lines.append(f"| {title} |")
        canvas.lines.append(f"+{'-' * (len(title) + 2)}+")
    for block in spec.get("blocks") or []:
        _block(canvas, block, state, errors)
    buttons = [f"[{text_of(spec[k])}]" for k in ("close", "submit") if spec.get(k)]
    if spec.get("type") != "home":
        if not spec.get("close"):
            buttons.insert(0, "[Cancel]")
        canvas.lines.append(" ".join(buttons).rjust(canvas.width))
    return Rendered("\n".join(line.rstrip() for line in canvas.lines), canvas.elements)


def _view_dict(view: Any) -> dict[str, Any]:
    """Read a sandbox View (duck-typed, so this module needs nothing from the workspace)."""
    values = view.state_values() if hasattr(view, "state_values") else {}
    return {
        "type": getattr(view, "type", "modal"),
        "title": getattr(view, "title", None),
        "submit": getattr(view, "submit", None),
        "close": getattr(view, "close", None),
        "blocks": getattr(view, "blocks", []),
        "state": {"values": values},
        "errors": getattr(view, "errors", {}),
    }
