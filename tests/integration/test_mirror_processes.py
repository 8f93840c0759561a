"""The sync across real processes: killed mid-first-sync and resumed; two at once make one set of calls."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time

import pytest

from bot.demo.stack import bot_environ
from bot.demo.xero_world import REDIRECT, TEAM, make_world
from bot.services.sync import LEASE
from bot.xero.client import if_modified_since
from storage.mirror_state import get_sync_state
from tests.integration.mirror_helpers import header, in_xero, list_calls, mirrored

USER = "U0ALICE"


def _env(world, db_url: str, key: str) -> dict[str, str]:
    ours = ("SLACK_", "XERO_", "DATABASE_", "RECON_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.update(bot_environ(world.sb, database_url=db_url, redirect_uri=REDIRECT, encryption_key=key))
    return env


@pytest.fixture
def world(db, db_url):
    w = make_world(db, db_url, transactions=6000)
    w.consent(USER)
    yield w
    w.services.close()
    w.sb.stop()


def test_a_sync_killed_mid_first_sync_resumes_at_its_last_page(world, db_url, encryption_key, tmp_path):
    tenant = world.services.connect.default_org(TEAM, USER).tenant_id
    already = len(list_calls(world))
    world.sb.faults.latency(500)  # slow pages: time to close the gate before the third
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "mirror", "sync", tenant],
        env=_env(world, db_url, encryption_key),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            state = get_sync_state(world.db, tenant)
            if state is not None and state.row_count >= 2000:
                break
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.05)
        else:
            raise AssertionError("the syncing process never got two pages in")
        # Kill it at a known point: waiting on Xero for its next page, every page before it
        # checkpointed (where a kill lands inside a page write is the database's atomicity).
        gate = world.sb.faults.hold_calls()
        assert gate.wait_for(1, timeout=30), "the next page never reached Xero"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    dead = get_sync_state(world.db, tenant)
    world.sb.faults.clear()  # the held call is answered (to nobody) and logged
    assert not dead.complete and dead.lease_owner is not None  # it died holding the lease
    assert dead.row_count == len(mirrored(world.db, tenant)) >= 2000  # every written page is whole
    # Each call is counted before it is made: the pages written and the one it died waiting for.
    deadline = time.monotonic() + 10
    while len(list_calls(world)) - already < dead.calls_today and time.monotonic() < deadline:
        time.sleep(0.05)
    calls_before = len(list_calls(world)) - already
    assert calls_before == dead.calls_today

    outcome = world.services.sync.sync(tenant)
    assert outcome.busy  # its lease still stands: nobody reads the same pages twice at once
    world.sb.clock.advance(LEASE.total_seconds() + 1)
    world.sb.clear_requests()
    outcome = world.services.sync.sync(tenant)

    assert outcome.complete and outcome.error is None
    first = list_calls(world)[0]
    assert header(first, "If-Modified-Since") == if_modified_since(dead.first_sync_bookmark_utc)
    assert first.query["page"] == str(dead.first_sync_page)
    pages_after = [c for c in list_calls(world) if "IsReconciled" not in c.query.get("where", "")]
    assert len(pages_after) == outcome.calls
    # A clean run reads 6,000 transactions in six or seven pages (each page after the first starts
    # at its predecessor's last second); the resumed one adds only the page it died waiting for.
    assert calls_before + len(pages_after) <= 7 + 1
    assert mirrored(world.db, tenant) == in_xero(world.sb, tenant)
    assert get_sync_state(world.db, tenant).row_count == len(in_xero(world.sb, tenant))


def test_two_processes_syncing_one_organisation_at_once_make_one_set_of_calls(world, db_url, encryption_key):
    from tests.integration.mirror_procs import sync_in_process

    tenant = world.services.connect.default_org(TEAM, USER).tenant_id
    world.sb.faults.latency(300)
    env = _env(world, db_url, encryption_key)
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=sync_in_process, args=(env, tenant, barrier, results)) for _ in range(2)]
    for p in procs:
        p.start()
    answers = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert all(error is None for *_, error in answers), answers
    busy = [a for a in answers if a[1]]
    worked = [a for a in answers if not a[1]]
    assert len(busy) == 1 and len(worked) == 1, answers
    assert worked[0][2]  # complete
    assert len(list_calls(world)) == worked[0][0]  # only the lease holder called Xero
    assert mirrored(world.db, tenant) == in_xero(world.sb, tenant)
