"""How a rule enters the planner's walk (:mod:`torchinit._planner`) at its owner.

Its layer fill goes onto the per-class stacks as a :class:`~torchinit._plan_parts.Part` (or
onto the stacks of rules that name their tensors), each override waits for the walk to reach
its module, an initializer object that runs its own code becomes a call at its place in the
order, ``SkipInitWeights`` switches off the ``init_weights`` of the layers it names, a
``Pretrained`` rule plans its checkpoint's tensors (after the owner's subtree, its overrides
after it), and a child with an ``init_weights`` of its own becomes a call at its place
(``enter_child``).
These are functions of the planner: they read and extend its state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from torch import nn

from . import module as module_mod  # is_model_wrapper looked up when called: it may be patched
from ._module_attrs import bare_instance
from ._module_fills import SkipInitWeights, matches_layer
from ._plan_items import Call, Fill, Ref, join, preorder
from ._plan_parts import ANY_MODULE, Frame, Part
from .config import RuleSpec
from .errors import ConfigError
from .initializers import Constant
from .module import get_is_init, has_user_init_weights
from .report import RuleRecord, Source
from .selectors import resolve_override

if TYPE_CHECKING:  # the planner imports this module
    from ._planner import Planner

__all__ = ["enter_child", "enter_rules", "exit_pretrained", "skipped"]


def describe(planner: Planner, rule: RuleSpec) -> str:
    """``rule.describe()``, once per plan for each initializer object (the parsed configs
    of a plan share theirs: the same default on every ConvModule)."""
    found = planner.texts.get(id(rule.init))
    if found is None or found[0] is not rule.init:
        found = planner.texts[id(rule.init)] = (rule.init, rule.describe())
    return found[1]


def bias_fill(planner: Planner, value: float) -> Constant:
    """The fill of the biases a rule covers: one object per value in a plan, so its check
    runs once per kind of bias (see :class:`~torchinit._plan_parts.Checks`), not once per rule."""
    key = (type(value), repr(value))  # -0.0 is not 0.0
    found = planner.bias_inits.get(key)
    if found is None:
        found = planner.bias_inits[key] = Constant(val=value)
    return found


def new_record(planner: Planner, rule: RuleSpec, owner: str) -> RuleRecord:
    """The report's record of ``rule`` (held by ``owner``), counted as its writes are planned."""
    record = RuleRecord(describe(planner, rule), owner, rule.where)
    planner.rules.append(record)
    return record


def enter_rules(
    planner: Planner,
    owner: nn.Module,
    rules: tuple[RuleSpec, ...],
    source: Source,
    frame: Frame,
    default: bool = False,
) -> None:
    """``owner``'s ``rules`` (its init_cfg, or its default rules with ``default``) enter the
    walk at ``owner``; ``frame`` records what to undo when the walk leaves it."""
    if not rules:
        return
    owner_name = planner.name_of(owner)
    for rule in rules:
        if rule.is_pretrained:
            if planner.functional and planner.compat:  # mmengine's initialize(): in list order
                plan_pretrained_rule(planner, owner, rule)
            continue
        record = new_record(planner, rule, owner_name)
        ref = Ref(source, record.initializer, owner_name, "weight", record)
        if isinstance(rule.init, SkipInitWeights):
            for key in rule.init.layer:
                planner.skips.append(key)
                frame.skips += 1
            for ov in rule.overrides:
                planner.skip_ids.update(id(t) for t in override_targets(owner, ov))
            continue
        if rule.is_opaque:  # mmengine calls an initializer object whatever its layer says
            rule.init.wholemodule = False
            planner.calls.append(
                (planner.next_seq(default), opaque_call(planner, owner, owner_name, rule.init, ref))
            )
        elif rule.layer or rule.selects:
            seq = planner.next_seq(default)
            bias_init = bias_fill(planner, rule.bias)
            stacks = planner.pstacks if rule.selects else planner.stacks
            for key in rule.layer or (ANY_MODULE,):
                entry = Part(seq, rule, ref, bias_init)
                stack = stacks.setdefault(key, [])
                below = stack[-1].best if stack else None
                entry.best = entry if below is None or seq >= below.seq else below
                stack.append(entry)
                frame.pushed.append((key, entry))
        elif not rule.overrides:
            planner.unmatched.append(
                f"{rule.where}: {rule.describe()} has no layer, param or override, so it fills nothing. Say "
                "what it fills, e.g. layer='Conv2d', param='weight' or override=dict(name='head')."
            )
        enter_overrides(planner, owner, rule, source, default)


def enter_overrides(
    planner: Planner,
    owner: nn.Module,
    rule: RuleSpec,
    source: Source,
    default: bool = False,
    now: bool = False,
) -> None:
    """Plan ``rule``'s overrides; ``now``: fill their subtrees at once (after a load)
    instead of when the walk reaches them."""
    owner_name = planner.name_of(owner)
    for ov in rule.overrides:
        targets = override_targets(owner, ov)
        sub_record = new_record(planner, ov.rule, owner_name)
        sub_ref = Ref(source, sub_record.initializer, owner_name, "weight", sub_record)
        seq = planner.next_seq(default)
        for target in targets:
            if ov.rule.is_pretrained:
                plan_pretrained(planner, target, ov.rule, sub_ref, seq)
            elif ov.rule.is_opaque:
                ov.rule.init.wholemodule = True
                planner.calls.append(
                    (seq, opaque_call(planner, target, planner.name_of(target), ov.rule.init, sub_ref))
                )
            elif now:
                part = Part(seq, ov.rule, sub_ref, bias_fill(planner, ov.rule.bias))
                for _, m in preorder(target):
                    planner.visit_parts(m, [part])
            else:
                planner.pending.setdefault(id(target), []).append(
                    Part(seq, ov.rule, sub_ref, bias_fill(planner, ov.rule.bias))
                )


def override_targets(owner: nn.Module, ov: Any) -> list[nn.Module]:
    try:
        return resolve_override(owner, ov.name)
    except ConfigError as exc:
        raise type(exc)(f"{ov.rule.where}: {exc}") from None


def opaque_call(planner: Planner, module: nn.Module, name: str, init: Any, ref: Ref) -> Call:
    """An initializer object's call; one that says which modules it runs on (ModuleInit)
    lets the plan name the tensors it sets. What it writes is recorded with the role
    ``'tensor'`` (not a rule's weight or bias part), as the plan shows it."""
    targets = getattr(init, "targets", None)
    covers = [m for _, m in targets(module)] if callable(targets) else None
    return Call(module, name, _bind(init, module), replace(ref, role="tensor"), covers)


def skipped(planner: Planner, module: nn.Module) -> bool:
    """Does a SkipInitWeights rule switch off this module's own init_weights?"""
    return id(module) in planner.skip_ids or (bool(planner.skips) and matches_layer(module, planner.skips))


def exit_pretrained(planner: Planner, owner: nn.Module, rules: tuple[RuleSpec, ...]) -> None:
    if planner.functional and planner.compat:
        return  # planned in list order by enter_rules
    for rule in rules:
        if rule.is_pretrained:
            plan_pretrained_rule(planner, owner, rule)


def plan_pretrained_rule(planner: Planner, owner: nn.Module, rule: RuleSpec) -> None:
    """A Pretrained rule of ``owner``: the load, then its overrides (they beat the load)."""
    owner_name = planner.name_of(owner)
    record = new_record(planner, rule, owner_name)
    plan_pretrained(
        planner, owner, rule, Ref("rule", rule.describe(), owner_name, "tensor", record), planner.next_seq()
    )
    enter_overrides(planner, owner, rule, "rule", now=True)


def plan_pretrained(planner: Planner, scope: nn.Module, rule: RuleSpec, ref: Ref, seq: int) -> None:
    from ._load import post_hook_call
    from .checkpoint._pretrained import plan_pretrained

    load = plan_pretrained(rule.init, scope, compat=planner.compat)
    planner.loads.append(load.result)
    assert ref.rule is not None
    ref.rule.modules += 1
    for key, value in load.tensors.items():
        modpath, _, attr = key.rpartition(".")
        module = scope.get_submodule(modpath) if modpath else scope
        slot = planner.slot(module, attr)
        if slot is not None:
            pref = Ref("pretrained", rule.describe(), ref.owner, "tensor", ref.rule)
            planner.offer(seq, Fill(slot, None, pref, value))
    if load.post_hooks:  # after the copy, as load_state_dict calls them
        after = planner.next_seq()
        scope_name = planner.name_of(scope)
        for module, name, hook in load.post_hooks:
            call = post_hook_call((module, join(scope_name, name), hook), load.result)
            planner.calls.append((after, call))


def _bind(init: Any, module: nn.Module) -> Callable[[], Any]:
    return lambda: init(module)


def enter_child(
    planner: Planner,
    child: nn.Module,
    parent: nn.Module,
    reach: bool,
    opaque: bool,
    parent_is_owner: bool,
    functional: bool,
) -> tuple[nn.Module, bool, bool]:
    """How the walk enters ``child`` of ``parent``: ``(child, reach, opaque)``, whether its
    init_cfg can be reached and whether it is inside opaque code. A child with an
    ``init_weights`` of its own (not switched off by ``SkipInitWeights``) becomes a call at
    its place in the order, and its subtree opaque."""
    if functional or opaque:
        return (child, False, opaque)
    if planner.compat:
        reach = parent_is_owner or (reach and module_mod.is_model_wrapper(parent))
    # The usual layer, no init code and no flag: what the checks below find, found faster.
    if planner.plain_of(type(child)) and bare_instance(child):
        return (child, reach, False)
    if (
        reach
        and has_user_init_weights(child)
        and not module_mod.is_model_wrapper(child)
        and not skipped(planner, child)
    ):
        if get_is_init(child):
            return (child, False, False)
        name = planner.name_of(child)
        planner.calls.append(
            (
                planner.next_seq(),
                Call(
                    child,
                    name,
                    _init_weights_of(child),
                    Ref("user", type(child).__name__, name, "tensor", None),
                ),
            )
        )
        return (child, False, True)
    if get_is_init(child):
        return (child, False, False)
    return (child, reach, False)


def _init_weights_of(module: nn.Module) -> Callable[[], Any]:
    """The module's init_weights as it is when called (an instance attribute wins)."""
    return lambda: module.init_weights()  # type: ignore[operator]  # nn.Module attributes are typed Tensor | Module
