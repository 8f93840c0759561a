"""What the console prints: pages, errors, links — the pure parts."""

from __future__ import annotations

from bot.demo.browser import parse_page
from bot.demo.transcript import Screen, Target, comparable
from bot.demo.view import Style, colour_body, is_error_text, is_working, shorten_links

CONSENT_PAGE = """<!doctype html><html><head><title>Connect to Xero</title><style>b{}</style></head>
<body><h1>Connect to Xero</h1><p><b>Recon</b> wants to access your organisations.</p>
<form method='post' action='/consent'><input type='hidden' name='request_id' value='r1'>
<p>Signed in as <select name='user'><option value='u1' selected>Alice &lt;a@x&gt;</option></select></p>
<label><input type='checkbox' name='tenant' value='t1' checked> Harbour</label><br>
<label><input type='checkbox' name='tenant' value='t2'> Kestrel</label>
<button type='submit' name='decision' value='allow'>Allow access</button>
<button type='submit' name='decision' value='deny'>Cancel</button></form>
<p><a href='slack://open'>Open Slack</a></p></body></html>"""


def test_a_consent_page_reads_as_text_with_its_controls_in_order() -> None:
    page = parse_page("http://127.0.0.1/x", 200, CONSENT_PAGE)
    assert page.title == "Connect to Xero"
    assert [(c.kind, c.label) for c in page.controls] == [
        ("checkbox", ""),
        ("checkbox", ""),
        ("submit", "Allow access"),
        ("submit", "Cancel"),
        ("link", "Open Slack"),
    ]
    assert [c.checked for c in page.controls[:2]] == [True, False]
    assert page.forms[0].method == "post" and ("request_id", "r1") in page.forms[0].fields
    assert ("user", "u1") in page.forms[0].fields
    text = "\n".join(page.lines)
    assert "Signed in as Alice <a@x>" in text
    assert "b{}" not in text  # styles are not content


def test_inline_links_lose_their_urls_but_keep_their_labels() -> None:
    blocks = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "x · <https://go.xero.com/a?b=1|Open in Xero>"},
        }
    ]
    shortened = shorten_links(blocks)
    assert shortened[0]["text"]["text"] == "x · Open in Xero ↗"
    assert blocks[0]["text"]["text"].endswith("|Open in Xero>")  # the original is untouched


def test_a_message_or_modal_that_opens_with_a_warning_is_an_error() -> None:
    assert is_error_text("⚠ Xero asked us to slow down — try again in 37 s.")
    assert is_error_text("+------+\n| Edit |\n+------+\n⚠ This transaction changed in Xero")
    assert not is_error_text("Search results — Harbour\n⚠ not in the first line")
    assert not is_error_text("✅ Saved.")


def test_the_hourglass_means_recon_is_still_working() -> None:
    assert is_working("  ⏳ Searching Harbour Coffee Roasters…")
    assert not is_working("Search results — Harbour")


def test_no_colour_means_no_escape_codes() -> None:
    text = "[1 Edit]\n⚠ problem\n✅ done"
    assert colour_body(text, Style(enabled=False)) == text
    assert "\x1b[" in colour_body(text, Style(enabled=True))


def test_renumbering_alone_is_not_a_change() -> None:
    assert comparable("row [1 Edit]\n[2 Next ›]") == comparable("row [7 Edit]\n[8 Next ›]")
    assert comparable("row [1 Edit]") != comparable("other [1 Edit]")


class _Shown:
    def __init__(self, ts: str) -> None:
        self.channel, self.ts = "C1", ts


def test_numbers_restart_each_step_and_a_changed_message_retires_its_old_numbers() -> None:
    screen = Screen()
    first = _Shown("1.0")
    assert screen.start() == 1
    screen.add(Target(1, "message", object(), first))
    screen.add(Target(2, "message", object(), first))
    screen.retire(("message", "C1", "1.0"))  # the message was updated and redrawn
    assert screen.numbers() == [] and screen.stale == {1, 2}
    screen.add(Target(3, "message", object(), first))
    assert screen.start() == 4  # same step: numbers keep growing
    screen.new_step()
    assert screen.start() == 1 and screen.numbers() == []


def test_output_arriving_while_someone_types_goes_above_their_line_and_keeps_it() -> None:
    import io

    from bot.demo.transcript import Transcript

    out = io.StringIO()
    transcript = Transcript(out, Style(), 100)
    transcript.redraw = lambda: "@alice in #books> /recon sea"
    transcript.at_prompt = True
    transcript.print("── #books · Recon ──\nUNRECONCILED IN HARBOUR")
    assert (
        out.getvalue()
        == "\r\x1b[K── #books · Recon ──\nUNRECONCILED IN HARBOUR\n@alice in #books> /recon sea"
    )
    before = len(out.getvalue())
    transcript.at_prompt = False  # between prompts: plain lines, nothing to clear or put back
    transcript.print("next")
    assert out.getvalue()[before:] == "next\n"
