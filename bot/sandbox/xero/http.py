"""Small HTTP helpers shared by the handlers: JSON/XML/HTML responses and body parsing."""

from __future__ import annotations

import html
import json
from typing import Any
from xml.sax.saxutils import escape

from werkzeug.wrappers import Request, Response

from .formats import problem


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False),
        status=status,
        headers=headers or {},
        content_type="application/json; charset=utf-8",
    )


def problem_response(status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    return json_response(problem(status, title, detail), status, headers)


def html_response(title: str, body_html: str, status: int = 200) -> Response:
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:36em;margin:3em auto}"
        "button{font-size:1em;padding:.4em 1.2em;margin-right:.6em}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body_html}</body></html>"
    )
    return Response(page, status=status, content_type="text/html; charset=utf-8")


def wants_json(request: Request) -> bool:
    """Xero answers XML unless the client asks for JSON (Xero's "Requests and responses" page)."""
    accept = request.headers.get("Accept", "")
    return "json" in accept.lower()


def read_json(request: Request) -> tuple[Any, str | None]:
    """The parsed JSON body, or an error message when it is not JSON."""
    raw = request.get_data(cache=True)
    if not raw:
        return None, "The request body is empty."
    try:
        return json.loads(raw), None
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"The request body is not valid JSON: {exc}"


# --- XML, for clients that forget Accept: application/json -------------------------------

_SINGULAR = {
    "BankTransactions": "BankTransaction",
    "LineItems": "LineItem",
    "Tracking": "TrackingCategory",
    "HistoryRecords": "HistoryRecord",
    "Accounts": "Account",
    "TrackingCategories": "TrackingCategory",
    "Options": "Option",
    "Organisations": "Organisation",
    "ValidationErrors": "ValidationError",
    "Elements": "DataContractBase",
    "Addresses": "Address",
    "Phones": "Phone",
}


def to_xml(body: dict[str, Any], root: str = "Response") -> str:
    parts = ['<?xml version="1.0" encoding="utf-8"?>', f"<{root}>"]
    for key, value in body.items():
        parts.append(_xml_value(key, value))
    parts.append(f"</{root}>")
    return "".join(parts)


def _xml_value(key: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return f"<{key}>" + "".join(_xml_value(k, v) for k, v in value.items()) + f"</{key}>"
    if isinstance(value, list):
        child = _SINGULAR.get(key, key[:-1] if key.endswith("s") else key)
        return f"<{key}>" + "".join(_xml_value(child, v) for v in value) + f"</{key}>"
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{key}>{escape(str(value))}</{key}>"


def api_response(request: Request, status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """An accounting answer in JSON or XML as the client asked; plain text stays plain text."""
    if isinstance(body, str):
        return Response(body, status=status, headers=headers or {}, content_type="text/plain; charset=utf-8")
    if wants_json(request):
        return json_response(body, status, headers)
    root = "ApiException" if status == 400 and "ErrorNumber" in body else "Response"
    return Response(
        to_xml(body, root), status=status, headers=headers or {}, content_type="text/xml; charset=utf-8"
    )
