"""Docs that cannot drift: every pointer in the docs, docstrings and comments leads somewhere real.

A pointer to a file that moved, a document that was never in the repository, or a function
that was renamed reads as authoritative and sends the next engineer nowhere. These tests read
every text file of the project and follow its pointers: links between the Markdown pages
(anchors included), mentions of ``*.md`` files and of paths in the tree, and Sphinx-style
``:mod:``/``:class:``/``:func:`` references in docstrings. (docs/demo.md's transcripts have
their own test in tests/demo/test_journey.py.)
"""

from __future__ import annotations

import importlib
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".venv", "venv", "build", "dist", "node_modules", "__pycache__"}
TEXT_SUFFIXES = {".py", ".md", ".txt", ".yml", ".yaml", ".toml", ".mako", ".ini"}
TOP_DIRS = ("bot", "storage", "tests", "bench", "docs")
# Documents that were only ever outside the repository; point at what is here instead.
ABSENT_DOCUMENTS = (r"\bDESIGN(?:\.md| §)", r"\bfact sheet\b", r"\bDOC-[A-Z]+\b")


@cache
def project_files() -> tuple[Path, ...]:
    found = []
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if any(p in SKIP_DIRS or p.startswith(".") or p.endswith(".egg-info") for p in parts):
            continue
        if path.is_file() and (path.suffix in TEXT_SUFFIXES or path.name == "Procfile"):
            found.append(path)
    return tuple(sorted(found))


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_the_scan_sees_the_project():
    names = {rel(p) for p in project_files()}
    assert {"README.md", "docs/demo.md", "bot/checks.py", "tests/demo/journey.txt"} <= names


# --------------------------------------------------------------------------- Markdown links


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


_LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")


def markdown_pages() -> list[Path]:
    return [p for p in project_files() if p.suffix == ".md"]


@pytest.mark.parametrize("page", markdown_pages(), ids=rel)
def test_links_between_pages_lead_to_files_and_headings_that_exist(page):
    broken = []
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    for match in _LINK.finditer(text):
        target = match.group("target")
        if re.match(r"^[a-z]+:", target):  # https:, mailto:, slack: — not ours to check
            continue
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: no heading #{anchor} in {rel(destination)}")
    assert not broken, f"{rel(page)} links nowhere: {broken}"


# --------------------------------------------------------------------------- files named in text

_MD_NAME = re.compile(r"(?<![\w/.-])([\w-]+(?:/[\w.-]+)*\.md)\b")
_TREE_PATH = re.compile(rf"(?<![\w./-])((?:{'|'.join(TOP_DIRS)})/[\w./-]*[\w/])")


def test_every_markdown_file_mentioned_is_in_the_repository():
    pages = {rel(p) for p in markdown_pages()}
    names = {p.rsplit("/", 1)[-1] for p in pages}
    missing = []
    for path in project_files():
        for match in _MD_NAME.finditer(path.read_text(encoding="utf-8")):
            mentioned = match.group(1)
            if mentioned not in pages and mentioned not in names:
                missing.append(f"{rel(path)}: {mentioned}")
    assert not missing, f"pointers to Markdown files that are not here: {missing}"


def test_every_path_in_the_tree_that_is_mentioned_exists():
    missing = []
    for path in project_files():
        for match in _TREE_PATH.finditer(path.read_text(encoding="utf-8")):
            mentioned = match.group(1).rstrip("/.")
            if not (ROOT / mentioned).exists():
                missing.append(f"{rel(path)}: {mentioned}")
    assert not missing, f"paths that are not in the tree: {missing}"


def test_no_pointers_to_documents_that_were_never_in_the_repository():
    found = []
    for path in project_files():
        if path == Path(__file__).resolve():
            continue
        text = path.read_text(encoding="utf-8")
        for pattern in ABSENT_DOCUMENTS:
            found += [f"{rel(path)}: {m.group(0)}" for m in re.finditer(pattern, text)]
    assert not found, f"pointers to documents outside the repository: {found}"


# --------------------------------------------------------------------------- docstring references

_ROLE = re.compile(r":(?:mod|class|func|meth|attr|data|exc|obj):`~?(?P<target>[\w.]+)`")


@cache
def defined_names() -> frozenset[str]:
    """Every name the project's Python code defines (functions, classes, assignments, fields)."""
    names: set[str] = set()
    pattern = re.compile(r"^\s*(?:def|class)\s+(\w+)|^\s*(\w+)\s*(?::[^=\n]*)?=|^\s*(\w+)\s*:", re.M)
    for path in project_files():
        if path.suffix == ".py":
            for m in pattern.finditer(path.read_text(encoding="utf-8")):
                names.add(next(g for g in m.groups() if g))
    return frozenset(names)


def importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def resolves(target: str, package: str) -> bool:
    if target.startswith("."):  # relative to the module's package
        return (ROOT / (package.replace(".", "/") + target.replace(".", "/"))).with_suffix(".py").exists()
    parts = target.split(".")
    if parts[0] in TOP_DIRS or (len(parts) > 1 and importable(parts[0])):
        # A full dotted path (into the project, or the standard library): it must import exactly.
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            try:
                for attribute in parts[cut:]:
                    obj = getattr(obj, attribute)
            except AttributeError:
                return False
            return True
        return False
    return parts[-1] in defined_names()  # `Session.run_line`, `reveal`: defined somewhere here


def test_docstring_references_name_things_that_exist():
    broken = []
    for path in project_files():
        if path.suffix != ".py":
            continue
        module = rel(path)[:-3].replace("/", ".")
        package = module.removesuffix(".__init__") if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for match in _ROLE.finditer(path.read_text(encoding="utf-8")):
            if not resolves(match.group("target"), package):
                broken.append(f"{rel(path)}: {match.group(0)}")
    assert not broken, f"references to things that are not there: {broken}"
