"""Generated trees and configs that try to break the engine's promises.

* After any exception every parameter and buffer is bit-identical, ``is_init`` flags too,
  and no config object was mutated (a run that succeeds never mutates configs either).
* User ``init_weights`` code that only calls ``super().init_weights()`` changes nothing:
  the result (values and provenance) equals the run without that code. So a default never
  beats a rule through user code, at any depth.
* Seeded runs are reproducible, whatever the number of threads.
* The planner's shortcut for plain layers plans what its full checks plan, whatever flags
  and code are put on those layers.

Random trees mix torchinit BaseModules with random ``init_cfg`` (valid or not), ConvModules
(default rules), plain containers, common layers, and user code that writes, reads, writes
in part, or raises after writing. ``TORCHINIT_HYPOTHESIS_EXAMPLES`` runs more examples.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from _examples import property_settings
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import torchinit
from torchinit import BaseModule, ConvModule, InitWarning, TorchInitError

SETTINGS = property_settings(60)

LAYERS = ["Conv2d", "Linear", "BatchNorm2d", "LayerNorm", "Conv2D", "_BatchNorm", "Embedding", "Nope"]
TYPES = ["Constant", "Normal", "Kaiming", "Xavier", "Uniform", "TruncNormal", "Kaimng", "Zeros"]


def rule_strategy(children: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    args = {
        "Constant": st.fixed_dictionaries({"val": st.sampled_from([0, 1, 2.5, 1e39, float("nan")])}),
        "Normal": st.fixed_dictionaries({"std": st.sampled_from([0.02, 1.0, -1.0])}),
        "Kaiming": st.fixed_dictionaries({"mode": st.sampled_from(["fan_in", "fan_out", "fan_mid"])}),
        "Xavier": st.fixed_dictionaries({"gain": st.sampled_from([1.0, 2.0, 1e300])}),
        "Uniform": st.fixed_dictionaries({"a": st.just(-1), "b": st.sampled_from([1, -2])}),
        "TruncNormal": st.fixed_dictionaries({"std": st.just(0.02)}),
        "Kaimng": st.just({}),
        "Zeros": st.just({}),
    }
    rule = st.sampled_from(TYPES).flatmap(lambda t: args[t].map(lambda a, t=t: {"type": t, **a}))
    layer = st.one_of(st.sampled_from(LAYERS), st.lists(st.sampled_from(LAYERS), min_size=1, max_size=3))
    extras = st.fixed_dictionaries(
        {},
        optional={
            "layer": layer,
            "bias": st.sampled_from([0, 0.5, True, 1e39]),
            "bias_prob": st.sampled_from([0.01, 1.5]),
            "override": st.sampled_from(
                [{"name": c} for c in [*children, "missing"]] or [{"name": "missing"}]
            ),
        },
    )
    return st.tuples(rule, extras).map(lambda pair: {**pair[0], **pair[1]})


@dataclass
class Node:
    kind: str  # 'owner', 'conv_module', 'seq', 'leaf:<Layer>'
    children: list[Node]
    cfg: Any = None
    user: str | None = None  # None, 'super', 'write', 'read', 'partial', 'raise'


def node_strategy() -> st.SearchStrategy[Node]:
    leaf = st.sampled_from(
        ["leaf:Conv2d", "leaf:Linear", "leaf:BatchNorm2d", "leaf:LayerNorm", "conv_module"]
    ).map(lambda k: Node(k, []))

    def extend(children: st.SearchStrategy[list[Node]]) -> st.SearchStrategy[Node]:
        def owner(kids: list[Node]) -> st.SearchStrategy[Node]:
            names = [f"c{i}" for i in range(len(kids))]
            cfg = st.one_of(
                st.none(), rule_strategy(names), st.lists(rule_strategy(names), min_size=1, max_size=3)
            )
            user = st.sampled_from([None, None, "super", "write", "read", "partial", "raise"])
            return st.builds(Node, st.sampled_from(["owner", "seq"]), st.just(kids), cfg, user)

        return st.lists(children, min_size=1, max_size=3).flatmap(owner)

    return st.recursive(leaf, lambda inner: extend(inner), max_leaves=8)


class Owner(BaseModule):
    def __init__(self, init_cfg: Any = None) -> None:
        super().__init__(init_cfg)


class UserOwner(BaseModule):
    """Has init_weights code: calls super, then does ``action`` to its first tensor."""

    def __init__(self, action: str, init_cfg: Any = None) -> None:
        super().__init__(init_cfg)
        self.action = action

    def init_weights(self, **kwargs: Any) -> Any:
        report = super().init_weights(**kwargs)
        tensors = [p for p in self.parameters()]
        if not tensors:
            return report
        t = tensors[0]
        with torch.no_grad():
            if self.action == "write":
                t.normal_()
            elif self.action == "read":
                t.mul_(0.5)
            elif self.action == "partial":
                t.view(-1)[0] = 3.0
            elif self.action == "raise":
                t.fill_(7.0)
                tensors[-1].add_(1.0)
                raise RuntimeError("user code failed after writing")
        return report


def build(node: Node, user: bool = True) -> nn.Module:
    if node.kind.startswith("leaf:"):
        return {
            "Conv2d": lambda: nn.Conv2d(4, 4, 3),
            "Linear": lambda: nn.Linear(4, 4),
            "BatchNorm2d": lambda: nn.BatchNorm2d(4),
            "LayerNorm": lambda: nn.LayerNorm(4),
        }[node.kind[5:]]()
    if node.kind == "conv_module":
        return ConvModule(4, 4, 3, norm_cfg=dict(type="BN"))
    action = node.user if user else (None if node.user in (None, "super") else node.user)
    if node.kind == "seq" and node.user is None:  # a 'super' seq is an owner either way (its cfg counts)
        m: nn.Module = nn.Sequential()
    else:
        m = (
            UserOwner(action, copy.deepcopy(node.cfg))
            if action is not None
            else Owner(copy.deepcopy(node.cfg))
        )
    for i, child in enumerate(node.children):
        m.add_module(f"c{i}", build(child, user))
    return m


def state(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, bool]]:
    values = {k: v.detach().clone() for k, v in model.state_dict().items()}
    flags = {n: m.is_init for n, m in model.named_modules() if isinstance(m, BaseModule)}
    return values, flags


def configs(model: nn.Module) -> dict[str, Any]:
    return {n: copy.deepcopy(m.init_cfg) for n, m in model.named_modules() if isinstance(m, BaseModule)}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(
        torch.equal(a[k], b[k])
        or ((a[k].isnan() == b[k].isnan()).all() and torch.equal(a[k].nan_to_num(), b[k].nan_to_num()))
        for k in a
    )


def run(model: nn.Module, **kwargs: Any) -> torchinit.InitReport | BaseException:
    root = torchinit.Sequential(model)  # the same names whatever the tree's root is
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InitWarning)
            return root.init_weights(**kwargs)
    except (TorchInitError, RuntimeError, ValueError, TypeError, KeyError) as exc:
        return exc


def run_materialize(model: nn.Module, seed: int | None) -> torchinit.InitReport | BaseException:
    root = torchinit.Sequential(model)
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InitWarning)
            return torchinit.materialize(root, "cpu", seed=seed)
    except (TorchInitError, RuntimeError, ValueError, TypeError, KeyError) as exc:
        return exc


@SETTINGS
@given(node_strategy(), st.sampled_from([None, 0, 7]))
def test_any_failure_leaves_tensors_flags_and_configs_as_they_were(node: Node, seed: int | None) -> None:
    torch.manual_seed(0)
    model = build(node)
    before, cfgs = state(model), configs(model)
    outcome = run(model, seed=seed)
    assert configs(model) == cfgs or _nan_equal(configs(model), cfgs)
    if isinstance(outcome, BaseException):
        assert isinstance(outcome, TorchInitError), repr(outcome)  # never a foreign exception
        values, flags = state(model)
        assert same(values, before[0]), f"tensors changed by a failed run: {outcome}"
        assert flags == before[1]


@SETTINGS
@given(node_strategy(), st.sampled_from([0, 3]))
def test_user_code_that_only_calls_super_changes_nothing(node: Node, seed: int) -> None:
    torch.manual_seed(0)
    plain = build(node, user=False)
    torch.manual_seed(1)
    a = run(plain, seed=seed)
    torch.manual_seed(0)
    with_super = build(_only_super(node))
    torch.manual_seed(1)
    b = run(with_super, seed=seed)
    assert type(a) is type(b) or isinstance(a, BaseException) == isinstance(b, BaseException)
    if isinstance(a, BaseException):
        return
    assert same(state(plain)[0], state(with_super)[0])
    assert isinstance(b, torchinit.InitReport)
    for name, rec in a.params.items():
        other = b.params[name]
        if rec.source in ("rule", "default", "pretrained"):
            assert (other.source, other.initializer) == (rec.source, rec.initializer), name


def _only_super(node: Node) -> Node:
    user = "super" if node.kind == "owner" and node.user in (None, "super") else node.user
    return Node(node.kind, [_only_super(c) for c in node.children], node.cfg, user)


def _nan_equal(a: Any, b: Any) -> bool:
    return repr(a) == repr(b)


@SETTINGS
@given(node_strategy(), st.integers(0, 2**32))
def test_seeded_runs_are_reproducible_whatever_the_threads(node: Node, seed: int) -> None:
    results = []
    for threads in (1, 2):
        torch.manual_seed(0)
        model = build(node)
        torch.manual_seed(1)
        outcome = run(model, seed=seed, num_threads=threads)
        results.append((state(model)[0], isinstance(outcome, BaseException)))
    assert results[0][1] == results[1][1]
    if not results[0][1]:
        assert same(results[0][0], results[1][0])


@SETTINGS
@given(node_strategy(), st.sampled_from([None, 0]), st.booleans())
def test_a_run_without_user_code_reports_what_the_full_provenance_pass_would(
    node: Node, seed: int | None, meta: bool
) -> None:
    """A run in which no opaque code ran skips the pass that reconciles the plan's records
    with the transaction's last writes: the report must be the one that pass gives, for
    init_weights and for materialize on the meta device."""
    from torchinit import _txn

    reports = []
    for force in (False, True):
        torch.manual_seed(0)
        if meta:
            with torch.device("meta"):
                model = build(node, user=False)
        else:
            model = build(node, user=False)
        original = _txn.Transaction.__init__

        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            self.ran_code = force or self.ran_code

        _txn.Transaction.__init__ = init  # type: ignore[method-assign]
        try:
            reports.append(run_materialize(model, seed) if meta else run(model, seed=seed))
        finally:
            _txn.Transaction.__init__ = original  # type: ignore[method-assign]
    a, b = reports
    assert isinstance(a, BaseException) == isinstance(b, BaseException)
    if isinstance(a, torchinit.InitReport):
        assert isinstance(b, torchinit.InitReport)
        assert a.to_dict() == b.to_dict()


MARKS = [None, None, "is_init", "init_weights", "child"]


def _mark(model: nn.Module, marks: list[str | None]) -> None:
    """Give the plain layers and containers of ``model``, in order, what the planner's shortcut
    for them must notice: an ``is_init`` flag, ``init_weights`` code on the instance, or a child
    named ``init_weights`` (a module is callable)."""
    from torchinit.module import plain_class

    plain = [m for m in model.modules() if plain_class(type(m))]
    plain.sort(key=lambda m: not m._modules)  # containers first: a flag on one hides what it holds
    for module, mark in zip(plain, marks):
        if mark == "is_init":
            module.is_init = True
        elif mark == "init_weights":

            def code(m: nn.Module = module, **kwargs: Any) -> None:
                with torch.no_grad():
                    for p in m.parameters():
                        p.fill_(3.0)

            module.init_weights = code
        elif mark == "child":
            module.add_module("init_weights", nn.Identity())


@SETTINGS
@given(
    node_strategy(),
    st.sampled_from(MARKS),
    st.lists(st.sampled_from(MARKS), max_size=12),
    st.sampled_from([None, 0]),
    st.sampled_from(["torchinit", "mmengine"]),
)
def test_the_plain_layer_shortcut_plans_what_the_full_checks_plan(
    node: Node, top: str | None, marks: list[str | None], seed: int | None, compat: str
) -> None:
    """The planner enters plain layers without asking for their init code and flag
    (``Planner.plain_of``); on any tree, with flags and code put on any of them, a run gives
    what it gives with the full checks: the same values, report and flags, or the same error."""
    from torchinit._planner import Planner

    outcomes = []
    for shortcut in (True, False):
        torch.manual_seed(0)
        model = nn.Sequential(build(node))  # a plain container above every tree, marked ``top``
        _mark(model, [top, *marks])
        original = Planner.plain_of
        if not shortcut:
            Planner.plain_of = lambda self, cls: False  # type: ignore[method-assign]
        try:
            torch.manual_seed(1)
            outcome = run(model, seed=seed, compat=compat)
        finally:
            Planner.plain_of = original  # type: ignore[method-assign]
        outcomes.append((outcome, state(model)))
    (a, (values_a, flags_a)), (b, (values_b, flags_b)) = outcomes
    if isinstance(a, BaseException) or isinstance(b, BaseException):
        assert (type(a), str(a)) == (type(b), str(b))
    else:
        assert a.to_dict() == b.to_dict()
    assert same(values_a, values_b) and flags_a == flags_b


@pytest.mark.parametrize("depth", [12])
def test_a_deep_chain_of_user_code_that_calls_super_keeps_the_outer_rule(depth: int) -> None:
    node = Node("leaf:Conv2d", [])
    for _ in range(depth):
        node = Node("owner", [Node("conv_module", []), node], None, "super")
    node = Node("owner", [node], dict(type="Constant", val=3, layer="Conv2d"), None)
    model = build(node)
    report = run(model)
    assert isinstance(report, torchinit.InitReport)
    for name, p in model.named_parameters():
        if name.endswith("conv.weight") or name.endswith("c1.weight"):
            assert torch.equal(p, torch.full_like(p, 3)), name
