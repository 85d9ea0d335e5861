"""``import torchinit`` loads the engine and nothing a run may not need (issue 14).

What it costs is measured by ``benchmarks/import_time.py``; these tests pin what it loads, in
fresh interpreters, so that a new top-level import of a heavy part shows up here.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import torchinit

INIT = Path(torchinit.__file__)

# torchinit modules a bare ``import torchinit`` loads: the engine, the initializers, the
# registries and the layers (whose ConvModule must be in MODELS from the start).
EAGER = {
    "torchinit",
    "torchinit._buffer_fills",
    "torchinit._catalogue",
    "torchinit._catalogue_jax",
    "torchinit._config_data",
    "torchinit._core_fills",
    "torchinit._fills",
    "torchinit._init_base",
    "torchinit._load",
    "torchinit._module_init",
    "torchinit._plan_items",
    "torchinit._planner",
    "torchinit._scaling",
    "torchinit._trunc_normal",
    "torchinit._txn",
    "torchinit.config",
    "torchinit.distributed",
    "torchinit.distributed.bands",
    "torchinit.distributed.fills",
    "torchinit.distributed.sharded",
    "torchinit.engine",
    "torchinit.errors",
    "torchinit.functional",
    "torchinit.initializers",
    "torchinit.layers",
    "torchinit.layers._build",
    "torchinit.layers._conv_bn_eval",
    "torchinit.layers._default_init",
    "torchinit.layers.activation",
    "torchinit.layers.conv",
    "torchinit.layers.conv_module",
    "torchinit.layers.norm",
    "torchinit.layers.padding",
    "torchinit.layers.upsample",
    "torchinit.models",
    "torchinit.module",
    "torchinit.registry",
    "torchinit.report",
    "torchinit.selectors",
}

# The parts that load on first use: checkpoint reading and the model zoo, the diagnostics and
# their tables and plots, the command and its config files, the OpenMMLab objects, presets.
LAZY = {
    f"torchinit.{name}"
    for name in (
        "_command_steps _commands _config_errors _config_merge _configfile _demo _lsuv _materialize "
        "checkpoint checkpoint._download checkpoint._files checkpoint._model_zoo checkpoint._pretrained "
        "checkpoint._safetensors checkpoint._serialization checkpoint._sources checkpoint._state_dict "
        "cli diagnostics diagnostics._health diagnostics._health_report diagnostics._plot diagnostics._probe diagnostics._promise_checks "
        "diagnostics._promises diagnostics._record diagnostics._render distributed.stats health openmmlab "
        "openmmlab.adopt openmmlab.defaults openmmlab.initializers presets pretrained"
    ).split()
}

# Third-party packages that only some features use: none is loaded by the bare import.
HEAVY = ("rich", "safetensors", "matplotlib", "yaml", "numpy", "PIL", "mmengine", "mmcv")


# One fresh interpreter answers every question below (each import of torch costs seconds).
PROBE = """
import importlib, json, sys, torch
before = set(sys.modules)
import torchinit
bare = sorted(set(sys.modules) - before)
full = {m: importlib.util.resolve_name(m, 'torchinit') for m in torchinit._LAZY}
lazy_loaded = {m: f in sys.modules for m, f in full.items()}
rich_before = 'rich' in sys.modules
torchinit.print_report
rich_after = 'rich' in sys.modules
subpackages = [type(getattr(torchinit, n)).__name__ for n in ('health', 'pretrained', 'openmmlab')]
same = {m: all(getattr(torchinit, n) is getattr(sys.modules[full[m]], n) for n in names)
        for m, names in torchinit._LAZY.items()}
print(json.dumps(dict(bare=bare, lazy_loaded=lazy_loaded, same=same, rich=[rich_before, rich_after],
                      subpackages=subpackages)))
"""


@pytest.fixture(scope="module")
def fresh() -> dict[str, Any]:
    """What a fresh interpreter saw: modules a bare import loaded, then what first uses loaded."""
    out = subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.splitlines()[-1])
    return result


def test_a_bare_import_loads_the_engine_and_none_of_the_parts_that_load_on_first_use(fresh: dict[str, Any]) -> None:
    ours = {m for m in fresh["bare"] if m.split(".")[0] == "torchinit"}
    assert EAGER <= ours, f"no longer loaded: {sorted(EAGER - ours)}"
    assert not ours & LAZY, f"loaded by a bare import: {sorted(ours & LAZY)}"
    assert not [m for m in fresh["bare"] if m.split(".")[0] in HEAVY]


def test_the_lists_name_real_modules() -> None:
    root = INIT.parent
    existing = {
        ".".join(("torchinit", *p.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
        for p in root.rglob("*.py")
    }
    assert EAGER | LAZY <= existing, sorted((EAGER | LAZY) - existing)


def test_each_lazy_name_loads_its_module_on_first_use_and_is_the_object_that_module_defines(
    fresh: dict[str, Any],
) -> None:
    assert fresh["lazy_loaded"] == dict.fromkeys(torchinit._LAZY, False)
    assert fresh["same"] == dict.fromkeys(torchinit._LAZY, True)


def test_the_first_diagnostics_call_loads_rich_and_not_before(fresh: dict[str, Any]) -> None:
    assert fresh["rich"] == [False, True]


def test_the_lazy_table_lists_exactly_the_names_imported_for_type_checkers() -> None:
    tree = ast.parse(INIT.read_text())
    checked = next(
        node for node in tree.body if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
    )
    imported = {
        f"{'.' * node.level}{node.module}": tuple(alias.name for alias in node.names)
        for node in checked.body
        if isinstance(node, ast.ImportFrom)
    }
    assert imported == torchinit._LAZY


def test_every_name_in_all_resolves_and_dir_lists_them() -> None:
    assert set(torchinit.__all__) <= set(dir(torchinit))
    for name in torchinit.__all__:
        assert getattr(torchinit, name) is not None


def test_an_unknown_attribute_is_an_attribute_error_naming_it() -> None:
    try:
        torchinit.helth_check  # noqa: B018
    except AttributeError as exc:
        assert "helth_check" in str(exc)
    else:
        raise AssertionError("torchinit.helth_check did not raise AttributeError")


def test_public_subpackages_the_eager_import_used_to_bind_are_still_attributes(fresh: dict[str, Any]) -> None:
    assert fresh["subpackages"] == ["module"] * 3
