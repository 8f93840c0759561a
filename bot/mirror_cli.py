"""``recon-bot mirror``: look at, run and wipe the local copy of each organisation's transactions.

* ``mirror status`` — per organisation: rows, how far behind Xero, last delta, last sweep (of
  the recent window or everything) and last full sweep, the sync's Xero calls today against its
  share, the last error;
* ``mirror sync [--full] [ORG]`` — sync now (every held organisation, or one); ``--full`` reads
  everything again from the start, and once that read completes, rows it did not meet (Xero no
  longer has them) leave the copy;
* ``mirror forget ORG`` — delete the organisation's rows and sync state (the clock reads it
  again on its next run while a grant still holds it).

``ORG`` is an organisation's name (or the start of it) or its tenant id.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta

EXIT_OK = 0
EXIT_PROBLEM = 1


def add_parser(sub) -> None:
    p = sub.add_parser("mirror", help="the local copy of each organisation's bank transactions")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("status", help="rows, lag, last delta, sweep and full sweep, calls today, last error")
    s = actions.add_parser("sync", help="sync now: every organisation, or ORG")
    s.add_argument(
        "--full",
        action="store_true",
        help="read everything again from the start; then drop what Xero no longer has",
    )
    s.add_argument("org", nargs="?", help="organisation name or tenant id (default: all)")
    f = actions.add_parser("forget", help="delete an organisation's mirrored rows and sync state")
    f.add_argument("org", help="organisation name or tenant id")


def run(args: argparse.Namespace, services) -> int:
    sync = services.sync
    if args.action == "status":
        print(status_table(sync.status(), services.now()))
        return EXIT_OK
    known = _known(services)
    if args.action == "forget":
        tenant_id = _resolve(args.org, known)
        if tenant_id is None:
            return EXIT_PROBLEM
        removed = sync.forget(tenant_id)
        print(f"forgot {known.get(tenant_id) or tenant_id}: {removed:,} row(s) deleted")
        return EXIT_OK
    if args.org:
        tenant_id = _resolve(args.org, known)
        if tenant_id is None:
            return EXIT_PROBLEM
        targets = [tenant_id]
    else:
        targets = list(sync.held())
    code = EXIT_OK
    for tenant_id in targets:
        outcome = sync.sync(tenant_id, full=args.full)
        print(outcome_line(known.get(tenant_id) or tenant_id, outcome))
        if outcome.error and not outcome.paused:
            code = EXIT_PROBLEM
    return code


def _known(services) -> dict[str, str]:
    names = {s.tenant_id: s.name for s in services.sync.status()}
    names.update(services.sync.held())
    return names


def _resolve(wanted: str, known: dict[str, str]) -> str | None:
    if wanted in known:
        return wanted
    key = wanted.strip().casefold()
    found = [t for t, name in known.items() if name and name.casefold().startswith(key)]
    if len(found) == 1:
        return found[0]
    if not found:
        print(f"recon: no mirrored or connected organisation matches {wanted!r}", file=sys.stderr)
    else:
        names = ", ".join(sorted(known[t] for t in found))
        print(f"recon: {wanted!r} matches several organisations: {names}", file=sys.stderr)
    return None


def outcome_line(name: str, outcome) -> str:
    if outcome.busy:
        return f"{name}: another process is syncing it now; nothing done here"
    did = " + ".join(outcome.did) or "nothing to do"
    line = (
        f"{name}: {did}, {outcome.calls} Xero call(s), {outcome.rows_written:,} row(s) written, "
        f"{outcome.rows_removed:,} removed"
    )
    if outcome.reconciled:
        line += f", {outcome.reconciled:,} found reconciled"
    if outcome.error:
        line += f" — {outcome.error}"
    elif not outcome.complete:
        line += " — first sync not finished"
    return line


def age(delta: timedelta | None) -> str:
    if delta is None:
        return "-"
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 90 * 60:
        return f"{seconds // 60} min"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def _when(moment: datetime | None, now: datetime) -> str:
    return "-" if moment is None else f"{age(now - moment)} ago"


def status_table(statuses: Sequence, now: datetime) -> str:
    if not statuses:
        return "no organisation is mirrored yet (connect one, or run `recon-bot mirror sync`)"
    header = (
        "ORGANISATION",
        "ROWS",
        "STATE",
        "LAG",
        "LAST DELTA",
        "LAST SWEEP",
        "FULL SWEEP",
        "CALLS TODAY",
        "LAST ERROR",
    )
    lines = [header]
    for s in statuses:
        if s.complete:
            state = "in step"
        elif s.expected:
            state = f"filling {s.rows:,}/{s.expected:,}"
        else:
            state = "filling"
        if s.syncing:
            state += " (syncing)"
        if not s.held:
            state += " (no grant)"
        lines.append(
            (
                (s.name or s.tenant_id)[:40],
                f"{s.rows:,}",
                state,
                age(s.lag(now)) if s.complete else "-",
                _when(s.last_delta_at, now),
                _when(s.last_sweep_at, now),
                _when(s.last_full_at, now),
                f"{s.calls_today:,}/{s.daily_calls:,}",
                (s.last_error or "-")[:80],
            )
        )
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in lines
    )
