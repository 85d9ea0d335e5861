"""Property-based tests: random corruptions of real checkpoint files.

A ``.pth`` zip archive, a legacy (non-zip) ``.pth`` and a ``.safetensors`` file of a small
trained model are damaged at random (byte flips, truncations, zeroed runs, inserted bytes,
rewritten safetensors header fields, whole random JSON headers) and loaded through
``load_checkpoint`` and through a ``Pretrained`` init_cfg (``init_weights``). The property:
either a correct load (every tensor that changed equals what a reference reader finds in
the file under that key) or a ``CheckpointError`` with every parameter and buffer
bit-identical. Any other exception type fails the test.

The runs are deterministic (``derandomize=True``: a fixed seed, no example database) and
sized for CI: the whole file takes a few seconds. ``TORCHINIT_HYPOTHESIS_EXAMPLES=N`` runs
N examples per property instead, e.g. ``TORCHINIT_HYPOTHESIS_EXAMPLES=5000 pytest
tests/test_checkpoint_properties.py`` before a release. ``deadline=None``: an example's time
depends on the machine and on the file system, not on the code under test.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pytest
import safetensors.torch
import torch
from _checkpoint_helpers import Classifier, safetensors_bytes, safetensors_parts, trained
from _examples import property_settings
from conftest import assert_unchanged, state_of
from hypothesis import given
from hypothesis import strategies as st

from torchinit import load_checkpoint
from torchinit.checkpoint._safetensors import DTYPES
from torchinit.errors import CheckpointError


STATE = trained(seed=3).state_dict()
KEYS = sorted(STATE)


def _saved(**kwargs) -> bytes:
    buffer = io.BytesIO()
    torch.save(STATE, buffer, **kwargs)
    return buffer.getvalue()


FILES = {
    ".pth": _saved(),
    "-legacy.pth": _saved(_use_new_zipfile_serialization=False),
    ".safetensors": safetensors.torch.save(STATE),
}
HEADER, DATA = safetensors_parts(STATE)


def _reference(path: Path) -> dict[str, torch.Tensor] | None:
    """What an independent reader finds in the file, or None if it cannot read it."""
    try:
        if path.suffix == ".safetensors":
            return safetensors.torch.load(path.read_bytes())
        with warnings.catch_warnings():  # torch's warnings about odd pickles are not failures here
            warnings.simplefilter("ignore")
            loaded = torch.load(path, map_location="cpu", weights_only=True)
        return loaded if isinstance(loaded, dict) else None
    except Exception:  # noqa: BLE001 (the reference failing is an outcome, not a test error)
        return None


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("corrupted")


def _same(value: torch.Tensor, expected: torch.Tensor) -> bool:
    """Equal values, NaN where the other has NaN."""
    if value.is_floating_point():
        nan = value.isnan()
        return torch.equal(nan, expected.isnan()) and torch.equal(value[~nan], expected[~nan])
    return torch.equal(value, expected)


def assert_loads_correctly_or_changes_nothing(folder: Path, data: bytes, suffix: str) -> None:
    path = folder / f"model{suffix}"
    path.write_bytes(data)
    reference = _reference(path)
    for entry in ("load_checkpoint", "init_weights"):
        model = Classifier(init_cfg=dict(type="Pretrained", checkpoint=str(path)))
        before = state_of(model)
        try:
            if entry == "load_checkpoint":
                load_checkpoint(model, path, logger="silent")
            else:
                model.init_weights()
        except CheckpointError:
            assert_unchanged(model, before)
            continue
        for key, value in model.state_dict().items():
            if torch.equal(value, before[key]):
                continue
            assert reference is not None and isinstance(reference.get(key), torch.Tensor), (entry, key)
            assert _same(value, reference[key].to(value.dtype)), (entry, key)


# --------------------------------------------------------------------------- byte-level damage
@st.composite
def damaged(draw: st.DrawFn, blob: bytes) -> bytes:
    data = bytearray(blob)
    position = st.one_of(st.integers(0, 63), st.integers(0, len(data) - 1))  # the header region, or anywhere
    kind = draw(st.sampled_from(["flip", "truncate", "zero-run", "insert"]))
    if kind == "flip":
        for at in draw(st.lists(position, min_size=1, max_size=6)):
            data[at] ^= draw(st.integers(1, 255))
    elif kind == "truncate":
        del data[draw(st.integers(0, len(data) - 1)) :]
    elif kind == "zero-run":
        start = draw(position)
        end = min(len(data), start + draw(st.integers(1, 64)))
        data[start:end] = bytes(end - start)
    else:
        at = draw(position)
        data[at:at] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


@property_settings(50)
@given(st.data())
def test_a_damaged_pth_archive_loads_correctly_or_changes_nothing(folder, data):
    assert_loads_correctly_or_changes_nothing(folder, data.draw(damaged(FILES[".pth"])), ".pth")


@property_settings(30)
@given(st.data())
def test_a_damaged_legacy_pth_loads_correctly_or_changes_nothing(folder, data):
    assert_loads_correctly_or_changes_nothing(folder, data.draw(damaged(FILES["-legacy.pth"])), ".pth")


@property_settings(50)
@given(st.data())
def test_a_damaged_safetensors_file_loads_correctly_or_changes_nothing(folder, data):
    assert_loads_correctly_or_changes_nothing(
        folder, data.draw(damaged(FILES[".safetensors"])), ".safetensors"
    )


# --------------------------------------------------------------------------- header rewrites
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**66), 2**66) | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=10,
)
PLAUSIBLE = {  # values close to valid ones, so that some rewrites still make a readable file
    "dtype": st.sampled_from([*DTYPES, "F128", "", "f32"]),
    "shape": st.lists(st.integers(-2, 12), max_size=4),
    "data_offsets": st.lists(st.integers(-8, len(DATA) + 8), max_size=3),
}


@st.composite
def rewritten_header(draw: st.DrawFn) -> dict:
    header = {k: dict(v) if isinstance(v, dict) else v for k, v in HEADER.items()}
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from([*KEYS, "__metadata__", "extra.weight"]))
        field = draw(st.sampled_from(["dtype", "shape", "data_offsets", "entry", "drop"]))
        if field == "drop":
            header.pop(key, None)
        elif field == "entry" or not isinstance(header.get(key), dict):
            header[key] = draw(JSON | st.fixed_dictionaries({f: PLAUSIBLE[f] for f in PLAUSIBLE}))
        else:
            header[key][field] = draw(PLAUSIBLE[field] | JSON)
    return header


@property_settings(100)
@given(rewritten_header(), st.integers(0, 16))
def test_a_rewritten_safetensors_header_loads_correctly_or_changes_nothing(folder, header, cut):
    data = DATA[: len(DATA) - cut]
    assert_loads_correctly_or_changes_nothing(folder, safetensors_bytes(header, data), ".safetensors")


@property_settings(50)
@given(st.dictionaries(st.text(max_size=12), JSON, max_size=6) | JSON)
def test_a_random_json_header_loads_correctly_or_changes_nothing(folder, header):
    assert_loads_correctly_or_changes_nothing(folder, safetensors_bytes(header, DATA), ".safetensors")
