"""The doc blocks the main suite cannot run (marked ``needs timm`` / ``needs transformers``) run
here, where both are installed: each page in a fresh interpreter, in page order with the rest of
the page, printing what the page shows (the rules of tests/test_docs.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
import _doc_blocks as docs  # noqa: E402

NEEDS = ("needs timm", "needs transformers")
PAGES = [page for page in docs.doc_pages() if any(b.not_run in NEEDS for b in docs.page_blocks(page))]
# The page runner in a fresh interpreter, with the suite's torchvision shim (transformers imports it).
RUNNER = "import runpy, sys, ecosystem_shim; ecosystem_shim.install(); sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(docs.ROOT).as_posix() for p in PAGES])
def test_blocks_that_need_timm_or_transformers_run_and_print_what_the_page_shows(page: Path) -> None:
    blocks = docs.page_blocks(page)
    wanted = {b.name for b in blocks if b.not_run in NEEDS}
    argv = [a for reason in NEEDS for a in ("--run", reason)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, docs.__file__, *argv, page.relative_to(docs.ROOT).as_posix()],
        capture_output=True, text=True, cwd=docs.ROOT, env=env, timeout=600, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (line,) = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    results = {r["name"]: r for r in json.loads(line)["results"]}
    assert wanted and wanted <= {name for name, r in results.items() if r["output"] is not None or r["steps"]}
    for block in blocks:
        if block.not_run is not None and block.name not in wanted:
            continue
        problem = docs.mismatch(block, results[block.name])
        assert problem is None, problem
