"""Shim: ``mmcv.utils.parrots_wrapper`` (1.7)."""

from mmengine.utils.dl_utils.parrots_wrapper import SyncBatchNorm, _BatchNorm, _InstanceNorm

__all__ = ["SyncBatchNorm", "_BatchNorm", "_InstanceNorm"]
