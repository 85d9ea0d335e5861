"""Models and payloads shared by the checkpoint tests."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from torchinit import BaseModule


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
