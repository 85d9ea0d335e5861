"""Provenance: for every parameter, who set it and with what.

The engine fills this in as it plans and applies; nothing here reads tensor values.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["InitReport", "ParamRecord", "RuleRecord"]

Source = Literal["rule", "default", "pretrained", "user", "reset", "none"]

SOURCE_TEXT = {
    "rule": "set by a rule",
    "default": "set by a module's default rule",
    "pretrained": "loaded from a checkpoint",
    "user": "set by a user-defined init_weights",
    "reset": "set by the module's reset_parameters() (materialize)",
    "none": "not changed by init_weights",
}


@dataclass
class ParamRecord:
    """What happened to one parameter or buffer.

    Attributes:
        name: qualified name in the model (``'backbone.conv1.weight'``).
        shape: its shape.
        source: ``'rule'``, ``'default'`` (a module's ``default_init_cfg``), ``'pretrained'``,
            ``'user'`` (a user-written ``init_weights``), ``'reset'`` (the module's
            ``reset_parameters()``, when materialized from the meta device) or ``'none'``.
        initializer: the initializer that set it (``'Kaiming(mode=fan_out)'``), the checkpoint,
            or the class whose ``init_weights`` did.
        owner: qualified name of the module whose ``init_cfg`` held the rule ('' is the root).
        role: ``'weight'``, ``'bias'`` (a bias gets the rule's constant) or ``'tensor'``.
        value: the constant a bias got.
        init: the initializer object that set it (None for checkpoints and user code); kept
            for tools such as the health check, not serialized.
        beaten: rules that also covered it and lost, in the order they were applied.
        is_buffer: a buffer (running statistics) rather than a parameter.
    """

    name: str
    shape: tuple[int, ...]
    source: Source = "none"
    initializer: str | None = None
    owner: str | None = None
    role: str = "tensor"
    beaten: list[str] = field(default_factory=list)
    is_buffer: bool = False
    value: float | None = None
    init: Any = field(default=None, repr=False, compare=False)

    def describe(self) -> str:
        if self.source == "none":
            return "not changed by init_weights"
        if self.source == "user":
            return f"initialized by the user-defined init_weights of {self.initializer}"
        if self.source == "reset":
            return f"{self.initializer} when materialized"
        where = "the root" if self.owner == "" else self.owner
        what = self.initializer or "?"
        if self.source == "pretrained":
            return f"loaded from {what} (init_cfg of {where})"
        kind = "default rule" if self.source == "default" else "init_cfg"
        suffix = f" [bias={self.value}]" if self.role == "bias" else ""
        return f"{what}{suffix} (from the {kind} of {where})"


@dataclass
class RuleRecord:
    """One rule as applied: how many modules it reached and tensors it finally set."""

    initializer: str
    owner: str
    where: str
    modules: int = 0
    tensors: int = 0
    beaten_tensors: int = 0

    def summary(self) -> str:
        mods = f"{self.modules} module" + ("s" if self.modules != 1 else "")
        tens = f"{self.tensors} tensor" + ("s" if self.tensors != 1 else "")
        text = f"{self.initializer} [{self.where}]: {mods}, {tens}"
        if self.beaten_tensors:
            text += f" ({self.beaten_tensors} overridden by rules of higher priority)"
        return text


@dataclass
class InitReport:
    """The result of one initialization run.

    ``seed_scheme`` says how a seeded run derived each tensor's random numbers (see
    docs/distributed.md); None for an unseeded run. ``saved_bytes`` is what the run copied so that a failure could be undone (the extra
    memory its rollback needed at the peak): 0 unless user code read or partly wrote
    tensors, or user-defined fills ran.

    Index it by parameter name (``report['conv.weight'].describe()``), iterate it for the
    records, render it with :meth:`table`, or serialize it with :meth:`to_json`.
    """

    params: dict[str, ParamRecord] = field(default_factory=dict)
    rules: list[RuleRecord] = field(default_factory=list)
    loads: list[Any] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    seed: int | None = None
    compat: str = "torchinit"
    saved_bytes: int = 0
    seed_scheme: dict[str, Any] | None = None

    def __getitem__(self, name: str) -> ParamRecord:
        return self.params[name]

    def __contains__(self, name: object) -> bool:
        return name in self.params

    def __iter__(self) -> Iterator[ParamRecord]:
        return iter(self.params.values())

    def __len__(self) -> int:
        return len(self.params)

    def by_source(self, source: Source) -> list[str]:
        """Names of the tensors whose provenance is ``source``."""
        return [r.name for r in self.params.values() if r.source == source]

    def summary(self) -> str:
        """One line: how many tensors each kind of source set."""
        counts: dict[str, int] = {}
        for r in self.params.values():
            counts[r.source] = counts.get(r.source, 0) + 1
        parts = [f"{n} {SOURCE_TEXT[s]}" for s, n in sorted(counts.items(), key=lambda kv: -kv[1])]
        return f"{len(self.params)} tensors: " + ", ".join(parts) if parts else "no tensors"

    def table(self) -> str:
        """A plain-text table, one row per tensor."""
        rows = [(r.name, "x".join(map(str, r.shape)) or "scalar", r.describe()) for r in self.params.values()]
        if not rows:
            return "(no parameters)"
        w0 = max(len("name"), *(len(r[0]) for r in rows))
        w1 = max(len("shape"), *(len(r[1]) for r in rows))
        lines = [f"{'name':<{w0}}  {'shape':<{w1}}  provenance", f"{'-' * w0}  {'-' * w1}  {'-' * 10}"]
        lines += [f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        loads = [asdict(x) if hasattr(x, "__dataclass_fields__") else repr(x) for x in self.loads]
        return {
            "seed": self.seed,
            "compat": self.compat,
            "saved_bytes": self.saved_bytes,
            "seed_scheme": self.seed_scheme,
            "summary": self.summary(),
            "rules": [asdict(r) for r in self.rules],
            "unmatched": list(self.unmatched),
            "loads": loads,
            "params": {
                name: {**_record_dict(r), "describe": r.describe()} for name, r in self.params.items()
            },
        }

    def to_json(self, **kwargs: Any) -> str:
        """The report as JSON (``json.dumps`` keyword arguments pass through)."""
        kwargs.setdefault("indent", 2)
        return json.dumps(self.to_dict(), **kwargs)


def _record_dict(record: ParamRecord) -> dict[str, Any]:
    return {f: getattr(record, f) for f in record.__dataclass_fields__ if f != "init"} | {
        "shape": list(record.shape),
        "beaten": list(record.beaten),
    }
