"""The health check: after initialization, does every tensor look like its rule promised?

For each parameter :func:`health_check` compares the values with what the rule that set it
(from the :class:`~torchinit.InitReport`) promises, and looks for values no rule should give:

* mean and std against the rule's distribution: ``Kaiming(mode='fan_out', nonlinearity='relu')``
  promises mean 0 and std ``sqrt(2 / fan_out)``; ``Normal(std=0.01)`` std 0.01;
  ``Constant(val=1)``, ``Ones``, ``Zeros`` and a rule's bias every value equal; ``Uniform``,
  ``TruncNormal``, ``TruncNormalTF`` and the uniform and truncated variance-scaling rules
  (Xavier, Kaiming, LeCun, VarianceScaling, Caffe2Xavier) their range too. Other
  initializers (orthogonal, sparse, custom ones) promise nothing the check knows of;
* NaN or Inf in any parameter or floating-point buffer;
* an all-zero parameter that no rule asked to be zero (a forgotten rule, a layer that
  starts at zero, a checkpoint key that did not load);
* weights tied before initialization (``tied_parameters``) that are no longer the same tensor.

The statistical checks allow six standard errors of the estimate (plus 0.1% for rounding),
so a correct fill fails them essentially never; tensors of a few elements are in effect only
checked for their range. Tensors loaded from a checkpoint, written by user code or left as
built have no promise: only NaN/Inf and zeros are checked for them.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from . import functional as F
from .errors import ConfigError
from .initializers import (
    WEIGHT_INITIALIZERS,
    Caffe2Xavier,
    Constant,
    Kaiming,
    LeCunNormal,
    LeCunUniform,
    Normal,
    TruncNormal,
    TruncNormalTF,
    Uniform,
    VarianceScaling,
    Xavier,
)
from .report import InitReport, ParamRecord

__all__ = ["HealthFinding", "HealthReport", "TensorHealth", "health_check", "tied_parameters"]

logger = logging.getLogger("torchinit")

Severity = Literal["error", "warning"]
SIGMAS = 6.0  # standard errors a statistic may stray before it is reported
ROUNDING = 1e-3  # relative slack on a std for float rounding


@dataclass(frozen=True)
class Promise:
    """What a rule promises about a tensor's values.

    ``constant`` means every value equals ``mean``; otherwise the values are drawn with this
    mean and std, inside ``[low, high]``. ``text`` says where the std comes from.
    """

    mean: float
    std: float
    low: float = -math.inf
    high: float = math.inf
    constant: bool = False
    text: str = ""


@dataclass
class HealthFinding:
    """One problem: ``kind`` is ``'nonfinite'``, ``'std'``, ``'mean'``, ``'range'``, ``'constant'``,
    ``'zero'`` or ``'tie'``; ``name`` the tensor (or tied names joined by ``' = '``)."""

    severity: Severity
    kind: str
    name: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.name}: {self.message}"


@dataclass
class TensorHealth:
    """The measured statistics of one parameter and, where its rule makes one, the promise."""

    name: str
    shape: tuple[int, ...]
    source: str
    rule: str | None
    mean: float
    std: float
    expected: Promise | None = None
    ok: bool = True


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
        text = f"{len(self.tensors)} parameters, {checked} checked against their rule's promise"
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
        (None for constant promises, where equality is checked)."""
        groups: dict[str, list[TensorHealth]] = {}
        for t in self.tensors:
            if t.expected is not None:
                key = t.rule or "?"
                if t.expected.constant:
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
            "tensors": [asdict(t) for t in self.tensors],
        }


# --------------------------------------------------------------------------- promises
def _truncnormal(mean: float, std: float, a: float, b: float) -> tuple[float, float]:
    """Mean and std of N(mean, std²) truncated to [a, b]."""
    if std == 0:
        return min(max(mean, a), b), 0.0
    alpha, beta = (a - mean) / std, (b - mean) / std
    pdf = [math.exp(-x * x / 2) / math.sqrt(2 * math.pi) if math.isfinite(x) else 0.0 for x in (alpha, beta)]
    mass = 0.5 * (math.erfc(-beta / math.sqrt(2)) - math.erfc(-alpha / math.sqrt(2)))
    if mass <= 0:
        return (a if alpha > 0 else b), 0.0
    shift = (pdf[0] - pdf[1]) / mass
    edge = (
        (alpha * pdf[0] if math.isfinite(alpha) else 0.0) - (beta * pdf[1] if math.isfinite(beta) else 0.0)
    ) / mass
    return mean + std * shift, std * math.sqrt(max(1 + edge - shift * shift, 0.0))


def _scaled(shape: tuple[int, ...], gain: float, mode: str, distribution: str, formula: str) -> Promise:
    """Zero mean, std ``gain / sqrt(fan)``; the range of the uniform or the ±2-std truncated normal."""
    fan_in, fan_out = F.compute_fans(shape)
    fan = {
        "fan_in": fan_in,
        "fan_out": fan_out,
        "fan_avg": (fan_in + fan_out) / 2,
        "fan_geo_avg": math.sqrt(fan_in * fan_out),
    }[mode]
    std = gain / math.sqrt(fan)
    bound = math.inf
    if distribution == "uniform":
        bound = math.sqrt(3.0) * std
    elif distribution == "truncated_normal":
        bound = 2 * std / F.truncated_normal_std(-2.0, 2.0)
    fans = f"fan_in={fan_in}, fan_out={fan_out}" if mode in ("fan_avg", "fan_geo_avg") else f"{mode}={fan:g}"
    return Promise(0.0, std, -bound, bound, text=f"{formula} = {std:.4g} with {fans}")


def _gain_text(gain: float) -> str:
    return "" if gain == 1 else f"{gain:g}*"


def _trunc_tf(i: Any) -> Promise:
    std = i.std / F.truncated_normal_std(i.a, i.b) if i.corrected else i.std
    low, high = i.mean + i.a * std, i.mean + i.b * std
    return Promise(
        *_truncnormal(i.mean, std, low, high),
        low,
        high,
        constant=std == 0,
        text=f"std {std:.4g} cut at [{i.a:g}, {i.b:g}] std",
    )


# How each built-in initializer's values are distributed, for a weight of shape s.
_PROMISES: dict[type, Callable[[Any, tuple[int, ...]], Promise]] = {
    Constant: lambda i, s: Promise(i.val, 0.0, constant=True, text=f"every value {i.val:g}"),
    Normal: lambda i, s: Promise(i.mean, i.std, constant=i.std == 0, text=f"std {i.std:g}"),
    Uniform: lambda i, s: Promise(
        (i.a + i.b) / 2,
        (i.b - i.a) / math.sqrt(12),
        i.a,
        i.b,
        text=f"(b-a)/sqrt(12) = {(i.b - i.a) / math.sqrt(12):.4g}",
    ),
    TruncNormal: lambda i, s: Promise(
        *_truncnormal(i.mean, i.std, i.a, i.b),
        i.a,
        i.b,
        constant=i.std == 0,
        text=f"std {i.std:g} cut to [{i.a:g}, {i.b:g}]",
    ),
    TruncNormalTF: lambda i, s: _trunc_tf(i),
    Xavier: lambda i, s: _scaled(
        s, i.gain, "fan_avg", i.distribution, f"{_gain_text(i.gain)}sqrt(2/(fan_in+fan_out))"
    ),
    Kaiming: lambda i, s: _scaled(
        s,
        F.calculate_gain(i.nonlinearity, i.a),
        i.mode,
        i.distribution,
        f"sqrt({F.calculate_gain(i.nonlinearity, i.a) ** 2:.4g}/{i.mode})",
    ),
    Caffe2Xavier: lambda i, s: _scaled(s, 1.0, "fan_in", "uniform", "sqrt(1/fan_in)"),
    VarianceScaling: lambda i, s: _scaled(
        s, math.sqrt(i.scale), i.mode, i.distribution, f"sqrt({i.scale:g}/{i.mode})"
    ),
    LeCunNormal: lambda i, s: _scaled(s, 1.0, "fan_in", "truncated_normal", "sqrt(1/fan_in)"),
    LeCunUniform: lambda i, s: _scaled(s, 1.0, "fan_in", "uniform", "sqrt(1/fan_in)"),
}

_DESCRIBED = re.compile(r"^(\w+)\((.*)\)$")


def _promise_class(cls: Any) -> type | None:
    """The class in ``_PROMISES`` whose promise ``cls`` keeps: itself, or a base whose fill it inherits."""
    for base in getattr(cls, "__mro__", ()):
        if base in _PROMISES and getattr(cls, "fill", None) is getattr(base, "fill", None):
            return base
    return None


def _field_value(kind: Any, text: str) -> Any:
    if kind in ("float", float):
        return float(text)
    if kind in ("bool", bool):
        return {"True": True, "False": False}[text]
    return text


def _initializer_from_text(text: str | None) -> Any:
    """Rebuild a built-in initializer from its ``describe()`` text; None when not possible."""
    match = _DESCRIBED.match(text or "")
    if match is None or match.group(1) not in WEIGHT_INITIALIZERS:
        return None
    cls = WEIGHT_INITIALIZERS.get(match.group(1))
    if _promise_class(cls) is None:
        return None
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for part in filter(None, match.group(2).split(", ")):
        key, _, value = part.partition("=")
        if key not in fields:
            return None
        if fields[key].init:
            try:
                kwargs[key] = _field_value(fields[key].type, value)
            except (KeyError, ValueError):
                return None
    try:
        return cls(**kwargs)
    except (ConfigError, TypeError, ValueError):
        return None


def promise_of(record: ParamRecord) -> Promise | None:
    """What the rule that set ``record`` promises about its values (None: no promise known).

    A rule's bias is a constant; a weight's promise comes from its built-in initializer.
    Checkpoints, user code, custom initializers and tensors left as built promise nothing.
    """
    if record.source not in ("rule", "default"):
        return None
    if record.role == "bias":
        if record.value is None:
            return None
        return Promise(record.value, 0.0, constant=True, text=f"bias {record.value:g}")
    init = _initializer_from_text(record.initializer)
    if init is None:
        return None
    try:
        return _PROMISES[_promise_class(type(init))](init, tuple(record.shape))  # type: ignore[index]
    except ConfigError:  # a fan-based rule on a 1-d tensor cannot have been applied
        return None


# --------------------------------------------------------------------------- the check
def tied_parameters(model: nn.Module) -> list[tuple[str, ...]]:
    """Groups of names that hold one and the same parameter (``head.weight = tok.weight``).

    Take them before initializing and pass them to :func:`health_check` as ``ties`` to check
    that the ties survived.
    """
    names: dict[int, list[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(p), []).append(name)
    return [tuple(group) for group in names.values() if len(group) > 1]


def _lookup(model: nn.Module, name: str) -> Tensor | None:
    module_name, _, attr = name.rpartition(".")
    try:
        module = model.get_submodule(module_name) if module_name else model
    except AttributeError:
        return None
    value = getattr(module, attr, None)
    return value if isinstance(value, Tensor) else None


def health_check(
    model: nn.Module,
    report: InitReport | None = None,
    *,
    ties: Sequence[Sequence[str]] | None = None,
) -> HealthReport:
    """Check every parameter of ``model`` against what initialized it (see the module docs).

    Args:
        model: the initialized model (meta-device tensors are counted and skipped).
        report: the :class:`InitReport` of the run; by default ``model.init_report`` (a
            BaseModule keeps the report of its last ``init_weights()``). Without one, only
            NaN/Inf and all-zero tensors are checked.
        ties: name groups that were tied before initialization (:func:`tied_parameters`);
            each must still be one tensor. By default the ties found now are listed.

    Returns:
        The measured statistics and the findings; logs a one-line summary on the
        ``torchinit`` logger (WARNING when there are errors).

    Example:
        >>> net = nn.Sequential(nn.Linear(64, 64))
        >>> from torchinit import initialize
        >>> report = initialize(net, dict(type='Kaiming', layer='Linear', mode='fan_in'))
        >>> health_check(net, report).ok
        True
    """
    if report is None:
        report = getattr(model, "init_report", None)
    records = report.params if report is not None else {}
    result = HealthReport(ties=[tuple(t) for t in ties] if ties is not None else tied_parameters(model))
    for name, param in model.named_parameters():
        if param.is_meta:
            result.skipped += 1
            continue
        record = records.get(name)
        _check_tensor(result, name, param.detach(), record)
    for name, buf in model.named_buffers():
        if not buf.is_meta and buf.is_floating_point() and buf.numel() and not torch.isfinite(buf).all():
            result.findings.append(HealthFinding("error", "nonfinite", name, "the buffer holds NaN or Inf."))
    for group in result.ties:
        tensors = [_lookup(model, n) for n in group]
        if any(t is None or t is not tensors[0] for t in tensors):
            result.findings.append(
                HealthFinding(
                    "error",
                    "tie",
                    " = ".join(group),
                    "were tied (one tensor) and are no longer: initialization replaced one of them.",
                )
            )
    log = logger.warning if not result.ok else logger.info
    log("health check: %s", result.summary())
    for finding in result.findings:
        logger.debug("health check: %s", finding)
    return result


def _check_tensor(result: HealthReport, name: str, t: Tensor, record: ParamRecord | None) -> None:
    source = record.source if record is not None else "none"
    rule = record.initializer if record is not None else None
    promise = promise_of(record) if record is not None else None
    numeric = t.is_floating_point() or t.is_complex()
    values = t.float() if t.is_floating_point() else (t.abs() if t.is_complex() else t).double()
    n = t.numel()
    std, mean = (
        torch.std_mean(values) if n > 1 else (torch.zeros(()), values.mean() if n else torch.zeros(()))
    )
    health = TensorHealth(name, tuple(t.shape), source, rule, float(mean), float(std), promise)
    result.tensors.append(health)
    add = result.findings.append
    if n == 0:
        return
    if numeric and not torch.isfinite(t).all():
        health.ok = False
        add(HealthFinding("error", "nonfinite", name, f"holds NaN or Inf ({_origin(record)})."))
        return
    if (
        numeric
        and source != "pretrained"
        and not t.any()
        and not (promise and promise.constant and promise.mean == 0)
    ):
        health.ok = False
        why = (
            f"but {rule} does not set it to zero"
            if promise
            else f"and no rule asked for that ({_origin(record)})"
        )
        add(HealthFinding("error" if promise else "warning", "zero", name, f"is all zero, {why}."))
        return
    if promise is None or t.is_complex():
        return
    if promise.constant:
        target = torch.as_tensor(promise.mean, dtype=t.dtype)
        if not bool((t == target).all()):
            health.ok = False
            add(
                HealthFinding(
                    "error",
                    "constant",
                    name,
                    f"should be all {promise.mean:g} ({rule}), but ranges over "
                    f"[{float(values.min()):.4g}, {float(values.max()):.4g}].",
                )
            )
        return
    slack = 1e-6 * max(1.0, abs(promise.low), abs(promise.high)) if math.isfinite(promise.high) else 0.0
    low, high = float(values.min()), float(values.max())
    if low < promise.low - slack or high > promise.high + slack:
        health.ok = False
        add(
            HealthFinding(
                "error",
                "range",
                name,
                f"values in [{low:.4g}, {high:.4g}], outside [{promise.low:.4g}, {promise.high:.4g}] "
                f"promised by {rule}.",
            )
        )
    if n > 1 and abs(health.std - promise.std) > promise.std * (SIGMAS / math.sqrt(2 * (n - 1)) + ROUNDING):
        health.ok = False
        add(
            HealthFinding(
                "error",
                "std",
                name,
                f"std {health.std:.4g}, but {rule} promises {promise.std:.4g} ({promise.text}) "
                f"over {n} values.",
            )
        )
    if abs(health.mean - promise.mean) > SIGMAS * promise.std / math.sqrt(n) + 1e-6 * max(
        abs(promise.mean), promise.std
    ):
        health.ok = False
        add(
            HealthFinding(
                "error",
                "mean",
                name,
                f"mean {health.mean:.4g}, but {rule} promises {promise.mean:.4g} over {n} values.",
            )
        )


def _origin(record: ParamRecord | None) -> str:
    if record is None or record.source == "none":
        return "left as built; is a rule missing?"
    return record.describe()
