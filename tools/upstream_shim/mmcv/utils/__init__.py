"""Shim: ``mmcv.utils`` (1.7): ``TORCH_VERSION`` and ``digit_version``, as in the mmengine shim."""

from mmengine.utils import digit_version
from mmengine.utils.dl_utils import TORCH_VERSION

__all__ = ["TORCH_VERSION", "digit_version"]
