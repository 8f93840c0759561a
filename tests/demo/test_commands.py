"""Console lines → commands: what people type, including their mistakes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.demo.commands import UsageError, parse, parse_delta, slack_client_text


def test_slack_lines_keep_their_text() -> None:
    command = parse('/recon search contact:"Acme Ltd" from:30d')
    assert command is not None
    assert (command.name, command.target, command.text) == (
        "slash",
        "/recon",
        'search contact:"Acme Ltd" from:30d',
    )


@pytest.mark.parametrize("line", ["", "   ", "# a comment", "#books is where digests go"])
def test_blank_lines_and_comments_do_nothing(line: str) -> None:
    assert parse(line) is None


def test_a_bare_number_presses_it() -> None:
    command = parse("3")
    assert command is not None and (command.name, command.number) == ("press", 3)


def test_press_and_open_take_a_number_or_a_label() -> None:
    assert parse("press 2").number == 2  # type: ignore[union-attr]
    assert parse("open 1").name == "open"  # type: ignore[union-attr]
    labelled = parse("press Next")
    assert labelled is not None and (labelled.name, labelled.target) == ("press", "next")


@pytest.mark.parametrize("line", ["press", "press 0", "open 2 3"])
def test_press_without_a_usable_number_says_how(line: str) -> None:
    with pytest.raises(UsageError, match=r"press|open|start at 1"):
        parse(line)


def test_fill_by_number_or_by_label_keeps_spaces_and_strips_quotes() -> None:
    by_number = parse('fill 1 "INV 42 / March"')
    by_label = parse("fill reference INV 42")
    assert by_number is not None and (by_number.number, by_number.text) == (1, "INV 42 / March")
    assert by_label is not None and (by_label.target, by_label.text) == ("reference", "INV 42")


def test_fill_without_a_field_explains() -> None:
    with pytest.raises(UsageError, match="fill N <text>"):
        parse("fill")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+25h", timedelta(hours=25)),
        ("+1d 2h", timedelta(days=1, hours=2)),
        ("90m", timedelta(minutes=90)),
        ("+1d+30s", timedelta(days=1, seconds=30)),
    ],
)
def test_time_deltas(text: str, expected: timedelta) -> None:
    assert parse_delta(text) == expected


@pytest.mark.parametrize("text", ["+25", "tomorrow", "+0h", "-3h"])
def test_time_that_cannot_be_read_or_goes_backwards_is_refused(text: str) -> None:
    with pytest.raises(UsageError):
        parse_delta(text)


def test_xero_edit_reads_quoted_values_and_names_xero_fields() -> None:
    command = parse('xero edit this reference="Changed in Xero" url=https://example.com/r/1 reconciled=yes')
    assert command is not None and command.name == "xero-edit" and command.target == "this"
    assert dict(command.fields) == {
        "Reference": "Changed in Xero",
        "Url": "https://example.com/r/1",
        "IsReconciled": "yes",
    }


@pytest.mark.parametrize(
    ("line", "hint"),
    [
        ("xero edit this total=5", "reference, url"),
        ("xero edit this", "Usage"),
        ("xero edit this status=PAID", "AUTHORISED"),
        ('xero edit this reference="unclosed', "quotes"),
        ("xero frobnicate", "xero show"),
    ],
)
def test_xero_mistakes_say_what_to_type(line: str, hint: str) -> None:
    with pytest.raises(UsageError, match=hint):
        parse(line)


def test_unknown_words_point_to_slash_commands_and_help() -> None:
    with pytest.raises(UsageError, match=r"start with `/`.*help"):
        parse("search acme")


def test_words_that_take_nothing_refuse_extra_text() -> None:
    with pytest.raises(UsageError, match="takes nothing"):
        parse("submit now")


def test_slack_client_turns_known_names_into_links_and_escapes_the_rest() -> None:
    text = slack_client_text(
        "on #books @bob #nowhere Smith & Jones <b>",
        channels={"books": "C0BOOKS"},
        people={"bob": "U0BOB"},
    )
    assert text == "on <#C0BOOKS|books> <@U0BOB|bob> #nowhere Smith &amp; Jones &lt;b&gt;"
