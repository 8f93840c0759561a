"""The house's arrows point down: slack → services → xero → storage; the stand-ins stay outside.

Read from the source (imports at any depth in a module), so a new module cannot quietly reach
across: the Slack layer talks to services only, storage knows nothing of Xero, Slack or the
services, and only the demo (and the tests) may put the bot and the stand-ins together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imports(package: str) -> list[tuple[str, str]]:
    """(module file, imported module) for every import in a package's modules."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.extend((str(path.relative_to(ROOT)), alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((str(path.relative_to(ROOT)), node.module))
    return found


RULES = [
    ("bot/slack", ("storage", "bot.xero", "bot.sandbox", "bot.demo", "tests")),
    ("bot/services", ("bot.slack", "bot.sandbox", "bot.demo", "tests")),
    # The Xero client may keep its shared call budget in the database (storage.budget), nothing else.
    (
        "bot/xero",
        (
            "bot.slack",
            "bot.services",
            "storage.grants",
            "storage.mirror",
            "storage.digests",
            "storage.states",
            "bot.sandbox",
            "bot.demo",
            "tests",
        ),
    ),  # fmt: skip
    ("storage", ("bot", "tests")),
    ("bot/sandbox", ("bot.slack", "bot.services", "bot.xero", "storage", "bot.demo", "tests")),
    ("bench", ("tests",)),
]


@pytest.mark.parametrize(("package", "forbidden"), RULES, ids=[r[0] for r in RULES])
def test_no_import_points_up_or_sideways(package: str, forbidden: tuple[str, ...]) -> None:
    wrong = [
        f"{module} imports {name}"
        for module, name in imports(package)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]
    assert wrong == []


def test_only_the_demo_and_the_command_line_use_the_stand_ins() -> None:
    allowed = ("bot/demo/", "bot/sandbox/", "bot/cli.py")
    wrong = [
        f"{module} imports {name}"
        for module, name in imports("bot")
        if name.startswith("bot.sandbox") and not module.startswith(allowed)
    ]
    assert wrong == []
