"""``/recon digest …``: argument errors name the argument; each subcommand does what it says."""

from __future__ import annotations

from typing import Any

import pytest

from bot.sandbox.slack.validate import problems
from bot.slack.digest_commands import DigestArgError, handle_digest_command, parse_digest_args
from storage import digests as ledger
from tests.clock.world import TEAM


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("on", ("on", None, None, None, False)),
        (
            "on <#C0BOOKS1|books> 08:30 Europe/London quiet",
            ("on", "C0BOOKS1", "08:30", "Europe/London", True),
        ),
        ("ON pacific/auckland 7:05", ("on", None, "07:05", "Pacific/Auckland", False)),
        ("off <#C0BOOKS1>", ("off", "C0BOOKS1", None, None, False)),
        ("now", ("now", None, None, None, False)),
        ("status", ("status", None, None, None, False)),
        ("", ("help", None, None, None, False)),
    ],
)
def test_arguments_in_any_order(args, expected):
    cmd = parse_digest_args(args)
    assert (cmd.action, cmd.channel_id, cmd.local_time, cmd.timezone, cmd.quiet) == expected


@pytest.mark.parametrize(
    ("args", "named", "hint"),
    [
        ("on 25:00", "`25:00`", "HH:MM"),
        ("on 9am", "`9am`", "HH:MM"),
        ("on Mars/Olympus", "`Mars/Olympus`", "Pacific/Auckland"),
        ("on Auckland", "`Auckland`", "did you mean `Pacific/Auckland`"),
        ("on #books", "`#books`", "pick the channel from Slack's list"),
        ("on <@U0BOB>", "`<@U0BOB>`".replace("<", "&lt;").replace(">", "&gt;"), "a person"),
        ("on 08:00 09:00", "`09:00`", "second time"),
        ("off 09:00", "`09:00`", "only takes a channel"),
        ("status <#C0BOOKS1>", "&lt;#C0BOOKS1&gt;", "takes nothing"),
        ("subscribe-me", "`subscribe-me`", "`on`, `off`"),
    ],
)
def test_bad_arguments_are_named_with_the_fix(args, named, hint):
    with pytest.raises(DigestArgError) as err:
        parse_digest_args(args)
    assert named in err.value.message
    assert hint in err.value.message


class Responder:
    """Collects what ``respond`` would send (and checks Slack would accept it)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> None:
        assert problems({"text": kwargs.get("text"), "blocks": kwargs.get("blocks")}) == []
        self.sent.append(kwargs)

    @property
    def last_text(self) -> str:
        found = []
        for b in self.sent[-1]["blocks"]:
            for obj in [b.get("text"), *(b.get("fields") or []), *(b.get("elements") or [])]:
                if isinstance(obj, dict) and obj.get("type") in ("mrkdwn", "plain_text"):
                    found.append(obj["text"])
        return "\n".join(found)


def run(world, user: str, channel: str, args: str) -> Responder:
    respond = Responder()
    handle_digest_command(
        services=world.services,
        team_id=TEAM,
        user_id=user,
        channel_id=channel,
        args=args,
        respond=respond,
        client=world.clock.client,
    )
    return respond


def test_on_defaults_to_this_channel_nine_oclock_and_the_organisations_zone(world):
    world.connect("U0ALICE")
    world.add_channel("C0BOOKS1", "books")
    reply = run(world, "U0ALICE", "C0BOOKS1", "on")
    [sub] = ledger.subscriptions_of_user(world.db, TEAM, "U0ALICE")
    org = next(t for t in world.tenants if t["tenant_id"] == sub.tenant_id)
    assert (sub.channel_id, sub.local_time, sub.timezone) == ("C0BOOKS1", "09:00", org["iana_timezone"])
    assert "<#C0BOOKS1>" in reply.last_text and "09:00" in reply.last_text


def test_on_with_arguments_and_a_second_subscriber_takes_over(world):
    world.connect("U0ALICE")
    world.connect("U0BOB")
    run(world, "U0ALICE", "C0HERE", "on <#C0BOOKS1|books> 07:30 Europe/London quiet")
    world.use("U0BOB", world.services.connect.default_org(TEAM, "U0ALICE").tenant_id)
    reply = run(world, "U0BOB", "C0HERE", "on <#C0BOOKS1|books> 08:00")
    [sub] = ledger.subscriptions_in_channel(world.db, TEAM, "C0BOOKS1")
    assert sub.owner_user_id == "U0BOB" and sub.local_time == "08:00" and not sub.skip_when_clear
    assert "replaces the digest <@U0ALICE>" in reply.last_text


def test_bad_argument_changes_nothing(world):
    world.connect("U0ALICE")
    reply = run(world, "U0ALICE", "C0BOOKS1", "on 25:00")
    assert "`25:00`" in reply.last_text
    assert ledger.subscriptions_of_user(world.db, TEAM, "U0ALICE") == []


def test_someone_without_xero_gets_the_connect_button(world):
    reply = run(world, "U0NOBODY", "C0BOOKS1", "on")
    buttons = [e for b in reply.sent[-1]["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons and buttons[0]["url"].startswith(world.settings.connect_start_url)


def test_off_status_and_now(world):
    world.connect("U0ALICE")
    world.add_channel("C0BOOKS1", "books")
    world.add_channel("C0NOBOT1", "no-bot", bot_member=False)
    run(world, "U0ALICE", "C0BOOKS1", "on")
    status = run(world, "U0ALICE", "C0BOOKS1", "status")
    assert "<#C0BOOKS1>" in status.last_text and "next" in status.last_text

    now = run(world, "U0ALICE", "C0BOOKS1", "now")
    assert "Preparing" in now.sent[0]["text"]
    assert now.sent[-1]["replace_original"] is True and "Posted" in now.last_text
    [post] = world.channel_posts("C0BOOKS1")
    assert "Unreconciled in" in post.blocks[0]["text"]["text"]
    with world.db.engine.connect() as conn:  # "now" leaves no ledger row
        assert conn.exec_driver_sql("SELECT count(*) FROM digest_runs").scalar() == 0

    refused = run(world, "U0ALICE", "C0BOOKS1", "now <#C0NOBOT1>")
    assert "/invite @Recon" in refused.last_text

    off = run(world, "U0ALICE", "C0BOOKS1", "off")
    assert "Stopped" in off.last_text
    assert ledger.subscriptions_of_user(world.db, TEAM, "U0ALICE") == []
    assert "no digest" in run(world, "U0ALICE", "C0BOOKS1", "off").last_text
