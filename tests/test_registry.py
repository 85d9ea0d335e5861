"""Registries: registering, looking up with near-miss hints, building from a config dict."""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any

import pytest

import torchinit

from torchinit import (
    INITIALIZERS,
    WEIGHT_INITIALIZERS,
    ConfigError,
    ConfigKeyError,
    ConfigTypeError,
    ConfigValueError,
    Constant,
    Kaiming,
    Registry,
    RegistryError,
    UnknownTypeError,
    build_from_cfg,
)
from torchinit.registry import close_matches, describe_value


class Foo:
    def __init__(self, x: int, y: int = 2) -> None:
        self.x, self.y = x, y


def make_bar(*, depth: int = 1) -> tuple[str, int]:
    return ("bar", depth)


@pytest.fixture
def reg() -> Registry:
    return Registry("thing")


# --------------------------------------------------------------------------- registering
def test_register_module_as_a_decorator_registers_under_the_class_name(reg: Registry) -> None:
    @reg.register_module()
    class Widget:
        pass

    assert reg.get("Widget") is Widget


def test_register_module_as_a_decorator_returns_the_class_unchanged(reg: Registry) -> None:
    class Widget:
        pass

    assert reg.register_module()(Widget) is Widget


def test_register_module_as_a_call_registers_module_and_returns_it(reg: Registry) -> None:
    assert reg.register_module(module=Foo) is Foo
    assert reg.get("Foo") is Foo


def test_register_module_registers_functions_too(reg: Registry) -> None:
    reg.register_module(module=make_bar)
    assert reg.get("make_bar") is make_bar


def test_register_module_uses_the_given_name(reg: Registry) -> None:
    reg.register_module(name="Renamed", module=Foo)
    assert reg.get("Renamed") is Foo
    assert "Foo" not in reg


def test_register_module_with_a_list_of_names_registers_each(reg: Registry) -> None:
    reg.register_module(name=["A", "B", "C"], module=Foo)
    assert [reg.get(n) for n in "ABC"] == [Foo, Foo, Foo]
    assert reg.names() == ["A", "B", "C"]


def test_register_module_accepts_names_from_any_iterable_of_str(reg: Registry) -> None:
    reg.register_module(name=(n for n in ["A", "B"]), module=Foo)
    assert reg.names() == ["A", "B"]


@pytest.mark.parametrize("name", [3, ["A", 3], [], Foo])
def test_register_module_rejects_a_name_that_is_not_a_str_or_a_list_of_str(reg: Registry, name: Any) -> None:
    with pytest.raises(ConfigTypeError, match="name must be None, a str or a non-empty list of str"):
        reg.register_module(name=name, module=Foo)
    assert len(reg) == 0


def test_registering_a_taken_name_raises_registry_error_naming_force(reg: Registry) -> None:
    reg.register_module(name="Foo", module=Foo)

    with pytest.raises(RegistryError, match=r"'Foo' is already registered in the thing registry.*force=True") as info:

        @reg.register_module(name="Foo")
        class Other:
            pass

    assert isinstance(info.value, KeyError)
    assert reg.get("Foo") is Foo


def test_a_taken_name_in_a_list_registers_none_of_the_names(reg: Registry) -> None:
    reg.register_module(name="B", module=Foo)
    with pytest.raises(RegistryError):
        reg.register_module(name=["A", "B"], module=make_bar)
    assert reg.names() == ["B"]


def test_force_true_replaces_a_taken_name(reg: Registry) -> None:
    reg.register_module(name="Foo", module=Foo)
    reg.register_module(name="Foo", force=True, module=make_bar)
    assert reg.get("Foo") is make_bar


def test_registering_the_same_object_under_its_name_again_is_a_no_op(reg: Registry) -> None:
    reg.register_module(module=Foo)
    reg.register_module(module=Foo)
    assert reg.names() == ["Foo"]


def test_force_must_be_a_bool(reg: Registry) -> None:
    with pytest.raises(ConfigTypeError, match="force must be a bool"):
        reg.register_module(module=Foo, force="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("obj", [3, "Foo", Foo(1)])
def test_register_module_rejects_an_object_that_is_not_callable(reg: Registry, obj: Any) -> None:
    with pytest.raises(ConfigTypeError, match="only classes and functions can be registered") as info:
        reg.register_module(name="X", module=obj)
    assert isinstance(info.value, TypeError)
    assert "X" not in reg


def test_register_module_asks_for_a_name_when_the_object_has_none(reg: Registry) -> None:
    part = functools.partial(Foo, y=3)
    with pytest.raises(ConfigTypeError, match=r"has no __name__; pass name="):
        reg.register_module(module=part)
    reg.register_module(name="Foo3", module=part)
    assert reg.get("Foo3") is part


# --------------------------------------------------------------------------- looking up
def test_get_with_an_unknown_name_raises_unknown_type_error_that_is_a_key_error(reg: Registry) -> None:
    reg.register_module(module=Foo)
    with pytest.raises(UnknownTypeError) as info:
        reg.get("Nope")
    assert isinstance(info.value, KeyError) and isinstance(info.value, ConfigError)


def test_unknown_name_message_is_a_sentence_without_key_error_quotes(reg: Registry) -> None:
    reg.register_module(module=Foo)
    with pytest.raises(UnknownTypeError) as info:
        reg.get("Nope")
    text = str(info.value)
    assert text.startswith("'Nope' is not a registered thing.")
    assert not text.startswith('"')
    assert "Registered: Foo." in text


def test_unknown_initializer_name_suggests_the_close_match() -> None:
    with pytest.raises(UnknownTypeError) as info:
        WEIGHT_INITIALIZERS.get("Kaimng")
    assert "Did you mean 'Kaiming'?" in str(info.value)


def test_unknown_name_hint_ignores_case() -> None:
    with pytest.raises(UnknownTypeError, match="Did you mean 'TruncNormal'"):
        WEIGHT_INITIALIZERS.get("truncnormal")


def test_unknown_scoped_name_suggests_the_close_match_of_its_last_part() -> None:
    with pytest.raises(UnknownTypeError, match="Did you mean 'Kaiming'"):
        WEIGHT_INITIALIZERS.get("mmengine.Kaimng")


def test_unknown_name_in_an_empty_registry_says_none_are_registered(reg: Registry) -> None:
    with pytest.raises(UnknownTypeError, match=r"Registered: \(none\)"):
        reg.get("Foo")


def test_a_scoped_openmmlab_name_resolves_to_its_last_part() -> None:
    assert WEIGHT_INITIALIZERS.get("mmengine.Constant") is Constant
    assert WEIGHT_INITIALIZERS.get("mmcv.Kaiming") is Kaiming
    assert "mmengine.Constant" in WEIGHT_INITIALIZERS


def test_an_exactly_registered_dotted_name_wins_over_its_last_part(reg: Registry) -> None:
    reg.register_module(name="Foo", module=Foo)
    reg.register_module(name="pkg.Foo", module=make_bar)
    assert reg.get("pkg.Foo") is make_bar
    assert reg.get("other.Foo") is Foo


def test_a_dotted_path_that_is_not_registered_is_never_imported() -> None:
    with pytest.raises(UnknownTypeError, match="'os.system' is not a registered"):
        WEIGHT_INITIALIZERS.get("os.system")


def test_get_returns_a_class_or_function_passed_as_type_as_it_is(reg: Registry) -> None:
    assert reg.get(Foo) is Foo
    assert reg.get(make_bar) is make_bar


@pytest.mark.parametrize("key", [None, 3, ["Foo"]])
def test_get_rejects_a_type_that_is_neither_a_name_nor_callable(reg: Registry, key: Any) -> None:
    with pytest.raises(ConfigTypeError, match="type must be a registered thing name or a class") as info:
        reg.get(key)
    assert repr(key) in str(info.value)


def test_contains_is_true_only_for_registered_names(reg: Registry) -> None:
    reg.register_module(module=Foo)
    assert "Foo" in reg
    assert "Bar" not in reg
    assert Foo not in reg  # membership is about names


def test_names_are_sorted_and_len_counts_them(reg: Registry) -> None:
    reg.register_module(name=["b", "a"], module=Foo)
    reg.register_module(module=make_bar)
    assert reg.names() == ["a", "b", "make_bar"]
    assert len(reg) == 3


def test_module_dict_is_a_copy(reg: Registry) -> None:
    reg.register_module(module=Foo)
    table = reg.module_dict
    table["Bar"] = make_bar
    assert table["Foo"] is Foo
    assert "Bar" not in reg


def test_repr_names_the_registry_and_its_entries(reg: Registry) -> None:
    reg.register_module(module=Foo)
    assert repr(reg) == "Registry(name='thing', items=['Foo'])"


def test_close_matches_keeps_names_that_differ_only_in_case() -> None:
    assert sorted(close_matches("bn", ["BN", "bn", "GN"])) == ["BN", "bn"]


def test_close_matches_returns_nothing_for_an_unrelated_word() -> None:
    assert close_matches("Zzz", ["Kaiming", "Xavier"]) == []


def test_describe_value_gives_the_repr_and_the_type_shortened() -> None:
    assert describe_value("x") == "'x' (of type str)"
    long = describe_value("y" * 200)
    assert long.endswith("... (of type str)") and len(long) < 100


# --------------------------------------------------------------------------- building
def test_build_from_cfg_builds_the_registered_class_with_the_other_keys(reg: Registry) -> None:
    reg.register_module(module=Foo)
    obj = build_from_cfg(dict(type="Foo", x=1, y=5), reg)
    assert isinstance(obj, Foo) and (obj.x, obj.y) == (1, 5)


def test_build_from_cfg_accepts_the_class_itself_as_type(reg: Registry) -> None:
    obj = build_from_cfg(dict(type=Foo, x=1), reg)
    assert isinstance(obj, Foo)


def test_build_from_cfg_calls_a_registered_function(reg: Registry) -> None:
    reg.register_module(module=make_bar)
    assert build_from_cfg(dict(type="make_bar", depth=3), reg) == ("bar", 3)


def test_build_from_cfg_does_not_modify_the_cfg_or_the_default_args(reg: Registry) -> None:
    reg.register_module(module=Foo)
    cfg, defaults = dict(type="Foo", x=1), dict(y=7)
    cfg_before, defaults_before = copy.deepcopy(cfg), copy.deepcopy(defaults)
    build_from_cfg(cfg, reg, defaults)
    assert cfg == cfg_before and defaults == defaults_before


def test_build_from_cfg_merges_default_args_and_the_cfg_wins(reg: Registry) -> None:
    reg.register_module(module=Foo)
    obj = build_from_cfg(dict(type="Foo", x=1, y=3), reg, dict(x=100, y=200))
    assert (obj.x, obj.y) == (1, 3)
    obj = build_from_cfg(dict(type="Foo", x=1), reg, dict(y=200))
    assert (obj.x, obj.y) == (1, 200)


def test_build_from_cfg_takes_type_from_default_args(reg: Registry) -> None:
    reg.register_module(module=Foo)
    assert isinstance(build_from_cfg(dict(x=1), reg, dict(type="Foo")), Foo)


def test_build_from_cfg_without_type_raises_config_key_error_listing_the_names(reg: Registry) -> None:
    reg.register_module(module=Foo)
    with pytest.raises(ConfigKeyError, match="needs a 'type' key naming one of: Foo") as info:
        build_from_cfg(dict(x=1), reg)
    assert isinstance(info.value, KeyError)


def test_build_from_cfg_with_an_unexpected_argument_names_the_accepted_ones(reg: Registry) -> None:
    reg.register_module(module=Foo)
    with pytest.raises(ConfigTypeError) as info:
        build_from_cfg(dict(type="Foo", x=1, z=2), reg)
    assert isinstance(info.value, TypeError)
    assert "unexpected argument(s) 'z'" in str(info.value)
    assert "It takes: x, y." in str(info.value)


def test_build_from_cfg_hints_at_a_misspelled_argument(reg: Registry) -> None:
    with pytest.raises(ConfigTypeError, match="'dpeth'. Did you mean 'depth'"):
        build_from_cfg(dict(type=make_bar, dpeth=2), reg)


def test_build_from_cfg_names_a_missing_required_argument(reg: Registry) -> None:
    reg.register_module(module=Foo)
    with pytest.raises(ConfigTypeError, match="missing required argument\\(s\\) 'x'"):
        build_from_cfg(dict(type="Foo"), reg)


@pytest.mark.parametrize("cfg", ["Foo", ["Foo"], None, ("type", "Foo")])
def test_build_from_cfg_rejects_a_cfg_that_is_not_a_dict(reg: Registry, cfg: Any) -> None:
    with pytest.raises(ConfigTypeError, match="a thing cfg must be a dict") as info:
        build_from_cfg(cfg, reg)
    assert isinstance(info.value, TypeError)


def test_build_from_cfg_rejects_default_args_that_are_not_a_dict(reg: Registry) -> None:
    with pytest.raises(ConfigTypeError, match="default_args must be a dict or None"):
        build_from_cfg(dict(type=Foo, x=1), reg, [("y", 2)])  # type: ignore[arg-type]


def test_build_from_cfg_with_an_unknown_type_raises_unknown_type_error(reg: Registry) -> None:
    reg.register_module(module=Foo)
    with pytest.raises(UnknownTypeError, match="Did you mean 'Foo'"):
        build_from_cfg(dict(type="Fooo", x=1), reg)


def test_build_from_cfg_turns_a_type_error_inside_the_constructor_into_config_type_error(reg: Registry) -> None:
    class Picky:
        def __init__(self, x: int) -> None:
            raise TypeError("x must be even")

    with pytest.raises(ConfigTypeError, match="building thing 'Picky' .* failed: x must be even"):
        build_from_cfg(dict(type=Picky, x=1), reg)


def test_registry_build_uses_build_from_cfg(reg: Registry) -> None:
    reg.register_module(module=Foo)
    obj = reg.build(dict(type="Foo", x=4))
    assert isinstance(obj, Foo) and obj.x == 4


def test_registry_build_uses_a_custom_build_func_with_the_registry() -> None:
    seen: list[Any] = []

    def build(cfg: dict[str, Any], *, registry: Registry) -> str:
        seen.append(registry)
        return f"built {cfg['type']}"

    custom = Registry("custom", build_func=build)
    assert custom.build(dict(type="Anything")) == "built Anything"
    assert seen == [custom]


def test_building_a_frozen_dataclass_checks_keyword_only_fields(reg: Registry) -> None:
    @reg.register_module()
    @dataclass(frozen=True, kw_only=True)
    class Spec:
        size: int
        scale: float = 1.0

    assert reg.build(dict(type="Spec", size=3)) == Spec(size=3)
    with pytest.raises(ConfigTypeError, match="It takes: size, scale"):
        reg.build(dict(type="Spec", size=3, sclae=2.0))


# --------------------------------------------------------------------------- the initializer table
def test_initializers_shares_its_table_with_weight_initializers_but_builds_objects() -> None:
    assert INITIALIZERS.names() == WEIGHT_INITIALIZERS.names()
    assert isinstance(INITIALIZERS.build(dict(type="Constant", val=2)), torchinit.ConstantInit)


def test_every_initializer_spec_md_names_is_registered() -> None:
    expected = {"Constant", "Xavier", "Normal", "TruncNormal", "Uniform", "Kaiming", "Caffe2Xavier", "Pretrained"}
    assert expected <= set(WEIGHT_INITIALIZERS.names())


def test_weight_initializers_build_an_initializer_from_a_cfg() -> None:
    assert WEIGHT_INITIALIZERS.build(dict(type="Constant", val=2)) == Constant(val=2)
    assert WEIGHT_INITIALIZERS.build(dict(type="mmengine.Kaiming", mode="fan_in")) == Kaiming(mode="fan_in")


# --------------------------------------------------------------------------- any input: a config error or success
@pytest.mark.parametrize(
    ("error", "ours", "builtin"),
    [(ValueError, ConfigValueError, ValueError), (RuntimeError, ConfigValueError, ValueError),
     (KeyError, ConfigKeyError, KeyError), (ZeroDivisionError, ConfigValueError, ValueError)],
)
def test_build_from_cfg_turns_anything_the_constructor_raises_into_a_config_error(
    reg: Registry, error: type[Exception], ours: type, builtin: type
) -> None:
    class Fragile:
        def __init__(self, x: int) -> None:
            raise error("no good")

    with pytest.raises(ours, match=rf"building thing 'Fragile' .* failed: .*no good.* \({error.__name__}\)") as info:
        build_from_cfg(dict(type=Fragile, x=1), reg)
    assert isinstance(info.value, builtin) and isinstance(info.value.__cause__, error)


def test_build_from_cfg_lets_torchinits_own_errors_through_unchanged(reg: Registry) -> None:
    class Nested:
        def __init__(self) -> None:
            raise UnknownTypeError("inner: 'Kaimng' is not registered")

    with pytest.raises(UnknownTypeError, match="^inner: 'Kaimng' is not registered$"):
        build_from_cfg(dict(type=Nested), reg)


def test_build_from_cfg_rejects_a_key_that_is_not_a_string(reg: Registry) -> None:
    reg.register_module(module=Foo)
    with pytest.raises(ConfigTypeError, match=r"keys must be argument names \(str\), got the key 1"):
        build_from_cfg({"type": "Foo", 1: 2}, reg)


def test_build_from_cfg_reports_a_mapping_that_lies_about_its_keys(reg: Registry) -> None:
    class Lying(dict):  # type: ignore[type-arg]
        def keys(self) -> Any:
            return ["type", "x"]

    reg.register_module(module=Foo)
    with pytest.raises(ConfigValueError, match="Lying lists the key 'x' but has no value for it"):
        build_from_cfg(Lying(type="Foo"), reg)


def test_register_module_rejects_a_name_iterable_that_raises(reg: Registry) -> None:
    def names() -> Any:
        yield "A"
        raise RuntimeError("no more")

    with pytest.raises(ConfigTypeError, match="name must be None, a str or a non-empty list of str"):
        reg.register_module(name=names(), module=Foo)


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


@pytest.mark.parametrize(
    ("value", "text"),
    [(10**5000, "~1e+5000 (of type int)"), (-(10**400), "-~1e+400 (of type int)"),
     (Unprintable(), "<Unprintable object whose repr failed> (of type Unprintable)")],
    ids=["huge-int", "negative-int", "bad-repr"],
)
def test_describe_value_never_raises(value: Any, text: str) -> None:
    assert describe_value(value) == text


def test_describe_value_of_a_list_nested_past_the_recursion_limit() -> None:
    value: Any = 0
    for _ in range(5000):
        value = [value]
    assert describe_value(value) == "<list object whose repr failed> (of type list)"
