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
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from .config import RuleSpec, parse_init_cfg
from .errors import ConfigError, ConfigTypeError, ConfigValueError, InitWarning
from .initializers import Constant
from .module import BaseModule, has_user_init_weights, unwrap_model
from .registry import describe_value
from .report import InitReport, ParamRecord, RuleRecord, Source
from .selectors import layer_matches, resolve_override, suggest_layer_names

__all__ = ["get_compat", "initialize", "run_init_weights", "set_compat"]

logger = logging.getLogger("torchinit")

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


# --------------------------------------------------------------------------- plan items
@dataclass
class _Slot:
    """One tensor of the tree, found again through its module at write time."""

    name: str
    module: nn.Module
    attr: str
    is_buffer: bool

    def current(self) -> Tensor | None:
        t = self.module._buffers.get(self.attr) if self.is_buffer else self.module._parameters.get(self.attr)
        if t is None:
            t = getattr(self.module, self.attr, None)
        return t if isinstance(t, Tensor) else None


@dataclass
class _Ref:
    """Provenance of one planned write."""

    source: Source
    initializer: str
    owner: str
    role: str
    rule: RuleRecord | None
    value: float | None = None


@dataclass
class _Fill:
    slot: _Slot
    init: Any  # has .fill(tensor, generator=...) or is None for a checkpoint copy
    ref: _Ref
    value: Tensor | None = None


@dataclass
class _Call:
    """Opaque code run at its place in the order: a user init_weights or a BaseInit."""

    module: nn.Module
    name: str
    fn: Callable[[], Any]
    ref: _Ref


@dataclass
class _RunContext:
    """What a nested run (inside a user's init_weights) inherits from the run around it."""

    seed: int | None
    seed_prefix: str
    compat: str
    num_threads: int | None
    sink: dict[str, tuple[ParamRecord, int, int]] = field(default_factory=dict)


_CONTEXT: contextvars.ContextVar[_RunContext | None] = contextvars.ContextVar("torchinit_run", default=None)


# --------------------------------------------------------------------------- planning
class _Planner:
    def __init__(self, root: nn.Module, compat: str) -> None:
        self.root = root
        self.compat = compat == "mmengine"
        self.steps: list[_Fill | _Call] = []
        self.defaults: list[_Fill] = []
        self.rules: list[RuleRecord] = []
        self.loads: list[Any] = []
        self.unmatched: list[str] = []
        self.owners: list[BaseModule] = []
        self.names: dict[int, str] = {}
        self.slots: dict[int, _Slot] = {}
        self._parsed: dict[int, tuple[RuleSpec, ...]] = {}
        for mname, m in root.named_modules(remove_duplicate=False):
            self.names.setdefault(id(m), mname)
        for mname, m in root.named_modules():
            for attr, t in m._parameters.items():
                if t is not None and id(t) not in self.slots:
                    self.slots[id(t)] = _Slot(_join(mname, attr), m, attr, False)
            for attr, t in m._buffers.items():
                if t is not None and id(t) not in self.slots:
                    self.slots[id(t)] = _Slot(_join(mname, attr), m, attr, True)

    # -- helpers
    def name_of(self, m: nn.Module) -> str:
        return self.names.get(id(m), type(m).__name__)

    def rules_of(self, m: nn.Module) -> tuple[RuleSpec, ...]:
        if id(m) not in self._parsed:
            where = f"init_cfg of {_label(self.name_of(m), m)}"
            self._parsed[id(m)] = parse_init_cfg(getattr(m, "init_cfg", None), where)
        return self._parsed[id(m)]

    def validate_tree(self) -> None:
        """Parse every init_cfg in the tree, opaque subtrees included, before anything runs."""
        for m in self.root.modules():
            if isinstance(m, BaseModule):
                self.rules_of(m)
                parse_init_cfg(m.default_init_cfg(), f"default_init_cfg of {_label(self.name_of(m), m)}")

    def slot(self, module: nn.Module, attr: str) -> _Slot | None:
        t = module._parameters.get(attr)
        if t is None:
            t = module._buffers.get(attr)
        if t is None:
            t = getattr(module, attr, None)
        if not isinstance(t, Tensor):
            return None
        found = self.slots.get(id(t))
        if found is None:
            found = self.slots[id(t)] = _Slot(_join(self.name_of(module), attr), module, attr, False)
        return found

    # -- rules
    def emit(self, scope: nn.Module, rule: RuleSpec, source: Source, into: list[Any]) -> None:
        owner = self.name_of(scope)
        record = RuleRecord(rule.describe(), owner, rule.where)
        self.rules.append(record)
        ref = _Ref(source, rule.describe(), owner, "weight", record)
        if rule.is_pretrained:
            self._emit_pretrained(scope, rule, ref, into)
        elif rule.is_opaque:
            if rule.layer:
                rule.init.wholemodule = False
                into.append(_Call(scope, owner, _bind(rule.init, scope), ref))
        elif rule.layer:
            matched = [m for m in scope.modules() if layer_matches(m, rule.layer, self.compat)]
            self._check_matched(scope, rule, matched)
            for m in matched:
                self._emit_module(m, rule, ref, into)
        for ov in rule.overrides:
            try:
                target = resolve_override(scope, ov.name)
            except ConfigError as exc:
                raise type(exc)(f"{ov.rule.where}: {exc}") from None
            sub_record = RuleRecord(ov.rule.describe(), owner, ov.rule.where)
            self.rules.append(sub_record)
            sub_ref = _Ref(source, ov.rule.describe(), owner, "weight", sub_record)
            if ov.rule.is_pretrained:
                self._emit_pretrained(target, ov.rule, sub_ref, into)
            elif ov.rule.is_opaque:
                ov.rule.init.wholemodule = True
                into.append(_Call(target, self.name_of(target), _bind(ov.rule.init, target), sub_ref))
            else:
                for m in target.modules():
                    self._emit_module(m, ov.rule, sub_ref, into)

    def _emit_module(self, m: nn.Module, rule: RuleSpec, ref: _Ref, into: list[Any]) -> None:
        touched = False
        for role in ("weight", "bias"):
            slot = self.slot(m, role)
            if slot is None:
                continue
            tensor = slot.current()
            assert tensor is not None
            if role == "weight":
                init = rule.init
                check = getattr(init, "check_tensor", None)
                if check is not None:
                    check(tensor, f"{slot.name} (shape {tuple(tensor.shape)}) in {rule.where}")
            else:
                init = Constant(val=rule.bias)
            value = rule.bias if role == "bias" else None
            into.append(_Fill(slot, init, _Ref(ref.source, ref.initializer, ref.owner, role, ref.rule, value)))
            touched = True
        if touched and ref.rule is not None:
            ref.rule.modules += 1

    def _check_matched(self, scope: nn.Module, rule: RuleSpec, matched: list[nn.Module]) -> None:
        for layer in rule.layer:
            if any(layer_matches(m, (layer,), self.compat) for m in matched):
                continue
            shown = layer if isinstance(layer, str) else layer.__name__
            hints = suggest_layer_names(shown, scope.modules())
            hint = f" Did you mean {' or '.join(repr(h) for h in hints)}?" if hints else ""
            self.unmatched.append(
                f"{rule.where}: layer={shown!r} of {rule.describe()} matches no module under "
                f"{_label(self.name_of(scope), scope)}.{hint}"
            )

    def _emit_pretrained(self, scope: nn.Module, rule: RuleSpec, ref: _Ref, into: list[Any]) -> None:
        from .pretrained import plan_pretrained

        load = plan_pretrained(rule.init, scope)
        self.loads.append(load.result)
        prefix = self.name_of(scope)
        for key, value in load.tensors.items():
            modpath, _, attr = key.rpartition(".")
            module = scope.get_submodule(modpath) if modpath else scope
            slot = self.slot(module, attr)
            if slot is None:
                continue
            into.append(_Fill(slot, None, _Ref("pretrained", rule.describe(), prefix, "tensor", ref.rule), value))
        if ref.rule is not None:
            ref.rule.modules += 1

    # -- walking
    def plan_init_weights(self) -> None:
        self.validate_tree()
        self._visit_owner(self.root)

    def plan_initialize(self, rules: tuple[RuleSpec, ...]) -> None:
        ordered = rules if self.compat else _pretrained_last(rules)
        for rule in ordered:
            self.emit(self.root, rule, "rule", self.steps)

    def _visit_owner(self, m: nn.Module) -> None:
        rules = self.rules_of(m)
        if isinstance(m, BaseModule):
            self.owners.append(m)
            defaults = parse_init_cfg(m.default_init_cfg(), f"default_init_cfg of {_label(self.name_of(m), m)}")
            for rule in defaults:
                self.emit(m, rule, "default", self.steps if self.compat else self.defaults)
        for rule in rules:
            if not rule.is_pretrained:
                self.emit(m, rule, "rule", self.steps)
        self._visit_children(m)
        for rule in rules:
            if rule.is_pretrained:
                self.emit(m, rule, "rule", self.steps)

    def _visit_children(self, m: nn.Module) -> None:
        for child in m.children():
            child = unwrap_model(child)
            if has_user_init_weights(child):
                if not getattr(child, "is_init", False):
                    name = self.name_of(child)
                    label = type(child).__name__
                    self.steps.append(_Call(child, name, child.init_weights, _Ref("user", label, name, "tensor", None)))
            elif isinstance(child, BaseModule):
                if not child.is_init:
                    self._visit_owner(child)
            elif not self.compat:
                self._visit_children(child)


def _bind(init: Any, module: nn.Module) -> Callable[[], Any]:
    return lambda: init(module)


def _pretrained_last(rules: tuple[RuleSpec, ...]) -> tuple[RuleSpec, ...]:
    return tuple(r for r in rules if not r.is_pretrained) + tuple(r for r in rules if r.is_pretrained)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _label(name: str, m: nn.Module) -> str:
    return f"{name} ({type(m).__name__})" if name else f"the root ({type(m).__name__})"


# --------------------------------------------------------------------------- applying
def derive_seed(seed: int, name: str) -> int:
    """The seed of one tensor's own generator: a stable hash of (seed, qualified name)."""
    digest = hashlib.blake2b(f"{seed}\x00{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


class _Snapshot:
    """Everything a failed run must put back: tensors' values, which object each
    attribute holds, and the ``is_init`` flags."""

    def __init__(self, root: nn.Module, copy_values: bool) -> None:
        self.modules = list(root.modules())
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


class _Executor:
    def __init__(self, planner: _Planner, seed: int | None, seed_prefix: str, num_threads: int | None,
                 compat: str) -> None:
        self.planner = planner
        self.seed = seed
        self.seed_prefix = seed_prefix
        self.num_threads = num_threads
        self.compat = compat
        self.records: dict[str, ParamRecord] = {}
        for slot in planner.slots.values():
            t = slot.current()
            if t is not None and not slot.is_buffer:
                self.records[slot.name] = ParamRecord(slot.name, tuple(t.shape))

    def record(self, slot: _Slot, ref: _Ref) -> ParamRecord:
        rec = self.records.get(slot.name)
        if rec is None:
            t = slot.current()
            rec = self.records[slot.name] = ParamRecord(slot.name, tuple(t.shape) if t is not None else (),
                                                        is_buffer=slot.is_buffer)
        if rec.source != "none" and rec.initializer is not None:
            rec.beaten.append(f"{rec.initializer} ({rec.source}, {rec.owner or 'root'})")
        rec.source, rec.initializer, rec.owner, rec.role = ref.source, ref.initializer, ref.owner, ref.role
        rec.value = ref.value
        return rec

    def run(self) -> None:
        steps: list[_Fill | _Call] = [*self.planner.defaults, *self.planner.steps]
        last: dict[int, int] = {}
        for i, step in enumerate(steps):
            if isinstance(step, _Fill):
                last[id(step.slot)] = i
        batch: list[_Fill] = []
        winners: set[int] = set()
        for i, step in enumerate(steps):
            if isinstance(step, _Call):
                self.fill(batch)
                batch = []
                self.call(step)
                continue
            self.record(step.slot, step.ref)
            if last[id(step.slot)] == i:
                batch.append(step)
                winners.add(i)
        self.fill(batch)
        for i, step in enumerate(steps):
            if isinstance(step, _Fill) and step.ref.rule is not None:
                if i in winners and self.records[step.slot.name].initializer == step.ref.initializer:
                    step.ref.rule.tensors += 1
                else:
                    step.ref.rule.beaten_tensors += 1

    def generator(self, fill: _Fill, tensor: Tensor) -> torch.Generator | None:
        if self.seed is None or not getattr(fill.init, "random", True):
            return None
        gen = torch.Generator(device=tensor.device)
        gen.manual_seed(derive_seed(self.seed, self.seed_prefix + fill.slot.name))
        return gen

    def fill_one(self, fill: _Fill) -> None:
        tensor = fill.slot.current()
        if tensor is None or tensor.is_meta:
            return
        with torch.no_grad():
            if fill.value is not None:
                tensor.copy_(fill.value)
            else:
                fill.init.fill(tensor, generator=self.generator(fill, tensor))

    def fill(self, batch: list[_Fill]) -> None:
        if not batch:
            return
        threads = self.num_threads or torch.get_num_threads()
        if self.seed is None or threads <= 1 or len(batch) == 1:
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
            if rec.source != "none" and rec.initializer is not None:
                rec.beaten.append(f"{rec.initializer} ({rec.source}, {rec.owner or 'root'})")
            if inner is not None and inner[1:] == (id(t), t._version):
                src = inner[0]
                rec.source, rec.initializer, rec.role, rec.value = src.source, src.initializer, src.role, src.value
                rec.owner = _join(step.name, src.owner) if src.owner else step.name
            else:
                rec.source, rec.initializer, rec.owner, rec.role = step.ref.source, step.ref.initializer, step.name, "tensor"
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
         ctx: _RunContext | None) -> InitReport:
    for message in planner.unmatched:
        warnings.warn(message, InitWarning, stacklevel=4)
    seed_prefix = ctx.seed_prefix if ctx is not None else ""
    executor = _Executor(planner, seed, seed_prefix, num_threads, compat)
    has_calls = any(isinstance(s, _Call) for s in planner.steps)
    snapshot = _Snapshot(planner.root, copy_values=has_calls)
    try:
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
                     num_threads: int | None = None) -> InitReport:
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
    return _run(planner, seed, num_threads, mode, ctx)


def initialize(module: nn.Module, init_cfg: Any, *, seed: int | None = None, compat: str | None = None,
               num_threads: int | None = None) -> InitReport:
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
    return _run(planner, seed, num_threads, mode, ctx)

