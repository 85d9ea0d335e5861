"""pytest plugin for tools/upstream_tests.py: expectations in, one JSON line per test out.

Reads ``$UPSTREAM_EXPECT`` (a JSON file: ``{"deselect": {nodeid: reason}, "xfail": {nodeid:
reason}}``), deselects the first kind, marks the second ``xfail(strict=True)`` (so an expected
failure that passes fails the run), and appends ``{"nodeid", "outcome", "message"}`` for each
test to ``$UPSTREAM_RESULTS``, and a last ``{"outcome": "finished"}`` when the session ends
(its absence tells that pytest died on the way).
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest


def _expectations() -> dict[str, dict[str, str]]:
    with open(os.environ["UPSTREAM_EXPECT"], encoding="utf-8") as f:
        return json.load(f)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    expect = _expectations()
    kept, dropped = [], []
    for item in items:
        if item.nodeid in expect["deselect"]:
            dropped.append(item)
            continue
        reason = expect["xfail"].get(item.nodeid)
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
        kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def _message(report: pytest.TestReport) -> str:
    """The failure's one-line message (kept for xfailed tests too: the runner checks it)."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return " ".join(str(crash.message).split())[:400]
    return " ".join(str(report.longrepr or "").split())[:400]


def _write(record: dict[str, Any]) -> None:
    with open(os.environ["UPSTREAM_RESULTS"], "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """One record per test: passed, failed, xfailed (with the failure's message), xpassed, skipped, error."""
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        if hasattr(report, "wasxfail") and report.skipped:
            outcome = "xfailed"
        elif report.failed and str(report.longrepr).startswith("[XPASS(strict)]"):
            outcome = "xpassed"
        elif report.when == "setup" and report.failed:
            outcome = "error"
        else:
            outcome = report.outcome
        _write({"nodeid": report.nodeid, "outcome": outcome, "message": _message(report)})
    elif report.when == "teardown" and report.failed:
        _write({"nodeid": report.nodeid, "outcome": "error", "message": _message(report)})


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _write({"nodeid": report.nodeid, "outcome": "error", "message": _message(report)})


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _write({"nodeid": "", "outcome": "finished", "message": str(exitstatus)})
