"""Checkpoints load the module's way: pre-hooks, custom ``_load_from_state_dict``, post-hooks.

The pre-hook case is mmpretrain's: a ViT fine-tuned at 384 px from a 224 px checkpoint
resizes ``pos_embed`` in a load-state-dict pre-hook. Without it the tensor is a shape
mismatch and keeps its init (zeros, for mmpretrain's ViT).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import torchinit
from torchinit import CheckpointFormatError, InitApplyError, load_checkpoint, load_state_dict


class TinyViT(torchinit.BaseModule):
    """``pos_embed`` for a grid of ``side``²; a pre-hook resizes a checkpoint's grid to it."""

    def __init__(self, side: int, init_cfg: Any = None) -> None:
        super().__init__(init_cfg)
        self.side = side
        self.pos_embed = nn.Parameter(torch.zeros(1, side * side, 4))
        self.proj = nn.Linear(4, 4)
        self._register_load_state_dict_pre_hook(self._resize_pos_embed)

    def _resize_pos_embed(self, state_dict: Any, prefix: str, *args: Any) -> None:
        key = prefix + "pos_embed"
        if key not in state_dict:
            return
        old = state_dict[key]
        side = int(old.shape[1] ** 0.5)
        if side == self.side:
            return
        grid = old.reshape(1, side, side, 4).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(self.side, self.side), mode="bilinear", align_corners=False)
        state_dict[key] = grid.permute(0, 2, 3, 1).reshape(1, self.side * self.side, 4)


def save(tmp_path: Path, state: dict[str, torch.Tensor], name: str = "ckpt.pth") -> str:
    path = tmp_path / name
    torch.save(state, path)
    return str(path)


def test_a_pre_hook_resizes_pos_embed_when_pretrained_loads_at_another_resolution(tmp_path: Path) -> None:
    small = TinyViT(2)
    with torch.no_grad():
        small.pos_embed.copy_(torch.arange(16.0).reshape(1, 4, 4))
    path = save(tmp_path, small.state_dict())
    big = TinyViT(4, init_cfg=dict(type="Pretrained", checkpoint=path))
    report = big.init_weights()
    assert report.loads[0].mismatched == ()
    assert report["pos_embed"].source == "pretrained"
    expected = big.pos_embed.detach().clone()
    reference = TinyViT(4)
    reference.load_state_dict(torch.load(path))  # torch's own load runs the same hook
    assert torch.equal(expected, reference.pos_embed.detach())
    assert not torch.equal(expected, torch.zeros_like(expected))


def test_load_checkpoint_and_load_state_dict_run_the_pre_hooks_too(tmp_path: Path) -> None:
    small = TinyViT(2)
    path = save(tmp_path, small.state_dict())
    big = TinyViT(4)
    load_checkpoint(big, path)
    other = TinyViT(4)
    result = load_state_dict(other, small.state_dict())
    assert result.mismatched == ()
    assert torch.equal(big.pos_embed, other.pos_embed)


class OldLayout(nn.Linear):
    """Reads checkpoints that named its weight ``w`` (a custom ``_load_from_state_dict``)."""

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any) -> None:
        if prefix + "w" in state_dict:
            state_dict[prefix + "weight"] = state_dict.pop(prefix + "w")
        super()._load_from_state_dict(state_dict, prefix, *args)


def test_a_custom_load_from_state_dict_renames_what_it_reads_and_nothing_is_unexpected(tmp_path: Path) -> None:
    path = save(tmp_path, {"0.w": torch.full((2, 2), 3.0), "0.bias": torch.ones(2)})
    model = torchinit.Sequential(OldLayout(2, 2), init_cfg=dict(type="Pretrained", checkpoint=path))
    report = model.init_weights()
    assert torch.equal(model[0].weight, torch.full((2, 2), 3.0))
    assert report.loads[0].unexpected == () and report["0.weight"].source == "pretrained"


class WithPostHook(nn.Module):
    def __init__(self, fail: bool) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 2)
        self.seen: list[Any] = []
        self.fail = fail
        self.register_load_state_dict_post_hook(self._after)

    def _after(self, module: nn.Module, keys: Any) -> None:
        self.seen.append((list(keys.missing_keys), list(keys.unexpected_keys)))
        if self.fail:
            raise ValueError("post-hook refused the load")


def test_post_hooks_see_missing_and_unexpected_keys_after_the_copy(tmp_path: Path) -> None:
    path = save(tmp_path, {"0.fc.weight": torch.ones(2, 2), "0.extra": torch.ones(1)})
    model = torchinit.Sequential(WithPostHook(fail=False), init_cfg=dict(type="Pretrained", checkpoint=path))
    model.init_weights()
    assert torch.equal(model[0].fc.weight, torch.ones(2, 2))
    assert model[0].seen == [(["0.fc.bias"], ["0.extra"])]


def test_a_post_hook_that_raises_leaves_the_model_unchanged(tmp_path: Path) -> None:
    path = save(tmp_path, {"0.fc.weight": torch.ones(2, 2), "0.fc.bias": torch.ones(2)})
    model = torchinit.Sequential(WithPostHook(fail=True), init_cfg=dict(type="Pretrained", checkpoint=path))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(InitApplyError, match="post-hook refused the load"):
        model.init_weights()
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="post-hook refused the load"):
        load_checkpoint(model, path)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_compat_mode_takes_the_state_dict_where_mmengine_does(tmp_path: Path) -> None:
    net = nn.Linear(2, 2)
    wrapped = save(tmp_path, {"model": {k: torch.full_like(v, 5.0) for k, v in net.state_dict().items()}}, "m.pth")
    empty = save(tmp_path, {}, "empty.pth")
    model = nn.Sequential(nn.Linear(2, 2))
    before = model[0].weight.detach().clone()
    cfg = dict(type="Pretrained", checkpoint=wrapped, prefix=None)
    report = torchinit.initialize(model[0], cfg, compat="mmengine")
    assert torch.equal(model[0].weight, before) and report.loads[0].unexpected == ("model",)
    torchinit.initialize(model[0], dict(type="Pretrained", checkpoint=empty), compat="mmengine")
    assert torch.equal(model[0].weight, before)
    torchinit.initialize(model[0], cfg)
    assert torch.equal(model[0].weight, torch.full((2, 2), 5.0))
    with pytest.raises(CheckpointFormatError, match="holds no state dict"):
        torchinit.initialize(model[0], dict(type="Pretrained", checkpoint=empty))
