"""An offline Xero that behaves like the real one, over real HTTP.

Tests, ``recon-bot demo`` and benchmarks point the bot's ``XERO_*`` settings at a running
:class:`XeroSandbox`. It models Xero's identity service (consent, single-use codes, rotating
refresh tokens with the 30-minute grace period and 60-day idle expiry, revocation,
``/connections``) and the Accounting API subset the bot uses (BankTransactions list/get/update/
history, Accounts, TrackingCategories, Organisation), with Xero's limits and envelopes, on a
controllable clock, plus fault injection.

Deliberate deviations from Xero (also listed in the module docstrings where they live):

* ``id_token`` and access tokens are HS256 JWTs (Xero signs RS256 with published keys);
  the id_token is signed with the client secret, access tokens with a per-sandbox key.
* The authorize endpoint requires ``state`` (error page without it); Xero does not insist.
* Only the BankTransactions operations the bot needs exist: no create (PUT/POST collection),
  attachments, or other endpoints; those answer 404/405.
* Responses that the OpenAPI spec does not describe (401/403/404/429 bodies) follow what
  Xero is reported to send: RFC 7807-style JSON for 401/403, the plain-text
  "The resource you're looking for cannot be found" for 404.
* The tax model is one rate per TaxType, rounded per line.
* The ``/_sandbox`` control surface has no authentication (bind it to 127.0.0.1).
"""

from .clock import SandboxClock
from .sandbox import XeroSandbox

__all__ = ["SandboxClock", "XeroSandbox"]
