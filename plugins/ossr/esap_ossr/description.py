"""Zenodo's HTML descriptions as bounded plain text: markup, scripts and styles are never kept."""

from __future__ import annotations

import re
from html.parser import HTMLParser

MAX_DESCRIPTION = 20_000  # characters of text kept
ELLIPSIS = " …"

# Elements whose content is code or machinery, not prose.
_HIDDEN = {"script", "style", "template", "noscript", "iframe", "object", "embed", "svg", "math", "head"}
_BLOCKS = {"p", "div", "br", "li", "ul", "ol", "dl", "dt", "dd", "tr", "table", "blockquote", "pre", "hr"}
_BLOCKS |= {"section", "article", "h1", "h2", "h3", "h4", "h5", "h6"}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.length = 0
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(self._hidden - 1, 0)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)
            self.length += len(data)


def description_text(html: str, limit: int = MAX_DESCRIPTION) -> str:
    """The text of ``html``: paragraphs kept as blank lines, at most ``limit`` characters."""
    collector = _TextCollector()
    # Fed in slices so that a huge description stops being parsed once enough text was read.
    for start in range(0, len(html), 16_384):
        collector.feed(html[start : start + 16_384])
        if collector.length > 2 * limit:
            break
    collector.close()
    return bound(_tidy("".join(collector.parts)), limit)


def plain_text(text: str, limit: int) -> str:
    """A plain-text value (no HTML meaning is given to it) tidied and bounded."""
    return bound(_tidy(text), limit)


def bound(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def _tidy(text: str) -> str:
    text = _CONTROL.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
