"""The health check: after initialization, does every tensor look like its rule promised?

For each parameter :func:`health_check` compares the values with what the rule that set it
(from the :class:`~torchinit.InitReport`) promises, and looks for values no rule should give:

* mean and std against the rule's distribution: ``Kaiming(mode='fan_out', nonlinearity='relu')``
  promises mean 0 and std ``sqrt(2 / fan_out)``; ``Normal(std=0.01)`` std 0.01;
  ``Constant(val=1)``, ``Ones``, ``Zeros`` and a rule's bias every value equal; ``Uniform``,
  ``TruncNormal``, ``TruncNormalTF`` and the uniform and truncated variance-scaling rules
  (Xavier, Kaiming, LeCun, VarianceScaling, Caffe2Xavier) their range too;
  ``EmbeddingNormal`` its zero padding row, ``DepthScaledNormal`` the std of the block's
  depth, ``Orthogonal``/``DeltaOrthogonal`` ``W Wᵀ = gain²·I``, ``Sparse`` its zeros per
  column, and deterministic fills (``Eye``, ``Dirac``, ``Arange``, ``FromModule``) exactly
  what they write (see :mod:`torchinit.diagnostics._promises`). Custom random initializers promise
  nothing the check knows of. Buffers a rule set are checked the same way;
* NaN or Inf in any parameter or floating-point buffer;
* an all-zero parameter that no rule asked to be zero (a forgotten rule, a checkpoint key
  that did not load). Zeros that a rule, a module's ``reset_parameters()`` or the model's own
  ``init_weights`` wrote are what that code asked for, and are not reported; nor are those of
  a tensor no rule set in a third-party model that initializes itself when built (timm's
  ``init_weights``, Hugging Face's ``post_init``: :func:`own_init`);
* weights tied before initialization (``tied_parameters``) that are no longer the same tensor;
* on a sharded model (DTensor parameters), shards of a random tensor that are identical on
  different ranks. Statistics of a DTensor are those of the whole tensor, gathered from every
  rank's shard: call the check on every rank (it is collective).

The statistical checks allow six standard errors of the estimate (plus 0.1% for rounding),
so a correct fill fails them essentially never; tensors of a few elements are in effect only
checked for their range. Tensors loaded from a checkpoint, written by user code or left as
built have no promise: only NaN/Inf and zeros are checked for them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..distributed.sharded import is_sharded
from ..distributed.stats import Stats, repeated_shards, sharded_stats, tensor_stats
from ..report import InitReport, ParamRecord
from ._health_report import HealthFinding, HealthReport, TensorHealth
from ._promises import Promise, promise_of

logger = logging.getLogger("torchinit")

SIGMAS = 6.0  # standard errors a statistic may stray before it is reported
ROUNDING = 1e-3  # relative slack on a std for float rounding


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


def own_init(model: nn.Module) -> str | None:
    """``'VisionTransformer.init_weights'``: the init code a model that is not a BaseModule has,
    which its constructor runs (timm's ``init_weights``, Hugging Face's ``post_init``); None
    for a BaseModule (its ``init_weights`` is the engine's) or a model without such code."""
    from ..module import is_init_owner

    if is_init_owner(model):
        return None
    for method in ("post_init", "init_weights"):
        if callable(getattr(model, method, None)):
            return f"{type(model).__name__}.{method}"
    return None


class _Builders:
    """Per tensor, the self-initializing model it belongs to (:func:`own_init` of the root or of a
    submodule on its path, a Hugging Face model inside a BaseModule say), or None."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.known: dict[str, str | None] = {}

    def _module(self, path: str) -> str | None:
        if path not in self.known:
            parent, _, _ = path.rpartition(".")
            above = self._module(parent) if path else None
            try:
                module = self.model.get_submodule(path)
            except AttributeError:
                module = None
            self.known[path] = above or (own_init(module) if module is not None else None)
        return self.known[path]

    def of(self, name: str) -> str | None:
        return self._module(name.rpartition(".")[0])


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
    built_by = _Builders(model)
    shards: list[tuple[str, Tensor]] = []
    for name, param in model.named_parameters():
        if param.is_meta:
            result.skipped += 1
            continue
        t = param.detach()
        if is_sharded(t):
            shards.append((name, t))
        _check_tensor(result, name, t, records.get(name), _owner(model, name), built_by=built_by.of(name))
    for name, buf in model.named_buffers():
        if buf.is_meta:
            continue
        record = records.get(name)
        if record is not None and record.source in ("rule", "default"):
            _check_tensor(result, name, buf.detach(), record, _owner(model, name), buffer=True)
        elif buf.is_floating_point() and not _stats(buf.detach()).finite:
            result.findings.append(HealthFinding("error", "nonfinite", name, "the buffer holds NaN or Inf."))
    if shards:
        _check_repeated(result, shards)
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


def _stats(t: Tensor) -> Stats:
    """The statistics of the whole tensor (a DTensor's from every rank's shard)."""
    return sharded_stats(t) if is_sharded(t) else tensor_stats(t)


def _owner(model: nn.Module, name: str) -> nn.Module | None:
    """The module that holds the tensor ``name``."""
    try:
        return model.get_submodule(name.rpartition(".")[0])
    except AttributeError:
        return None


def _check_tensor(
    result: HealthReport,
    name: str,
    t: Tensor,
    record: ParamRecord | None,
    module: nn.Module | None,
    *,
    buffer: bool = False,
    built_by: str | None = None,
) -> None:
    source = record.source if record is not None else "none"
    rule = record.initializer if record is not None else None
    promise = promise_of(record, module) if record is not None else None
    numeric = t.is_floating_point() or t.is_complex()
    stats = _stats(t)
    n = stats.n
    health = TensorHealth(name, tuple(t.shape), source, rule, stats.mean, stats.std, promise, buffer=buffer)
    result.tensors.append(health)
    add = result.findings.append
    if n == 0:
        return
    if numeric and not stats.finite:
        health.ok = False
        add(HealthFinding("error", "nonfinite", name, f"holds NaN or Inf ({_origin(record)})."))
        return
    if numeric and not stats.nonzero and _unasked_zero(source, promise, built_by):
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
    if promise.check is not None and not is_sharded(t):
        problem = promise.check(t)
        if problem is not None:
            health.ok = False
            add(HealthFinding("error", "structure", name, f"{problem} ({rule})"))
    if promise.exact:
        return
    if promise.constant:
        target = float(torch.as_tensor(promise.mean, dtype=t.dtype))
        if not stats.low == stats.high == target:
            health.ok = False
            add(
                HealthFinding(
                    "error",
                    "constant",
                    name,
                    f"should be all {promise.mean:g} ({rule}), but ranges over "
                    f"[{stats.low:.4g}, {stats.high:.4g}].",
                )
            )
        return
    slack = 1e-6 * max(1.0, abs(promise.low), abs(promise.high)) if math.isfinite(promise.high) else 0.0
    low, high = stats.low, stats.high
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


def _unasked_zero(source: str, promise: Promise | None, built_by: str | None) -> bool:
    """Is an all-zero tensor a finding? Not when its rule's promise allows zeros, nor when code
    that owns it wrote them (a checkpoint, the model's own ``init_weights``, a module's
    ``reset_parameters()``, a rule that promises nothing, the init a third-party model ran when
    built: ``built_by``); only when its rule's promise excludes zeros or nothing set it."""
    if promise is not None:
        return not promise.allows_zero
    return source == "none" and built_by is None


def _check_repeated(result: HealthReport, shards: list[tuple[str, Tensor]]) -> None:
    """Shards of different parts of a random tensor that hold the same numbers on different ranks."""
    varied = {h.name for h in result.tensors if h.std > 0}
    for name, ranks in repeated_shards(shards).items():
        if name not in varied:
            continue  # a constant is the same everywhere, and that is right
        for health in result.tensors:
            if health.name == name:
                health.ok = False
        result.findings.append(
            HealthFinding(
                "error",
                "repeated",
                name,
                f"the shards on ranks {', '.join(map(str, ranks))} hold different parts of it but the same "
                "numbers: every rank drew alike (a random fill through DTensor, or the same global seed on "
                "every rank). Initialize it with torchinit and seed=... (sharding-invariant), or before "
                "sharding.",
            )
        )


def _origin(record: ParamRecord | None) -> str:
    if record is None or record.source == "none":
        return "left as built; is a rule missing?"
    return record.describe()
