"""Property: whatever a config file holds, the command ends in 0, 1 or 2, never in a traceback.

Generated configs (random nesting of dicts, lists and tuples with values of every type, near-valid
init_cfg rules, raw text and bytes, truncated files, random --cfg-options) are run in-process
through ``torchinit.cli.main``. Every run must exit 0, 1 or 2; exit 2 is exactly one line on stderr;
with ``--json`` stdout is exactly one JSON object whose ``exit_status`` is the exit status; and exit
0 means the model was planned or initialized (its plan or report is in the object).

Fixed seed (derandomized), a few seconds by default; ``TORCHINIT_HYPOTHESIS_EXAMPLES=2000`` runs more.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from _examples import property_settings
from hypothesis import event, given
from hypothesis import strategies as st
from torch import nn

from torchinit import MODELS, BaseModule
from torchinit.cli import main

SETTINGS = property_settings(40)
PAYLOAD = {"plan": "plan", "init": "report", "probe": "probe", "verify": "loads"}


@MODELS.register_module()
class PropNet(BaseModule):
    """conv -> linear, 2 leaf layers: small enough for hundreds of runs."""

    def __init__(self, width: int = 2, init_cfg: Any = None) -> None:
        super().__init__(init_cfg)
        self.conv = nn.Conv2d(3, width, 1)
        self.fc = nn.Linear(width, 2)

    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3)))


# --------------------------------------------------------------------------- strategies
def weighted(*choices: tuple[st.SearchStrategy[Any], int]) -> st.SearchStrategy[Any]:
    """Draw from each strategy with its weight (``a | a`` would not: one_of drops repeats)."""
    return st.sampled_from([s for s, weight in choices for _ in range(weight)]).flatmap(lambda s: s)


NAMES = [
    "Kaiming",
    "Xavier",
    "Normal",
    "Constant",
    "Uniform",
    "TruncNormal",
    "Pretrained",
    "Orthogonal",
    "Kaimng",
]
KEYS = [
    "type",
    "layer",
    "override",
    "name",
    "val",
    "std",
    "mean",
    "a",
    "b",
    "gain",
    "mode",
    "bias",
    "bias_prob",
    "checkpoint",
    "prefix",
    "param",
    "distribution",
    "init_cfg",
    "width",
    "_delete_",
    "_base_",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([10**400, -(2**64), 0, 1, -1])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6)
    | st.sampled_from(NAMES + ["Conv2d", "Linear", "fc", "conv", "fan_in", "normal", "weight", "*", ""])
)
keys = st.sampled_from(KEYS) | st.text(max_size=4)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4) | st.tuples(inner, inner)
    ),
    max_leaves=12,
)
plausible = st.floats(-3, 3) | st.sampled_from(
    [
        "Conv2d",
        "Linear",
        ["Conv2d", "Linear"],
        "fc",
        "conv",
        "weight",
        "fan_in",
        "uniform",
        0,
        1,
        1e-3,
        1e308,
        None,
    ]
)
override = st.fixed_dictionaries(
    {"name": st.sampled_from(["fc", "conv", "nope"])},
    optional={"type": st.sampled_from(NAMES), "std": plausible, "val": plausible},
)
near_rule = st.fixed_dictionaries(  # mostly right: reaches planning and filling
    {"type": st.sampled_from(NAMES), "layer": st.sampled_from(["Conv2d", "Linear", ["Linear", "Conv2d"]])},
    optional={"std": plausible, "val": plausible, "bias": plausible, "gain": plausible, "override": override},
)
junk_rule = st.fixed_dictionaries(  # any key may hold anything
    {"type": st.sampled_from(NAMES) | scalars},
    optional={
        k: values | scalars
        for k in ("layer", "override", "val", "std", "bias", "bias_prob", "param", "a", "b")
    },
)
rule = weighted((near_rule, 2), (junk_rule, 1))
near_model = st.fixed_dictionaries(
    {"type": st.just("PropNet")},
    optional={"init_cfg": rule | st.lists(rule, max_size=3), "width": st.integers(-1, 3)},
)
junk_model = st.fixed_dictionaries(
    {"type": st.sampled_from(["PropNet", "Nope"]) | scalars},
    optional={"init_cfg": rule | st.lists(rule, max_size=3) | values, "width": values},
)
model = weighted((near_model, 3), (junk_model, 1), (values, 1))
document = st.fixed_dictionaries({"model": model}) | st.fixed_dictionaries(
    {"model": model},
    optional={"custom_imports": values, "input_shape": st.just([1, 3, 2, 2]) | values, "_base_": values},
)
commands = st.sampled_from(["plan", "plan", "init", "probe", "verify"])
option_strings = st.builds(
    lambda key, value: f"{key}={value}",
    st.sampled_from(
        ["model.init_cfg", "model.width", "model.init_cfg.0", "model.init_cfg.0.type", "model", "x.y.z"]
    ),
    st.text(alphabet="[](){},'\" .-=:aZ019_", max_size=14),
)


def _lists(value: Any) -> Any:
    """``value`` with tuples as lists (safe YAML has no tuples)."""
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_lists(v) for v in value]
    return value


def _serialize(doc: dict[str, Any], suffix: str) -> str:
    if suffix == ".json":
        return json.dumps(doc)
    if suffix == ".yaml":
        return yaml.safe_dump(_lists(doc))
    return "".join(f"{key} = {value!r}\n" for key, value in doc.items())


# --------------------------------------------------------------------------- the invariant
def check_run(path: Path, command: str, json_out: bool, options: list[str] = ()) -> None:
    argv = [
        command,
        str(path),
        *(["--cfg-options", *options] if options else []),
        *(["--json"] if json_out else []),
    ]
    if command == "probe":
        argv += ["--input-shape", "1,3,2,2"]
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdout=out, stderr=err)
    out_text, err_text = out.getvalue(), err.getvalue()
    assert code in (0, 1, 2), (argv, code, err_text)
    event(f"{command}: exit {code}")  # pytest --hypothesis-show-statistics: how many reach each end
    assert "Traceback" not in err_text, err_text
    if code == 2:
        assert err_text.startswith("torchinit: error: ") and err_text.count("\n") == 1, err_text
    if json_out:
        payload = json.loads(out_text)  # exactly one object: "Extra data" otherwise
        assert isinstance(payload, dict) and payload["exit_status"] == code and payload["ok"] is (code == 0)
        assert payload["command"] == command
        if code == 0:
            assert payload["error"] is None and payload[PAYLOAD[command]] is not None
        if code == 2:
            assert payload["error"] == err_text.removeprefix("torchinit: error: ").rstrip("\n")
    elif code == 0:
        assert out_text.startswith(f"Config: {path}")


@SETTINGS
@given(
    doc=document, suffix=st.sampled_from([".py", ".json", ".yaml"]), command=commands, json_out=st.booleans()
)
def test_any_structured_config_ends_in_success_a_failed_check_or_one_line(
    doc: dict[str, Any], suffix: str, command: str, json_out: bool
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"cfg{suffix}"
        path.write_text(_serialize(doc, suffix))
        check_run(path, command, json_out)


@SETTINGS
@given(
    content=st.text(max_size=80).map(str.encode) | st.binary(max_size=40),
    cut=st.integers(0, 200),
    doc=document,
    suffix=st.sampled_from([".py", ".json", ".yaml", ".yml", ".txt"]),
    json_out=st.booleans(),
)
def test_any_text_bytes_or_truncated_config_ends_in_success_or_one_line(
    content: bytes, cut: int, doc: dict[str, Any], suffix: str, json_out: bool
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"cfg{suffix}"
        valid = _serialize(doc, suffix if suffix in (".py", ".json") else ".yaml").encode()
        path.write_bytes(content if cut % 2 else valid[:cut] + content)
        check_run(path, "plan", json_out)


@SETTINGS
@given(options=st.lists(option_strings, min_size=1, max_size=3), command=commands, json_out=st.booleans())
def test_any_cfg_options_end_in_success_a_failed_check_or_one_line(
    options: list[str], command: str, json_out: bool
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cfg.py"
        path.write_text("model = dict(type='PropNet', init_cfg=[dict(type='Kaiming', layer='Conv2d')])\n")
        check_run(path, command, json_out, options)
