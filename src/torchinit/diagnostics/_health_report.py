"""What the health check found: its findings and the statistics of each tensor checked.

:func:`torchinit.diagnostics._health.health_check` fills a :class:`HealthReport`; the tables
(:mod:`._render`) and plots (:mod:`._plot`) read it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ._promises import Promise

__all__ = ["HealthFinding", "HealthReport", "Severity", "TensorHealth"]

Severity = Literal["error", "warning"]


@dataclass
class HealthFinding:
    """One problem: ``kind`` is ``'nonfinite'``, ``'std'``, ``'mean'``, ``'range'``, ``'constant'``,
    ``'zero'``, ``'structure'`` (what a promise says beyond its numbers: an orthogonal matrix,
    a zero padding row, exact values), ``'tie'`` or ``'repeated'`` (a sharded tensor whose ranks
    hold different parts but the same numbers); ``name`` the tensor (or tied names joined by
    ``' = '``)."""

    severity: Severity
    kind: str
    name: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.name}: {self.message}"


@dataclass
class TensorHealth:
    """The measured statistics of one parameter (or a buffer a rule set) and, where its rule
    makes one, the promise."""

    name: str
    shape: tuple[int, ...]
    source: str
    rule: str | None
    mean: float
    std: float
    expected: Promise | None = None
    ok: bool = True
    buffer: bool = False


@dataclass
class HealthReport:
    """What :func:`health_check` found. ``ok`` is False when any finding is an error."""

    tensors: list[TensorHealth] = field(default_factory=list)
    findings: list[HealthFinding] = field(default_factory=list)
    ties: list[tuple[str, ...]] = field(default_factory=list)
    skipped: int = 0

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    @property
    def errors(self) -> list[HealthFinding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[HealthFinding]:
        return [f for f in self.findings if f.severity == "warning"]

    def summary(self) -> str:
        """One line: what was checked and how many problems."""
        checked = sum(t.expected is not None for t in self.tensors)
        buffers = sum(t.buffer for t in self.tensors)
        text = f"{len(self.tensors) - buffers} parameters"
        if buffers:
            text += f" and {buffers} buffer{'s' if buffers != 1 else ''} set by rules"
        text += f", {checked} checked against their rule's promise"
        if self.ties:
            text += f", {len(self.ties)} tied group{'s' if len(self.ties) != 1 else ''}"
        if self.skipped:
            text += f", {self.skipped} on the meta device not checked"
        problems = (
            f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)"
            if self.findings
            else "no problems"
        )
        return f"{text}: {problems}"

    def by_rule(self) -> list[tuple[str, int, float | None, float | None]]:
        """Per promising rule: ``(rule, tensors, min, max)`` of measured std / promised std
        (None for constant and exact promises, where equality is checked)."""
        groups: dict[str, list[TensorHealth]] = {}
        for t in self.tensors:
            if t.expected is not None:
                key = t.rule or "?"
                if t.expected.constant or t.expected.exact:
                    key += f" ({t.expected.text})"
                groups.setdefault(key, []).append(t)
        rows = []
        for rule, items in groups.items():
            ratios = [
                t.std / t.expected.std
                for t in items
                if t.expected and not t.expected.constant and t.expected.std > 0 and math.prod(t.shape) > 1
            ]
            rows.append((rule, len(items), min(ratios) if ratios else None, max(ratios) if ratios else None))
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "summary": self.summary(),
            "findings": [asdict(f) for f in self.findings],
            "ties": [list(t) for t in self.ties],
            "tensors": [_tensor_dict(t) for t in self.tensors],
        }


def _tensor_dict(t: TensorHealth) -> dict[str, Any]:
    """``t`` as plain data (a promise's check function is not data)."""
    data = asdict(t)
    if data["expected"] is not None:
        data["expected"].pop("check", None)
    return data
