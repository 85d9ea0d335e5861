"""Config files: _base_ inheritance as mmengine's Config reads it; each malformed file one ConfigError.

The fixtures are in tests/data/configs/; their merged values were checked against mmengine 0.10.7's
``Config.fromfile`` (same dicts; where mmengine recurses forever or crashes, we raise a ConfigError).
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from torchinit._config_errors import MAX_DEPTH, check_tree
from torchinit._configfile import import_modules, load_config
from torchinit.errors import ConfigError, ConfigKeyError, ConfigTypeError, ConfigValueError, UnknownTypeError

CONFIGS = Path(__file__).parent / "data" / "configs"
BASE_MODEL = {
    "type": "CliExtraNet",
    "width": 8,
    "init_cfg": {"type": "Kaiming", "layer": "Conv2d", "mode": "fan_in"},
    "extra": {"a": 1, "b": [1, 2], "c": {"d": 1}},
}


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


# --------------------------------------------------------------------------- merging rules
def test_bases_in_a_list_are_combined_and_dicts_merge_key_by_key_while_lists_replace() -> None:
    data = load_config(CONFIGS / "child_merge.py").data
    assert data == {
        "model": {
            "type": "CliExtraNet",  # from the base
            "width": 4,  # a value replaces
            "init_cfg": {"type": "Kaiming", "layer": "Linear", "mode": "fan_in"},  # a dict merges
            "extra": {"a": 1, "b": [3], "c": {"d": 1, "e": 2}},  # a list replaces; nested dicts merge
        },
        "input_shape": [2, 3, 8, 8],  # from the YAML base
        "custom_imports": {"imports": []},
    }


def test_delete_true_replaces_the_base_dict_instead_of_merging() -> None:
    model = load_config(CONFIGS / "child_delete.py").model
    assert model["init_cfg"] == {"type": "Xavier", "layer": "Conv2d"}  # no mode='fan_in' left over
    assert model["extra"] == BASE_MODEL["extra"]


def test_inheritance_chains_through_python_yaml_and_json_files() -> None:
    model = load_config(CONFIGS / "grandchild.yaml").model
    assert model["width"] == 2 and model["extra"] == {"a": 5, "b": [3], "c": {"d": 1, "e": 2}}
    assert model["init_cfg"] == {"type": "Kaiming", "layer": "Linear", "mode": "fan_in"}


def test_a_base_path_is_relative_to_the_file_that_names_it_not_to_the_current_directory(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    model = load_config(os.path.relpath(CONFIGS / "nested" / "relative.json")).model
    assert model == {**BASE_MODEL, "width": 16}


def test_delete_keys_never_reach_the_model_even_without_a_base(tmp_path: Path) -> None:
    path = write(
        tmp_path, "c.py", "model = dict(type='X', a=dict(_delete_=False, b=[dict(_delete_=True, c=1)]))\n"
    )
    assert load_config(path).model == {"type": "X", "a": {"b": [{"c": 1}]}}


def test_reading_a_config_twice_gives_equal_values_and_changes_no_base() -> None:
    first = load_config(CONFIGS / "grandchild.yaml").data
    first["model"]["extra"]["c"]["d"] = 99  # a caller changing its copy
    assert load_config(CONFIGS / "grandchild.yaml").model["extra"]["c"] == {"d": 1, "e": 2}


# --------------------------------------------------------------------------- inheritance errors
@pytest.mark.parametrize(
    ("name", "error", "expected"),
    [
        (
            "cycle_a.py",
            ConfigValueError,
            f"_base_ inheritance cycle: {CONFIGS}/cycle_a.py -> {CONFIGS}/nested/cycle_b.yaml -> "
            f"{CONFIGS}/cycle_a.py.",
        ),
        (
            "missing_base.py",
            ConfigValueError,
            f"missing_base.py: _base_ '_base_/nope.py' does not exist (looked at {CONFIGS}/_base_/nope.py; "
            "a base is relative to the folder of the file naming it). Chain: "
            f"{CONFIGS}/missing_base.py -> "
            f"{CONFIGS}/_base_/nope.py.",
        ),
        (
            "duplicate_key.py",
            ConfigKeyError,
            f"the bases {CONFIGS}/_base_/model.py and {CONFIGS}/_base_/model_again.json both define 'model'",
        ),
        (
            "dict_over_value.py",
            ConfigTypeError,
            "dict_over_value.py: model.type: a dict cannot merge into the base's 'CliExtraNet' "
            "(of type str); add _delete_=True",
        ),
        (
            "base_variable.py",
            ConfigValueError,
            "uses a variable of its base config (line 3: model = dict(width=",
        ),
        (
            "base_placeholder.yaml",
            ConfigValueError,
            "uses a variable of its base config ({{_base_.model.width}})",
        ),
    ],
)
def test_inheritance_mistakes_are_one_clear_error(name: str, error: type, expected: str) -> None:
    with pytest.raises(error) as caught:
        load_config(CONFIGS / name)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_a_file_that_is_its_own_base_is_a_cycle(tmp_path: Path) -> None:
    path = write(tmp_path, "self.yaml", "_base_: self.yaml\nmodel: {type: X}\n")
    with pytest.raises(ConfigValueError, match=r"_base_ inheritance cycle: .*self.yaml -> .*self.yaml\.$"):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("_base_ = 5\n", "_base_ must be a path or a list of paths, got 5 (of type int)"),
        ("_base_ = ['a.py', 3]\n", "_base_ must be a path or a list of paths"),
        (
            "import os\n_base_ = os.path.join('a', 'b.py')\n",
            "line 2: _base_ must be a literal path or list of paths",
        ),
        (
            "_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'\n",
            "names a config in an installed package",
        ),
        (
            "with read_base():\n    from .base import *\n",
            "'with read_base():' (mmengine's pure-Python config style)",
        ),
        (
            "model = dict(type='X', a=dict(_delete_='yes'))\n",
            "model.a._delete_ must be True or False, got 'yes'",
        ),
    ],
)
def test_unsupported_or_malformed_base_declarations_say_what_to_write(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "cfg.py", text))
    assert expected in str(caught.value)


def test_a_chain_of_bases_longer_than_the_limit_is_an_error_not_a_recursion(tmp_path: Path) -> None:
    for i in range(40):
        write(tmp_path, f"c{i}.yaml", f"_base_: c{i + 1}.yaml\n")
    write(tmp_path, "c40.yaml", "model: {type: X}\n")
    with pytest.raises(ConfigValueError, match="_base_ chain longer than 32 files: "):
        load_config(tmp_path / "c0.yaml")


# --------------------------------------------------------------------------- the shape of the values
def test_a_value_shared_by_two_keys_is_fine_but_one_containing_itself_is_not() -> None:
    shared = {"type": "BN"}
    check_tree({"a": shared, "b": [shared, shared]}, "cfg.py")
    loop: dict = {"x": [1]}
    loop["x"].append(loop)
    with pytest.raises(ConfigValueError, match=r"^cfg.py: model.x.1 refers to itself"):
        check_tree(loop, "cfg.py", "model")


def test_nesting_past_the_limit_and_exponential_sharing_are_refused_quickly() -> None:
    deep: list = []
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(ConfigValueError, match=f"nested more than {MAX_DEPTH} dicts and lists deep"):
        check_tree({"model": deep}, "cfg.py")
    wide: list = [0, 0]
    for _ in range(60):  # 2**60 values when expanded, 60 distinct lists
        wide = [wide, wide]
    with pytest.raises(ConfigValueError, match="expands to more than 100,000 values"):
        check_tree(wide, "cfg.py", "model")


# --------------------------------------------------------------------------- reading files
def test_a_bom_is_accepted_and_the_file_is_read_as_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bom.py"
    path.write_bytes("\ufeffmodel = dict(type='Café')\n".encode())
    assert load_config(path).model == {"type": "Café"}


def test_a_python_config_keeps_its_values_and_drops_private_names_modules_and_functions(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "c.py",
        """\
        import math
        _private = 1
        def helper():
            return 2
        norm = dict(type='BN')
        model = dict(type='X', norm_cfg=norm, n=helper(), r=math.pi > 3)
        """,
    )
    assert load_config(path).data == {
        "norm": {"type": "BN"},
        "model": {"type": "X", "norm_cfg": {"type": "BN"}, "n": 2, "r": True},
    }


def test_a_config_error_raised_inside_a_python_config_keeps_its_class_and_gains_the_line(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "c.py",
        """\
        from torchinit import build_model
        x = 1
        build_model(dict(type='NoSuchModel'))
        """,
    )
    with pytest.raises(UnknownTypeError, match=r"c.py, line 3: .*'NoSuchModel' is not a registered model"):
        load_config(path)


def test_a_module_that_raises_while_imported_is_named_with_its_error(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path, "cfgfile_broken_plugin.py", "raise SystemExit('plugin gave up')\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigValueError) as caught:
        import_modules(["cfgfile_broken_plugin"], "--import")
    assert (
        str(caught.value) == "--import: importing 'cfgfile_broken_plugin' raised SystemExit: plugin gave up"
    )
    with pytest.raises(ConfigValueError, match="--import: cannot import 'cfgfile_not_there'"):
        import_modules(["cfgfile_not_there"], "--import", allow_failed=False)
    assert (
        import_modules(["cfgfile_not_there"], "custom_imports", allow_failed=True) == []
    )  # logged, as mmengine


def test_a_config_without_model_lists_what_it_defines_whatever_the_key_types(tmp_path: Path) -> None:
    with pytest.raises(ConfigKeyError, match=r"the config defines no 'model' \(it defines: 1, net\)"):
        load_config(write(tmp_path, "c.yaml", "1: x\nnet: {}\n"))
