"""A small, layout-independent reader for the HTML pages the IdP serves.

It finds forms (action, method, and every successful control with its value), links and the visible text,
using only html.parser. Attribute values and text come back with HTML entities unescaped, exactly as a browser
would submit or show them. Nothing here depends on CSS classes or page structure beyond standard HTML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

# Controls a browser never submits by themselves (a submit button is sent only when clicked).
_NOT_SUBMITTED_TYPES = {"submit", "button", "reset", "image", "file"}
_VOID_TEXT_TAGS = {"script", "style", "template"}


@dataclass
class Form:
    action: str
    method: str
    # (name, value) in document order; a name may repeat.
    inputs: list[tuple[str, str]] = field(default_factory=list)
    # Named submit buttons, which a browser adds when that button is clicked.
    buttons: list[tuple[str, str]] = field(default_factory=list)

    def names(self) -> list[str]:
        return [name for name, _ in self.inputs]

    def has(self, name: str) -> bool:
        return name in self.names()

    def value(self, name: str) -> str:
        """The single value of control `name`; an error if it is missing or repeated."""
        values = [v for n, v in self.inputs if n == name]
        if len(values) != 1:
            raise KeyError(f"form control {name!r} occurs {len(values)} times in form {self!r}")
        return values[0]

    def get(self, name: str) -> str | None:
        values = [v for n, v in self.inputs if n == name]
        return values[0] if values else None

    def submission(self, **overrides: str) -> list[tuple[str, str]]:
        """Every control as found, with the given names' values replaced (or added when absent)."""
        pending = dict(overrides)
        fields = []
        for name, value in self.inputs:
            if name in pending:
                fields.append((name, pending.pop(name)))
            else:
                fields.append((name, value))
        fields.extend(pending.items())
        if self.buttons:
            fields.append(self.buttons[0])
        return fields

    def target(self, page_url: str) -> str:
        """The absolute URL the form submits to (an empty action means the page itself)."""
        return urljoin(page_url, self.action) if self.action else page_url


@dataclass
class Page:
    forms: list[Form]
    links: list[str]
    title: str
    text: str

    def form_with(self, name: str) -> Form | None:
        """The only form holding a control called `name`, or None; an error if several do."""
        found = [f for f in self.forms if f.has(name)]
        if len(found) > 1:
            raise ValueError(f"{len(found)} forms hold a control named {name!r}")
        return found[0] if found else None


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.links: list[str] = []
        self.title_parts: list[str] = []
        self.text_parts: list[str] = []
        self._form: Form | None = None
        self._in_title = False
        self._skip_depth = 0
        self._textarea: tuple[str, list[str]] | None = None
        self._select: str | None = None
        self._select_options: list[tuple[str, bool]] = []
        self._option: tuple[str | None, bool, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag in _VOID_TEXT_TAGS:
            self._skip_depth += 1
        elif tag == "title":
            self._in_title = True
        elif tag == "a" and "href" in a:
            self.links.append(a["href"])
        elif tag == "form":
            self._form = Form(action=a.get("action", ""), method=a.get("method", "get").lower() or "get")
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input":
            self._input(a)
        elif tag == "button":
            if a.get("name") and a.get("type", "submit").lower() == "submit" and "disabled" not in a:
                self._form.buttons.append((a["name"], a.get("value", "")))
        elif tag == "textarea" and a.get("name") and "disabled" not in a:
            self._textarea = (a["name"], [])
        elif tag == "select" and a.get("name") and "disabled" not in a:
            self._select = a["name"]
            self._select_options = []
        elif tag == "option" and self._select is not None:
            self._option = (a.get("value"), "selected" in a, [])

    def _input(self, a: dict[str, str]) -> None:
        assert self._form is not None
        name = a.get("name")
        kind = a.get("type", "text").lower()
        if not name or "disabled" in a:
            return
        if kind in _NOT_SUBMITTED_TYPES:
            if kind == "submit":
                self._form.buttons.append((name, a.get("value", "")))
            return
        if kind in ("checkbox", "radio") and "checked" not in a:
            return
        default = "on" if kind in ("checkbox", "radio") else ""
        self._form.inputs.append((name, a.get("value", default)))

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID_TEXT_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag == "title":
            self._in_title = False
        elif tag == "form":
            self._form = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            name, parts = self._textarea
            self._form.inputs.append((name, "".join(parts)))
            self._textarea = None
        elif tag == "option":
            self._close_option()
        elif tag == "select" and self._select is not None and self._form is not None:
            self._close_option()
            chosen = [v for v, sel in self._select_options if sel] or [v for v, _ in self._select_options[:1]]
            self._form.inputs.extend((self._select, v) for v in chosen)
            self._select = None

    def _close_option(self) -> None:
        if self._option is not None:
            value, selected, parts = self._option
            self._select_options.append((value if value is not None else "".join(parts).strip(), selected))
            self._option = None

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._textarea is not None:
            self._textarea[1].append(data)
        if self._option is not None:
            self._option[2].append(data)
        if self._in_title:
            self.title_parts.append(data)
        self.text_parts.append(data)


def parse_page(html: str) -> Page:
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    text = " ".join(" ".join(parser.text_parts).split())
    return Page(forms=parser.forms, links=parser.links, title=" ".join("".join(parser.title_parts).split()), text=text)
