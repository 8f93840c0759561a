"""A tiny text browser for the two web pages in Recon's story: Xero's consent page and Recon's callback.

Follows redirects one hop at a time so the console can say where the browser went, turns a
page into readable lines with numbered links, checkboxes and buttons, and submits forms. It
only visits 127.0.0.1 — anything else (go.xero.com, slack://) is reported, not fetched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import requests

MAX_REDIRECTS = 10
TIMEOUT_S = 15.0


@dataclass
class Control:
    """Something on a page you can act on: a link, a checkbox, a form's submit button."""

    kind: str  # "link" | "checkbox" | "submit"
    label: str
    href: str | None = None
    form: int | None = None  # index into Page.forms
    name: str | None = None
    value: str | None = None
    checked: bool = False


@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)  # hidden inputs and selects


@dataclass
class Hop:
    method: str
    url: str
    status: int
    location: str | None = None


@dataclass
class Page:
    url: str
    status: int
    title: str
    lines: list[str]
    controls: list[Control]
    forms: list[Form]
    hops: list[Hop] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 400


class _PageParser(HTMLParser):
    """HTML → lines of text and the controls in document order. Forgiving, like a browser."""

    BLOCK_TAGS = {"p", "h1", "h2", "h3", "li", "div", "br", "form", "ul", "main", "footer", "label"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.lines: list[str] = []
        self.controls: list[Control] = []
        self.forms: list[Form] = []
        self._text: list[str] = []
        self._skip = 0
        self._in_title = False
        self._link: Control | None = None
        self._button: Control | None = None
        self._select: tuple[str, list[tuple[str, str, bool]]] | None = None
        self._option: tuple[str, bool] | None = None
        self._prefix = ""

    # ---------------------------------------------------------------- helpers
    def _flush(self) -> None:
        text = " ".join("".join(self._text).split())
        if text:
            self.lines.append(self._prefix + text)
        self._text = []
        self._prefix = ""

    def _form_index(self) -> int | None:
        return len(self.forms) - 1 if self.forms else None

    # ---------------------------------------------------------------- events
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag in ("style", "script"):
            self._skip += 1
            return
        if tag == "title":
            self._in_title = True
            return
        if tag in self.BLOCK_TAGS:
            self._flush()
            if tag == "li":
                self._prefix = "  • "
            if tag == "h1":
                self._prefix = "# "
        if tag == "form":
            self.forms.append(Form(action=a.get("action", ""), method=(a.get("method") or "get").lower()))
        elif tag == "a" and a.get("href"):
            self._link = Control("link", "", href=a["href"])
        elif tag == "input":
            self._input(a)
        elif tag == "button":
            self._button = Control(
                "submit", "", form=self._form_index(), name=a.get("name"), value=a.get("value", "")
            )
        elif tag == "select":
            self._select = (a.get("name", ""), [])
        elif tag == "option" and self._select is not None:
            self._option = (a.get("value", ""), "selected" in a)

    def _input(self, a: dict[str, str]) -> None:
        kind = a.get("type", "text").lower()
        form = self._form_index()
        if kind == "hidden" and form is not None:
            self.forms[form].fields.append((a.get("name", ""), a.get("value", "")))
        elif kind == "checkbox":
            control = Control(
                "checkbox",
                "",
                form=form,
                name=a.get("name"),
                value=a.get("value", "on"),
                checked="checked" in a,
            )
            self.controls.append(control)
            self._text.append(f"\x00{len(self.controls) - 1}\x00 ")
        elif kind == "submit":
            control = Control(
                "submit", a.get("value", "Submit"), form=form, name=a.get("name"), value=a.get("value")
            )
            self.controls.append(control)
            self._text.append(f" \x00{len(self.controls) - 1}\x00 ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._skip = max(0, self._skip - 1)
            return
        if tag == "title":
            self._in_title = False
            return
        if tag == "a" and self._link is not None:
            self.controls.append(self._link)
            self._text.append(f"\x00{len(self.controls) - 1}\x00")
            self._link = None
        elif tag == "button" and self._button is not None:
            self.controls.append(self._button)
            self._text.append(f" \x00{len(self.controls) - 1}\x00 ")
            self._button = None
        elif tag == "option" and self._select is not None and self._option is not None:
            self._option = None
        elif tag == "select" and self._select is not None:
            name, options = self._select
            chosen = next((o for o in options if o[2]), options[0] if options else None)
            if chosen is not None:
                form = self._form_index()
                if form is not None:
                    self.forms[form].fields.append((name, chosen[0]))
                self._text.append(chosen[1])
            self._select = None
        if tag in self.BLOCK_TAGS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._in_title:
            self.title += data
            return
        if self._link is not None:
            self._link.label += data
        elif self._button is not None:
            self._button.label += data
        elif self._select is not None and self._option is not None:
            value, selected = self._option
            self._select[1].append((value, " ".join(data.split()), selected))
        else:
            self._text.append(data)

    def close(self) -> None:
        super().close()
        self._flush()
        for control in self.controls:
            control.label = " ".join(control.label.split())


def parse_page(url: str, status: int, html: str) -> Page:
    """Turn HTML into a :class:`Page`; control placeholders in ``lines`` are ``\\x00index\\x00``."""
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    return Page(
        url=url,
        status=status,
        title=" ".join(parser.title.split()),
        lines=parser.lines,
        controls=parser.controls,
        forms=parser.forms,
    )


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and parts.hostname in ("127.0.0.1", "localhost")


class Browser:
    """One person's browser: follows redirects itself and records the hops."""

    def __init__(self) -> None:
        self.session = requests.Session()

    def open(self, url: str) -> Page:
        return self._go("GET", url, None)

    def submit(self, page: Page, button: Control, checked: dict[int, bool]) -> Page:
        """Press a form's submit ``button``; ``checked`` maps checkbox control indexes to their state."""
        if button.form is None:
            raise ValueError("that button is not part of a form")
        form = page.forms[button.form]
        data = list(form.fields)
        for index, control in enumerate(page.controls):
            if (
                control.kind == "checkbox"
                and control.form == button.form
                and checked.get(index, control.checked)
            ):
                data.append((control.name or "", control.value or "on"))
        if button.name:
            data.append((button.name, button.value or ""))
        target = urljoin(page.url, form.action or page.url)
        if form.method == "post":
            return self._go("POST", target, data)
        query = "&".join(f"{requests.utils.quote(k)}={requests.utils.quote(v)}" for k, v in data)
        return self._go("GET", f"{target}?{query}", None)

    def _go(self, method: str, url: str, data: list[tuple[str, str]] | None) -> Page:
        hops: list[Hop] = []
        for _ in range(MAX_REDIRECTS):
            if not is_local(url):
                raise ValueError(f"the browser only visits the demo's own servers, not {url}")
            response = self.session.request(method, url, data=data, allow_redirects=False, timeout=TIMEOUT_S)
            location = response.headers.get("Location")
            hops.append(Hop(method, url, response.status_code, location))
            if response.is_redirect and location:
                url = urljoin(url, location)
                method, data = "GET", None
                if not is_local(url):
                    line = f"The browser was sent on to {url}, outside the demo."
                    return Page(url, response.status_code, "Left the demo", [line], [], [], hops)
                continue
            page = parse_page(url, response.status_code, response.text)
            page.hops = hops
            return page
        raise ValueError("too many redirects")
