"""Every Python block of README.md and docs/ runs as written and prints what the page shows.

The rules a page follows are in tests/_doc_blocks.py. All pages run in one fresh interpreter
(each page in its own namespace and empty folder); each block is one test here, named
``page:line``, so the run's summary counts them. Blocks marked ``<!-- not run: reason -->``
are skipped with their reason (they must still compile) and listed at the end of the run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _doc_blocks as docs  # noqa: E402

BLOCKS = [block for page in docs.doc_pages() for block in docs.page_blocks(page)]
MAX_NOT_RUN = len(BLOCKS) // 5  # "few": at most a fifth of the blocks (those that need timm, mmdet, ranks)


class _NotRunSummary:
    """Names the blocks marked not run, after pytest's own summary."""

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        skipped = [b for b in BLOCKS if b.not_run]
        terminalreporter.write_line(
            f"doc blocks: {len(BLOCKS)} in README.md and docs/, {len(BLOCKS) - len(skipped)} run, "
            f"{len(skipped)} marked not run" + "".join(f"\n  {b.name}: {b.not_run}" for b in skipped)
        )


@pytest.fixture(scope="session")
def page_results(request: pytest.FixtureRequest) -> dict[str, dict[str, Any]]:
    """Every page run once, in a fresh interpreter: block name -> its result."""
    request.config.pluginmanager.register(_NotRunSummary(), "torchinit-doc-blocks")
    pages = sorted({b.page for b in BLOCKS})
    proc = subprocess.run(
        [sys.executable, docs.__file__, *pages], capture_output=True, text=True, cwd=docs.ROOT, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return {r["name"]: r for page in results for r in page["results"]}


@pytest.mark.parametrize("block", BLOCKS, ids=[b.name for b in BLOCKS])
def test_doc_block_runs_and_prints_what_the_page_shows(
    block: docs.Block, page_results: dict[str, dict[str, Any]]
) -> None:
    if block.lang == "python":
        compile(block.code, block.name, "exec")
    else:
        for source, _ in docs.session_steps(block.code):
            compile(source + "\n", block.name, "single")
    if block.not_run:
        pytest.skip(f"doc block marked not run: {block.not_run}")
    problem = docs.mismatch(block, page_results[block.name])
    assert problem is None, problem


def test_few_blocks_are_marked_not_run_and_each_says_why() -> None:
    marked = [b for b in BLOCKS if b.not_run]
    assert len(marked) <= MAX_NOT_RUN, [b.name for b in marked]
    assert all(len(b.not_run or "") >= 8 for b in marked)


def test_the_output_rules_read_comments_under_prints_and_sessions() -> None:
    code = "x = 1\n# prose, not output\nprint(x)\n# 1\nprint(x,\n      x)\n# 1 1\n"
    assert docs.printed_lines(code) == ["1", "1 1"]
    assert docs.session_steps(">>> for i in (1, 2):\n...     print(i)\n1\n2\n>>> 3\n3\n") == [
        ("for i in (1, 2):\n    print(i)", ["1", "2"]),
        ("3", ["3"]),
    ]
    assert docs.matches(["a ... c"], "a b c\n") and not docs.matches(["a ... c"], "a b\nb c\n")
    assert docs.matches(["a", "...", "z"], "a\nb\nc\nz") and docs.matches(["a", "...", "z"], "a\nz")
    assert not docs.matches(["a c"], "a b c") and not docs.matches(["a"], "a\na")
