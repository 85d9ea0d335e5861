"""Models and payloads shared by the checkpoint tests."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import safetensors.torch
import torch
from conftest import assert_unchanged, state_of
from torch import nn

from torchinit import BaseModule, CheckpointError, load_checkpoint
from torchinit.checkpoint import _sources


class Backbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)


class Classifier(BaseModule):
    def __init__(self, num_classes: int = 10, init_cfg=None, backbone_cfg=None) -> None:
        super().__init__(init_cfg)
        self.backbone = Backbone()
        self.head = nn.Linear(4, num_classes)
        if backbone_cfg is not None:
            self.backbone = BackboneModule(backbone_cfg)


class BackboneModule(BaseModule):
    def __init__(self, init_cfg=None) -> None:
        super().__init__(init_cfg)
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)


def trained(num_classes: int = 10, seed: int = 1) -> Classifier:
    """A 'pretrained' model whose values differ from a fresh one everywhere."""
    torch.manual_seed(seed)
    model = Classifier(num_classes)
    with torch.no_grad():
        model.backbone.bn.running_mean.uniform_(-1, 1)
        model.backbone.bn.running_var.uniform_(0.5, 2)
        model.backbone.bn.weight.uniform_(0.5, 2)
        model.backbone.bn.num_batches_tracked.fill_(7)
    return model


class Payload:
    """Unpickling this runs code that creates ``marker``: what a malicious checkpoint does."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


class Meta:
    """A harmless custom class: loading it needs pickle, so it needs allow_pickle=True."""

    def __init__(self) -> None:
        self.epoch = 3


def assert_same_weights(model: nn.Module, source: nn.Module, prefix: str = "") -> None:
    for key, value in source.state_dict().items():
        if key.startswith(prefix):
            assert torch.equal(model.state_dict()[key[len(prefix) :]], value), key


class SystemPayload:
    """Unpickling this calls ``os.system`` (creating ``marker``): the classic raw-pickle attack."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def safetensors_parts(state: dict[str, torch.Tensor]) -> tuple[dict, bytes]:
    """The header (a dict) and the data bytes of ``state`` saved as safetensors."""
    blob = safetensors.torch.save(state)
    header_len = int.from_bytes(blob[:8], "little")
    return json.loads(blob[8 : 8 + header_len]), blob[8 + header_len :]


def safetensors_bytes(header: dict | list | str, data: bytes) -> bytes:
    """A safetensors file from a header (any JSON value, or raw text) and data bytes."""
    text = header if isinstance(header, str) else json.dumps(header)
    raw = text.encode() + b" " * (-len(text.encode()) % 8)
    return len(raw).to_bytes(8, "little") + raw + data


def files_under(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden ones included) by relative path, with its bytes."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def isolate_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point $TORCHINIT_HOME into the test's own folder; return it."""
    home = tmp_path / "home"
    monkeypatch.setenv("TORCHINIT_HOME", str(home))
    return home


@contextlib.contextmanager
def restored_schemes() -> Iterator[None]:
    """Undo whatever a test registers with register_scheme."""
    saved = dict(_sources._SCHEMES)
    try:
        yield
    finally:
        _sources._SCHEMES.clear()
        _sources._SCHEMES.update(saved)


def assert_refused(checkpoint, error: type[CheckpointError], *words: str, **kwargs) -> CheckpointError:
    """``load_checkpoint`` and a Pretrained init_cfg (``init_weights``) both raise ``error`` with
    each of ``words`` in the message, and leave every parameter and buffer bit-identical."""
    for entry in ("load_checkpoint", "init_weights"):
        model = Classifier(init_cfg=dict(type="Pretrained", checkpoint=str(checkpoint), **kwargs))
        before = state_of(model)
        with pytest.raises(error) as info:
            if entry == "load_checkpoint":
                load_checkpoint(model, checkpoint, **kwargs)
            else:
                model.init_weights()
        for word in words:
            assert word in str(info.value), (entry, word, str(info.value))
        assert_unchanged(model, before)
        assert not model.is_init
    return info.value
