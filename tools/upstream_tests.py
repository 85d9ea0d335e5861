#!/usr/bin/env python3
"""Run mmengine's and mmcv's own weight-init, BaseModule and bricks tests against torchinit.

    python tools/upstream_tests.py --mmengine PATH --mmcv PATH [--suite NAME ...]

PATH is a snapshot of the repository: a git directory (bare or not) or a checkout. The test
files of each suite (``tools/upstream_suites.py``) are extracted at the suite's tag with
``git archive`` into a temporary folder (never into this repository) and run by pytest with
``tools/upstream_shim`` on ``sys.path``: fake ``mmengine`` / ``mmcv`` packages whose modules
re-export torchinit's names. Each suite runs twice: as published, with the tests that differ
on purpose marked expected-to-fail (strict: one that passes fails the run, and its failure
message must match the documented reason); then, for tests where single assertions differ
on purpose, a copy with just those assertions rewritten, which must pass.

The first run creates ``.venv-upstream`` (torch pinned by constraints-dev.txt, pytest, scipy,
torchinit editable); later runs reuse it. Exit status: 0 when every test passed or failed as
expected, 1 otherwise, 2 for a usage error (a path that is no snapshot, a ref it lacks).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from upstream_suites import SUITES, Suite

ROOT = Path(__file__).resolve().parent.parent
SHIM = Path(__file__).resolve().parent / "upstream_shim"
PACKAGES = ("pytest", "scipy", "numpy")  # what the upstream tests import besides torch
TIMEOUT_S = 600  # per pytest run


class UsageError(Exception):
    """A snapshot path or ref that cannot be used; exit status 2."""


# --------------------------------------------------------------------------- environment
def ensure_venv(venv: Path) -> Path:
    """Create or update ``venv`` when its inputs changed; return its python."""
    python = venv / "bin" / "python"
    inputs = [ROOT / "constraints-dev.txt", ROOT / "pyproject.toml"]
    digest = hashlib.sha256(
        b"".join(p.read_bytes() for p in inputs) + " ".join(PACKAGES).encode()
    ).hexdigest()
    stamp = venv / ".installed"
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python
    print(f"setting up {venv} (once) ...", flush=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c", str(inputs[0])]
    steps = [[sys.executable, "-m", "venv", str(venv)]] if not python.exists() else []
    steps += [[*pip, "torch==2.13.0"], [*pip, *PACKAGES], [*pip, "-e", str(ROOT)]]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode:
            raise UsageError(f"{' '.join(step)} failed:\n{done.stdout}{done.stderr}")
    stamp.write_text(digest)
    return python


# --------------------------------------------------------------------------- extraction
def _is_git(path: Path) -> bool:
    done = subprocess.run(["git", "-C", str(path), "rev-parse", "--git-dir"], capture_output=True)
    return done.returncode == 0


def extract(snapshot: Path, ref: str, files: tuple[str, ...], dest: Path) -> None:
    """Write ``files`` as they are at ``ref`` in ``snapshot`` under ``dest``."""
    if not snapshot.exists():
        raise UsageError(f"{snapshot} does not exist; pass the path of a git snapshot or a checkout.")
    if not _is_git(snapshot):  # a plain checkout: trust that it is at ``ref``
        for name in files:
            if not (snapshot / name).is_file():
                raise UsageError(f"{snapshot} has no {name}; is it a checkout of {ref}?")
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(snapshot / name, dest / name)
        return
    git = ["git", "-C", str(snapshot)]
    if subprocess.run(
        [*git, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}"], capture_output=True
    ).returncode:
        raise UsageError(f"{snapshot} has no ref {ref!r}; fetch its tags, or pass another snapshot.")
    done = subprocess.run([*git, "archive", "--format=tar", ref, "--", *files], capture_output=True)
    if done.returncode:
        raise UsageError(f"git archive {ref} in {snapshot} failed: {done.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        archive.extractall(dest, filter="data")


def adapt(folder: Path, suite: Suite) -> list[str]:
    """Rewrite the adapted assertions in place; return the node ids of the adapted tests."""
    by_file: dict[str, list[tuple[str, str, int]]] = {}
    for nodeid, adaptations in suite.adaptations.items():
        for a in adaptations:
            by_file.setdefault(nodeid.split("::")[0], []).append((a.old, a.new, a.count))
    for name, edits in by_file.items():
        path = folder / name
        text = path.read_text(encoding="utf-8")
        for old, new, count in edits:
            found = text.count(old)
            if found != count:
                raise UsageError(
                    f"{suite.name}: expected {count} occurrence(s) of an adapted assertion in {name}, "
                    f"found {found}:\n{old}\nUpdate tools/upstream_suites.py for this ref."
                )
            text = text.replace(old, new)
        path.write_text(text, encoding="utf-8")
    return sorted(suite.adaptations)


# --------------------------------------------------------------------------- running
def run_pytest(
    python: Path, folder: Path, targets: list[str], expect: dict[str, dict[str, str]]
) -> list[dict]:
    """Run pytest on ``targets`` in ``folder`` through the shim; return one record per test."""
    (folder / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    (folder / "expect.json").write_text(json.dumps(expect))
    results = folder / "results.jsonl"
    results.unlink(missing_ok=True)
    env = dict(os.environ, PYTHONPATH=str(SHIM), UPSTREAM_EXPECT=str(folder / "expect.json"))
    env["UPSTREAM_RESULTS"] = str(results)
    command = [
        str(python),
        "-m",
        "pytest",
        "-q",
        "-p",
        "upstream_pytest_plugin",
        "-c",
        "pytest.ini",
        *targets,
    ]
    try:
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
        tail = done.stdout[-400:] + done.stderr[-400:]
    except subprocess.TimeoutExpired:
        tail = f"pytest ran past {TIMEOUT_S} s"
    records = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
    if not any(r["outcome"] == "finished" for r in records):  # pytest died (or timed out) mid-run
        seen = {r["nodeid"] for r in records}
        records += [{"nodeid": t, "outcome": "error", "message": tail} for t in targets if t not in seen]
    return [r for r in records if r["outcome"] != "finished"]


def judge(suite: Suite, first: list[dict], second: list[dict]) -> list[tuple[str, str, str, bool]]:
    """``(nodeid, status, detail, ok)`` per test, from the published run and the adapted run."""
    rows: list[tuple[str, str, str, bool]] = []
    adapted = {r["nodeid"]: r for r in second}
    for r in first:
        nodeid, outcome, message = r["nodeid"], r["outcome"], r["message"]
        if nodeid in suite.adaptations:
            edits = suite.adaptations[nodeid]
            ok_first = outcome == "xfailed" and any(a.match in message for a in edits if a.match)
            later = adapted.get(nodeid, {"outcome": "missing", "message": "not run"})
            ok = ok_first and later["outcome"] == "passed"
            reasons = "; ".join(dict.fromkeys(a.reason for a in edits))
            detail = f"{sum(a.count for a in edits)} adapted assertion(s): {reasons}"
            if not ok_first:
                detail = f"published test: {outcome} ({message}), not the adapted difference"
            elif not ok:
                detail = f"adapted test {later['outcome']}: {later['message']}"
            rows.append((nodeid, "passed-adapted" if ok else "FAILED", detail, ok))
        elif nodeid in suite.expected:
            e = suite.expected[nodeid]
            ok = outcome == "xfailed" and e.match in message
            detail = e.reason if ok else f"expected to fail with {e.match!r}, got {outcome}: {message}"
            rows.append((nodeid, "expected-fail" if ok else "FAILED", detail, ok))
        else:
            ok = outcome in ("passed", "skipped")
            rows.append((nodeid, outcome if ok else "FAILED", "" if ok else message, ok))
    rows.extend((nodeid, "out-of-scope", reason, True) for nodeid, reason in suite.deselect.items())
    return sorted(rows)


def run_suite(suite: Suite, snapshot: Path, python: Path, workdir: Path) -> list[tuple[str, str, str, bool]]:
    published, adapted = workdir / suite.name / "published", workdir / suite.name / "adapted"
    for folder in (published, adapted):
        folder.mkdir(parents=True)
        extract(snapshot, suite.ref, suite.files, folder)
    adapted_ids = adapt(adapted, suite)
    xfail = {n: e.reason for n, e in suite.expected.items()}
    xfail.update({n: "adapted: see the adapted run" for n in adapted_ids})
    first = run_pytest(
        python, published, list(suite.files), {"deselect": dict(suite.deselect), "xfail": xfail}
    )
    second = run_pytest(python, adapted, adapted_ids, {"deselect": {}, "xfail": {}}) if adapted_ids else []
    return judge(suite, first, second)


def report(suite: Suite, rows: list[tuple[str, str, str, bool]], verbose: bool) -> None:
    print(f"\n{suite.name} ({suite.repo} {suite.ref})")
    for name, reason in suite.out_of_scope_files.items():
        print(f"  not run: {name} ({reason})")
    for name in suite.files:
        mine = [r for r in rows if r[0].split("::")[0] == name]
        counts = Counter(status for _, status, _, _ in mine)
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        print(f"  {name}: {summary or 'no tests'}")
        for nodeid, status, detail, ok in mine:
            if verbose or not ok or status in ("expected-fail", "out-of-scope", "passed-adapted"):
                test = nodeid.split("::", 1)[-1]
                print(f"    {status:15} {test}" + (f": {detail}" if detail else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mmengine", type=Path, help="snapshot of open-mmlab/mmengine (git dir or checkout)")
    parser.add_argument("--mmcv", type=Path, help="snapshot of open-mmlab/mmcv (git dir or checkout)")
    parser.add_argument("--suite", action="append", choices=sorted(SUITES), help="run only these suites")
    parser.add_argument(
        "--venv", type=Path, default=ROOT / ".venv-upstream", help="environment to create and use"
    )
    parser.add_argument("--python", type=Path, help="use this python as it is instead of the venv")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and print it")
    parser.add_argument("-v", "--verbose", action="store_true", help="list passing tests too")
    args = parser.parse_args(argv)
    snapshots = {"mmengine": args.mmengine, "mmcv": args.mmcv}
    chosen = [SUITES[n] for n in (args.suite or sorted(SUITES)) if snapshots[SUITES[n].repo] is not None]
    if not chosen:
        parser.error("pass --mmengine and/or --mmcv (the snapshot whose suites to run)")
    python = args.python or ensure_venv(args.venv)
    workdir = Path(tempfile.mkdtemp(prefix="torchinit-upstream-"))
    failed = 0
    try:
        for suite in chosen:
            rows = run_suite(suite, snapshots[suite.repo], python, workdir)
            report(suite, rows, args.verbose)
            failed += sum(not ok for *_, ok in rows)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.keep:
            print(f"\nkept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{failed} unexpected failure(s)" if failed else "\nevery test passed or failed as documented")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
