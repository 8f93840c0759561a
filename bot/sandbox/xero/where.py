"""A parser and evaluator for Xero's ``where`` filter language (a Dynamic LINQ subset).

Grammar (case-insensitive keywords)::

    expr       := or
    or         := and (("OR" | "||") and)*
    and        := unary (("AND" | "&&") unary)*
    unary      := ("NOT" | "!") unary | primary
    primary    := "(" expr ")" | comparison
    comparison := operand [("==" | "=" | "!=" | "<>" | "<" | "<=" | ">" | ">=") operand]
    operand    := literal | field ("." method "(" [literal] ")")*
    literal    := "string" | number | true | false | null
                | DateTime(y, m, d[, h, mi, s]) | guid("…")
    method     := Contains | StartsWith | EndsWith | ToLower | ToUpper

Fields are typed (string, enum, guid, date, datetime, bool, number) and comparisons are
type-checked like Xero's: ``Date=="2024-01-01"`` or ``Contact.ContactID=="…"`` (without
``guid(…)``) are errors, which the caller turns into a 400 validation response. String
equality is case-insensitive (Xero's database collation). The compiled predicate records which
(field, operator) pairs were used so the caller can apply the high-volume "optimised fields"
rule.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

FieldType = str  # "string" | "enum" | "guid" | "date" | "datetime" | "bool" | "number"


class WhereError(ValueError):
    """The expression is malformed or ill-typed; the message is shown to the API caller."""


@dataclass(frozen=True)
class FieldSpec:
    type: FieldType
    get: Callable[[Any], Any]


@dataclass(frozen=True)
class Constraint:
    """``field op value`` that every matching row satisfies (a top-level AND term)."""

    field: str
    op: str
    value: Any


@dataclass
class Compiled:
    predicate: Callable[[Any], bool]
    used: set[tuple[str, str]] = field(default_factory=set)  # (canonical field, operator)
    # Terms every match satisfies; lets the caller use an index (e.g. a Date range) before the predicate.
    constraints: list[Constraint] = field(default_factory=list)


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op>==|!=|<>|<=|>=|&&|\|\||<|>|=|!)
  | (?P<punct>[(),.])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)
_COMPARISONS = {"==": "==", "=": "==", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_METHODS = {"contains", "startswith", "endswith", "tolower", "toupper"}


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


def tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise WhereError(f"Syntax error: unexpected character '{text[pos]}' (at index {pos})")
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(_Tok(kind, m.group(), pos))
        pos = m.end()
    tokens.append(_Tok("end", "", len(text)))
    return tokens


# --- values carried through evaluation ---------------------------------------------------


@dataclass(frozen=True)
class _Literal:
    type: FieldType  # also "string-literal" and "null"
    value: Any


@dataclass(frozen=True)
class _FieldRef:
    name: str
    spec: FieldSpec
    transforms: tuple[str, ...] = ()  # tolower / toupper

    def value(self, record: Any) -> Any:
        v = self.spec.get(record)
        for t in self.transforms:
            if isinstance(v, str):
                v = v.lower() if t == "tolower" else v.upper()
        return v


_Operand = _Literal | _FieldRef


class _Parser:
    def __init__(self, text: str, fields: Mapping[str, FieldSpec]) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.fields = {k.lower(): (k, v) for k, v in fields.items()}
        self.used: set[tuple[str, str]] = set()
        self.conjuncts: dict[Callable[[Any], bool], list[Constraint]] = {}

    # token helpers
    def peek(self) -> _Tok:
        return self.tokens[self.i]

    def take(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.take()
        if tok.text != text:
            found = f"'{tok.text}'" if tok.text else "end of expression"
            raise WhereError(f"Syntax error: '{text}' expected, found {found} (at index {tok.pos})")

    def is_keyword(self, *words: str) -> bool:
        tok = self.peek()
        return (tok.kind == "name" and tok.text.upper() in words) or (tok.kind == "op" and tok.text in words)

    # grammar
    def parse(self) -> Callable[[Any], bool]:
        if self.peek().kind == "end":
            raise WhereError("Syntax error: expression expected (at index 0)")
        pred = self.parse_or()
        tok = self.peek()
        if tok.kind != "end":
            raise WhereError(
                f"Syntax error: operator or end of expression expected, found '{tok.text}' "
                f"(at index {tok.pos})"
            )
        return pred

    def parse_or(self) -> Callable[[Any], bool]:
        parts = [self.parse_and()]
        while self.is_keyword("OR", "||"):
            self.take()
            parts.append(self.parse_and())
        if len(parts) == 1:
            return parts[0]
        return lambda r: any(p(r) for p in parts)

    def parse_and(self) -> Callable[[Any], bool]:
        parts = [self.parse_unary()]
        while self.is_keyword("AND", "&&"):
            self.take()
            parts.append(self.parse_unary())
        if len(parts) == 1:
            return parts[0]

        def both(r: Any) -> bool:
            return all(p(r) for p in parts)

        self.conjuncts[both] = [c for p in parts for c in self.conjuncts.get(p, [])]
        return both

    def parse_unary(self) -> Callable[[Any], bool]:
        if self.is_keyword("NOT", "!"):
            self.take()
            inner = self.parse_unary()
            return lambda r: not inner(r)
        return self.parse_primary()

    def parse_primary(self) -> Callable[[Any], bool]:
        if self.peek().text == "(":
            self.take()
            inner = self.parse_or()
            self.expect(")")
            return inner
        return self.parse_comparison()

    def parse_comparison(self) -> Callable[[Any], bool]:
        start = self.peek()
        left = self.parse_operand()
        tok = self.peek()
        if tok.kind == "op" and tok.text in _COMPARISONS:
            self.take()
            op = _COMPARISONS[tok.text]
            right = self.parse_operand()
            return self.comparison(left, op, right, tok.pos)
        if isinstance(left, _Predicate):
            return left.fn
        if isinstance(left, _FieldRef) and left.spec.type == "bool":
            self.used.add((left.name, "=="))
            return lambda r: left.value(r) is True
        raise WhereError(
            f"Syntax error: comparison operator expected after '{start.text}' (at index {tok.pos})"
        )

    def parse_operand(self) -> _Operand | _Predicate:
        tok = self.take()
        if tok.kind == "string":
            return _Literal("string-literal", _unescape(tok.text))
        if tok.kind == "number":
            return _Literal("number", Decimal(tok.text))
        if tok.kind != "name":
            found = f"'{tok.text}'" if tok.text else "end of expression"
            raise WhereError(f"Syntax error: expression expected, found {found} (at index {tok.pos})")
        word = tok.text.lower()
        if word in ("true", "false"):
            return _Literal("bool", word == "true")
        if word == "null":
            return _Literal("null", None)
        if word == "datetime" and self.peek().text == "(":
            return self.parse_datetime(tok)
        if word == "guid" and self.peek().text == "(":
            return self.parse_guid(tok)
        return self.parse_field(tok)

    def parse_datetime(self, tok: _Tok) -> _Literal:
        self.expect("(")
        parts: list[int] = []
        while True:
            num = self.take()
            if num.kind != "number" or "." in num.text:
                raise WhereError(f"Syntax error: integer expected in DateTime(…) (at index {num.pos})")
            parts.append(int(num.text))
            if self.peek().text == ",":
                self.take()
                continue
            self.expect(")")
            break
        if len(parts) not in (3, 6):
            raise WhereError(f"DateTime(…) takes 3 or 6 arguments, not {len(parts)} (at index {tok.pos})")
        try:
            if len(parts) == 3:
                return _Literal("date", date(*parts))
            return _Literal("datetime", datetime(*parts))  # noqa: DTZ001 - Xero treats it as UTC
        except ValueError as exc:
            raise WhereError(f"DateTime(…) is not a valid date: {exc} (at index {tok.pos})") from exc

    def parse_guid(self, tok: _Tok) -> _Literal:
        self.expect("(")
        arg = self.take()
        if arg.kind != "string":
            raise WhereError(f"Syntax error: quoted GUID expected in guid(…) (at index {arg.pos})")
        self.expect(")")
        try:
            return _Literal("guid", str(uuid.UUID(_unescape(arg.text))))
        except ValueError as exc:
            raise WhereError(f"'{_unescape(arg.text)}' is not a valid GUID (at index {arg.pos})") from exc

    def parse_field(self, tok: _Tok) -> _FieldRef | _Predicate:
        path = [tok.text]
        transforms: list[str] = []
        while self.peek().text == ".":
            self.take()
            nxt = self.take()
            if nxt.kind != "name":
                raise WhereError(f"Syntax error: identifier expected after '.' (at index {nxt.pos})")
            if nxt.text.lower() in _METHODS and self.peek().text == "(":
                ref = self.resolve(path, tok.pos)
                return self.method_call(ref, nxt, transforms)
            path.append(nxt.text)
        ref = self.resolve(path, tok.pos)
        return _FieldRef(ref.name, ref.spec, tuple(transforms))

    def method_call(self, ref: _FieldRef, name_tok: _Tok, transforms: list[str]) -> _FieldRef | _Predicate:
        method = name_tok.text.lower()
        self.expect("(")
        if method in ("tolower", "toupper"):
            self.expect(")")
            if ref.spec.type not in ("string", "enum"):
                raise WhereError(f"No applicable method '{name_tok.text}' exists in type '{ref.spec.type}'")
            transforms.append(method)
            new_ref = _FieldRef(ref.name, ref.spec, tuple(transforms))
            if self.peek().text == ".":
                self.take()
                nxt = self.take()
                if nxt.text.lower() in _METHODS and self.peek().text == "(":
                    return self.method_call(new_ref, nxt, transforms)
                raise WhereError(f"Syntax error: method expected after '.' (at index {nxt.pos})")
            return new_ref
        arg = self.take()
        if arg.kind != "string":
            raise WhereError(
                f"Syntax error: quoted string expected in {name_tok.text}(…) (at index {arg.pos})"
            )
        self.expect(")")
        if ref.spec.type not in ("string", "enum"):
            raise WhereError(f"No applicable method '{name_tok.text}' exists in type '{ref.spec.type}'")
        needle = _unescape(arg.text).lower()
        self.used.add((ref.name, method))
        check = {
            "contains": lambda v: needle in v,
            "startswith": lambda v: v.startswith(needle),
            "endswith": lambda v: v.endswith(needle),
        }[method]

        def fn(r: Any) -> bool:
            v = ref.value(r)
            return isinstance(v, str) and check(v.lower())

        return _Predicate(fn)

    def resolve(self, path: list[str], pos: int) -> _FieldRef:
        dotted = ".".join(path)
        found = self.fields.get(dotted.lower())
        if found is None:
            raise WhereError(f"No property or field '{dotted}' exists (at index {pos})")
        canonical, spec = found
        return _FieldRef(canonical, spec)

    def comparison(self, left: Any, op: str, right: Any, pos: int) -> Callable[[Any], bool]:
        if isinstance(left, _Predicate) or isinstance(right, _Predicate):
            raise WhereError(f"Operator '{op}' cannot be applied to a method result (at index {pos})")
        field_ref = left if isinstance(left, _FieldRef) else right if isinstance(right, _FieldRef) else None
        if field_ref is not None:
            self.used.add((field_ref.name, op))
        lt, rt = _type_of(left), _type_of(right)
        if "null" not in (lt, rt) and not _compatible(lt, rt):
            raise WhereError(
                f"Operator '{op}' incompatible with operand types '{_label(lt)}' and '{_label(rt)}' "
                f"(at index {pos})"
            )
        if op not in ("==", "!=") and (lt in ("bool", "guid", "null") or rt in ("bool", "guid", "null")):
            raise WhereError(
                f"Operator '{op}' incompatible with operand types '{_label(lt)}' and '{_label(rt)}' "
                f"(at index {pos})"
            )
        get_left = _getter(left, rt)
        get_right = _getter(right, lt)
        compare = _OPS[op]

        def fn(r: Any) -> bool:
            a, b = get_left(r), get_right(r)
            if a is None or b is None:
                return (
                    (a is None and b is None)
                    if op == "=="
                    else (a is None) != (b is None)
                    if op == "!="
                    else False
                )
            return compare(a, b)

        if isinstance(left, _FieldRef) and isinstance(right, _Literal) and not left.transforms:
            self.conjuncts[fn] = [Constraint(left.name, op, right.value)]
        elif isinstance(right, _FieldRef) and isinstance(left, _Literal) and not right.transforms:
            self.conjuncts[fn] = [Constraint(right.name, _FLIPPED[op], left.value)]
        return fn


@dataclass(frozen=True)
class _Predicate:
    fn: Callable[[Any], bool]


_FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _type_of(operand: _Operand) -> str:
    if isinstance(operand, _Literal):
        return operand.type
    return operand.spec.type


def _compatible(a: str, b: str) -> bool:
    groups = [{"string", "enum", "string-literal"}, {"date", "datetime"}, {"number"}, {"bool"}, {"guid"}]
    return any(a in g and b in g for g in groups)


def _label(t: str) -> str:
    return {
        "string-literal": "String",
        "string": "String",
        "enum": "String",
        "guid": "Guid",
        "date": "DateTime",
        "datetime": "DateTime",
        "bool": "Boolean",
        "number": "Decimal",
        "null": "Object",
    }[t]


def _getter(operand: _Operand, other_type: str) -> Callable[[Any], Any]:
    """Normalise values so that Python comparison matches Xero's (case-insensitive text etc.)."""
    if isinstance(operand, _Literal):
        value = _normalise(operand.value, operand.type, other_type)
        return lambda _r: value
    kind = operand.spec.type

    def get(record: Any) -> Any:
        return _normalise(operand.value(record), kind, other_type)

    return get


def _normalise(value: Any, kind: str, other_type: str) -> Any:
    if value is None:
        return None
    if kind in ("string", "enum", "string-literal", "guid"):
        return value.lower()
    if kind == "date" and other_type == "datetime":
        return datetime(value.year, value.month, value.day)  # noqa: DTZ001
    if kind == "datetime" and isinstance(value, datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)
    if kind == "number" and not isinstance(value, Decimal):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return None
    return value


def _unescape(quoted: str) -> str:
    return re.sub(r"\\(.)", r"\1", quoted[1:-1])


def compile_where(text: str, fields: Mapping[str, FieldSpec]) -> Compiled:
    """Parse ``text`` against ``fields``; raises :class:`WhereError` when it is not valid."""
    parser = _Parser(text, fields)
    predicate = parser.parse()
    return Compiled(predicate, parser.used, parser.conjuncts.get(predicate, []))


# --- order ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderKey:
    field: str
    descending: bool


def parse_order(text: str, fields: Mapping[str, FieldSpec]) -> list[OrderKey]:
    """``Date DESC, BankTransactionID`` → keys; unknown fields or directions are errors."""
    known = {k.lower(): k for k in fields}
    keys: list[OrderKey] = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2:
            raise WhereError(f"Invalid order clause '{part.strip()}'")
        name = known.get(words[0].lower())
        if name is None:
            raise WhereError(f"No property or field '{words[0]}' exists")
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if direction not in ("ASC", "DESC"):
            raise WhereError(f"Invalid sort direction '{words[1]}' (use ASC or DESC)")
        keys.append(OrderKey(name, direction == "DESC"))
    return keys


def sort_value(value: Any) -> tuple[bool, Any]:
    """A sort key for a field's value: text without case, missing values first."""
    if isinstance(value, str):
        value = value.lower()
    return (value is not None, value if value is not None else 0)
