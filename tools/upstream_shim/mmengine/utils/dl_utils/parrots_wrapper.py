"""Shim: torch's norm base classes under mmengine's names (no parrots)."""

from torch.nn import SyncBatchNorm
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

__all__ = ["SyncBatchNorm", "_BatchNorm", "_InstanceNorm"]
