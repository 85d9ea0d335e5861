"""Reading checkpoint files: tensor kinds, safetensors header fields, file identity, OS path
errors, raw pickles and devices.

Every refusal is checked through both entry points (``load_checkpoint`` and a ``Pretrained``
init_cfg): the exception class, the builtin it also is, the file or key and the fix in the
message, and every parameter and buffer bit-identical afterwards.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import safetensors.torch
import torch
from _checkpoint_helpers import (
    Classifier,
    Payload,
    SystemPayload,
    assert_refused,
    assert_same_weights,
    isolate_home,
    restored_schemes,
    safetensors_bytes,
    safetensors_parts,
    trained,
)
from conftest import assert_unchanged, state_of
from torch import nn

import torchinit
from torchinit import load_checkpoint, read_checkpoint, register_scheme
from torchinit.checkpoint import _serialization, _sources
from torchinit.errors import (
    CheckpointCorruptError,
    CheckpointDeviceError,
    CheckpointNotFoundError,
    CheckpointReadError,
    CheckpointTensorError,
    CheckpointUnsafeError,
)


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    return isolate_home(tmp_path, monkeypatch)


@pytest.fixture
def scheme_registry():
    with restored_schemes():
        yield


def quietly(make):
    with warnings.catch_warnings():  # sparse CSR and nested tensors warn that they are beta
        warnings.simplefilter("ignore")
        return make()


# --------------------------------------------------------------------------- tensor kinds and dtypes
KINDS = {
    "sparse-coo": (lambda t: t.to_sparse(), "to_dense()"),
    "sparse-csr": (lambda t: t.to_sparse_csr(), "to_dense()"),
    "meta": (lambda t: torch.empty_like(t, device="meta"), "meta device"),
    "quantized": (lambda t: torch.quantize_per_tensor(t, 0.1, 0, torch.qint8), "dequantize()"),
    "nested": (lambda t: torch.nested.nested_tensor([t]), "to_padded_tensor"),
}


@pytest.mark.parametrize("kind", KINDS)
def test_a_tensor_of_a_kind_that_cannot_be_copied_is_refused_before_any_write(tmp_path, kind):
    make, fix = KINDS[kind]
    state = trained().state_dict()
    state["head.weight"] = quietly(lambda: make(state["head.weight"]))  # the last tensors: all others fit
    path = tmp_path / "model.pth"
    quietly(lambda: torch.save(state, path))
    error = assert_refused(path, CheckpointTensorError, "'head.weight'", fix, str(path))
    assert isinstance(error, RuntimeError)


@pytest.mark.parametrize("kind", KINDS)
def test_a_loader_returning_such_a_tensor_is_refused_too(scheme_registry, kind):
    make, fix = KINDS[kind]
    state = trained().state_dict()
    state["head.weight"] = quietly(lambda: make(state["head.weight"]))
    register_scheme("mem://", lambda filename, map_location: state)
    assert_refused("mem://weights", CheckpointTensorError, "'head.weight'", fix)


class Counted(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 2)
        self.register_buffer("count", torch.zeros(2, dtype=torch.int32))
        self.register_buffer("mask", torch.zeros(2, dtype=torch.bool))
        self.register_buffer("small", torch.zeros(2, dtype=torch.float16))


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("linear.weight", torch.ones(2, 2, dtype=torch.complex64), "imaginary"),
        ("count", torch.tensor([1.5, 2.0]), "truncated"),
        ("count", torch.tensor([0, 2**40]), "beyond"),
        ("mask", torch.tensor([0, 3]), "beyond"),
        ("small", torch.tensor([1.0, 1e5]), "beyond"),
        ("linear.bias", torch.tensor([1e300, 0.0], dtype=torch.float64), "beyond"),
        ("linear.bias", torch.tensor([2**24 + 1, 0]), "beyond"),
    ],
    ids=[
        "complex-into-real",
        "float-into-int",
        "int64-overflowing-int32",
        "int-into-bool",
        "fp32-over-fp16",
        "fp64-over-fp32",
        "int-beyond-float32-exactness",
    ],
)
def test_a_dtype_whose_values_the_target_cannot_hold_is_refused(tmp_path, key, value, words):
    source = Counted()
    state = source.state_dict() | {key: value}
    path = tmp_path / "model.pth"
    torch.save(state, path)
    model = Counted()
    before = state_of(model)
    with pytest.raises(CheckpointTensorError, match=words) as info:
        load_checkpoint(model, path)
    assert f"'{key}'" in str(info.value) and str(value.dtype) in str(info.value)
    assert_unchanged(model, before)


def test_lower_precision_and_exact_conversions_still_load(tmp_path):
    state = {
        "linear.weight": torch.tensor([[0.1, -2.0], [3.5, 1e-3]]),
        "linear.bias": torch.tensor([1, -7]),  # int64 into float32, exact
        "count": torch.tensor([5, -3]),  # int64 into int32, in range
        "mask": torch.tensor([1, 0], dtype=torch.uint8),  # 0/1 into bool
        "small": torch.tensor([0.1, -6e4], dtype=torch.float64),  # into float16, in range
    }
    path = tmp_path / "model.pth"
    torch.save(state, path)
    model = Counted()
    load_checkpoint(model, path, strict=True)
    for key, value in state.items():
        target = model.state_dict()[key]
        assert torch.equal(target, value.to(target.dtype)), key


class Liar(Mapping):
    """A lazy mapping from a loader that declares one shape and returns another when read."""

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        self.state = state

    def get(self, key, default=None):
        return self.state.get(key, default)

    def __getitem__(self, key):
        return torch.ones(1)

    def __iter__(self) -> Iterator[str]:
        return iter(self.state)

    def __len__(self) -> int:
        return len(self.state)


def test_a_tensor_read_with_another_shape_than_declared_is_never_broadcast(scheme_registry):
    register_scheme("liar://", lambda filename, map_location: Liar(trained().state_dict()))
    assert_refused(
        "liar://weights", CheckpointCorruptError, "'backbone.conv.weight'", "(1,)", "nothing is broadcast"
    )


# --------------------------------------------------------------------------- safetensors headers
MISSING = object()
HEADER_FAULTS = {
    "shape-an-int": ("shape", 40, "shape must be a list"),
    "shape-null": ("shape", None, "shape must be a list"),
    "shape-missing": ("shape", MISSING, "has no 'shape'"),
    "shape-negative": ("shape", [-10, -4], "shape must be a list of non-negative"),
    "shape-a-string": ("shape", "10,4", "shape must be a list"),
    "shape-of-floats": ("shape", [10.0, 4], "shape must be a list"),
    "shape-of-bools": ("shape", [True, 4], "shape must be a list"),
    "shape-of-strings": ("shape", ["10", 4], "shape must be a list"),
    "shape-overflowing": ("shape", [2**40, 2**40, 4], "more elements than a tensor can hold"),
    "shape-empty-but-huge": ("shape", [0, 2**70], "more elements than a tensor can hold"),
    "shape-not-the-bytes": ("shape", [5, 4], "needs 80 bytes"),
    "dtype-unknown": ("dtype", "F128", "dtype 'F128'"),
    "dtype-missing": ("dtype", MISSING, "has no 'dtype'"),
    "dtype-a-number": ("dtype", 32, "dtype 32"),
    "offsets-missing": ("data_offsets", MISSING, "has no 'data_offsets'"),
    "offsets-floats": ("data_offsets", "floats", "data_offsets must be [begin, end]"),
    "offsets-strings": ("data_offsets", "strings", "data_offsets must be [begin, end]"),
    "offsets-reversed": ("data_offsets", "reversed", "data_offsets must be [begin, end]"),
    "offsets-three": ("data_offsets", "three", "data_offsets must be [begin, end]"),
    "offsets-out-of-file": ("data_offsets", "far", "run past the end"),
    "offsets-overlapping": ("data_offsets", "overlap", "overlap those of 'head.bias'"),
    "offsets-leaving-a-hole": ("data_offsets", "hole", "leaving a hole"),
    "bytes-after-the-last-tensor": ("data_offsets", "trailing", "belong to no tensor"),
    "entry-a-list": (None, [1, 2], "must be a JSON object"),
}


def _faulty_header(fault: str) -> tuple[dict, bytes]:
    header, data = safetensors_parts(trained().state_dict())
    field, value, _ = HEADER_FAULTS[fault]
    entry = header["head.weight"]
    begin, end = entry["data_offsets"]
    offsets = {
        "floats": [float(begin), float(end)],
        "strings": [str(begin), str(end)],
        "reversed": [end, begin],
        "three": [begin, end, end],
        "far": [begin + 10**6, end + 10**6],
    }
    if field is None:
        header["head.weight"] = value
    elif value is MISSING:
        del entry[field]
    elif value == "overlap":  # a second tensor over head.bias's bytes
        header["head.extra"] = dict(header["head.bias"])
    elif value == "hole":  # the same size, moved past the end of the others
        entry["data_offsets"] = [len(data), len(data) + end - begin]
        data += bytes(end - begin)
    elif value == "trailing":
        data += bytes(8)
    else:
        entry[field] = (
            offsets.get(value, value) if isinstance(value, str) and field == "data_offsets" else value
        )
    return header, data


@pytest.mark.parametrize("fault", HEADER_FAULTS)
def test_every_safetensors_header_field_is_checked_when_the_file_is_opened(tmp_path, fault):
    header, data = _faulty_header(fault)
    path = tmp_path / "model.safetensors"
    path.write_bytes(safetensors_bytes(header, data))
    key = {"offsets-overlapping": "'head.extra'", "bytes-after-the-last-tensor": "bytes"}.get(
        fault, "'head.weight'"
    )
    with pytest.raises(CheckpointCorruptError, match=re.escape(HEADER_FAULTS[fault][2])):
        _serialization.read_file(
            path, source=str(path), map_location=None, allow_pickle=False
        )  # no tensor read
    error = assert_refused(
        path, CheckpointCorruptError, key, str(path), "not a valid safetensors file", "save it again"
    )
    assert isinstance(error, ValueError)


@pytest.mark.parametrize(
    "text, words",
    [
        ('["a", "list"]', "must be a JSON object"),
        ('{"__metadata__": {"epoch": 3}}', "'__metadata__' must be an object of strings"),
        ('{"a": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}, "a": {}}', "'a' appears twice"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
        ("{not json", "not valid JSON"),
    ],
    ids=["a-list", "metadata-not-strings", "a-key-twice", "nested-too-deep", "not-json"],
)
def test_a_safetensors_header_that_is_no_valid_object_is_corrupt(tmp_path, text, words):
    path = tmp_path / "model.safetensors"
    path.write_bytes(safetensors_bytes(text, b"\0" * 8))
    assert_refused(path, CheckpointCorruptError, words, str(path))


def test_a_valid_safetensors_file_with_every_dtype_reads_back_exactly(tmp_path):
    dtypes = [
        torch.bool,
        torch.uint8,
        torch.int8,
        torch.int16,
        torch.int32,
        torch.int64,
        torch.float16,
        torch.bfloat16,
        torch.float32,
        torch.float64,
        torch.complex64,
        torch.uint16,
        torch.uint32,
        torch.uint64,
        torch.float8_e4m3fn,
        torch.float8_e5m2,
    ]
    state = {str(d): torch.arange(6).reshape(2, 3).to(d) for d in dtypes} | {"empty": torch.ones(0, 5)}
    path = tmp_path / "all.safetensors"
    safetensors.torch.save_file(state, path)
    read = read_checkpoint(path)
    for key, value in state.items():
        assert read[key].dtype == value.dtype and read[key].shape == value.shape, key
        assert torch.equal(read[key].view(torch.uint8), value.view(torch.uint8)), key


# --------------------------------------------------------------------------- the file changes meanwhile
def _rewrite_in_place(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    mtime = path.stat().st_mtime_ns
    path.write_bytes(bytes(data))
    os.utime(path, ns=(mtime + 10**9, mtime + 10**9))  # the same size; a later modification time


def _replace(path: Path) -> None:
    other = path.with_name("other.safetensors")
    safetensors.torch.save_file({k: torch.ones(1) for k in trained().state_dict()}, other)
    os.replace(other, path)  # every tensor now [1]: broadcast into conv.weight if not caught


@pytest.mark.parametrize("change", [_replace, _rewrite_in_place], ids=["replaced", "rewritten-in-place"])
def test_a_safetensors_file_that_changes_between_header_and_data_is_reported(tmp_path, monkeypatch, change):
    path = tmp_path / "model.safetensors"
    real = _sources.read_file

    def read_then_change(*args, **kwargs):
        safetensors.torch.save_file(trained().state_dict(), path)  # the original, for each entry point
        opened = real(*args, **kwargs)
        change(path)
        return opened

    safetensors.torch.save_file(trained().state_dict(), path)
    monkeypatch.setattr(_sources, "read_file", read_then_change)
    assert_refused(path, CheckpointCorruptError, str(path), "changed while it was being read")


def test_a_pth_file_that_changes_while_torch_load_reads_it_is_reported(tmp_path, monkeypatch):
    path = tmp_path / "model.pth"
    torch.save(trained().state_dict(), path)
    real = torch.load

    def load_then_append(*args, **kwargs):
        loaded = real(*args, **kwargs)
        with open(path, "ab") as f:
            f.write(b"more")
        return loaded

    monkeypatch.setattr(torch, "load", load_then_append)
    assert_refused(path, CheckpointCorruptError, str(path), "changed while it was being read")


# --------------------------------------------------------------------------- paths the OS refuses
@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda d: "a" * 5000 + ".pth", CheckpointNotFoundError, "too long"),
        (lambda d: str(d / ("abc/" * 1250)) + "model.pth", CheckpointNotFoundError, "too long"),
        (lambda d: str(d / "file.txt" / "model.pth"), CheckpointNotFoundError, "not a directory"),
        (lambda d: str(d), CheckpointNotFoundError, "is a directory"),
        (lambda d: "~no_such_user_here/model.pth", CheckpointNotFoundError, "home directory"),
        (lambda d: "model\0.pth", CheckpointNotFoundError, "NUL byte"),
        (lambda d: (os.mkfifo(d / "pipe"), str(d / "pipe"))[1], CheckpointReadError, "not a regular file"),
    ],
    ids=[
        "5000-characters",
        "too-deep",
        "through-a-file",
        "a-directory",
        "unknown-user",
        "nul-byte",
        "a-fifo",
    ],
)
def test_a_path_the_os_refuses_is_a_checkpoint_error_naming_it(tmp_path, make, error, words):
    (tmp_path / "file.txt").write_text("not a directory")
    path = make(tmp_path)
    exc = assert_refused(path, error, words, path[:40].replace("\0", "\\x00"))
    assert isinstance(exc, OSError) and len(str(exc)) < 1000


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
@pytest.mark.parametrize("locked", ["file", "directory"])
def test_a_file_that_may_not_be_read_is_a_read_error(tmp_path, locked):
    folder = tmp_path / "locked"
    folder.mkdir()
    path = folder / "model.pth"
    torch.save(trained().state_dict(), path)
    (path if locked == "file" else folder).chmod(0)
    try:
        assert_refused(path, CheckpointReadError, str(path), "permission denied")
    finally:
        (path if locked == "file" else folder).chmod(0o700)


# --------------------------------------------------------------------------- raw pickles
@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_a_raw_malicious_pickle_is_unsafe_and_nothing_is_unpickled(tmp_path, monkeypatch, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"state_dict": {}, "x": SystemPayload(marker)}, protocol=protocol))

    def forbidden(*args, **kwargs):
        raise AssertionError("pickle must not be used to inspect an untrusted file")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, forbidden)
    error = assert_refused(
        path,
        CheckpointUnsafeError,
        f"{os.system.__module__}.system",
        "allow_pickle=True",
        "raw pickle",
        str(path),
    )
    assert "truncated" not in str(error) and "weights_only" not in str(error)
    assert not marker.exists()


def test_a_zip_checkpoint_pickled_with_a_new_protocol_names_its_globals(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pth"
    torch.save({"x": Payload(marker)}, path, pickle_protocol=4)
    error = assert_refused(path, CheckpointUnsafeError, "builtins.exec", "allow_pickle=True")
    assert "raw pickle" not in str(error)
    assert not marker.exists()


def test_a_trusted_raw_pickle_loads_with_allow_pickle(tmp_path):
    source = trained()
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"state_dict": source.state_dict()}))
    with pytest.raises(CheckpointUnsafeError, match="torch.storage._load_from_bytes"):
        read_checkpoint(path)
    model = Classifier()
    load_checkpoint(model, path, allow_pickle=True, strict=True)
    assert_same_weights(model, source)


def test_a_harmless_raw_pickle_is_reported_as_not_a_torch_checkpoint(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"epoch": 3}))
    assert_refused(path, CheckpointCorruptError, "raw pickle", "torch.save", str(path))


# --------------------------------------------------------------------------- devices
@pytest.mark.parametrize("device", ["cuda", "cuda:3", "mps", "xpu"])
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_a_map_location_this_machine_lacks_is_a_device_error(tmp_path, device, suffix):
    kind = device.split(":")[0]
    if getattr(torch, kind).is_available() and (kind != "cuda" or torch.cuda.device_count() > 3):
        pytest.skip(f"this machine has {device}")
    path = tmp_path / f"model{suffix}"
    safetensors.torch.save_file(trained().state_dict(), path) if suffix == ".safetensors" else torch.save(
        trained().state_dict(), path
    )
    error = assert_refused(
        path, CheckpointDeviceError, f"map_location={device!r}", "map_location='cpu'", map_location=device
    )
    assert isinstance(error, RuntimeError) and "corrupt" not in str(error)


def test_the_device_is_checked_before_any_loader_runs(scheme_registry):
    calls = []
    register_scheme("mem://", lambda filename, map_location: calls.append(filename) or {})
    with pytest.raises(CheckpointDeviceError, match="not a device name"):
        torchinit.read_checkpoint("mem://x", map_location="cuda:x")
    assert calls == []
