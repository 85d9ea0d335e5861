"""Generated inputs that try to break config validation and the initializers' checks.

* Any value given to ``parse_init_cfg``, ``copy_init_cfg`` or a registry's ``build`` (random
  nesting of dicts, lists, tuples, sets, numbers past float64, nan, strings, bytes, classes,
  functions, self-references, deep nesting and mappings that lie or raise, in every
  position of a rule) either succeeds or raises a ``ConfigError``, and never changes the
  object it was given.
* For every registered initializer, random arguments, dtypes, shapes and layouts (contiguous,
  strided views, the meta device): when the constructor and ``check_tensor`` accept,
  ``fill`` returns the same tensor, without raising, with every value finite. At the largest
  value each check accepts (found by bisection, per dtype) the fill is still finite.

``TORCHINIT_HYPOTHESIS_EXAMPLES`` runs more examples (the default keeps the file fast).
"""

from __future__ import annotations

import dataclasses
import math
import typing
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import torch
from _examples import property_settings
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from torchinit import WEIGHT_INITIALIZERS, ConfigError, FillInit, InitWarning
from torchinit.config import copy_init_cfg, parse_init_cfg

SETTINGS = property_settings(80)


# --------------------------------------------------------------------------- hostile values
class PlainMapping(Mapping[Any, Any]):
    """An honest Mapping that is not a dict: configs may be any mapping."""

    def __init__(self, data: dict[Any, Any]) -> None:
        self.data = data

    def __getitem__(self, key: Any) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


class LyingMapping(PlainMapping):
    """Claims every key of ``data`` and a ``'layer'``, which ``[]`` then does not have."""

    def __iter__(self) -> Iterator[Any]:
        return iter([*self.data, "layer"])

    def __len__(self) -> int:
        return len(self.data) + 1

    def __contains__(self, key: object) -> bool:
        return True


class RaisingMapping(Mapping[Any, Any]):
    """Every method raises."""

    def __getitem__(self, key: Any) -> Any:
        raise RuntimeError("cannot read")

    def __iter__(self) -> Iterator[Any]:
        raise RuntimeError("cannot list")

    def __len__(self) -> int:
        raise OSError("no length here")


class RaisesOnConstruction:
    """A ``type`` whose constructor raises whatever it is told to."""

    def __init__(self, **kwargs: Any) -> None:
        raise kwargs.get("error", RuntimeError("constructor failed"))


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def ones(tensor: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    return tensor.fill_(scale)


def nested(value: Any, depth: int) -> Any:
    for i in range(depth):
        value = [value] if i % 2 else {"x": value}
    return value


def self_referencing(value: Any, how: int) -> Any:
    """``value`` inside a container that contains itself, in one of three ways."""
    if how == 0:
        box: list[Any] = [value]
        box.append(box)
        return box
    if how == 1:
        rule = {"type": "Constant", "val": 1, "x": value}
        rule["override"] = rule
        return rule
    inner: list[Any] = [value]
    outer = {"type": "Normal", "layer": inner}
    inner.append(outer)
    return outer


NAMES = ["Constant", "Normal", "Kaiming", "Xavier", "Uniform", "TruncNormal", "Pretrained", "Orthogonal",
         "Sparse", "Dirac", "DepthScaledNormal", "EmbeddingNormal", "VarianceScaling", "Kaimng", "mmengine.Normal"]
KEYS = ["type", "layer", "param", "override", "bias", "bias_prob", "name", "val", "std", "mean", "a", "b", "gain",
        "mode", "distribution", "nonlinearity", "sparsity", "depth", "groups", "padding_idx", "scale", "checkpoint",
        "prefix", "revise_keys", "min_loaded", "corrected", "scale", "sdt", "generator", "wholemodule"]

numbers = st.one_of(
    st.integers(-3, 3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([10**400, -(10**400), 2**64, -(2**64), 1e308, -1e39, 1e-320, 0.01, 65504.0, True]),
    st.builds(lambda: 10**5000),  # too long for repr (Python refuses past 4300 digits)
)
leaves = st.one_of(
    st.none(),
    numbers,
    st.sampled_from(NAMES + KEYS + ["Conv2d", "Linear", "weight", "*", "", "fan_in", "blocks", "x.pth"]),
    st.text(max_size=5),
    st.binary(max_size=3),
    st.sampled_from([nn.Linear, nn.Conv2d, int, dict, RaisesOnConstruction, torch.nn.init.normal_, ones, len,
                     lambda: None, lambda t, **kw: t, torch.zeros(2), object()]),
    st.builds(BadRepr),
)


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = st.one_of(st.sampled_from(KEYS), st.integers(0, 2), st.none(), st.tuples(st.integers(0, 1)))
    return st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.frozensets(st.one_of(st.integers(0, 3), st.text(max_size=2)), max_size=3),
        st.dictionaries(keys, children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=3).map(PlainMapping),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=3).map(LyingMapping),
        st.just(RaisingMapping()),
    )


values = st.recursive(leaves, containers, max_leaves=8)


@st.composite
def rules(draw: st.DrawFn) -> Any:
    """A rule-like dict: a type and some of the rule's keys and arguments, each any value."""
    rule: dict[Any, Any] = {"type": draw(st.one_of(st.sampled_from(NAMES), leaves))}
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=4, unique=True)):
        if key == "override":
            rule[key] = draw(st.one_of(values, st.fixed_dictionaries({"name": st.sampled_from(["fc", "", None])},
                                                                      optional={"type": st.sampled_from(NAMES),
                                                                                "val": numbers})))
        else:
            rule[key] = draw(values)
    if draw(st.booleans()):
        rule[draw(st.one_of(st.integers(0, 2), st.none()))] = draw(leaves)
    return rule


@st.composite
def init_cfgs(draw: st.DrawFn) -> Any:
    cfg: Any = draw(st.one_of(rules(), st.lists(rules(), max_size=3), values))
    shape = draw(st.sampled_from(["plain", "plain", "deep", "self", "mapping", "lying"]))
    if shape == "deep":
        cfg = nested(cfg, draw(st.sampled_from([MAX_SHALLOW, 70, 3000])))
    elif shape == "self":
        cfg = self_referencing(cfg, draw(st.integers(0, 2)))
    elif shape == "mapping" and isinstance(cfg, dict):
        cfg = PlainMapping(cfg)
    elif shape == "lying" and isinstance(cfg, dict):
        cfg = LyingMapping(cfg)
    return cfg


MAX_SHALLOW = 5


# --------------------------------------------------------------------------- never mutated
def fingerprint(value: Any) -> list[tuple[int, type, tuple[Any, ...]]]:
    """Every container reachable from ``value`` with the identity of what it holds.

    Iterative, so nesting 3000 deep and self-references are fine; mappings of our hostile
    kinds are recorded by identity only (their contents cannot change).
    """
    seen: set[int] = set()
    out = []
    stack = [value]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if type(item) is dict or isinstance(item, PlainMapping):
            data = item if type(item) is dict else item.data
            out.append((id(item), type(item), tuple((id(k), id(v)) for k, v in data.items())))
            stack.extend(data.values())
        elif isinstance(item, (list, tuple, frozenset, set)):
            out.append((id(item), type(item), tuple(id(v) for v in item)))
            stack.extend(item)
    return out


def check_outcome(call: Any, cfg: Any) -> None:
    """``call(cfg)`` returns or raises a ConfigError (nothing else), and leaves ``cfg`` as it was."""
    before = fingerprint(cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # InitWarnings of valid but odd rules
        try:
            call(cfg)
        except ConfigError:
            pass
    assert fingerprint(cfg) == before


@SETTINGS
@given(init_cfgs())
def test_parse_init_cfg_succeeds_or_raises_a_config_error_and_never_mutates_its_input(cfg: Any) -> None:
    check_outcome(lambda c: parse_init_cfg(c, "init_cfg of the root"), cfg)


@SETTINGS
@given(init_cfgs())
def test_copy_init_cfg_copies_or_raises_a_config_error_and_never_mutates_its_input(cfg: Any) -> None:
    check_outcome(lambda c: copy_init_cfg(c, "init_cfg of the root"), cfg)


@SETTINGS
@given(st.one_of(rules(), values))
def test_registry_build_succeeds_or_raises_a_config_error(cfg: Any) -> None:
    check_outcome(WEIGHT_INITIALIZERS.build, cfg)


# --------------------------------------------------------------------------- check passed => fill is finite
FILL_CLASSES = sorted(
    {cls for name in WEIGHT_INITIALIZERS.names() if isinstance(cls := WEIGHT_INITIALIZERS.get(name), type)
     and issubclass(cls, FillInit)},
    key=lambda c: c.__name__,
)
CHOICES = {"mode": ["fan_in", "fan_out", "fan_avg", "fan_geo_avg"],
           "distribution": ["normal", "uniform", "truncated_normal"],
           "nonlinearity": ["relu", "leaky_relu", "tanh", "gelu", "selu", "linear"],
           "depth": ["blocks", "position"]}
DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int64, torch.int8, torch.uint8,
          torch.bool, torch.complex64, torch.float8_e4m3fn, torch.uint16]
magnitudes = st.one_of(
    st.floats(-4.0, 4.0),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(10**6), 10**6),
    st.sampled_from([1e308, -1e308, 3.4e38, -3.39e38, 3e38, 1e37, 65504.0, -65504.0, 7000.0, 6000.0, 1e-320,
                     0.0, 2**64, -(2**64), 10**400, 300, -1]),
)


def field_values(field: dataclasses.Field[Any], hints: dict[str, Any]) -> st.SearchStrategy[Any]:
    hint = str(hints.get(field.name, field.type))
    if field.name in CHOICES:
        return st.one_of(st.sampled_from(CHOICES[field.name]), st.integers(1, 12) if field.name == "depth"
                         else st.just("nope"))
    if field.name == "corrected":
        return st.booleans()
    if field.name == "sparsity":
        return st.one_of(st.floats(0, 1), st.sampled_from([0.0, 0.5, 1.0]), magnitudes)
    if field.name in ("groups", "padding_idx", "depth"):
        return st.one_of(st.integers(-3, 6), st.just(10**400))
    if "float" in hint:
        return magnitudes
    return st.none()


@st.composite
def filled_cases(draw: st.DrawFn) -> tuple[type, dict[str, Any], torch.dtype, tuple[int, ...], str]:
    cls = draw(st.sampled_from(FILL_CLASSES))
    hints = typing.get_type_hints(cls)
    required = [f for f in dataclasses.fields(cls) if f.init and f.default is dataclasses.MISSING]
    kwargs = {f.name: draw(field_values(f, hints)) for f in dataclasses.fields(cls)
              if f.init and (f in required or draw(st.booleans()))}
    dtype = draw(st.sampled_from(DTYPES))
    shape = tuple(draw(st.one_of(st.lists(st.integers(0, 5), max_size=5),  # any, empty ones too
                                 st.lists(st.integers(1, 6), min_size=2, max_size=2),  # Linear weights
                                 st.lists(st.integers(1, 4), min_size=3, max_size=5))))  # conv weights
    return cls, kwargs, dtype, shape, draw(st.sampled_from(["contiguous", "strided", "meta"]))


@SETTINGS
@given(filled_cases())
def test_a_fill_whose_check_passed_does_not_raise_and_writes_finite_values(
    case: tuple[type, dict[str, Any], torch.dtype, tuple[int, ...], str],
) -> None:
    cls, kwargs, dtype, shape, layout = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            init = cls(**kwargs)
        except ConfigError:
            return
    tensor = torch.zeros(shape, dtype=dtype, device="meta" if layout == "meta" else "cpu")
    if layout == "strided" and shape:  # every other column of a wider tensor: not contiguous
        tensor = torch.zeros((*shape[:-1], 2 * shape[-1]), dtype=dtype)[..., ::2]
    try:
        init.check_tensor(tensor, "net.w")
    except ConfigError:
        return
    assert init.fill(tensor, generator=torch.Generator().manual_seed(0)) is tensor
    if not tensor.is_meta and (tensor.is_floating_point() or tensor.is_complex()):
        assert bool(torch.isfinite(tensor.to(torch.complex128 if tensor.is_complex() else torch.float64)).all())


def test_the_strategies_reach_both_outcomes() -> None:
    """The generated cases are not all rejected: a fill that passes its check happens often."""
    passed = 0
    for name in ("Normal", "Xavier", "Orthogonal", "Constant", "TruncNormalTF"):
        init = WEIGHT_INITIALIZERS.get(name)(**({"val": 65504.0} if name == "Constant" else {}))
        for dtype in (torch.float16, torch.float32):
            tensor = torch.zeros(4, 3, dtype=dtype)
            init.check_tensor(tensor, "net.w")
            init.fill(tensor)
            passed += bool(torch.isfinite(tensor).all())
    assert passed == 10
    assert math.isfinite(float(torch.finfo(torch.float16).max))


# --------------------------------------------------------------------------- at the edge of what the check accepts
def make(name: str, **fixed: Any) -> Any:
    """``v -> Name(**fixed)``, each callable value of ``fixed`` applied to v."""
    cls = WEIGHT_INITIALIZERS.get(name)

    def build(v: float) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InitWarning)  # TruncNormal's, on purpose in a tail
            return cls(**{k: (f(v) if callable(f) else f) for k, f in fixed.items()})

    return build


V = lambda v: v  # noqa: E731
# (what is pushed to the edge, the initializer made from v, a shape it fills)
EDGE_CASES = [
    ("Constant-val", make("Constant", val=V), (64, 32)),
    ("Constant-negative-val", make("Constant", val=lambda v: -v), (64, 32)),
    ("Normal-std", make("Normal", std=V), (64, 32)),
    ("Normal-mean", make("Normal", mean=V), (64, 32)),
    ("Uniform-b", make("Uniform", a=0.0, b=V), (64, 32)),
    ("Uniform-a", make("Uniform", a=lambda v: -v, b=0.0), (64, 32)),
    ("Uniform-width", make("Uniform", a=lambda v: -v, b=V), (64, 32)),
    ("TruncNormal-std", make("TruncNormal", std=V, a=lambda v: -3 * v, b=lambda v: 3 * v), (64, 32)),
    ("TruncNormal-tail", make("TruncNormal", std=lambda v: v / 100, a=lambda v: v / 2, b=V), (64, 32)),
    ("TruncNormal-mean", make("TruncNormal", mean=V, a=lambda v: v / 2, b=lambda v: 2 * v), (64, 32)),
    ("TruncNormalTF-std", make("TruncNormalTF", std=V), (64, 32)),
    ("TruncNormalTF-mean", make("TruncNormalTF", mean=V), (64, 32)),
    ("TruncNormalTF-corrected", make("TruncNormalTF", std=V, a=3.0, b=4.0, corrected=True), (64, 32)),
    ("Xavier-normal", make("Xavier", gain=V), (64, 32)),
    ("Xavier-uniform", make("Xavier", gain=lambda v: -v, distribution="uniform"), (64, 32)),
    ("VarianceScaling-truncated", make("VarianceScaling", scale=V), (64, 32)),
    ("VarianceScaling-uniform", make("VarianceScaling", scale=V, distribution="uniform"), (8, 4)),
    ("Orthogonal", make("Orthogonal", gain=V), (16, 8)),
    ("DeltaOrthogonal", make("DeltaOrthogonal", gain=lambda v: -v), (8, 4, 3, 3)),
    ("Sparse", make("Sparse", std=V, sparsity=0.5), (64, 32)),
    ("EmbeddingNormal", make("EmbeddingNormal", std=V, padding_idx=0), (64, 32)),
    ("DepthScaledNormal", make("DepthScaledNormal", std=V, depth=1), (64, 32)),
]


def largest_accepted(make: Any, tensor: torch.Tensor) -> float:
    """The largest value (to 1e-6 in log scale, between 1 and 1e308) that check_tensor accepts."""
    def accepted(log10: float) -> bool:
        try:
            make(10.0**log10).check_tensor(tensor, "net.w")
        except ConfigError:
            return False
        return True

    lo, hi = 0.0, 308.25
    assert accepted(lo)
    while hi - lo > 1e-6:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if accepted(mid) else (lo, mid)
    return 10.0**lo


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize(("make_init", "shape"), [pytest.param(m, s, id=i) for i, m, s in EDGE_CASES])
def test_at_the_largest_value_the_check_accepts_the_fill_is_still_finite(
    make_init: Any, shape: tuple[int, ...], dtype: torch.dtype
) -> None:
    tensor = torch.zeros(shape, dtype=dtype)
    value = largest_accepted(make_init, tensor)
    for seed in range(3):
        make_init(value).fill(tensor, generator=torch.Generator().manual_seed(seed))
        assert bool(torch.isfinite(tensor).all())
    if value < 1e300:  # the check refuses the next values up, and says why
        with pytest.raises(ConfigError, match=rf"cannot fill net\.w: .*{str(dtype).removeprefix('torch.')}"):
            make_init(value * 1.001).check_tensor(tensor, "net.w")
