"""The planner: one walk of a module tree that resolves, for every tensor, the last write.

See :mod:`torchinit.engine` for the order it reproduces and docs/design.md for the data flow.
Nothing here writes to a tensor: the planner produces ordered steps (:class:`_Fill`,
:class:`_Call`) and provenance records that :mod:`torchinit.engine` executes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from torch import Tensor, nn

from .config import RuleSpec, parse_init_cfg
from .errors import ConfigError
from .initializers import Constant, describe_initializer
from .module import BaseModule, has_user_init_weights
from .report import ParamRecord, RuleRecord, Source
from .selectors import is_known_layer, layer_keys, resolve_override, suggest_layer_names

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




# --------------------------------------------------------------------------- planning
_DEFAULT_SEQ = -(1 << 60)  # default rules sort before every other write
_ANY_MODULE = "*"  # stack key of ``param`` rules without ``layer``: they reach every module
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
        self._defaults: dict[int, tuple[RuleSpec, ...]] = {}
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
        if id(m) not in self._defaults:
            where = f"default_init_cfg of {_label(self.name_of(m), m)}"
            self._defaults[id(m)] = parse_init_cfg(m.default_init_cfg(), where)
        return self._defaults[id(m)]

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
            text = best.ref.initializer
            specialize = getattr(init, "specialize", None)
            if specialize is not None:  # position-aware initializers (e.g. depth-scaled)
                init = specialize(slot.name, self.root)
                text = describe_initializer(init)
            check = getattr(init, "check_tensor", None)
            if check is not None:
                check(tensor, f"{slot.name} (shape {tuple(tensor.shape)}) in {best.rule.where}")
            role = "weight" if name == "weight" else "tensor"
            ref = _Ref(best.ref.source, text, best.ref.owner, role, best.ref.rule)
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
            rec.init = fill.init
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
