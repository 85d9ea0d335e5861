"""Tests of tools/upstream_tests.py without any upstream snapshot: run with ``pytest tools/``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import upstream_tests as runner
from upstream_suites import SUITES, Adaptation, Expected, Suite

FILE = "tests/test_x.py"


def suite(**kwargs: object) -> Suite:
    return Suite(name="s", repo="r", ref="v1", files=(FILE,), out_of_scope_files={}, **kwargs)  # type: ignore[arg-type]


def record(test: str, outcome: str, message: str = "") -> dict[str, str]:
    return {"nodeid": f"{FILE}::{test}", "outcome": outcome, "message": message}


EDIT = Adaptation(old="a", new="b", match="DID NOT RAISE", reason="r", difference="d")


# --------------------------------------------------------------------------- judging
def test_a_plain_pass_is_ok_and_a_plain_failure_is_not() -> None:
    rows = runner.judge(suite(), [record("t1", "passed"), record("t2", "failed", "boom")], [])
    assert [(r[0].split("::")[1], r[1], r[3]) for r in rows] == [
        ("t1", "passed", True),
        ("t2", "FAILED", False),
    ]


def test_an_expected_failure_counts_only_when_it_fails_with_the_documented_message() -> None:
    s = suite(expected={f"{FILE}::t": Expected(reason="why", match="logged elsewhere", difference="row")})
    assert runner.judge(s, [record("t", "xfailed", "x: logged elsewhere")], [])[0][1:] == (
        "expected-fail",
        "why",
        True,
    )
    assert runner.judge(s, [record("t", "xfailed", "KeyError: other")], [])[0][3] is False
    assert runner.judge(s, [record("t", "xpassed")], [])[0][3] is False


def test_an_adapted_test_needs_the_published_failure_and_the_adapted_pass() -> None:
    s = suite(adaptations={f"{FILE}::t": (EDIT,)})
    published = [record("t", "xfailed", "Failed: DID NOT RAISE AssertionError")]
    assert runner.judge(s, published, [record("t", "passed")])[0][1] == "passed-adapted"
    assert runner.judge(s, published, [record("t", "failed", "later")])[0][3] is False
    assert runner.judge(s, published, [])[0][3] is False  # the adapted run is missing
    other = [record("t", "xfailed", "TypeError: unrelated")]
    assert runner.judge(s, other, [record("t", "passed")])[0][3] is False


def test_an_adaptation_without_a_match_never_explains_the_published_failure() -> None:
    s = suite(adaptations={f"{FILE}::t": (Adaptation("a", "b", "", "r", "d"),)})
    assert runner.judge(s, [record("t", "xfailed", "anything")], [record("t", "passed")])[0][3] is False


def test_deselected_tests_are_listed_as_out_of_scope() -> None:
    rows = runner.judge(suite(deselect={f"{FILE}::t": "not shipped"}), [], [])
    assert rows == [(f"{FILE}::t", "out-of-scope", "not shipped", True)]


# --------------------------------------------------------------------------- adapting
def test_adapt_rewrites_each_assertion_the_stated_number_of_times(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / FILE).write_text("a\na\nc\n")
    s = suite(adaptations={f"{FILE}::t": (Adaptation("a", "b", "m", "r", "d", count=2),)})
    assert runner.adapt(tmp_path, s) == [f"{FILE}::t"]
    assert (tmp_path / FILE).read_text() == "b\nb\nc\n"


def test_adapt_refuses_an_assertion_that_is_not_there_as_often_as_stated(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / FILE).write_text("a\na\n")
    with pytest.raises(runner.UsageError, match="expected 1 occurrence"):
        runner.adapt(tmp_path, suite(adaptations={f"{FILE}::t": (EDIT,)}))


# --------------------------------------------------------------------------- extracting
@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    (repo / FILE).write_text("version one\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    subprocess.run([*git, "tag", "v1"], check=True)
    (repo / FILE).write_text("version two\n")
    subprocess.run([*git, "commit", "-q", "-am", "two"], check=True)
    return repo


def test_extract_takes_the_file_at_the_ref_from_a_git_snapshot(snapshot: Path, tmp_path: Path) -> None:
    runner.extract(snapshot, "v1", (FILE,), tmp_path / "out")
    assert (tmp_path / "out" / FILE).read_text() == "version one\n"


def test_extract_reads_a_bare_git_directory(snapshot: Path, tmp_path: Path) -> None:
    runner.extract(snapshot / ".git", "v1", (FILE,), tmp_path / "out")
    assert (tmp_path / "out" / FILE).read_text() == "version one\n"


def test_extract_copies_from_a_plain_checkout(tmp_path: Path) -> None:
    (tmp_path / "plain" / "tests").mkdir(parents=True)
    (tmp_path / "plain" / FILE).write_text("plain\n")
    runner.extract(tmp_path / "plain", "v1", (FILE,), tmp_path / "out")
    assert (tmp_path / "out" / FILE).read_text() == "plain\n"


@pytest.mark.parametrize(("ref", "message"), [("v9", "has no ref 'v9'"), ("v1", "does not exist")])
def test_extract_says_what_is_wrong_with_the_snapshot(
    snapshot: Path, tmp_path: Path, ref: str, message: str
) -> None:
    where = snapshot if ref == "v9" else tmp_path / "missing"
    with pytest.raises(runner.UsageError, match=message):
        runner.extract(where, ref, (FILE,), tmp_path / "out")


# --------------------------------------------------------------------------- the pytest plugin
def test_the_plugin_records_each_outcome_with_its_message(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / FILE).write_text(
        "def test_pass():\n    pass\n"
        "def test_fail():\n    assert 1 == 2, 'plain failure'\n"
        "def test_expected():\n    raise KeyError('the documented difference')\n"
        "def test_xpass():\n    pass\n"
        "def test_gone():\n    raise SystemExit\n"
    )
    expect = {
        "deselect": {f"{FILE}::test_gone": "out of scope"},
        "xfail": {f"{FILE}::test_expected": "why", f"{FILE}::test_xpass": "why"},
    }
    records = runner.run_pytest(Path(sys.executable), tmp_path, [FILE], expect)
    outcomes = {r["nodeid"].split("::")[1]: (r["outcome"], r["message"]) for r in records}
    assert set(outcomes) == {"test_pass", "test_fail", "test_expected", "test_xpass"}
    assert outcomes["test_pass"] == ("passed", "")
    assert outcomes["test_fail"][0] == "failed" and "plain failure" in outcomes["test_fail"][1]
    assert (
        outcomes["test_expected"][0] == "xfailed"
        and "the documented difference" in outcomes["test_expected"][1]
    )
    assert outcomes["test_xpass"][0] == "xpassed"


# --------------------------------------------------------------------------- the suites
def test_every_expectation_can_be_checked() -> None:
    for s in SUITES.values():
        for nodeid, edits in s.adaptations.items():
            assert nodeid.split("::")[0] in s.files
            assert any(a.match for a in edits), f"{nodeid}: no adaptation says how the published test fails"
            assert all(a.old != a.new and a.reason and a.difference for a in edits)
        for nodeid, e in s.expected.items():
            assert nodeid.split("::")[0] in s.files and e.match and e.reason and e.difference
        assert not set(s.expected) & set(s.adaptations) and not set(s.deselect) & set(s.adaptations)
