"""MkDocs hook: the site's home page is README.md, with its links rewritten for docs/.

README.md links the guide as ``docs/init_cfg.md`` (right on GitHub, from the repository root);
on the site those pages sit next to the home page, so ``docs/`` is dropped from relative links.
docs/index.md only holds a pointer to README.md and is replaced by its text when built.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent.parent / "README.md"
_DOCS_LINK = re.compile(r"\]\(docs/")


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    """The README's text for the home page; every other page unchanged."""
    if page.file.src_uri != "index.md":
        return markdown
    return _DOCS_LINK.sub("](", README.read_text(encoding="utf-8"))


try:  # the docs environment has griffe; importing this file elsewhere needs only the hook above
    import griffe
except ImportError:  # pragma: no cover
    griffe = None  # type: ignore[assignment]

if griffe is not None:
    _EXAMPLE_HEADER = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)

    class ExampleSections(griffe.Extension):  # type: ignore[misc,name-defined]
        """Reads a Google-style ``Example:`` section as ``Examples:`` (as Sphinx's napoleon does),
        so its ``>>>`` lines render as code instead of text."""

        def on_instance(self, *, obj: Any, **_: Any) -> None:
            if obj.docstring is not None:
                obj.docstring.value = _EXAMPLE_HEADER.sub(r"\1Examples:", obj.docstring.value)
