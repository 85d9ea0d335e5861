"""Pretrained through a real model's load hooks: mmpretrain's ViT fine-tuned at 384 px.

mmpretrain 1.2's ``VisionTransformer`` resizes ``pos_embed`` in a load-state-dict pre-hook
(a 224 px checkpoint has a 14x14 grid, the 384 px model a 24x24 one). torchinit runs the
hook on its view of the checkpoint when the plan is made; the result must be what mmengine's
``load_checkpoint`` (a ``.pth`` file) and torch's ``load_state_dict`` (the same tensors from a
``.safetensors`` file) give, in every tensor, bitwise.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import torchinit


@pytest.fixture(scope="module")
def checkpoint_224() -> dict[str, torch.Tensor]:
    from mmpretrain.models.backbones import VisionTransformer

    source = VisionTransformer(arch="b", img_size=224, patch_size=16)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in source.parameters():
            p.normal_(generator=generator)
    return {k: v.detach().contiguous() for k, v in source.state_dict().items()}


@pytest.mark.parametrize("kind", ["pth", "safetensors"])
def test_a_384_px_vit_loads_a_224_px_checkpoint_as_mmengine_does(
    kind: str, checkpoint_224: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    from mmengine.runner.checkpoint import load_checkpoint
    from mmpretrain.models.backbones import VisionTransformer

    path = tmp_path / f"vit224.{kind}"
    theirs = VisionTransformer(arch="b", img_size=384, patch_size=16)
    ours = copy.deepcopy(theirs)
    if kind == "pth":
        torch.save({"state_dict": checkpoint_224}, path)
        load_checkpoint(theirs, str(path), map_location="cpu", strict=False, logger="silent")
    else:
        save_file(checkpoint_224, str(path))
        theirs.load_state_dict({k: v.clone() for k, v in checkpoint_224.items()}, strict=False)
    report = torchinit.initialize(ours, dict(type="Pretrained", checkpoint=str(path)))
    assert ours.pos_embed.shape == (1, 24 * 24 + 1, 768)  # resized by the model's own hook
    assert not torch.equal(ours.pos_embed[:, :197], checkpoint_224["pos_embed"])  # interpolated, not cut
    want, got = theirs.state_dict(), ours.state_dict()
    assert list(got) == list(want)
    assert [k for k in want if not torch.equal(got[k], want[k])] == []
    assert report["pos_embed"].source == "pretrained"
