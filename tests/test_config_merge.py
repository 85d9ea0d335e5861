"""mmengine's config semantics: merging into a base, and --cfg-options values and keys.

``parse_option_value`` was compared case by case with mmengine 0.10.7's ``DictAction._parse_iterable``:
the same value wherever mmengine returns one.
"""

from __future__ import annotations

import copy

import pytest

from torchinit._config_merge import apply_cfg_options, merge, parse_option_value
from torchinit.errors import ConfigKeyError, ConfigTypeError


# --------------------------------------------------------------------------- merge
def test_merge_follows_mmengines_rules_and_modifies_neither_argument() -> None:
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1, "c": {"z": 1}}
    child = {"a": {"y": [3]}, "b": {"_delete_": True, "k": 2}, "c": {"_delete_": True, "w": 0}, "d": (1,)}
    before = copy.deepcopy((base, child))
    assert merge(child, base, "cfg.py") == {"a": {"x": 1, "y": [3]}, "b": {"k": 2}, "c": {"w": 0}, "d": (1,)}
    assert (base, child) == before


def test_a_dict_over_a_value_needs_delete_and_delete_must_be_a_bool() -> None:
    with pytest.raises(
        ConfigTypeError, match=r"^cfg.py: a.b: a dict cannot merge into the base's 1 \(of type int\)"
    ):
        merge({"a": {"b": {"c": 1}}}, {"a": {"b": 1}}, "cfg.py")
    with pytest.raises(
        ConfigTypeError, match=r"^cfg.py: a._delete_ must be True or False, got 1 \(of type int\)"
    ):
        merge({"a": {"_delete_": 1}}, {"a": {}}, "cfg.py")


# --------------------------------------------------------------------------- --cfg-options values
@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1,2,3", [1, 2, 3]),
        ("[a, b, c]", ["a", "b", "c"]),
        ("[(1, 2, 3), [a, b], c]", [(1, 2, 3), ["a", "b"], "c"]),
        ('"(1,2)"', (1, 2)),
        ("'[1,2]'", [1, 2]),
        ("[[1,2],[3,4]]", [[1, 2], [3, 4]]),
        ("(1)", (1,)),
        ("[]", []),
        ("()", ()),
        ("a,", ["a"]),
        ("a,,b", ["a", "", "b"]),
        ("5", 5),
        ("-3", -3),
        ("1_000", 1000),
        ("0.5", 0.5),
        ("1e-3", 0.001),
        ("True", True),
        ("FALSE", False),
        ("None", None),
        ("none", "none"),  # only None is None, as in mmengine
        ("Xavier", "Xavier"),
        ("hello world", "helloworld"),  # mmengine removes every space
        ("\"'x'\"", "x"),
        ("[ 'a' , \"b\" ]", ["a", "b"]),
        ("", ""),
        ("[1],[2]", [[1], [2]]),  # mmengine recurses forever here
        (
            "{'type': 'Pretrained', 'checkpoint': 'my weights.pth'}",
            {"type": "Pretrained", "checkpoint": "my weights.pth"},
        ),
        ("[{'a': '[,]'}, 2]", [{"a": "[,]"}, 2]),  # dicts: torchinit's addition, spaces and quotes kept
    ],
)
def test_option_values_are_read_as_mmengines_dict_action_reads_them(text: str, value: object) -> None:
    parsed = parse_option_value(text)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[1,2", "unbalanced brackets"),
        ("(1]", "unbalanced brackets"),
        ("1),(2", "unbalanced brackets"),
        ("{'a': 1", "unbalanced brackets or quotes"),
        ("{1, 2}", "is not a dict literal"),
        ("{'a': f(1)}", "is not a dict literal"),
        ("[" * 40 + "]" * 40, "brackets nested more than 32 deep"),
    ],
)
def test_malformed_option_values_are_value_errors(text: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected.replace("(", r"\(")):
        parse_option_value(text)


# --------------------------------------------------------------------------- --cfg-options keys
def test_options_create_keys_step_into_lists_by_index_and_merge_dicts() -> None:
    data = {"model": {"init_cfg": [{"type": "Kaiming", "layer": "Conv2d"}], "depth": 18}}
    apply_cfg_options(
        data,
        [
            ("model.init_cfg.0.type", "Xavier"),
            ("model.init_cfg.0", {"gain": 2}),  # merges: layer kept
            ("model.neck.out", [1, 2]),  # created
            ("model.depth", {"_delete_": True, "n": 50}),  # a dict over a value: replaces
        ],
        "cfg.py",
    )
    assert data == {
        "model": {
            "init_cfg": [{"type": "Xavier", "layer": "Conv2d", "gain": 2}],
            "depth": {"n": 50},
            "neck": {"out": [1, 2]},
        }
    }


def test_an_option_changes_a_shared_dict_only_where_it_is_named() -> None:
    norm = {"type": "BN"}
    data = {"model": {"a": {"norm_cfg": norm}, "b": {"norm_cfg": norm}}}
    apply_cfg_options(data, [("model.a.norm_cfg.type", "GN")], "cfg.py")
    assert data["model"]["a"]["norm_cfg"] == {"type": "GN"} and data["model"]["b"]["norm_cfg"] is norm
    assert norm == {"type": "BN"}


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (
            "model.init_cfg.1.type",
            "model.init_cfg is a list of 1; the next part must be an index from 0 to 0, got '1'",
        ),
        ("model.init_cfg.x", "got 'x'"),
        ("model.depth.x", "model.depth is 18 (of type int), not a dict or a list, so it has no 'x'"),
    ],
)
def test_an_option_through_a_wrong_place_names_the_key(key: str, expected: str) -> None:
    data = {"model": {"init_cfg": [{"type": "Kaiming"}], "depth": 18}}
    with pytest.raises(ConfigKeyError, match=r"^cfg.py: --cfg-options " + key.replace(".", r"\.")) as caught:
        apply_cfg_options(data, [(key, 1)], "cfg.py")
    assert expected in str(caught.value)
