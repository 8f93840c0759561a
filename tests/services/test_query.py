"""The search language as a user types it in Slack: what each key does, and every way it can go wrong."""

from __future__ import annotations

import uuid
from dataclasses import fields
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.services.query import MAX_QUERY_CHARS, SYNTAX_HELP, QueryError, SearchQuery, parse_query
from bot.xero.filters import TransactionFilter

TODAY = date(2024, 5, 31)


def parse(text: str) -> SearchQuery:
    return parse_query(text, today=TODAY)


# --- every key, on its own -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        ("from:2024-01-01", "date_from", date(2024, 1, 1)),
        ("to:2024-03-31", "date_to", date(2024, 3, 31)),
        ('contact:"Acme Ltd"', "contact", "Acme Ltd"),
        ("contact:Acme", "contact", "Acme"),
        ("ref:INV-0042", "reference", "INV-0042"),
        ("ref:INV:0042", "reference", "INV:0042"),
        ('account:"Business Bank"', "account", "Business Bank"),
        ("account:090", "account", "090"),
        ("type:spend", "types", ("SPEND",)),
        ("type:receive", "types", ("RECEIVE",)),
        ("status:unreconciled", "reconciled", False),
        ("status:reconciled", "reconciled", True),
        ("status:any", "reconciled", None),
        ("min:100", "min_amount", Decimal("100")),
        ("max:250.50", "max_amount", Decimal("250.50")),
        ("max:0.5", "max_amount", Decimal("0.5")),
        ('org:"Demo Company"', "org", "Demo Company"),
    ],
)
def test_each_key_sets_its_field(text: str, field: str, expected: object) -> None:
    assert getattr(parse(text), field) == expected


def test_nothing_given_means_last_90_days_of_everything() -> None:
    q = parse("")
    assert (q.date_from, q.date_to) == (date(2024, 3, 2), None)
    assert q.text_terms == () and q.types == () and q.reconciled is None
    assert (q.contact, q.reference, q.account, q.org, q.min_amount, q.max_amount) == (None,) * 6


@pytest.mark.parametrize(
    ("text", "date_from", "date_to"),
    [
        ("to:2024-03-01", date(2023, 12, 2), date(2024, 3, 1)),  # `to` alone: the 90 days before it
        ("from:2024-01-01", date(2024, 1, 1), None),  # `from` alone: open-ended
        ("from:2024-01-01 to:2024-01-01", date(2024, 1, 1), date(2024, 1, 1)),  # one day is fine
        ("from:0d", TODAY, None),
        ("from:30d", date(2024, 5, 1), None),
        ("from:2w", date(2024, 5, 17), None),
        ("from:1m", date(2024, 4, 30), None),  # 31 May − 1 month: day clamped to 30 Apr
        ("from:3m", date(2024, 2, 29), None),  # … and to leap day
        ("from:5M", date(2023, 12, 31), None),  # crosses a year; unit case-insensitive
        ("from:12m", date(2023, 5, 31), None),
        ("from:30d to:7d", date(2024, 5, 1), date(2024, 5, 24)),
    ],
)
def test_date_window(text: str, date_from: date, date_to: date | None) -> None:
    q = parse(text)
    assert (q.date_from, q.date_to) == (date_from, date_to)


def test_free_text_words_and_quoted_phrases() -> None:
    q = parse('Zephyr "Coffee  Roasters" from:30d plumbing')
    assert q.text_terms == ("zephyr", "coffee roasters", "plumbing")
    assert q.date_from == date(2024, 5, 1)


def test_everything_at_once_in_any_order() -> None:
    q = parse(
        'STATUS:Unreconciled coffee max:250.50 Contact:"Acme Ltd" type:Spend ref:INV-1 '
        'min:100 org:"Demo Company" to:2024-05-30 account:"Business Bank" from:2024-05-01 beans'
    )
    assert q == SearchQuery(
        text_terms=("coffee", "beans"),
        contact="Acme Ltd",
        reference="INV-1",
        account="Business Bank",
        org="Demo Company",
        date_from=date(2024, 5, 1),
        date_to=date(2024, 5, 30),
        types=("SPEND",),
        reconciled=False,
        min_amount=Decimal("100"),
        max_amount=Decimal("250.50"),
        raw=q.raw,
    )


@pytest.mark.parametrize(
    "text",
    [
        "contact:“Acme Ltd”",  # macOS / Slack smart quotes
        "contact:”Acme Ltd”",  # smart-quote substitution getting both ends "closing"
        "contact:„Acme Ltd“",  # German-style low-9 opening quote
        'contact:"Acme Ltd"',
        'contact:"  Acme   Ltd "',  # inner spacing is tidied
    ],
)
def test_curly_quotes_are_quotes(text: str) -> None:
    assert parse(text).contact == "Acme Ltd"


def test_apostrophes_are_not_quotes() -> None:
    assert parse("contact:O'Brien o’neill").contact == "O'Brien"
    assert parse("contact:O'Brien o’neill").text_terms == ("o’neill",)


def test_slack_html_escapes_are_undone_once() -> None:
    q = parse('contact:"Tom &amp; Jerry" &lt;b&gt; ref:&amp;amp;')
    assert q.contact == "Tom & Jerry"
    assert q.text_terms == ("<b>",)
    assert q.reference == "&amp;"  # the user literally typed "&amp;"
    assert q.raw == 'contact:"Tom &amp; Jerry" &lt;b&gt; ref:&amp;amp;'  # kept verbatim for re-parsing
    assert q.display == 'contact:"Tom & Jerry" <b> ref:&amp;'


def test_control_characters_are_stripped_and_whitespace_separates() -> None:
    q = parse("zep\u0000hyr\u200b\tcoffee\nfrom:30d\u202e\ud800")
    assert q.text_terms == ("zephyr", "coffee")
    assert q.date_from == date(2024, 5, 1)


def test_text_with_a_colon_is_free_text_when_quoted_or_not_a_key() -> None:
    assert parse('"foo:bar" 10:30').text_terms == ("foo:bar", "10:30")


def test_quoted_empty_phrase_is_ignored() -> None:
    assert parse('"" coffee').text_terms == ("coffee",)


def test_reparsing_raw_gives_the_same_query() -> None:
    text = ' contact:"Tom &amp; Jerry"  from:30d '
    assert parse(parse(text).raw) == parse(text)


# --- errors: name the token, show the fix ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "token", "fix"),
    [
        ("from:2024-13-45", "from:2024-13-45", "use YYYY-MM-DD or `30d`"),
        ("from:2024-02-30", "from:2024-02-30", "isn't a real date"),
        ("to:2023-02-29", "to:2023-02-29", "isn't a real date"),
        ("from:yesterday", "from:yesterday", "use YYYY-MM-DD"),
        ("from:2024-1-5", "from:2024-1-5", "use YYYY-MM-DD"),
        ("from:20240105", "from:20240105", "use YYYY-MM-DD"),
        ("from:30x", "from:30x", "`30d`"),
        ("from:99999m", "from:99999m", "too far"),
        ("to:0001-01-05", "to:0001-01-05", "too far"),
        ("from:2024-05-02 to:2024-05-01", "from:2024-05-02", "swap them"),
        ("from:2d to:3d", "from:2d", "swap them"),
        ("min:-5", "min:-5", "without their sign"),
        ("min:1,000", "min:1,000", "no separators"),
        ("max:12.345", "max:12.345", "up to 2 decimals"),
        ("max:$10", "max:$10", "e.g. `min:1000.50`"),
        ("min:NaN", "min:NaN", "digits"),
        ("min:300 max:200", "min:300", "swap them"),
        ("type:transfer", "type:transfer", "`type:spend` or `type:receive`"),
        ("type:spend,receive", "type:spend,receive", "`type:spend` or `type:receive`"),
        ("status:open", "status:open", "`status:unreconciled`"),
        ("contact:", "contact:", 'e.g. `contact:"Zephyr Plumbing"`'),
        ('contact:""', 'contact:""', "needs a value"),
        ("ref:", "ref:", "`ref:INV-1`"),
        ("from:", "from:", "`from:30d`"),
        ("org:", "org:", "`org:"),
        ('contact:"Acme Ltd', 'contact:"Acme Ltd', "never closed"),
        ('coffee "beans from:30d', '"beans from:30d', "never closed"),
        ("foo:bar", "foo:bar", '`"foo:bar"`'),
        ("https://example.com", "https://example.com", "put it in quotes"),
        ("contcat:Acme", "contcat:Acme", "I don't know the filter `contcat:`"),
        ("from:30d coffee FROM:2024-01-01", "FROM:2024-01-01", "given twice"),
        ("ref:A ref:B", "ref:B", "keep one"),
    ],
)
def test_errors_name_the_token_and_say_what_to_do(text: str, token: str, fix: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse(text)
    assert caught.value.token == token
    assert f"`{token}`" in caught.value.message
    assert fix in caught.value.message
    assert str(caught.value) == caught.value.message


def test_duplicate_error_shows_both_tokens() -> None:
    with pytest.raises(QueryError, match=r"`from:30d` and `from:2024-01-01`"):
        parse("from:30d from:2024-01-01")


def test_error_messages_do_not_ping_or_break_formatting() -> None:
    with pytest.raises(QueryError) as caught:
        parse("min:&lt;!channel&gt;`x`")
    assert caught.value.token == "min:<!channel>`x`"
    assert "<!channel>" not in caught.value.message
    assert "`min:&lt;!channel&gt;'x'`" in caught.value.message


def test_overly_long_input_is_refused() -> None:
    assert parse("a" * MAX_QUERY_CHARS).text_terms == ("a" * MAX_QUERY_CHARS,)
    with pytest.raises(QueryError, match=r"501 characters long; the limit is 500"):
        parse("a" * (MAX_QUERY_CHARS + 1))


def test_syntax_help_covers_every_key() -> None:
    for example in (
        "from:2024-01-01",
        "to:2024-03-31",
        "from:30d",
        'contact:"Zephyr Plumbing"',
        "ref:INV-1",
        'account:"Business Bank"',
        "type:spend",
        "type:receive",
        "status:unreconciled",
        "status:reconciled",
        "status:any",
        "min:100",
        "max:250.50",
        'org:"Kestrel Design"',
        "last 90 days",
        "finds spends and receipts of 100 or more",
    ):
        assert example in SYNTAX_HELP


# --- to_filter: only typed values reach Xero ---------------------------------------------------


def test_to_filter_carries_typed_values_and_never_text() -> None:
    q = parse("coffee contact:Acme ref:INV-1 account:090 org:Demo type:receive status:reconciled min:5 max:9")
    acct, contact = uuid.UUID(int=1), uuid.UUID(int=2)
    assert q.to_filter(bank_account_id=acct, contact_id=contact) == TransactionFilter(
        date_from=date(2024, 3, 2),
        date_to=None,
        types=("RECEIVE",),
        status="AUTHORISED",
        is_reconciled=True,
        bank_account_id=acct,
        contact_id=contact,
        min_total=Decimal("5"),
        max_total=Decimal("9"),
    )


def test_to_filter_defaults_to_authorised_only() -> None:
    assert parse("").to_filter().status == "AUTHORISED"


@pytest.mark.parametrize("kwarg", ["bank_account_id", "contact_id"])
def test_to_filter_refuses_string_ids(kwarg: str) -> None:
    with pytest.raises(TypeError):
        parse("").to_filter(**{kwarg: '00000000-0000-0000-0000-000000000001") OR 1==1 OR ("'})


# --- properties --------------------------------------------------------------------------------

_KEY_WORDS = ["from", "to", "contact", "ref", "account", "type", "status", "min", "max", "org", "foo", "FROM"]
_VALUES = st.one_of(
    st.sampled_from(
        [
            "2024-01-01",
            "2024-02-30",
            "30d",
            "2w",
            "3m",
            "99999m",
            "spend",
            "receive",
            "any",
            "reconciled",
            "unreconciled",
            "100",
            "250.50",
            "-1",
            "1e9",
            "",
            '"Acme Ltd"',
            "“Acme”",
            '"',
            "&amp;",
            'x")||Status=="DELETED',
            "guid(",
            "'",
            'Type=="SPEND"',
        ]
    ),
    st.text(max_size=12),
)
_TOKENS = st.one_of(
    st.builds(lambda k, v: f"{k}:{v}", st.sampled_from(_KEY_WORDS), _VALUES),
    _VALUES,
    st.text(alphabet='abcé"“” :\t&;ltgamp', max_size=10),
)
_GRAMMARISH = st.lists(_TOKENS, max_size=12).map(" ".join)
# Mostly-valid queries, so the where check below sees real contact/ref/account/org values.
_QUOTABLE = st.text(st.characters(blacklist_characters='"“”„‟＂', blacklist_categories=("Cs",)), min_size=1)
_MOSTLY_VALID = st.builds(
    lambda words, texts: " ".join([*words, *(f'{k}:"{v}"' for k, v in texts.items())]),
    st.lists(_QUOTABLE.map(lambda v: f'"{v}"'), max_size=3),
    st.dictionaries(st.sampled_from(["contact", "ref", "account", "org"]), _QUOTABLE, max_size=4),
)
_ANY_TEXT = st.one_of(
    st.text(max_size=600),
    st.text(st.characters(blacklist_categories=()), max_size=40),  # lone surrogates too
    _GRAMMARISH,
    _MOSTLY_VALID,
)
_TYPED = (date, Decimal, uuid.UUID, bool, type(None))
_UUIDS = (uuid.UUID("11111111-2222-3333-4444-555555555555"), uuid.UUID(int=7))
# Every word a where clause built from typed values can contain, plus the characters of its
# numbers and punctuation: a user string made only of these could appear legitimately.
_WHERE_VOCABULARY = (
    'type=="spend" or "receive" -transfer -overpayment -prepayment status=="authorised" deleted voided '
    "date>=datetime(,) date<= contact.contactid==guid() isreconciled==true false "
    "bankaccount.accountid== total>= total<= and"
).casefold()


def _could_appear_legitimately(s: str) -> bool:
    s = s.casefold()
    return len(s) < 3 or s in _WHERE_VOCABULARY or all(ch in '0123456789-.,()="<> ' for ch in s)


@settings(max_examples=400, deadline=None)
@given(_ANY_TEXT, st.dates(), st.sampled_from([None, *_UUIDS]), st.sampled_from([None, *_UUIDS]))
def test_parser_only_ever_raises_query_error_and_filters_are_typed(
    text: str, today: date, account_id: uuid.UUID | None, contact_id: uuid.UUID | None
) -> None:
    try:
        q = parse_query(text, today=today)
    except QueryError as exc:
        assert exc.message and isinstance(exc.token, str)
        return
    f = q.to_filter(bank_account_id=account_id, contact_id=contact_id)
    for field in fields(f):
        value = getattr(f, field.name)
        if field.name == "types":
            assert isinstance(value, tuple) and set(value) <= {"SPEND", "RECEIVE"}
        elif field.name == "status":
            assert value == "AUTHORISED"
        else:
            assert type(value) in _TYPED, (field.name, value)

    where_module = pytest.importorskip("bot.xero.where")
    where = (where_module.build_where(f) or "").casefold()
    user_strings = [*q.text_terms, q.contact, q.reference, q.account, q.org]
    for s in filter(None, user_strings):
        if not _could_appear_legitimately(s):
            assert s.casefold() not in where, (s, where)


@pytest.mark.parametrize(
    "hostile",
    [
        'contact:"x\\") OR Status==\\"DELETED"',
        'ref:INV")||(Status=="VOIDED',
        'account:"guid(\\"00000000-0000-0000-0000-000000000000\\")"',
        'zzz") OR 1==1 OR ("',
    ],
)
def test_hostile_text_never_reaches_where(hostile: str) -> None:
    from bot.xero.where import build_where

    q = parse(hostile)
    where = build_where(q.to_filter()) or ""
    assert where == 'Status=="AUTHORISED" AND Date>=DateTime(2024,03,02)'


def test_sort_oldest_is_the_digests_order_and_anything_else_is_refused():
    today = date(2026, 11, 30)
    assert parse_query("sort:oldest", today=today).oldest_first is True
    assert parse_query("sort:Newest", today=today).oldest_first is False
    assert parse_query("coffee", today=today).oldest_first is False
    with pytest.raises(QueryError, match="sort:oldest"):
        parse_query("sort:biggest", today=today)
