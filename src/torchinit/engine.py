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
from fnmatch import fnmatchcase
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
from .selectors import is_known_layer, layer_keys, resolve_override, suggest_layer_names

__all__ = ["get_compat", "initialize", "plan", "run_init_weights", "set_compat"]

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
    beaten: list[str] = field(default_factory=list)
    done: bool = False  # already in place (a checkpoint tensor assigned by materialize)


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
_DEFAULT_SEQ = -(1 << 60)
_ANY_MODULE = "*"  # stack key of ``param`` rules without ``layer``: they reach every module  # default rules sort before every other write
MAX_BEATEN = 8  # rules listed per tensor as beaten (the count is always exact up to here)


@dataclass
class _Part:
    """One write-producing piece of a rule: its layer fill, or one override."""

    seq: int
    rule: RuleSpec
    ref: _Ref
    bias_init: Any
    matched: bool = False

    def covers(self, name: str) -> bool:
        """Does this part fill the parameter with local name ``name`` of a module it reaches?"""
        if self.rule.params is None:
            return name in ("weight", "bias")
        return any(fnmatchcase(name, pattern) for pattern in self.rule.params)


@dataclass
class _Frame:
    """Exit marker of the iterative walk: what to undo when leaving a module."""

    module: nn.Module
    pushed: list[tuple[Any, _Part]]
    overrides: list[_Part]
    owner_rules: tuple[RuleSpec, ...] | None


def _preorder(root: nn.Module) -> list[tuple[str, nn.Module]]:
    """``root.named_modules()`` without recursion (linear even for deeply nested trees)."""
    out: list[tuple[str, nn.Module]] = []
    seen: set[int] = set()
    stack = [("", root)]
    while stack:
        name, m = stack.pop()
        if id(m) in seen:
            continue
        seen.add(id(m))
        out.append((name, m))
        stack.extend(reversed([(_join(name, k), c) for k, c in m._modules.items() if c is not None]))
    return out


class _Planner:
    """Resolves, in one walk, the last write of every tensor in mmengine's order.

    Layer parts live on per-class stacks while the walk is inside their owner, so each
    module finds its winning rule by looking at the top of the stacks of its classes:
    linear in the number of modules, whatever the nesting depth.
    """

    def __init__(self, root: nn.Module, compat: str) -> None:
        self.root = root
        self.compat = compat == "mmengine"
        self.order = _preorder(root)
        self.names = {id(m): name for name, m in self.order}
        self.slots: dict[int, _Slot] = {}
        for mname, m in self.order:
            for attr, t in m._parameters.items():
                if t is not None and id(t) not in self.slots:
                    self.slots[id(t)] = _Slot(_join(mname, attr), m, attr, False)
            for attr, t in m._buffers.items():
                if t is not None and id(t) not in self.slots:
                    self.slots[id(t)] = _Slot(_join(mname, attr), m, attr, True)
        self.rules: list[RuleRecord] = []
        self.loads: list[Any] = []
        self.unmatched: list[str] = []
        self.owners: list[BaseModule] = []
        self.records: dict[str, ParamRecord] = {}
        self.steps: list[_Fill | _Call] = []
        self._best: dict[int, tuple[int, _Fill]] = {}
        self._calls: list[tuple[int, _Call]] = []
        self._parsed: dict[int, tuple[RuleSpec, ...]] = {}
        self._stacks: dict[Any, list[_Part]] = {}
        self._pstacks: dict[Any, list[_Part]] = {}
        self._pending: dict[int, list[_Part]] = {}
        self._active: list[_Part] = []
        self._keys: dict[type, tuple[Any, ...]] = {}
        self._seq = 0
        self._default_seq = _DEFAULT_SEQ

    # -- helpers
    def name_of(self, m: nn.Module) -> str:
        return self.names.get(id(m), type(m).__name__)

    def next_seq(self, default: bool = False) -> int:
        if default and not self.compat:
            self._default_seq += 1
            return self._default_seq
        self._seq += 1
        return self._seq

    def rules_of(self, m: nn.Module) -> tuple[RuleSpec, ...]:
        if id(m) not in self._parsed:
            where = f"init_cfg of {_label(self.name_of(m), m)}"
            self._parsed[id(m)] = parse_init_cfg(getattr(m, "init_cfg", None), where)
        return self._parsed[id(m)]

    def defaults_of(self, m: BaseModule) -> tuple[RuleSpec, ...]:
        return parse_init_cfg(m.default_init_cfg(), f"default_init_cfg of {_label(self.name_of(m), m)}")

    def validate_tree(self) -> None:
        """Parse every init_cfg in the tree, opaque subtrees included, before anything runs."""
        for _, m in self.order:
            if isinstance(m, BaseModule):
                self.rules_of(m)
                self.defaults_of(m)

    def keys_of(self, m: nn.Module) -> tuple[Any, ...]:
        cls = type(m)
        keys = self._keys.get(cls)
        if keys is None:
            keys = self._keys[cls] = layer_keys(cls, self.compat)
        return keys

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

    def offer(self, seq: int, fill: _Fill) -> None:
        """Record a candidate write; the highest seq wins, the loser is listed as beaten."""
        key = id(fill.slot)
        current = self._best.get(key)
        if current is None:
            self._best[key] = (seq, fill)
            return
        winner, loser = (fill, current[1]) if seq > current[0] else (current[1], fill)
        if seq > current[0]:
            self._best[key] = (seq, fill)
        if loser.ref.rule is not None:
            loser.ref.rule.beaten_tensors += 1
        winner.beaten[:0] = [_describe_ref(loser.ref), *loser.beaten][: MAX_BEATEN - len(winner.beaten)]

    # -- parts of a rule
    def new_record(self, rule: RuleSpec, owner: str) -> RuleRecord:
        record = RuleRecord(rule.describe(), owner, rule.where)
        self.rules.append(record)
        return record

    def enter_rules(self, owner: nn.Module, rules: tuple[RuleSpec, ...], source: Source,
                    frame: _Frame, default: bool = False) -> None:
        owner_name = self.name_of(owner)
        for rule in rules:
            if rule.is_pretrained:
                continue
            record = self.new_record(rule, owner_name)
            ref = _Ref(source, rule.describe(), owner_name, "weight", record)
            if rule.layer or rule.params is not None:
                seq = self.next_seq(default)
                if rule.is_opaque:
                    rule.init.wholemodule = False
                    self._calls.append((seq, _Call(owner, owner_name, _bind(rule.init, owner), ref)))
                else:
                    bias_init = Constant(val=rule.bias)
                    stacks = self._stacks if rule.params is None else self._pstacks
                    for key in rule.layer or (_ANY_MODULE,):
                        entry = _Part(seq, rule, ref, bias_init)
                        stacks.setdefault(key, []).append(entry)
                        frame.pushed.append((key, entry))
            for ov in rule.overrides:
                try:
                    targets = resolve_override(owner, ov.name)
                except ConfigError as exc:
                    raise type(exc)(f"{ov.rule.where}: {exc}") from None
                sub_record = self.new_record(ov.rule, owner_name)
                sub_ref = _Ref(source, ov.rule.describe(), owner_name, "weight", sub_record)
                seq = self.next_seq(default)
                for target in targets:
                    if ov.rule.is_pretrained:
                        self.plan_pretrained(target, ov.rule, sub_ref, seq)
                    elif ov.rule.is_opaque:
                        ov.rule.init.wholemodule = True
                        self._calls.append(
                            (seq, _Call(target, self.name_of(target), _bind(ov.rule.init, target), sub_ref)))
                    else:
                        self._pending.setdefault(id(target), []).append(
                            _Part(seq, ov.rule, sub_ref, Constant(val=ov.rule.bias)))

    def exit_pretrained(self, owner: nn.Module, rules: tuple[RuleSpec, ...]) -> None:
        owner_name = self.name_of(owner)
        for rule in rules:
            if rule.is_pretrained:
                record = self.new_record(rule, owner_name)
                self.plan_pretrained(owner, rule, _Ref("rule", rule.describe(), owner_name, "tensor", record),
                                     self.next_seq())

    def plan_pretrained(self, scope: nn.Module, rule: RuleSpec, ref: _Ref, seq: int) -> None:
        from .pretrained import plan_pretrained

        load = plan_pretrained(rule.init, scope)
        self.loads.append(load.result)
        assert ref.rule is not None
        ref.rule.modules += 1
        for key, value in load.tensors.items():
            modpath, _, attr = key.rpartition(".")
            module = scope.get_submodule(modpath) if modpath else scope
            slot = self.slot(module, attr)
            if slot is not None:
                pref = _Ref("pretrained", rule.describe(), ref.owner, "tensor", ref.rule)
                self.offer(seq, _Fill(slot, None, pref, value))

    # -- the walk
    def visit_module(self, m: nn.Module) -> None:
        """Offer the winning rule for each tensor of ``m`` that some rule covers.

        Layer rules sit on per-class stacks (the top is the latest, so the winner); rules
        with ``param`` sit on their own stacks and are checked name by name; overrides
        active here cover their whole subtree.
        """
        keys = self.keys_of(m)
        layer_parts: list[_Part] = []
        for key in keys:
            stack = self._stacks.get(key)
            if stack:
                stack[-1].matched = True
                layer_parts.extend(stack[: -MAX_BEATEN - 2 : -1])
        param_parts = [p for key in (*keys, _ANY_MODULE) for p in self._pstacks.get(key, ())]
        if not (layer_parts or param_parts or self._active):
            return
        names = ["weight", "bias"]
        if param_parts or any(p.rule.params is not None for p in self._active):
            names += [n for n in m._parameters if n not in ("weight", "bias")]
        counted: set[int] = set()
        for name in names:
            slot = self.slot(m, name)
            if slot is None:
                continue
            found = [p for p in (*layer_parts, *param_parts, *self._active) if p.covers(name)]
            if not found:
                continue
            best = max(found, key=lambda p: p.seq)
            for p in found:
                p.matched = True
            self._offer_part(best, name, slot, found)
            if best.ref.rule is not None and id(best.ref.rule) not in counted:
                counted.add(id(best.ref.rule))
                best.ref.rule.modules += 1

    def _offer_part(self, best: _Part, name: str, slot: _Slot, found: list[_Part]) -> None:
        tensor = slot.current()
        assert tensor is not None
        if best.rule.params is None and name == "bias":
            init = best.bias_init
            ref = _Ref(best.ref.source, best.ref.initializer, best.ref.owner, "bias", best.ref.rule, best.rule.bias)
        else:
            init = best.rule.init
            specialize = getattr(init, "specialize", None)
            if specialize is not None:  # position-aware initializers (e.g. depth-scaled)
                init = specialize(slot.name, self.root)
            check = getattr(init, "check_tensor", None)
            if check is not None:
                check(tensor, f"{slot.name} (shape {tuple(tensor.shape)}) in {best.rule.where}")
            ref = best.ref if name == "weight" else _Ref(best.ref.source, best.ref.initializer, best.ref.owner,
                                                         "tensor", best.ref.rule)
        fill = _Fill(slot, init, ref)
        seen = {id(best.ref.rule)}
        for part in sorted(found, key=lambda p: -p.seq):
            if id(part.ref.rule) not in seen and len(fill.beaten) < MAX_BEATEN:
                seen.add(id(part.ref.rule))
                fill.beaten.append(_describe_ref(part.ref))
                if part.ref.rule is not None:
                    part.ref.rule.beaten_tensors += 1
        self.offer(best.seq, fill)

    def walk(self, root_rules: tuple[RuleSpec, ...] | None) -> None:
        """Visit every module once, in mmengine's order; ``root_rules`` is initialize()'s cfg."""
        stack: list[tuple[nn.Module, bool, bool] | _Frame] = [(self.root, True, False)]
        seen: set[int] = set()
        while stack:
            item = stack.pop()
            if isinstance(item, _Frame):
                self.leave(item)
                continue
            m, reach, opaque = item
            if id(m) in seen:
                continue
            seen.add(id(m))
            frame = _Frame(m, [], [], None)
            is_root = m is self.root
            if is_root and root_rules is not None:
                frame.owner_rules = root_rules
                self.enter_rules(m, root_rules, "rule", frame)
            elif reach and not opaque and isinstance(m, BaseModule) and (is_root or not m.is_init):
                self.owners.append(m)
                frame.owner_rules = self.rules_of(m)
                self.enter_rules(m, self.defaults_of(m), "default", frame, default=True)
                self.enter_rules(m, frame.owner_rules, "rule", frame)
            for part in self._pending.pop(id(m), ()):
                self._active.append(part)
                frame.overrides.append(part)
            self.visit_module(m)
            stack.append(frame)
            children = [c for c in m._modules.values() if c is not None]
            is_owner = frame.owner_rules is not None and root_rules is None
            for child in reversed(children):
                stack.append(self.child_item(child, m, reach, opaque, is_owner, root_rules is not None))

    def child_item(self, child: nn.Module, parent: nn.Module, reach: bool, opaque: bool, parent_is_owner: bool,
                   functional: bool) -> tuple[nn.Module, bool, bool]:
        """How the walk enters ``child``: can its init_cfg be reached, is it inside opaque code."""
        from . import module as module_mod

        if functional or opaque:
            return (child, False, opaque)
        if self.compat:
            reach = parent_is_owner or (reach and module_mod.is_model_wrapper(parent))
        if reach and not module_mod.is_model_wrapper(child) and has_user_init_weights(child):
            if getattr(child, "is_init", False):
                return (child, False, False)
            name = self.name_of(child)
            self._calls.append((self.next_seq(), _Call(child, name, child.init_weights,
                                                       _Ref("user", type(child).__name__, name, "tensor", None))))
            return (child, False, True)
        if isinstance(child, BaseModule) and child.is_init:
            return (child, False, False)
        return (child, reach, False)

    def leave(self, frame: _Frame) -> None:
        rule_matched: dict[int, bool] = {}
        for key, entry in reversed(frame.pushed):
            if entry.rule.params is None:
                stack = self._stacks[key]
                stack.pop()
                if entry.matched and stack:
                    stack[-1].matched = True
            else:
                self._pstacks[key].pop()
            rule_matched[id(entry.rule)] = rule_matched.get(id(entry.rule), False) or entry.matched
        for key, entry in frame.pushed:
            # A real class absent from this model is normal in a shared config (mmdet's
            # layer=['_BatchNorm', 'GroupNorm'] on a BN model); warn for it only when the
            # whole rule matched nothing. A name no class has is a typo: always warn.
            if not entry.matched and not (rule_matched[id(entry.rule)] and is_known_layer(key)):
                self._report_unmatched(frame.module, entry, key)
        for part in frame.overrides:
            self._active.remove(part)
        if frame.owner_rules is not None:
            self.exit_pretrained(frame.module, frame.owner_rules)

    def _report_unmatched(self, scope: nn.Module, entry: _Part, key: Any) -> None:
        if entry.rule.params is not None:
            where = "" if key == _ANY_MODULE else f" in a {key if isinstance(key, str) else key.__name__} module"
            self.unmatched.append(
                f"{entry.rule.where}: param={list(entry.rule.params)!r} of {entry.rule.describe()} matches no "
                f"parameter{where} under {_label(self.name_of(scope), scope)}."
            )
            return
        shown = key if isinstance(key, str) else key.__name__
        hints = suggest_layer_names(shown, (m for _, m in _preorder(scope)))
        hint = f" Did you mean {' or '.join(repr(h) for h in hints)}?" if hints else ""
        self.unmatched.append(
            f"{entry.rule.where}: layer={shown!r} of {entry.rule.describe()} matches no module under "
            f"{_label(self.name_of(scope), scope)}.{hint}"
        )

    # -- entry points
    def plan_init_weights(self) -> None:
        self.validate_tree()
        self.walk(None)
        self.finish()

    def plan_initialize(self, rules: tuple[RuleSpec, ...]) -> None:
        self.walk(rules)
        self.finish()

    def finish(self) -> None:
        """Order the winning writes and opaque calls by their place in the sequence."""
        items: list[tuple[int, int, _Fill | _Call]] = [(seq, 1, f) for seq, f in self._best.values()]
        items += [(seq, 0, c) for seq, c in self._calls]
        items.sort(key=lambda x: (x[0], x[1]))
        self.steps = [step for _, _, step in items]
        for slot in self.slots.values():
            if not slot.is_buffer:
                self.record_for(slot)
        for seq, fill in self._best.values():
            rec = self.record_for(fill.slot)
            ref = fill.ref
            rec.source, rec.initializer, rec.owner, rec.role, rec.value = (
                ref.source, ref.initializer, ref.owner, ref.role, ref.value)
            rec.beaten = [b for b in fill.beaten if b]
            if ref.rule is not None:
                ref.rule.tensors += 1

    def record_for(self, slot: _Slot) -> ParamRecord:
        rec = self.records.get(slot.name)
        if rec is None:
            t = slot.current()
            rec = self.records[slot.name] = ParamRecord(
                slot.name, tuple(t.shape) if t is not None else (), is_buffer=slot.is_buffer)
        return rec


def _describe_ref(ref: _Ref) -> str:
    return f"{ref.initializer} ({ref.source}, {ref.owner or 'root'})"


def _bind(init: Any, module: nn.Module) -> Callable[[], Any]:
    return lambda: init(module)


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


class _Executor:
    def __init__(self, planner: _Planner, seed: int | None, seed_prefix: str, num_threads: int | None,
                 compat: str) -> None:
        self.planner = planner
        self.seed = seed
        self.seed_prefix = seed_prefix
        self.num_threads = num_threads
        self.compat = compat
        self.records = planner.records

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
            if rec.source != "none" and rec.initializer is not None and len(rec.beaten) < MAX_BEATEN:
                rec.beaten.insert(0, f"{rec.initializer} ({rec.source}, {rec.owner or 'root'})")
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
         ctx: _RunContext | None, prepare: Callable[[], None] | None = None) -> InitReport:
    """Execute a finished plan; on any exception restore the tree (see _Snapshot).

    ``prepare`` runs after the plan is final and before the first write (materialize uses it
    to allocate meta tensors); a failure there is rolled back too.
    """
    for message in planner.unmatched:
        warnings.warn(message, InitWarning, stacklevel=4)
    seed_prefix = ctx.seed_prefix if ctx is not None else ""
    executor = _Executor(planner, seed, seed_prefix, num_threads, compat)
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
                    rec.source, rec.initializer, rec.owner, rec.role = (
                        step.ref.source, step.ref.initializer, step.name, "tensor")
    return InitReport(params=planner.records, rules=planner.rules, loads=planner.loads,
                      unmatched=planner.unmatched, compat=mode)
