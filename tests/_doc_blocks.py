"""The Python blocks of README.md and docs/, run as a reader runs them.

Rules a page follows (tests/test_docs.py checks them on every page):

* A ```` ```python ```` block is code to paste. The blocks of a page run in order in one
  namespace, in a fresh interpreter and an empty working folder, so a page may start with a
  setup block (imports, a toy model, a checkpoint file) that the reader sees and later
  blocks use. Comment lines right under a ``print(...)`` are what it prints; everything the
  block writes to stdout or stderr (warnings as ``Category: message``, log records as
  Python's last-resort handler prints them) must be exactly those lines, in order (``...``
  stands for any text in a line; a line of just ``...`` for any lines).
* A ```` ```pycon ```` block is a session: each ``>>>`` statement (with its ``...`` lines)
  is followed by what it shows, as in a REPL; an exception shows as ``ClassName: message``.
* ``<!-- not run: reason -->`` on the line above the fence marks a block that cannot run here
  (a remote URL, a GPU, mmdet). It must still compile; the test counts and names it.

Run as a script (``python tests/_doc_blocks.py [--run REASON]... PAGE...``) it executes the pages and prints
one JSON list per page: for each block, what it printed (per statement for pycon) and the
traceback of an unexpected exception.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import re
import sys
import tempfile
import traceback
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```(\w*)\s*$")
NOT_RUN = re.compile(r"^<!--\s*not run:\s*(.+?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced Python block of a page."""

    page: str  # path relative to the repository root
    line: int  # 1-based line of the opening fence
    lang: str  # 'python' or 'pycon'
    code: str
    not_run: str | None  # the reason given by a ``<!-- not run: ... -->`` marker, if any

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line}"


def doc_pages(root: Path = ROOT) -> list[Path]:
    """README.md and every page under docs/, in reading order."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


# Blocks that cannot run here on pages whose authors have not marked them yet: (page, a line
# of the block) -> reason. Each is counted and named like a marked block; the page's own
# ``<!-- not run: ... -->`` marker is the way to go, and this table should stay empty.
UNMARKED_NOT_RUN: dict[tuple[str, str], str] = {}


def page_blocks(path: Path, root: Path = ROOT) -> list[Block]:
    """The python and pycon blocks of a page, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m or not m.group(1):
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        if m.group(1) in ("python", "pycon"):
            marker = NOT_RUN.match(lines[i - 1]) if i else None
            code = "\n".join(lines[i + 1 : end]) + "\n"
            rel = path.relative_to(root).as_posix()
            reason = marker.group(1) if marker else None
            for (page, line), why in UNMARKED_NOT_RUN.items():
                if reason is None and page == rel and any(line in text for text in lines[i + 1 : end]):
                    reason = f"{why} (not yet marked in the page)"
            blocks.append(Block(rel, i + 1, m.group(1), code, reason))
        i = end + 1
    return blocks


def printed_lines(code: str) -> list[str]:
    """What a python block says it prints: the comment lines right under each ``print(...)``."""
    lines = code.splitlines()
    shown: list[str] = []
    for node in ast.walk(ast.parse(code)):
        is_print = isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
        if is_print and isinstance(node.value.func, ast.Name) and node.value.func.id == "print":
            j = node.end_lineno or node.lineno
            while j < len(lines) and lines[j].lstrip().startswith("#"):
                shown.append((node.lineno, lines[j].lstrip()[1:].removeprefix(" ")))
                j += 1
    return [text for _, text in sorted(shown, key=lambda item: item[0])]


def session_steps(code: str) -> list[tuple[str, list[str]]]:
    """A pycon block as (statement, the lines it shows) pairs."""
    steps: list[tuple[str, list[str]]] = []
    for line in code.splitlines():
        if line.startswith(">>> "):
            steps.append((line[4:], []))
        elif (line.startswith("... ") or line == "...") and steps and not steps[-1][1]:
            steps[-1] = (steps[-1][0] + "\n" + line[4:], [])
        elif steps:
            steps[-1][1].append(line)
    return [(source, [s for s in shown if s.strip()]) for source, shown in steps]


def matches(expected: list[str], actual: str) -> bool:
    """``actual`` is the expected lines: ``...`` in a line stands for any text in that line, and
    a line that is just ``...`` for any number of lines (line ends stripped)."""
    got = "\n".join(line.rstrip() for line in actual.splitlines()).strip("\n")
    parts = []
    for line in "\n".join(line.rstrip() for line in expected).strip("\n").split("\n"):
        parts.append("(?:.*\n)*?.*" if line == "..." else "[^\n]*?".join(map(re.escape, line.split("..."))))
    pattern = "\n".join(parts).replace("\n(?:.*\n)*?.*\n", "\n(?:.*\n)*?")
    return re.fullmatch(pattern, got) is not None


def mismatch(block: Block, result: dict[str, Any]) -> str | None:
    """Why a block's run result breaks the page's rules (it raised, or printed other lines
    than the page shows), or None when it keeps them."""
    if result["error"] is not None:
        return f"{block.name} raised:\n{result['error']}"
    if block.lang == "python":
        expected = printed_lines(block.code)
        if not matches(expected, result["output"]):
            return f"{block.name} printed:\n{result['output']}\nthe page shows:\n" + "\n".join(expected)
        return None
    for (source, shown), output in zip(session_steps(block.code), result["steps"], strict=True):
        if not matches(shown, output):
            return f"{block.name}: >>> {source}\nshowed:\n{output}\nthe page shows:\n" + "\n".join(shown)
    return None


# ------------------------------------------------------------------ running (in a fresh interpreter)
def _show_warning(message: Any, category: type[Warning], *_: Any, **__: Any) -> None:
    print(f"{category.__name__}: {message}", file=sys.stderr)


def _run_source(source: str, namespace: dict[str, Any], filename: str, mode: str) -> str:
    """Run ``source``; what it wrote to stdout and stderr together."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out), warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = _show_warning
        exec(compile(source, filename, mode), namespace)  # noqa: S102 - the documentation's own code
    return out.getvalue()


def run_page(blocks: list[Block]) -> list[dict[str, Any]]:
    """Run a page's runnable blocks in order in one namespace; one result per block."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    results: list[dict[str, Any]] = []
    for block in blocks:
        result: dict[str, Any] = {"name": block.name, "output": None, "steps": None, "error": None}
        if block.not_run is None:
            try:
                if block.lang == "python":
                    result["output"] = _run_source(block.code, namespace, block.name, "exec")
                else:
                    result["steps"] = [_run_step(src, namespace, block.name) for src, _ in session_steps(block.code)]
            except BaseException as exc:  # noqa: BLE001 - reported to the test, which fails on it
                tb = exc.__traceback__
                while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
                    tb = tb.tb_next  # the reader's code first, not this runner's frames
                result["error"] = "".join(traceback.format_exception(type(exc), exc, tb))
        results.append(result)
    return results


def _run_step(source: str, namespace: dict[str, Any], filename: str) -> str:
    try:
        return _run_source(source + "\n", namespace, filename, "single")
    except Exception as exc:  # noqa: BLE001 - a session shows the exception as its output
        return f"{type(exc).__name__}: {exc.args[0] if isinstance(exc, KeyError) and exc.args else exc}"


def main(argv: list[str]) -> int:
    """Run each page named in ``argv`` in its own empty folder; print one JSON list per page.

    ``--run REASON`` (repeatable, before the pages) also runs the blocks marked not run for
    that reason (``--run 'needs timm'`` where timm is installed)."""
    import os

    run_marked: set[str] = set()
    while argv[:1] == ["--run"]:
        run_marked.add(argv[1])
        argv = argv[2:]
    for page in argv:
        blocks = [replace(b, not_run=None) if b.not_run in run_marked else b for b in page_blocks(ROOT / page)]
        with tempfile.TemporaryDirectory(prefix="doc-page-") as work:
            os.chdir(work)
            os.environ["TORCHINIT_HOME"] = str(Path(work) / "torchinit-home")
            sys.path.insert(0, str(ROOT))  # examples/ is importable, as from a checkout
            results = run_page(blocks)
            sys.path.remove(str(ROOT))
        print(json.dumps({"page": page, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
