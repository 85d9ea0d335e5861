"""The README's "Differences from mmengine" rows, as checks that explain one default-mode difference.

A tensor where torchinit's default mode does not agree with mmengine passes only if one row
explains it *with evidence*: torchinit's report says what set the tensor, the model's structure
shows why mmengine did otherwise, and torchinit's values keep the law of what its report names.
Each row is named by the text of its first cell, which must still be in README.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _dists as D
from _compare import Mismatch
from _observe import MMEngineSide, TorchinitRun

__all__ = ["EXPLAINED", "ROWS", "Explained", "explain", "law_of_record", "readme_rows", "summary"]

README = Path(__file__).resolve().parent.parent / "README.md"


@dataclass(frozen=True)
class Explained:
    """One default-mode difference and the README row that accounts for it."""

    case: str
    mode: str
    name: str
    row: str
    why: str


#: Every difference explained in this session (the tests append; the session summary prints them).
EXPLAINED: list[Explained] = []


def summary(explained: list[Explained]) -> list[str]:
    """Lines for the session summary: per case, mode and row, every tensor and one explanation."""
    groups: dict[tuple[str, str, str], list[Explained]] = {}
    for e in explained:
        groups.setdefault((e.case, e.mode, e.row), []).append(e)
    lines = []
    for (case, mode, row), items in groups.items():
        lines.append(f"{case} [{mode}]: {len(items)} tensor(s) differ, README row '{row}':")
        lines.append("    " + ", ".join(e.name for e in items))
        lines.append(f"    e.g. {items[0].why}")
    return lines


def readme_rows() -> list[str]:
    """The first cells of the rows of README's "Differences from mmengine" table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Differences from mmengine", 1)[-1].split("\n## ", 1)[0]
    return [m.group(1).strip() for m in re.finditer(r"^\|([^|]+)\|", section, flags=re.M)]


def law_of_record(record: Any, shape: tuple[int, ...]) -> D.Dist | None:
    """The law a torchinit rule record promises for a tensor of ``shape`` (None: not a named fill)."""
    init = getattr(record, "init", None)
    if record.source not in ("rule", "default") or init is None:
        return None
    if record.role == "bias":
        return D.constant(float(record.value)) if record.value is not None else None
    kind = type(init).__name__
    if kind == "Constant":
        return D.constant(float(init.val))
    if kind == "Normal":
        return D.normal(float(init.mean), float(init.std))
    if kind == "TruncNormal":
        return D.truncated_normal(float(init.mean), float(init.std), float(init.a), float(init.b))
    if kind == "Uniform":
        return D.uniform(float(init.a), float(init.b))
    if kind == "Xavier":
        return D.xavier(shape, float(init.gain), init.distribution)
    if kind == "Kaiming":
        return D.kaiming(shape, float(init.a), init.mode, init.nonlinearity, init.distribution)
    if kind == "Caffe2Xavier":
        return D.kaiming(shape, 1.0, "fan_in", "leaky_relu", "uniform")
    return None


def _keeps_torchinit_law(name: str, run: TorchinitRun, record: Any) -> str | None:
    """None if torchinit's value keeps the law its report (or the fill observed in its run) names."""
    value = run.values[name]
    law = law_of_record(record, tuple(value.shape)) or run.laws.get(name)
    if law is None:
        return f"no law known for torchinit's {record.describe()}"
    return D.check_sample(value, law)


def _ancestors(path: str) -> list[str]:
    parts = path.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _inside_plain_container(name: str, mm: MMEngineSide, run: TorchinitRun, record: Any) -> str | None:
    owner = record.owner
    if record.source not in ("rule", "default", "user") or not owner:
        return None
    plain = [p for p in _ancestors(owner) if p in mm.plain]
    if not plain or (record.source == "default" and any("default" not in b for b in record.beaten)):
        return None  # a module's default rule never beats a rule, wherever the module sits
    problem = _keeps_torchinit_law(name, run, record) if record.source != "user" or name in run.laws else None
    if problem:
        return None
    return (f"{owner} ({mm.modules[owner].__name__}) sits in the plain {plain[-1]} "
            f"({mm.modules[plain[-1]].__name__}), where mmengine never calls init_weights; torchinit: "
            f"{record.describe()}")


def _convmodule_default_beaten(name: str, mm: MMEngineSide, run: TorchinitRun, record: Any) -> str | None:
    if record.source != "rule" or not any("default" in b for b in record.beaten):
        return None
    module = name.rsplit(".", 2)[0] if name.count(".") >= 2 else ""
    by_convmodule = mm.law_text.get(name, "").startswith(("kaiming_normal_", "constant_"))
    if module not in mm.conv_modules or not by_convmodule:
        return None
    problem = _keeps_torchinit_law(name, run, record)
    if problem:
        return None
    return (f"mmengine re-applied {mm.modules[module].__name__} {module}'s default ({mm.law_text[name]}); "
            f"torchinit keeps the rule: {record.describe()}")


#: README row (its first cell, as written there) -> the check that explains a difference by it.
ROWS: dict[str, Callable[[str, MMEngineSide, TorchinitRun, Any], str | None]] = {
    "BaseModules (and mmcv's ConvModule) inside plain `nn.Sequential`/`nn.ModuleList`": _inside_plain_container,
    "ConvModule's default (Kaiming / 1-0), torchinit's and mmcv's own": _convmodule_default_beaten,
}


def explain(case: str, mismatch: Mismatch, mm: MMEngineSide, run: TorchinitRun) -> Explained | None:
    """The README row that explains ``mismatch`` with evidence, or None."""
    report = run.report
    if report is None or mismatch.name not in report:
        return None
    record = report[mismatch.name]
    for row, check in ROWS.items():
        why = check(mismatch.name, mm, run, record)
        if why is not None:
            return Explained(case, run.mode, mismatch.name, row, why)
    return None
