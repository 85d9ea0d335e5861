"""The engine: config -> validated plan -> apply (each tensor written once) -> report.

``initialize(module, init_cfg)`` applies one config to a module tree;
``BaseModule.init_weights()`` (via :func:`run_init_weights`) applies every config of a tree.
Both build a *plan* first: in one walk of the tree every ``init_cfg`` is validated, every
checkpoint is read and checked, and each rule's writes are listed in the order mmengine
would perform them. The last write to a tensor in that order is the one that counts, so
only that one is performed. Nothing is written until the whole plan exists, so a bad config
or checkpoint changes nothing.

Order of writes in ``init_weights()`` (later wins), per module ``M`` that holds rules:

1. the ``default_init_cfg()`` rules of every reached module (lowest priority of all);
2. ``M``'s own rules, in list order; within one rule its ``layer`` fill, then its overrides;
3. ``M``'s children, each as in 2-4 (a BaseModule), or by calling its user-written
   ``init_weights()`` (opaque code, run at this point in the order);
4. ``M``'s ``Pretrained`` rules.

In ``compat='mmengine'`` mode the walk visits direct children only, ``layer`` matches the
class name and its direct bases' names, and default rules are applied where mmengine's
ConvModule would apply them: when the module is reached, before its own rules.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ._planner import MAX_BEATEN, _Call, _describe_ref, _Fill, _join, _Planner, _preorder, _Ref, _Slot
from .config import parse_init_cfg
from .errors import ConfigTypeError, ConfigValueError, InitWarning
from .module import BaseModule, unwrap_model
from .registry import describe_value
from .report import InitReport, ParamRecord

__all__ = ["get_compat", "initialize", "plan", "run_init_weights", "set_compat"]

logger = logging.getLogger("torchinit")

# Below this many elements in a batch, seeded fills run on the calling thread: a thread pool
# costs more than it saves (results are the same either way: each tensor has its own generator).
_PARALLEL_MIN = 1 << 20

COMPAT_MODES = ("torchinit", "mmengine")
_compat_default = "torchinit"


def set_compat(mode: str) -> None:
    """Set the process-wide default mode: ``'torchinit'`` (ours) or ``'mmengine'``."""
    global _compat_default
    _compat_default = _check_compat(mode)


def get_compat() -> str:
    """The process-wide default mode (see :func:`set_compat`)."""
    return _compat_default


def _check_compat(mode: Any) -> str:
    if mode not in COMPAT_MODES:
        raise ConfigValueError(f"compat must be one of {', '.join(map(repr, COMPAT_MODES))}, got {describe_value(mode)}.")
    return str(mode)


@dataclass
class _RunContext:
    """What a nested run (inside a user's init_weights) inherits from the run around it."""

    seed: int | None
    seed_prefix: str
    compat: str
    num_threads: int | None
    sink: dict[str, tuple[ParamRecord, int, int]] = field(default_factory=dict)


_CONTEXT: contextvars.ContextVar[_RunContext | None] = contextvars.ContextVar("torchinit_run", default=None)


# --------------------------------------------------------------------------- applying
def derive_seed(seed: int, name: str) -> int:
    """The seed of one tensor's own generator: a stable hash of (seed, qualified name)."""
    digest = hashlib.blake2b(f"{seed}\x00{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


class _Snapshot:
    """Everything a failed run must put back: tensors' values, which object each
    attribute holds, and the ``is_init`` flags."""

    def __init__(self, root: nn.Module, copy_values: bool) -> None:
        self.modules = [m for _, m in _preorder(root)]
        self.flags = {id(m): m._is_init for m in self.modules if isinstance(m, BaseModule)}
        self.params = [(m, dict(m._parameters), dict(m._buffers)) for m in self.modules] if copy_values else []
        self.values: list[tuple[Tensor, Tensor]] = []
        if copy_values:
            seen: set[int] = set()
            for _, params, buffers in self.params:
                for t in [*params.values(), *buffers.values()]:
                    if t is not None and id(t) not in seen and not t.is_meta:
                        seen.add(id(t))
                        self.values.append((t, t.detach().clone()))

    def restore(self) -> None:
        for m in self.modules:
            if isinstance(m, BaseModule):
                m._is_init = self.flags[id(m)]
        for m, params, buffers in self.params:
            m._parameters.clear()
            m._parameters.update(params)
            m._buffers.clear()
            m._buffers.update(buffers)
        with torch.no_grad():
            for t, saved in self.values:
                t.copy_(saved)


def _tensor_states(module: nn.Module, prefix: str) -> dict[str, tuple[int, int]]:
    states = {}
    for name, t in [*module.named_parameters(prefix), *module.named_buffers(prefix)]:
        states[name] = (id(t), t._version)
    return states


Progress = Callable[[int, int], None]
"""``progress(done, total)``: elements written so far and in all, called after each tensor."""


class _Executor:
    def __init__(self, planner: _Planner, seed: int | None, seed_prefix: str, num_threads: int | None,
                 compat: str, progress: Progress | None = None) -> None:
        self.planner = planner
        self.seed = seed
        self.seed_prefix = seed_prefix
        self.num_threads = num_threads
        self.compat = compat
        self.records = planner.records
        self.progress = progress
        self.total = sum(_numel(s.slot) for s in planner.steps if isinstance(s, _Fill)) if progress else 0
        self.done = 0
        self._lock = threading.Lock()

    def run(self) -> None:
        batch: list[_Fill] = []
        for step in self.planner.steps:
            if isinstance(step, _Call):
                self.fill(batch)
                batch = []
                self.call(step)
            else:
                batch.append(step)
        self.fill(batch)

    def generator(self, fill: _Fill, tensor: Tensor) -> torch.Generator | None:
        if self.seed is None or not getattr(fill.init, "random", True):
            return None
        gen = torch.Generator(device=tensor.device)
        gen.manual_seed(derive_seed(self.seed, self.seed_prefix + fill.slot.name))
        return gen

    def fill_one(self, fill: _Fill) -> None:
        tensor = fill.slot.current()
        if tensor is None or tensor.is_meta or fill.done:
            return
        with torch.no_grad():
            if fill.value is not None:
                tensor.copy_(fill.value)
            else:
                fill.init.fill(tensor, generator=self.generator(fill, tensor))
        if self.progress is not None:
            with self._lock:
                self.done += tensor.numel()
                self.progress(self.done, self.total)

    def fill(self, batch: list[_Fill]) -> None:
        if not batch:
            return
        threads = self.num_threads or torch.get_num_threads()
        small = sum(_numel(f.slot) for f in batch) < _PARALLEL_MIN
        if self.seed is None or threads <= 1 or len(batch) == 1 or small:
            for f in batch:
                self.fill_one(f)
            return
        ordered = sorted(batch, key=lambda f: -_numel(f.slot))
        with ThreadPoolExecutor(max_workers=min(threads, len(ordered))) as pool:
            for future in [pool.submit(self.fill_one, f) for f in ordered]:
                future.result()

    def call(self, step: _Call) -> None:
        prefix = _join(step.name, "")
        before = _tensor_states(step.module, step.name)
        ctx = _RunContext(self.seed, self.seed_prefix + prefix, self.compat, self.num_threads)
        token = _CONTEXT.set(ctx)
        try:
            step.fn()
        finally:
            _CONTEXT.reset(token)
        params = dict(step.module.named_parameters(step.name))
        for name, t in [*params.items(), *step.module.named_buffers(step.name)]:
            if before.get(name) == (id(t), t._version):
                continue
            inner = ctx.sink.get(self.seed_prefix + name)
            rec = self.records.get(name)
            if rec is None:
                rec = self.records[name] = ParamRecord(name, tuple(t.shape), is_buffer=name not in params)
            if rec.source != "none" and rec.initializer is not None and len(rec.beaten) < MAX_BEATEN:
                rec.beaten.insert(0, f"{rec.initializer} ({rec.source}, {rec.owner or 'root'})")
            if inner is not None and inner[1:] == (id(t), t._version):
                src = inner[0]
                rec.source, rec.initializer, rec.role, rec.value = src.source, src.initializer, src.role, src.value
                rec.init = src.init
                rec.owner = _join(step.name, src.owner) if src.owner else step.name
            else:
                rec.source, rec.initializer, rec.owner, rec.role = step.ref.source, step.ref.initializer, step.name, "tensor"
                rec.init = None
            if step.ref.rule is not None and not (inner is not None and inner[1:] == (id(t), t._version)):
                step.ref.rule.tensors += 1


def _numel(slot: _Slot) -> int:
    t = slot.current()
    return t.numel() if t is not None else 0


# --------------------------------------------------------------------------- entry points
def _check_run_args(seed: Any, num_threads: Any) -> None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ConfigTypeError(f"seed must be a non-negative int or None, got {describe_value(seed)}.")
    if num_threads is not None and (isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1):
        raise ConfigTypeError(f"num_threads must be a positive int or None, got {describe_value(num_threads)}.")


def _run(planner: _Planner, seed: int | None, num_threads: int | None, compat: str,
         ctx: _RunContext | None, prepare: Callable[[], None] | None = None,
         progress: Progress | None = None) -> InitReport:
    """Execute a finished plan; on any exception restore the tree (see _Snapshot).

    ``prepare`` runs after the plan is final and before the first write (materialize uses it
    to allocate meta tensors); a failure there is rolled back too.
    """
    for message in planner.unmatched:
        warnings.warn(message, InitWarning, stacklevel=4)
    seed_prefix = ctx.seed_prefix if ctx is not None else ""
    executor = _Executor(planner, seed, seed_prefix, num_threads, compat, progress)
    has_calls = any(isinstance(s, _Call) for s in planner.steps)
    snapshot = _Snapshot(planner.root, copy_values=has_calls or prepare is not None)
    try:
        if prepare is not None:
            prepare()
        executor.run()
        for m in planner.owners:
            m._is_init = True
    except BaseException:
        snapshot.restore()
        raise
    report = InitReport(params=executor.records, rules=planner.rules, loads=planner.loads,
                        unmatched=planner.unmatched, seed=seed, compat=compat)
    if ctx is not None:
        by_name = {s.name: s for s in planner.slots.values()}
        for name, rec in report.params.items():
            t = by_name[name].current() if name in by_name else None
            if t is not None and rec.source != "none":
                ctx.sink[seed_prefix + name] = (rec, id(t), t._version)
    _log(report)
    return report


def _log(report: InitReport) -> None:
    if logger.isEnabledFor(logging.INFO):
        for rule in report.rules:
            logger.info(rule.summary())
        logger.info(report.summary())
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("init provenance:\n%s", report.table())


def run_init_weights(root: nn.Module, *, seed: int | None = None, compat: str | None = None,
                     num_threads: int | None = None, progress: Progress | None = None) -> InitReport:
    """Initialize the tree under ``root`` from every ``init_cfg`` in it (see module docs)."""
    ctx = _CONTEXT.get()
    _check_run_args(seed, num_threads)
    if ctx is not None:
        seed = ctx.seed if seed is None else seed
        compat = compat or ctx.compat
        num_threads = num_threads or ctx.num_threads
    mode = _check_compat(compat or _compat_default)
    planner = _Planner(root, mode)
    planner.plan_init_weights()
    return _run(planner, seed, num_threads, mode, ctx, progress=progress)


def initialize(module: nn.Module, init_cfg: Any, *, seed: int | None = None, compat: str | None = None,
               num_threads: int | None = None, progress: Progress | None = None) -> InitReport:
    """Apply one ``init_cfg`` (a rule dict or a list of them) to ``module`` and its subtree.

    The whole config is validated, and any checkpoint read, before one tensor changes.
    Children's own ``init_cfg`` and ``init_weights`` are not involved (use
    ``BaseModule.init_weights()`` for that). ``Pretrained`` rules apply last.

    Args:
        module: the model (a wrapper such as DistributedDataParallel is unwrapped).
        init_cfg: e.g. ``dict(type='Kaiming', layer='Conv2d')``; never modified.
        seed: per-tensor generators seeded by (seed, qualified name); None uses torch's
            global generator.
        compat: ``'mmengine'`` for mmengine's exact matching rules.
        num_threads: threads for seeded fills.
        progress: called as ``progress(done, total)`` (elements) after each tensor is written.

    Returns:
        The provenance report.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
        >>> report = initialize(net, dict(type='Constant', layer='Conv2d', val=1, bias=0))
        >>> report['0.weight'].describe()
        'Constant(val=1) (from the init_cfg of the root)'
    """
    if not isinstance(module, nn.Module):
        raise ConfigTypeError(f"initialize() needs an nn.Module, got {describe_value(module)}.")
    ctx = _CONTEXT.get()
    _check_run_args(seed, num_threads)
    if ctx is not None:
        seed = ctx.seed if seed is None else seed
        compat = compat or ctx.compat
    mode = _check_compat(compat or _compat_default)
    module = unwrap_model(module)
    rules = parse_init_cfg(init_cfg, "init_cfg")
    planner = _Planner(module, mode)
    planner.plan_initialize(rules)
    return _run(planner, seed, num_threads, mode, ctx, progress=progress)



def plan_model(model: nn.Module, init_cfg: Any, compat: str | None) -> _Planner:
    """A finished plan: ``initialize(model, init_cfg)`` semantics if ``init_cfg`` is given or
    the model is not a BaseModule, else ``init_weights()`` semantics."""
    root = unwrap_model(model)
    planner = _Planner(root, _check_compat(compat or _compat_default))
    if init_cfg is not None or not isinstance(root, BaseModule):
        planner.plan_initialize(parse_init_cfg(init_cfg, "init_cfg"))
    else:
        planner.plan_init_weights()
    return planner


def plan(model: nn.Module, init_cfg: Any = None, *, compat: str | None = None) -> InitReport:
    """What ``init_weights()`` (or ``initialize(model, init_cfg)``) would do, without doing it.

    Every config is validated and every checkpoint read and matched, exactly as a real run
    would, but no tensor is written and no user code runs; works on meta-device models. The
    returned report lists every parameter and buffer with the rule that would set it, the
    module whose ``init_cfg`` holds that rule and the rules it would beat; tensors inside a
    module with a user-written ``init_weights`` are marked as left to it. Rules whose
    ``layer`` matches nothing are in ``report.unmatched`` (no warning is issued).

    Args:
        model: a BaseModule (its ``init_cfg`` tree is planned) or any module with ``init_cfg``.
        init_cfg: plan ``initialize(model, init_cfg)`` instead of ``init_weights()``.
    """
    if not isinstance(model, nn.Module):
        raise ConfigTypeError(f"plan() needs an nn.Module, got {describe_value(model)}.")
    planner = plan_model(model, init_cfg, compat)
    mode = "mmengine" if planner.compat else "torchinit"
    for slot in planner.slots.values():
        planner.record_for(slot)
    for step in planner.steps:
        if isinstance(step, _Call):
            for name, _ in [*step.module.named_parameters(step.name), *step.module.named_buffers(step.name)]:
                rec = planner.records.get(name)
                if rec is not None:
                    if rec.source != "none" and len(rec.beaten) < MAX_BEATEN:
                        rec.beaten.insert(0, _describe_ref(_Ref(rec.source, rec.initializer or "?", rec.owner or "",
                                                                rec.role, None)))
                    rec.init = None
                    rec.source, rec.initializer, rec.owner, rec.role = (
                        step.ref.source, step.ref.initializer, step.name, "tensor")
    return InitReport(params=planner.records, rules=planner.rules, loads=planner.loads,
                      unmatched=planner.unmatched, compat=mode)
