"""The planner: one walk of a module tree that resolves, for every tensor, the last write.

See :mod:`torchinit.engine` for the order it reproduces and docs/design.md for the data flow.
Nothing here writes to a tensor: the planner produces ordered steps (:class:`Fill`,
:class:`Call`) and provenance records that :mod:`torchinit._txn` performs.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ._config_memo import Memo, parse_init_cfg_once
from ._plan_items import Call, Fill, Ref, Slot, describe_ref, join, label, preorder
from ._plan_parts import ANY_MODULE, Checks, Frame, Part, unmatched_text
from ._plan_rules import enter_child, enter_rules, exit_pretrained
from .config import RuleSpec
from .initializers import Constant, describe_initializer
from .module import default_rules_of, get_is_init, is_init_owner, plain_class, set_is_init
from .report import ParamRecord, RuleRecord
from .selectors import is_known_layer, layer_keys

__all__ = ["MAX_BEATEN", "Planner"]

_DEFAULT_SEQ = -(1 << 60)  # default rules sort before every other write
MAX_BEATEN = 8  # rules listed per tensor as beaten (the count is always exact up to here)


class Planner:
    """Resolves, in one walk, the last write of every tensor in mmengine's order.

    Layer parts live on per-class stacks while the walk is inside their owner, so each
    module finds its winning rule by looking at the top of the stacks of its classes:
    linear in the number of modules, whatever the nesting depth.
    """

    def __init__(self, root: nn.Module, compat: str) -> None:
        self.root = root
        self.compat = compat == "mmengine"
        self.functional = False  # initialize(): only the given rules, no init_cfg of the tree
        self.order = preorder(root)
        self.names = {id(m): name for name, m in self.order}
        self.slots: dict[int, Slot] = {}
        for mname, m in self.order:
            for table, is_buffer in ((m._parameters, False), (m._buffers, True)):
                for attr, t in table.items():
                    if t is not None and id(t) not in self.slots:
                        self.slots[id(t)] = Slot(join(mname, attr), m, attr, is_buffer)
        self.rules: list[RuleRecord] = []
        self.loads: list[Any] = []
        self.unmatched: list[str] = []
        self.owners: list[nn.Module] = []
        self.records: dict[str, ParamRecord] = {}
        self.steps: list[Fill | Call] = []
        self._best: dict[int, tuple[int, Fill]] = {}
        self.calls: list[tuple[int, Call]] = []
        self._parsed: dict[int, tuple[RuleSpec, ...]] = {}
        self._defaults: dict[int, tuple[RuleSpec, ...]] = {}
        self._memo: Memo = {}  # configs of equal content parse once per plan
        self.checks = Checks()
        self.texts: dict[int, tuple[Any, str]] = {}  # describe() of each initializer, once per plan
        self.bias_inits: dict[tuple[type, str], Constant] = {}
        self.stacks: dict[Any, list[Part]] = {}
        self.pstacks: dict[Any, list[Part]] = {}
        self.pending: dict[int, list[Part]] = {}
        self._active: list[Part] = []
        self._keys: dict[type, tuple[Any, ...]] = {}
        self.plain: dict[type, bool] = {}  # module.plain_class, once per class in a plan
        self.skips: list[str] = []  # layer names whose own init_weights a rule switched off
        self.skip_ids: set[int] = set()  # modules an override switched off likewise
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
        rules = self._parsed.get(id(m))
        if rules is None:
            cfg = getattr(m, "init_cfg", None)
            where = f"init_cfg of {label(self.name_of(m), m)}" if cfg is not None else ""
            rules = self._parsed[id(m)] = parse_init_cfg_once(cfg, where, self._memo)
        return rules

    def defaults_of(self, m: nn.Module) -> tuple[RuleSpec, ...]:
        rules = self._defaults.get(id(m))
        if rules is None:
            cfg = default_rules_of(m)
            where = f"default_init_cfg of {label(self.name_of(m), m)}" if cfg is not None else ""
            rules = self._defaults[id(m)] = parse_init_cfg_once(cfg, where, self._memo)
        return rules

    def plain_of(self, cls: type) -> bool:
        """:func:`torchinit.module.plain_class`, once per class in a plan: such a module holds
        no init_cfg, no default rules, no init code of its own class and no class flag."""
        plain = self.plain.get(cls)
        if plain is None:
            plain = self.plain[cls] = plain_class(cls)
        return plain

    def validate_tree(self) -> None:
        """Parse every init_cfg and default in the tree, opaque subtrees included, before
        anything runs."""
        for _, m in self.order:
            if self.plain_of(type(m)):
                continue
            if is_init_owner(m):
                self.rules_of(m)
            self.defaults_of(m)

    def keys_of(self, m: nn.Module) -> tuple[Any, ...]:
        cls = type(m)
        keys = self._keys.get(cls)
        if keys is None:
            keys = self._keys[cls] = layer_keys(cls, self.compat)
        return keys

    def slot(self, module: nn.Module, attr: str) -> Slot | None:
        t: Tensor | None = module._parameters.get(attr)
        if t is None:
            t = module._buffers.get(attr)
        if t is None:
            t = getattr(module, attr, None)
        if not isinstance(t, Tensor):
            return None
        found = self.slots.get(id(t))
        if found is None:
            found = self.slots[id(t)] = Slot(join(self.name_of(module), attr), module, attr, False)
        return found

    def offer(self, seq: int, fill: Fill) -> None:
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
        winner.beaten[:0] = [describe_ref(loser.ref), *loser.beaten][: MAX_BEATEN - len(winner.beaten)]

    # -- the walk
    def visit_module(self, m: nn.Module) -> None:
        """Offer the winning rule for each tensor of ``m`` that some rule covers.

        Layer rules sit on per-class stacks (``best`` at the top is the winner); rules
        with ``param`` sit on their own stacks and are checked name by name; overrides
        active here cover their whole subtree.
        """
        keys = self.keys_of(m)
        layer_parts: list[Part] = []
        for key in keys:
            stack = self.stacks.get(key)
            if stack:
                top = stack[-1]
                assert top.best is not None
                top.matched = top.best.matched = True
                shown = stack[: -MAX_BEATEN - 2 : -1]
                layer_parts.extend(shown)
                if not any(p is top.best for p in shown):
                    layer_parts.append(top.best)
        param_parts = (
            [p for key in (*keys, ANY_MODULE) for p in self.pstacks.get(key, ())] if self.pstacks else []
        )
        if layer_parts or param_parts or self._active:
            self.visit_parts(m, [*layer_parts, *param_parts, *self._active])

    def visit_parts(self, m: nn.Module, parts: list[Part]) -> None:
        if not any(p.rule.selects for p in parts):  # the usual case: every part covers weight and bias
            best = parts[0] if len(parts) == 1 else max(parts, key=lambda p: p.seq)
            module_counted = False
            for name in ("weight", "bias"):
                slot = None if name in m._buffers else self.slot(m, name)
                if slot is None:
                    continue
                for p in parts:
                    p.matched = True
                self._offer_part(best, name, slot, parts)
                if best.ref.rule is not None and not module_counted:
                    module_counted = True
                    best.ref.rule.modules += 1
            return
        names = [(n, False) for n in ("weight", "bias") if n not in m._buffers]
        if any(p.rule.params is not None for p in parts):
            names += [(n, False) for n in m._parameters if n not in ("weight", "bias")]
        if any(p.rule.buffers is not None for p in parts):
            names += [(n, True) for n, t in m._buffers.items() if t is not None]
        counted: set[int] = set()
        for name, is_buffer in names:
            slot = self.slot(m, name)
            if slot is None:
                continue
            found = [p for p in parts if p.covers(name, is_buffer)]
            if not found:
                continue
            best = found[0] if len(found) == 1 else max(found, key=lambda p: p.seq)
            for p in found:
                p.matched = True
            self._offer_part(best, name, slot, found)
            if best.ref.rule is not None and id(best.ref.rule) not in counted:
                counted.add(id(best.ref.rule))
                best.ref.rule.modules += 1

    def _offer_part(self, best: Part, name: str, slot: Slot, found: list[Part]) -> None:
        tensor = slot.current()
        assert tensor is not None
        if not best.rule.selects and name == "bias":
            init = best.bias_init
            ref = best.refs.get("bias")
            if ref is None:
                ref = best.refs["bias"] = Ref(
                    best.ref.source,
                    best.ref.initializer,
                    best.ref.owner,
                    "bias",
                    best.ref.rule,
                    best.rule.bias,
                )
        else:
            init = best.rule.init
            role = "weight" if name == "weight" else "tensor"
            specialize = getattr(init, "specialize", None)
            if specialize is not None:  # position-aware initializers (e.g. depth-scaled)
                init = specialize(slot.name, self.root)
                ref = Ref(best.ref.source, describe_initializer(init), best.ref.owner, role, best.ref.rule)
            else:
                ref = best.refs.get(role)
                if ref is None:
                    ref = best.refs[role] = Ref(
                        best.ref.source, best.ref.initializer, best.ref.owner, role, best.ref.rule
                    )
        self.checks.check(
            init,
            tensor,
            lambda: f"{slot.name} (shape {tuple(tensor.shape)}, {tensor.dtype}) in {best.rule.where}",
        )
        fill = Fill(slot, init, ref)
        if len(found) == 1:  # the usual case: one rule covers the tensor, nothing beaten
            self.offer(best.seq, fill)
            return
        seen = {id(best.ref.rule)}
        for part in sorted(found, key=lambda p: -p.seq):
            if id(part.ref.rule) not in seen and len(fill.beaten) < MAX_BEATEN:
                seen.add(id(part.ref.rule))
                fill.beaten.append(describe_ref(part.ref))
                if part.ref.rule is not None:
                    part.ref.rule.beaten_tensors += 1
        self.offer(best.seq, fill)

    def walk(self, root_rules: tuple[RuleSpec, ...] | None) -> None:
        """Visit every module once, in mmengine's order; ``root_rules`` is initialize()'s cfg."""
        stack: list[tuple[nn.Module, bool, bool] | Frame] = [(self.root, True, False)]
        seen: set[int] = set()
        while stack:
            item = stack.pop()
            if isinstance(item, Frame):
                self.leave(item)
                continue
            m, reach, opaque = item
            if id(m) in seen:
                continue
            seen.add(id(m))
            frame = Frame(m)
            is_root = m is self.root
            if is_root and root_rules is not None:
                frame.owner_rules = root_rules
                enter_rules(self, m, root_rules, "rule", frame)
            elif reach and not opaque and not self.plain_of(type(m)):
                owner = is_init_owner(m)
                if owner and (is_root or not get_is_init(m)):
                    self.owners.append(m)
                    frame.owner_rules = self.rules_of(m)
                    enter_rules(self, m, self.defaults_of(m), "default", frame, default=True)
                    enter_rules(self, m, frame.owner_rules, "rule", frame)
                elif not owner:
                    enter_rules(self, m, self.defaults_of(m), "default", frame, default=True)
            for part in self.pending.pop(id(m), ()):
                self._active.append(part)
                frame.overrides.append(part)
            self.visit_module(m)
            if frame.pushed or frame.overrides or frame.skips or frame.owner_rules is not None:
                stack.append(frame)  # else leaving it has nothing to undo (most layers)
            children = [c for c in m._modules.values() if c is not None]
            is_owner = frame.owner_rules is not None and root_rules is None
            for child in reversed(children):
                stack.append(enter_child(self, child, m, reach, opaque, is_owner, root_rules is not None))

    def leave(self, frame: Frame) -> None:
        rule_matched: dict[int, bool] = {}
        for key, entry in reversed(frame.pushed):
            if not entry.rule.selects:
                stack = self.stacks[key]
                stack.pop()
                if entry.matched and stack:
                    stack[-1].matched = True
            else:
                pstack = self.pstacks[key]
                pstack.pop()
                if not pstack:  # none left: visit_module skips the look-ups
                    del self.pstacks[key]
            rule_matched[id(entry.rule)] = rule_matched.get(id(entry.rule), False) or entry.matched
        for key, entry in frame.pushed:
            # A real class absent from this model is normal in a shared config (mmdet's
            # layer=['_BatchNorm', 'GroupNorm'] on a BN model); warn for it only when the
            # whole rule matched nothing. A name no class has is a typo: always warn.
            if not entry.matched and not (rule_matched[id(entry.rule)] and is_known_layer(key)):
                self.unmatched.append(
                    unmatched_text(frame.module, self.name_of(frame.module), entry, key, self.compat)
                )
        for part in frame.overrides:
            self._active.remove(part)
        if frame.skips:
            del self.skips[-frame.skips :]
        if frame.owner_rules is not None:
            exit_pretrained(self, frame.module, frame.owner_rules)

    # -- entry points
    def plan_init_weights(self) -> None:
        self.validate_tree()
        self.walk(None)
        self.finish()

    def plan_initialize(self, rules: tuple[RuleSpec, ...]) -> None:
        self.functional = True
        self.walk(rules)
        self.finish()

    def finish(self) -> None:
        """Order the winning writes and opaque calls by their place in the sequence."""
        items: list[tuple[int, int, Fill | Call]] = [(seq, 1, f) for seq, f in self._best.values()]
        items += [(seq, 0, c) for seq, c in self.calls]
        items.sort(key=lambda x: (x[0], x[1]))
        self.steps = [step for _, _, step in items]
        for slot in self.slots.values():
            if not slot.is_buffer:
                self.record_for(slot)
        for _, fill in self._best.values():
            rec = self.record_for(fill.slot)
            ref = fill.ref
            rec.source, rec.initializer, rec.owner, rec.role, rec.value = (
                ref.source,
                ref.initializer,
                ref.owner,
                ref.role,
                ref.value,
            )
            rec.beaten = [b for b in fill.beaten if b]
            rec.init = fill.init
            if ref.rule is not None:
                ref.rule.tensors += 1

    def record_for(self, slot: Slot) -> ParamRecord:
        rec = self.records.get(slot.name)
        if rec is None:
            t = slot.current()
            rec = self.records[slot.name] = ParamRecord(
                slot.name, tuple(t.shape) if t is not None else (), is_buffer=slot.is_buffer
            )
        return rec

    def mark_owners_initialized(self) -> None:
        for m in self.owners:
            set_is_init(m, True)
