"""An offline Xero that behaves like the real one, over real HTTP.

Tests, ``recon-bot demo`` and benchmarks point the bot's ``XERO_*`` settings at a running
:class:`XeroSandbox`. It models Xero's identity service (consent, single-use codes, rotating
refresh tokens with the 30-minute grace period and 60-day idle expiry, revocation,
``/connections``) and the Accounting API subset the bot uses (BankTransactions list/get/update/
history, Accounts, TrackingCategories, Organisation), with Xero's limits and envelopes, on a
controllable clock, plus fault injection.

Usage::

    sb = XeroSandbox(seed=7, transactions=500, clock=SandboxClock(start, ticking=False)).start()
    settings = sb.bot_settings()   # XERO_CLIENT_ID, XERO_AUTHORIZE_URL, XERO_IDENTITY_URL, XERO_API_URL, ...
    sb.clock.advance(31 * 60)      # cross the access-token line
    sb.faults.fail_next(1, 503)    # and see the client cope
    sb.stop()

Changes made in Xero itself, while the bot is not looking (Python, and the same under
``POST /_sandbox/transactions/{tenant}[/{id}/{action}]``)::

    txn = sb.create_transaction(tenant, contact="Spark NZ", amount="57.33", reference="INV-1")
    sb.edit_transaction(tenant, txn["BankTransactionID"], amount="60.00", contact="Z Energy")
    sb.reconcile_transaction(tenant, txn["BankTransactionID"])   # UpdatedDateUTC does not move
    sb.delete_transaction(tenant, other_id); sb.void_transaction(tenant, third_id)

Listing bank transactions, as a mirror sync uses it (see :mod:`.listing`):

* ``If-Modified-Since`` combines with ``where``, ``order``, ``page`` and ``pageSize``; it is
  UTC unless it carries ``Z`` or an offset, and is read to the second. A row is returned only
  when its UpdatedDateUTC, truncated to the second, is after the header's second: strict on
  purpose, so a client that bookmarks without an overlap loses a change made later in the
  same second. UpdatedDateUTC carries milliseconds; two writes in one millisecond get
  consecutive ones, so UpdatedDateUTC order is the order of the changes.
* DELETED and VOIDED transactions are returned, with their Status, by every list query whose
  ``where`` does not exclude them, with or without If-Modified-Since: Xero staff confirmed
  VOIDED ones come back, sync tools see DELETED ones on deltas, and nothing documents that a
  plain list hides them (unlike /BankTransfers, which has ``includeDeleted``).
* Reconciling (from the control surface) does not move UpdatedDateUTC unless asked to
  (``touch``): Xero does not promise that it does, so only a sweep over IsReconciled sees it.
* Every write drops that organisation's cached list results; a page read after a write shows it.

Deliberate deviations from Xero:

* ``id_token`` and access tokens are HS256 JWTs (Xero signs RS256 with published keys); the
  id_token is signed with the client secret, access tokens with a per-sandbox key.
* The authorize endpoint requires ``state`` (error page without it).
* Only the operations the bot needs exist: BankTransactions list/get/update/History, Accounts,
  TrackingCategories, Organisation. No creates through the API (the control surface makes
  them), no attachments or other endpoints (404/405).
* Answers the OpenAPI spec does not describe follow what Xero is reported to send:
  RFC 7807-style JSON for 401/403 (and, here, 429/5xx), plain text "The resource you're looking
  for cannot be found" for an unknown id. ``/connections`` timestamps have no zone, like
  Xero's (the spec's ``date-time`` format wants one).
* One tax rate per TaxType, rounded per line.
* ``/_sandbox`` has no authentication (bind to 127.0.0.1).

Where Xero's behaviour is undocumented the sandbox guesses (each guess is also noted where it
lives): string comparisons in ``where`` are case-insensitive and GUID fields need ``guid("…")``;
the 100,000-row rule refuses an unpaged list of more than that many, and a query that filters or
orders on unoptimised fields when the optimised terms (Type, Status, Contact.ContactID, a Date
range, If-Modified-Since) leave more than that many to scan, while a paged read of everything is
allowed; ``pageSize`` without ``page`` is ignored;
idempotency keys are remembered 6 minutes; a 429 does not count against limits; a retried
refresh token inside the grace period leaves the first new pair valid too; access tokens outlive
a revoke but lose their tenants; a missing scope is 401 ``AuthorizationUnsuccessful``; on update,
``Tracking`` left out of a line clears it, a reconciled transaction keeps its amount, date and
bank account, ``LineItems: []`` is refused, Reference is at most 255 characters and ``Url`` must
be absolute http(s); an unparseable ``If-Modified-Since`` is ignored (everything comes back).
"""

from .actions import ActionError
from .clock import SandboxClock
from .sandbox import XeroSandbox

__all__ = ["ActionError", "SandboxClock", "XeroSandbox"]
