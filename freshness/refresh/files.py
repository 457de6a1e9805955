"""Turning a file or a folder of .md, .txt and .html files into snapshot documents."""

from __future__ import annotations

import re
from pathlib import Path

from bs4 import BeautifulSoup, NavigableString, PageElement, Tag
from bs4.element import PreformattedString

from freshness.errors import InvalidInput
from freshness.refresh.roots import SETTING as ROOTS_SETTING
from freshness.refresh.roots import FileRoots

SUFFIXES = {".md", ".markdown", ".txt", ".html", ".htm"}
_HEADING = re.compile(r"^#\s+(.+)$", re.MULTILINE)


# Elements that start and end a line of text. Everything else (b, a, span, code, unknown tags)
# is inline and stays on its line: a chunk or a BM25 phrase must not be cut at `<b>`.
_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "body", "br", "caption", "center", "dd", "details",
    "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3",
    "h4", "h5", "h6", "header", "hgroup", "hr", "html", "legend", "li", "main", "menu", "nav", "ol", "p",
    "section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul",
})
_CELLS = frozenset({"td", "th"})
# The title is returned on its own; the head holds nothing a reader sees.
_HIDDEN = frozenset({"head", "title", "script", "style", "noscript", "template"})
_CELL_GAP = " | "


class _Lines:
    """Text gathered line by line: whitespace inside a line collapses, empty lines vanish."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._pieces: list[str] = []

    def add(self, text: str) -> None:
        self._pieces.append(text)

    def open_cell(self) -> None:
        # Cells of one row share a line, so a row reads as one fact: `Aero 2 | 129 EUR | in stock`.
        if "".join(self._pieces).strip():
            self._pieces.append(_CELL_GAP)

    def end_line(self) -> None:
        line = " ".join("".join(self._pieces).split())
        if line:
            self.lines.append(line)
        self._pieces = []

    def add_preformatted(self, text: str) -> None:
        """A <pre> block keeps its own line breaks and indentation."""
        self.end_line()
        # HTML ignores one newline right after <pre>; the rest is the author's layout.
        kept = [line.rstrip() for line in text.removeprefix("\n").splitlines()]
        while kept and not kept[0]:
            kept.pop(0)
        while kept and not kept[-1]:
            kept.pop()
        self.lines.extend(kept)


def _gather(root: Tag, lines: _Lines) -> None:
    # An explicit stack rather than recursion: a page nested thousands of levels deep is still read.
    stack: list[tuple[PageElement, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        if isinstance(node, Tag):
            if node.name in _BLOCKS:
                lines.end_line()
            if leaving or node.name in _HIDDEN:
                continue
            if node.name == "pre":
                lines.add_preformatted(node.get_text())
                continue
            if node.name in _CELLS:
                lines.open_cell()
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(node.contents))
        elif isinstance(node, NavigableString) and not isinstance(node, PreformattedString):
            # Comments, CDATA, doctypes and processing instructions are strings too, but nobody sees them.
            lines.add(str(node))


def html_to_text(html: str) -> tuple[str, str | None]:
    """The text a reader sees on an HTML page, a line per block element, and the page's <title>.

    Inline elements stay within their line; table cells of a row share one line; <pre> keeps its
    layout; scripts, styles, templates and the head are left out; entities are decoded."""
    soup = BeautifulSoup(html, "html.parser")
    lines = _Lines()
    _gather(soup, lines)
    lines.end_line()
    title = " ".join(soup.title.get_text().split()) if soup.title else None
    return "\n".join(lines.lines), title or None


def text_and_title(raw: str, html: bool) -> tuple[str, str | None]:
    """The text a reader sees and the document's own title: an HTML page's <title>, else the first
    Markdown `# heading`. Plain text and Markdown are kept as they are."""
    if html:
        return html_to_text(raw)
    heading = _HEADING.search(raw)
    return raw, heading.group(1).strip() if heading else None


def read_document(path: Path, doc_id: str) -> dict:
    try:
        raw = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path} is not valid UTF-8 text (byte {exc.start})", field="path") from exc
    text, title = text_and_title(raw, html=path.suffix.lower() in (".html", ".htm"))
    return {"id": doc_id, "title": title or path.stem.replace("-", " ").replace("_", " "), "text": text}


def read_documents(root: Path, roots: FileRoots | None = None) -> list[dict]:
    """One file, or every supported file under a folder (ids are paths relative to the folder).

    With `roots` (a scheduled refresh), only what lies inside them is read, and messages name no
    path outside them; without (the operator's own command line), any path is read."""
    if roots is not None and not roots.contains(root):
        raise InvalidInput(f"the path is outside the folders opened by {ROOTS_SETTING}", field="uri")
    if root.is_file():
        if root.suffix.lower() not in SUFFIXES:
            raise InvalidInput(f"{root.name}: only {', '.join(sorted(SUFFIXES))} files are read", field="path")
        return [read_document(root, root.name)]
    if not root.is_dir():
        raise InvalidInput(f"{root} is neither a file nor a folder", field="path")
    files = roots.walk(root) if roots is not None else (p for p in sorted(root.rglob("*")) if p.is_file())
    documents = []
    for path in files:
        if path.suffix.lower() in SUFFIXES and not path.name.startswith("."):
            document = read_document(path, path.relative_to(root).as_posix())
            if document["text"].strip():
                documents.append(document)
    if not documents:
        raise InvalidInput(f"{root} holds no .md, .txt or .html files with text", field="path")
    return documents
