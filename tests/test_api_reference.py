"""The API reference covers the public API, and every public name has a docstring to show.

The site itself is built by ``make docs`` (MkDocs, mkdocstrings) in its own environment; these
checks need none of it, so they run in ``make test``.
"""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
from pathlib import Path

import yaml

import torchinit

ROOT = Path(__file__).resolve().parent.parent
SRC = Path(torchinit.__file__).resolve().parent
API = ROOT / "docs" / "api"
DIRECTIVE = re.compile(r"^::: torchinit\.(\w+)\s*$", re.MULTILINE)

# Exported objects (not classes or functions) whose module gives no attribute docstring yet
# (a string right under the assignment, which the reference shows). The table may only shrink:
# a name here that has gained its docstring fails the test until it is removed.
AWAITING_DOCSTRINGS = {
    "ACTIVATION_LAYERS",
    "CONV_LAYERS",
    "INITIALIZERS",
    "MODELS",
    "NORM_LAYERS",
    "PADDING_LAYERS",
    "UPSAMPLE_LAYERS",
    "WEIGHT_INITIALIZERS",
}


def _attribute_docstrings() -> dict[str, str | None]:
    """Module-level ``NAME = ...`` in the package -> the string statement right under it, if any."""
    found: dict[str, str | None] = {}
    for path in SRC.rglob("*.py"):
        body = ast.parse(path.read_text(encoding="utf-8")).body
        for node, after in zip(body, [*body[1:], None], strict=True):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                if isinstance(target, ast.Name) and found.get(target.id) is None:
                    is_doc = isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    found[target.id] = after.value.value if is_doc and isinstance(after.value.value, str) else None
    return found


def _own_docstring(obj: object) -> str | None:
    """The docstring written for ``obj`` itself (a dataclass's generated signature does not count)."""
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    if not isinstance(doc, str) or (inspect.isclass(obj) and doc.startswith(f"{obj.__name__}(")):
        return None
    return doc.strip() or None


def _is_code(name: str) -> bool:
    """A class or function (documented by its ``__doc__``), not an object such as a registry."""
    value = getattr(torchinit, name)
    return inspect.isclass(value) or inspect.isroutine(value)


def test_every_public_class_and_function_has_its_own_docstring() -> None:
    missing = [name for name in torchinit.__all__ if _is_code(name) and _own_docstring(getattr(torchinit, name)) is None]
    assert not missing, f"exported without a docstring: {missing}"


def test_every_public_object_has_an_attribute_docstring_or_is_awaiting_one() -> None:
    objects = [name for name in torchinit.__all__ if not _is_code(name)]
    docs = _attribute_docstrings()
    missing = {name for name in objects if not docs.get(name)}
    assert missing <= AWAITING_DOCSTRINGS, f"exported without a docstring: {sorted(missing - AWAITING_DOCSTRINGS)}"
    assert AWAITING_DOCSTRINGS <= missing, f"documented now, drop from the list: {sorted(AWAITING_DOCSTRINGS - missing)}"


def test_the_api_reference_shows_every_public_name_exactly_once() -> None:
    shown = [name for page in sorted(API.glob("*.md")) for name in DIRECTIVE.findall(page.read_text())]
    assert sorted(shown) == sorted(torchinit.__all__), (
        f"not in docs/api: {sorted(set(torchinit.__all__) - set(shown))}; "
        f"not public: {sorted(set(shown) - set(torchinit.__all__))}; "
        f"twice: {sorted({n for n in shown if shown.count(n) > 1})}"
    )


def _nav_pages(nav: object) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [p for value in nav.values() for p in _nav_pages(value)]
    if isinstance(nav, list):
        return [p for item in nav for p in _nav_pages(item)]
    return []


def test_the_site_navigation_lists_every_committed_page_of_docs_once() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    nav = _nav_pages(config["nav"])
    pages = sorted(p.relative_to(ROOT / "docs").as_posix() for p in _committed(ROOT / "docs", "*.md"))
    assert set(nav) >= set(pages), f"not in mkdocs.yml's nav: {sorted(set(pages) - set(nav))}"
    assert all((ROOT / "docs" / page).is_file() for page in nav) and len(nav) == len(set(nav))


def _committed(folder: Path, pattern: str) -> list[Path]:
    """The files under ``folder`` that git tracks (all of them outside a checkout): a page being
    written is not yet the site's."""
    listed = subprocess.run(["git", "ls-files", "--", str(folder)], cwd=ROOT, capture_output=True, text=True)
    found = sorted(folder.rglob(pattern))
    if listed.returncode != 0:
        return found
    tracked = {ROOT / line for line in listed.stdout.splitlines()}
    return [p for p in found if p in tracked]
