"""Turning a file or a folder of .md, .txt and .html files into snapshot documents."""

from __future__ import annotations

import re
from pathlib import Path

from bs4 import BeautifulSoup

from freshness.errors import InvalidInput
from freshness.refresh.roots import SETTING as ROOTS_SETTING
from freshness.refresh.roots import FileRoots

SUFFIXES = {".md", ".markdown", ".txt", ".html", ".htm"}
_HEADING = re.compile(r"^#\s+(.+)$", re.MULTILINE)


def html_to_text(html: str) -> tuple[str, str | None]:
    """Visible text of an HTML page (scripts and styles dropped) and its <title>."""
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    title = soup.title.get_text(strip=True) if soup.title else None
    lines = (line.strip() for line in soup.get_text("\n").splitlines())
    return "\n".join(line for line in lines if line), title or None


def read_document(path: Path, doc_id: str) -> dict:
    try:
        raw = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path} is not valid UTF-8 text (byte {exc.start})", field="path") from exc
    if path.suffix.lower() in (".html", ".htm"):
        text, title = html_to_text(raw)
    else:
        text = raw
        heading = _HEADING.search(raw)
        title = heading.group(1).strip() if heading else None
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
