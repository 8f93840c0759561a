"""Chaos for the token refresh: rounds of crashes, lost answers, contention, key rotations and
overlapping keep-alives against the Xero sandbox, on a real database, with real processes.

The harness behind ``bench/chaos.py`` (1,000 rounds, prints the tables) and the short version in
the test suite. Each round is one scenario:

* ``kill`` — a process refreshing a grant is SIGKILLed at a named point (``before_xero``,
  ``after_xero``, ``before_commit``: :mod:`storage.crashpoints`) or at a random instant while
  Xero is slow; then the clock's next keep-alive, 2–25 sandbox minutes later, must mend it;
* ``drop`` — Xero rotates but 1–3 answers in a row are lost (the sandbox's fault); the OAuth
  client's own retries or, if all were lost, the next keep-alive must mend it;
* ``contend`` — 16 processes need the same grant's new token at once: Xero sees one refresh;
* ``rotate`` — ``rotate_encryption`` with a new key while four processes refresh other grants;
  afterwards the old key is dropped, so a token left under it would be lost;
* ``keepalive`` — the clock jumps 7 days (idle grants are due; Xero's 60-day idle expiry is
  real in the sandbox) and two keep-alive runs start at once: each grant is refreshed once.

Between rounds the sandbox clock moves on a few minutes, so Xero's 30-minute grace period and
the 60-day idle expiry bite for real. At the end every grant must still refresh at the sandbox
and reach its organisations, and no token the sandbox ever issued may appear in the database
files or any process's log.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import random
import re
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

SCENARIOS = ("kill", "drop", "contend", "rotate", "keepalive")
KILL_POINTS = ("before_xero", "after_xero", "before_commit", "random")
CONTENDERS = 16
REDIRECT = "http://127.0.0.1:9/xero/callback"  # never contacted: the harness follows the redirect
TEAM = "T0CHAOS"
COMMAND_TIMEOUT = 150.0  # seconds a worker may take over one command before the round fails

log = logging.getLogger(__name__)
_LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"


# =========================================================================== worker processes


def _worker_main(conn: Connection, env: dict[str, str], log_path: str) -> None:
    """A long-lived process that runs the bot's real services on command (see :class:`_Worker`)."""
    logging.basicConfig(
        filename=log_path,
        level=logging.INFO,
        format=_LOG_FORMAT,
    )
    offset = [0.0]
    built: dict[str, Any] = {}

    def services_for(keys: str):
        if built.get("keys") != keys:
            from bot.config import Settings
            from bot.services.container import build_services
            from bot.xero.throttle import Throttle

            if "services" in built:
                built["services"].close()
            settings = Settings.from_env({**env, "RECON_ENCRYPTION_KEY": keys}, dotenv_path=None)
            services = build_services(
                settings,
                migrate_schema=False,
                now=lambda: datetime.now(UTC) + timedelta(seconds=offset[0]),
                xero_timeout=(2.0, 5.0),
                throttle=Throttle(),
                workers=2,
            )
            services.oauth.backoff = 0.05  # the retries' real pauses, shortened
            built.update(keys=keys, services=services, settings=settings)
        return built["services"]

    while True:
        try:
            message = conn.recv()
        except EOFError:
            break
        if message is None:
            break
        offset[0] = message.get("offset", 0.0)
        services = services_for(message["keys"])
        crash = message.get("crash")
        if crash:
            from storage.crashpoints import CRASH_ENV

            os.environ[CRASH_ENV] = crash
        delay = message.get("at", 0.0) - time.time()
        if delay > 0:
            time.sleep(delay)
        try:
            conn.send(_run_command(services, built["settings"], message))
        finally:
            if crash:
                os.environ.pop(CRASH_ENV, None)
    if "services" in built:
        built["services"].close()


def _run_command(services, settings, message: dict[str, Any]) -> dict[str, Any]:
    from bot.xero.errors import XeroError

    op = message["op"]
    try:
        if op == "ping":  # services are built: the next command starts at once
            return {"ok": True}
        if op == "refresh":
            token = services.tokens.access_token(message["grant"], stale_generation=message.get("stale"))
            return {"ok": True, "refreshed": token.refreshed, "generation": token.generation}
        if op == "keepalive":
            from bot.jobs import keep_tokens_alive, slack_client

            report = keep_tokens_alive(services, services.now(), slack_client(settings))
            return {
                "ok": True,
                "refreshed": report.refreshed,
                "retried": report.retried,
                "failed": report.failed,
                "needs_reconnect": report.needs_reconnect,
            }
        if op == "rotate":
            from storage.grants import rotate_encryption

            result = rotate_encryption(services.db)
            return {"ok": True, "rotated": result.rotated, "unreadable": result.unreadable}
    except XeroError as exc:
        return {"ok": False, "error": type(exc).__name__}
    except Exception as exc:  # noqa: BLE001 - reported to the harness, which fails the round
        logging.getLogger(__name__).exception("chaos worker: %s failed", op)
        return {"ok": False, "error": type(exc).__name__}
    raise ValueError(f"unknown command {op!r}")


class _Worker:
    """One bot process; commands go over a pipe, one at a time."""

    def __init__(self, ctx, env: dict[str, str], log_path: Path) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, env, str(log_path)), daemon=True)
        self.process.start()
        child.close()

    def send(self, message: dict[str, Any]) -> None:
        self.conn.send(message)

    def result(self, timeout: float = COMMAND_TIMEOUT) -> dict[str, Any]:
        """The command's answer; ``{"killed": True}`` if the process died on the way."""
        try:
            if not self.conn.poll(timeout):
                self.kill()
                return {"ok": False, "error": "hung"}
            return self.conn.recv()
        except (EOFError, ConnectionResetError, BrokenPipeError):
            self.process.join(10)
            return {"ok": False, "killed": True, "exitcode": self.process.exitcode}

    def kill(self) -> None:
        if self.process.is_alive() and self.process.pid:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.join(10)

    def stop(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(BrokenPipeError, OSError):
                self.conn.send(None)
            self.process.join(15)
        if self.process.is_alive():
            self.kill()
        self.conn.close()


# =========================================================================== the run


@dataclass
class RoundResult:
    index: int
    scenario: str
    variant: str
    refresh_calls: int
    expected: tuple[int, int]  # the range of refresh calls Xero should see in this round
    seconds: float
    problems: list[str] = field(default_factory=list)


@dataclass
class ChaosReport:
    database: str
    grants: int
    rounds: list[RoundResult]
    lost: list[int]  # grants that no longer refresh at the sandbox
    plaintext: list[str]  # where a token was found in plaintext ("file: kind")
    scanned_bytes: int
    scanned_files: int
    database_files: int  # of those, the database's own (0: not readable by this user)
    seconds: float

    @property
    def problems(self) -> list[str]:
        found = [f"round {r.index} ({r.scenario}/{r.variant}): {p}" for r in self.rounds for p in r.problems]
        found += [f"grant {g} lost" for g in self.lost]
        found += [f"plaintext token in {where}" for where in self.plaintext]
        return found


class Chaos:
    """Set up once (sandboxes, database, grants, 18 worker processes); :meth:`run` the rounds."""

    def __init__(
        self,
        database_url: str,
        workdir: Path,
        *,
        grants: int = 8,
        seed: int = 11,
        contenders: int = CONTENDERS,
        progress: Callable[[RoundResult], None] | None = None,
    ) -> None:
        from bot.demo.stack import bot_environ
        from bot.sandbox.slack import SlackSandbox
        from bot.sandbox.xero import SandboxClock, XeroSandbox

        self.database_url = database_url
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.rng = random.Random(seed)
        self.progress = progress
        self.keys = [Fernet.generate_key().decode()]
        self.xero = XeroSandbox(
            seed=seed, transactions=10, organisations=2, redirect_uris=[REDIRECT], clock=SandboxClock()
        ).start()
        self.slack = SlackSandbox().start()
        self.env = bot_environ(self.xero, slack=self.slack, database_url=database_url, redirect_uri=REDIRECT)
        self.env.pop("RECON_ENCRYPTION_KEY")  # given with each command: rotations change it
        self._log_handler = logging.FileHandler(self.workdir / "harness.log")
        self._log_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(self._log_handler)
        self.services = self._parent_services()
        self.grant_ids = [self._connect(f"U0CHAOS{i:02d}") for i in range(grants)]
        self.refresh_tokens_seen: set[str] = set()
        self.bearer_tokens_seen: set[str] = set()
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["bot.demo.chaos", "bot.services.container", "bot.jobs"])
        self._ctx = ctx
        self._spawned = 0
        self._counts: dict[str, int] = {}
        self.contenders = [self._spawn() for _ in range(contenders)]
        self.crasher = self._spawn()
        self.rotator = self._spawn()
        self._ready([*self.contenders, self.crasher, self.rotator])

    # ------------------------------------------------------------------ set-up

    def _parent_services(self):
        from bot.config import Settings
        from bot.services.container import build_services
        from bot.xero.throttle import Throttle
        from storage import migrate, open_database

        db = open_database(self.database_url, ",".join(self.keys))
        migrate.upgrade(db.engine)
        settings = Settings.from_env(
            {**self.env, "RECON_ENCRYPTION_KEY": ",".join(self.keys)}, dotenv_path=None
        )
        return build_services(
            settings, db=db, now=self.xero.clock.now, xero_timeout=(2.0, 5.0), throttle=Throttle(), workers=2
        )

    def _connect(self, user: str) -> int:
        from bot.demo.xero_world import consent_after_sign_in

        info = self.xero.add_user(f"{user.lower()}@example.com", user, "Chaos")
        self.xero.login_as(info["xero_user_id"])
        return consent_after_sign_in(self.services, TEAM, user).grant.id

    def _spawn(self) -> _Worker:
        self._spawned += 1
        worker = _Worker(self._ctx, self.env, self.workdir / f"worker-{self._spawned:04d}.log")
        worker.send(self._command("ping"))
        return worker

    def _ready(self, workers: list[_Worker]) -> None:
        for worker in workers:
            answer = worker.result()
            if not answer.get("ok"):
                raise RuntimeError(f"a chaos worker did not start: {answer}")

    # ------------------------------------------------------------------ helpers

    @property
    def key_spec(self) -> str:
        return ",".join(self.keys)

    def _offset(self) -> float:
        return (self.xero.clock.now() - datetime.now(UTC)).total_seconds()

    def _command(self, op: str, *, at: float = 0.0, **fields: Any) -> dict[str, Any]:
        return {"op": op, "keys": self.key_spec, "offset": self._offset(), "at": at, **fields}

    def _generation(self, grant_id: int) -> int:
        from storage import grants

        view = grants.get_grant(self.services.db, grant_id)
        return view.generation if view else -1

    def _take_refresh_calls(self) -> int:
        """Refresh requests the sandbox saw since the last call (the log is cleared each time)."""
        calls = 0
        for r in self.xero.requests:
            form = r.get("form") or {}
            if r.get("path", "").endswith("/connect/token") and form.get("grant_type") == "refresh_token":
                calls += 1
                self.refresh_tokens_seen.add(form.get("refresh_token", ""))
            auth = (r.get("headers") or {}).get("Authorization", "")
            if auth.lower().startswith("bearer "):
                self.bearer_tokens_seen.add(auth[7:].strip())
        self.xero.clear_requests()
        return calls

    def _keepalive(self, worker: _Worker) -> dict[str, Any]:
        worker.send(self._command("keepalive"))
        return worker.result()

    def _advance_minutes(self, low: float, high: float) -> None:
        self.xero.clock.advance(self.rng.uniform(low, high) * 60)

    # ------------------------------------------------------------------ scenarios

    def _kill(self, result: RoundResult) -> None:
        grant_id = self.rng.choice(self.grant_ids)
        point = KILL_POINTS[self._counts.setdefault("kill", 0) % len(KILL_POINTS)]  # each in turn
        self._counts["kill"] += 1
        result.variant = point
        stale = self._generation(grant_id)
        if point == "random":
            latency = self.rng.randint(100, 300)
            self.xero.faults.latency(latency)
            self.crasher.send(self._command("refresh", grant=grant_id, stale=stale))
            time.sleep(self.rng.uniform(0.0, latency / 1000 + 0.05))  # mostly while Xero works
            self.crasher.kill()
            self.crasher.result(timeout=5)
            # Its request may still be at Xero, which carries it out regardless (as Xero would):
            # let it land in this round rather than eat the next round's injected faults.
            time.sleep(0.5)
            result.variant = f"random, {self._where_it_died(grant_id, stale)}"
            result.expected = (0, 2)
        else:
            self.crasher.send(self._command("refresh", grant=grant_id, stale=stale, crash=point))
            outcome = self.crasher.result()
            if not outcome.get("killed"):
                result.problems.append(f"the process survived its crash point ({outcome})")
            result.expected = (1, 1) if point == "before_xero" else (2, 2)
        self.crasher.stop()
        self.crasher = self._spawn()
        self._ready([self.crasher])
        self.xero.faults.clear()
        # The clock's next keep-alive: past the dead holder's lease, inside Xero's grace period.
        self._advance_minutes(2, 25)
        report = self._keepalive(self.contenders[0])
        if not report.get("ok") or report.get("failed") or report.get("needs_reconnect"):
            result.problems.append(f"keep-alive after the kill: {report}")

    def _where_it_died(self, grant_id: int, stale: int) -> str:
        from storage import grants

        view = grants.get_grant(self.services.db, grant_id)
        sent = any((r.get("form") or {}).get("grant_type") == "refresh_token" for r in self.xero.requests)
        if view is None or view.generation != stale:
            return "after commit"
        if view.refresh_pending_generation is None:
            return "before the lease"
        return "after Xero" if sent else "before Xero"

    def _drop(self, result: RoundResult) -> None:
        grant_id = self.rng.choice(self.grant_ids)
        lost = 1 + self._counts.setdefault("drop", 0) % 3  # 1, 2, then all 3 attempts lost
        self._counts["drop"] += 1
        result.variant = f"{lost} lost"
        self.xero.faults.drop_next_refresh_response(lost)
        self.contenders[1].send(self._command("refresh", grant=grant_id, stale=self._generation(grant_id)))
        outcome = self.contenders[1].result()
        self.xero.faults.clear()
        if lost < 3 and not outcome.get("refreshed"):
            result.problems.append(f"the OAuth client's retry did not recover: {outcome}")
        if lost == 3 and outcome.get("error") != "XeroUnavailable":
            result.problems.append(f"three lost answers should surface as XeroUnavailable: {outcome}")
        result.expected = (lost + 1, lost + 1)
        self._advance_minutes(1, 25)
        report = self._keepalive(self.contenders[0])
        if lost == 3 and grant_id not in report.get("retried", []):
            result.problems.append(f"the unfinished refresh was not retried: {report}")

    def _contend(self, result: RoundResult) -> None:
        grant_id = self.rng.choice(self.grant_ids)
        stale = self._generation(grant_id)
        self.xero.faults.latency(self.rng.randint(100, 400))
        result.variant = f"{len(self.contenders)} processes"
        at = time.time() + 0.3
        for worker in self.contenders:
            worker.send(self._command("refresh", grant=grant_id, stale=stale, at=at))
        outcomes = [w.result() for w in self.contenders]
        self.xero.faults.clear()
        result.expected = (1, 1)
        if not all(o.get("ok") for o in outcomes):
            result.problems.append(
                f"failures: {Counter(o.get('error') for o in outcomes if not o.get('ok'))}"
            )
        if sum(bool(o.get("refreshed")) for o in outcomes) != 1:
            result.problems.append("not exactly one process refreshed")
        if len({o.get("generation") for o in outcomes}) != 1:
            result.problems.append("the processes ended up with different tokens")

    def _rotate(self, result: RoundResult) -> None:
        from storage import grants
        from storage.crypto import TokenCipher
        from storage.db import Database

        self.keys = [Fernet.generate_key().decode(), *self.keys]
        targets = self.rng.sample(self.grant_ids, k=min(4, len(self.grant_ids)))
        result.variant = f"{len(targets)} refreshing"
        self.xero.faults.latency(self.rng.randint(50, 250))
        at = time.time() + 0.3
        for worker, grant_id in zip(self.contenders, targets, strict=False):
            worker.send(self._command("refresh", grant=grant_id, stale=self._generation(grant_id), at=at))
        self.rotator.send(self._command("rotate", at=at + self.rng.uniform(0.0, 0.3)))
        outcomes = [w.result() for w in self.contenders[: len(targets)]]
        rotation = self.rotator.result()
        self.xero.faults.clear()
        result.expected = (len(targets), len(targets))
        if not all(o.get("refreshed") for o in outcomes):
            result.problems.append(f"refreshes during rotation: {outcomes}")
        if not rotation.get("ok") or rotation.get("unreadable"):
            result.problems.append(f"rotation: {rotation}")
        # The operator drops the old key: every token must be readable with the new one alone.
        self.keys = self.keys[:1]
        check = Database(self.database_url, TokenCipher(self.keys))
        try:
            for grant_id in self.grant_ids:
                try:
                    grants.refresh_token_for_revocation(check, grant_id)
                except Exception as exc:  # noqa: BLE001 - reported as a problem of this round
                    result.problems.append(
                        f"grant {grant_id} unreadable under the new key: {type(exc).__name__}"
                    )
        finally:
            check.dispose()
        self.services.db.cipher = TokenCipher(self.keys)

    def _two_keepalives(self, result: RoundResult) -> None:
        self.xero.clock.advance(7 * 86400 + 60)  # every grant is idle for a week: all are due
        self.xero.faults.latency(self.rng.randint(0, 150))
        result.variant = "2 at once"
        at = time.time() + 0.3
        pair = self.contenders[:2]
        for worker in pair:
            worker.send(self._command("keepalive", at=at))
        reports = [w.result() for w in pair]
        self.xero.faults.clear()
        result.expected = (len(self.grant_ids), len(self.grant_ids))
        done = [g for r in reports for g in r.get("refreshed", [])]
        if sorted(done) != sorted(self.grant_ids):
            result.problems.append(f"refreshed {sorted(done)} instead of each grant once")
        for r in reports:
            if not r.get("ok") or r.get("failed") or r.get("needs_reconnect"):
                result.problems.append(f"keep-alive: {r}")

    # ------------------------------------------------------------------ rounds

    def _round(self, index: int, scenario: str) -> RoundResult:
        from storage import grants

        result = RoundResult(index, scenario, "", 0, (0, 0), 0.0)
        started = time.monotonic()
        self._take_refresh_calls()
        {
            "kill": self._kill,
            "drop": self._drop,
            "contend": self._contend,
            "rotate": self._rotate,
            "keepalive": self._two_keepalives,
        }[scenario](result)
        result.refresh_calls = self._take_refresh_calls()
        low, high = result.expected
        if not low <= result.refresh_calls <= high:
            result.problems.append(f"{result.refresh_calls} refresh calls, expected {low}–{high}")
        for grant_id in self.grant_ids:
            view = grants.get_grant(self.services.db, grant_id)
            if view is None or view.status != "active":
                result.problems.append(f"grant {grant_id} is {view.status if view else 'gone'}")
        self._advance_minutes(0, 3)
        result.seconds = time.monotonic() - started
        return result

    def run(self, rounds: int) -> ChaosReport:
        started = time.monotonic()
        order = [SCENARIOS[i % len(SCENARIOS)] for i in range(rounds)]
        self.rng.shuffle(order)
        results = []
        for index, scenario in enumerate(order, start=1):
            result = self._round(index, scenario)
            results.append(result)
            if self.progress:
                self.progress(result)
        lost = self._final_check()
        where, scanned_bytes, scanned_files, database_files = self._scan_for_plaintext()
        return ChaosReport(
            database="PostgreSQL" if self.database_url.startswith("postgresql") else "SQLite",
            grants=len(self.grant_ids),
            rounds=results,
            lost=lost,
            plaintext=where,
            scanned_bytes=scanned_bytes,
            scanned_files=scanned_files,
            database_files=database_files,
            seconds=time.monotonic() - started,
        )

    # ------------------------------------------------------------------ the end

    def _final_check(self) -> list[int]:
        """Every grant must still refresh at the sandbox and reach its organisations."""
        self.xero.clock.advance(60)
        lost = []
        for grant_id in self.grant_ids:
            try:
                token = self.services.tokens.access_token(
                    grant_id, stale_generation=self._generation(grant_id)
                )
                if not token.refreshed or not self.services.oauth.connections(token.token):
                    lost.append(grant_id)
            except Exception:  # noqa: BLE001 - a grant that cannot refresh is exactly what we count
                log.exception("chaos: grant %s does not refresh any more", grant_id)
                lost.append(grant_id)
        self._take_refresh_calls()
        return lost

    def _issued_tokens(self) -> set[str]:
        """Every token the sandbox handed out (read from its identity service's records), plus
        every token the bot sent it — lost answers included, so a log line of one would show."""
        tokens = set(self.refresh_tokens_seen) | set(self.bearer_tokens_seen)
        identity = getattr(getattr(self.xero, "_ctx", None), "identity", None)  # the sandbox's books
        if identity is not None:
            tokens |= set(identity.refresh_tokens) | set(identity.access_tokens)
        return {t for t in tokens if len(t) >= 32}

    def _scan_for_plaintext(self) -> tuple[list[str], int, int, int]:
        refresh_tokens, signatures = set(), set()
        for token in self._issued_tokens():
            if "." in token:  # a JWT access token: its signature segment is its random part
                signatures.add(token.rsplit(".", 1)[1])
            else:
                refresh_tokens.add(token)
        found: list[str] = []
        scanned_bytes = scanned_files = 0
        database_files = self._database_files()
        for path in [*database_files, *sorted(self.workdir.glob("*.log"))]:
            try:
                blob = path.read_bytes()
            except OSError:
                continue
            scanned_bytes += len(blob)
            scanned_files += 1
            hits = sum(
                1
                for run in _HEX_RUN.findall(blob)
                for i in range(len(run) - 63)
                if run[i : i + 64].decode() in refresh_tokens
            )
            hits += sum(1 for sig in _JWT_SIGNATURE.findall(blob) if sig.decode() in signatures)
            if hits:
                found.append(f"{path.name} ({hits} token(s))")
        return found, scanned_bytes, scanned_files, len(database_files)

    def _database_files(self) -> list[Path]:
        """The files the database keeps its rows in: SQLite's file and WAL; for PostgreSQL this
        database's relation files and the server's WAL (when this user may read them)."""
        if not self.database_url.startswith("postgresql"):
            with self.services.db.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            base = Path(self.services.db.engine.url.database or "")
            return [p for p in base.parent.glob(base.name + "*") if p.is_file()]
        with self.services.db.engine.connect() as conn:
            conn.exec_driver_sql("CHECKPOINT")
            data = Path(conn.exec_driver_sql("SHOW data_directory").scalar())
            oid = conn.exec_driver_sql(
                "SELECT oid FROM pg_database WHERE datname = current_database()"
            ).scalar()
        try:
            files = [p for p in (data / "base" / str(oid)).iterdir() if p.is_file()]
            files += [p for p in (data / "pg_wal").iterdir() if p.is_file()]
        except OSError:  # not the server's owner: only the logs can be scanned
            log.warning("chaos: PostgreSQL's data files under %s are not readable; not scanned", data)
            return []
        return files

    def close(self) -> None:
        for worker in [*self.contenders, self.crasher, self.rotator]:
            worker.stop()
        self.services.close()
        self.xero.stop()
        self.slack.stop()
        logging.getLogger().removeHandler(self._log_handler)
        self._log_handler.close()


# Refresh tokens are 64 hex characters: every 64-character window of a hex run is checked.
# Access tokens are JWTs: the 43 characters after a dot are checked against their signatures.
_HEX_RUN = re.compile(rb"[0-9a-f]{64,}")
_JWT_SIGNATURE = re.compile(rb"\.([A-Za-z0-9_-]{43})")


# =========================================================================== tables


def summary_rows(report: ChaosReport) -> list[tuple[str, int, int, str, str, int]]:
    """(scenario/variant, rounds, refresh calls, min/avg/max per round, expected, problems)."""
    groups: dict[str, list[RoundResult]] = {}
    for r in report.rounds:
        groups.setdefault(f"{r.scenario}: {r.variant}", []).append(r)
    rows = []
    for name in sorted(groups, key=lambda n: (SCENARIOS.index(n.split(":")[0]), n)):
        rs = groups[name]
        calls = [r.refresh_calls for r in rs]
        lows, highs = {r.expected[0] for r in rs}, {r.expected[1] for r in rs}
        expected = f"{min(lows)}" if lows == highs and len(lows) == 1 else f"{min(lows)}–{max(highs)}"
        spread = f"{min(calls)} / {sum(calls) / len(calls):.2f} / {max(calls)}"
        rows.append((name, len(rs), sum(calls), spread, expected, sum(len(r.problems) for r in rs)))
    return rows


def format_report(report: ChaosReport) -> str:
    rows = summary_rows(report)
    head = (
        f"{report.database}: {len(report.rounds)} rounds over {report.grants} grants, "
        f"{CONTENDERS} contending processes, {report.seconds:.0f} s"
    )
    lines = [
        head,
        "",
        f"{'scenario':<32} {'rounds':>6} {'refresh calls':>13} {'per round min/avg/max':>22} "
        f"{'expected':>9} {'problems':>8}",
    ]
    for name, n, calls, spread, expected, problems in rows:
        lines.append(f"{name:<32} {n:>6} {calls:>13} {spread:>22} {expected:>9} {problems:>8}")
    total_calls = sum(r.refresh_calls for r in report.rounds)
    lines.append(f"{'all rounds':<32} {len(report.rounds):>6} {total_calls:>13}")
    per_round = Counter(r.refresh_calls for r in report.rounds)
    lines += [
        "",
        "refresh calls per round: " + ", ".join(f"{k} calls × {v}" for k, v in sorted(per_round.items())),
        f"grants lost: {len(report.lost)} of {report.grants}"
        + (f" ({', '.join(map(str, report.lost))})" if report.lost else ""),
        f"tokens in plaintext: {len(report.plaintext)} (scanned {report.database_files} database files "
        f"and {report.scanned_files - report.database_files} logs, {report.scanned_bytes / 1e6:.1f} MB, "
        "for every token the sandbox issued)",
        f"problems: {len(report.problems)}",
    ]
    lines += [f"  {p}" for p in report.problems[:20]]
    return "\n".join(lines)
