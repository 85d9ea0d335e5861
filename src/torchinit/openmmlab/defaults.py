"""mmcv's layers whose ``init_weights`` only applies a documented default, as default rules.

mmcv 2.x's ``ConvModule`` and ``PixelShufflePack`` are plain ``nn.Module``s whose
``init_weights`` applies Kaiming (conv) and 1/0 (norm), or Xavier uniform. Registered by
qualified name (nothing of mmcv is imported: :data:`MMCV_DEFAULTS`), the engine plans them as defaults: in the
default mode a user's rule that covers the same tensor wins, wherever the module sits; in
``compat='mmengine'`` mode they apply where mmengine would call the method.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from torch import nn

from .._conv_defaults import conv_module_rules

__all__ = ["MMCV_DEFAULTS", "mmcv_conv_module_rules", "mmcv_pixel_shuffle_rules"]


def mmcv_conv_module_rules(module: nn.Module) -> list[dict[str, Any]]:
    """What mmcv's ``ConvModule.init_weights`` does (v1.7 and v2.x read the same).

    Kaiming normal (fan_out; leaky_relu with the cfg's ``negative_slope``, default 0.01,
    when the activation cfg is a LeakyReLU, else relu), bias 0, on ``conv`` unless the conv
    has an ``init_weights`` of its own; weight 1, bias 0 on the norm.
    """
    act_cfg = getattr(module, "act_cfg", None) or {}
    leaky = getattr(module, "with_activation", False) and act_cfg.get("type") == "LeakyReLU"
    slope = float(act_cfg.get("negative_slope", 0.01)) if leaky else None
    norm_name = getattr(module, "norm_name", None) if getattr(module, "with_norm", False) else None
    return conv_module_rules(cast(nn.Module, module.conv), slope, norm_name)


def mmcv_pixel_shuffle_rules(module: nn.Module) -> dict[str, Any]:
    """What mmcv's ``PixelShufflePack.init_weights`` does: Xavier uniform, bias 0, on ``upsample_conv``."""
    return dict(type="Xavier", distribution="uniform", bias=0, override=dict(name="upsample_conv"))


#: mmcv's layers by qualified name -> the rules their ``init_weights`` amounts to. Read by
#: :func:`torchinit.register_default_init`'s table the first time a default is looked
#: up (a user's own registration of the same name wins).
MMCV_DEFAULTS: dict[str, Callable[[nn.Module], Any]] = {
    "mmcv.cnn.bricks.conv_module.ConvModule": mmcv_conv_module_rules,
    "mmcv.cnn.bricks.upsample.PixelShufflePack": mmcv_pixel_shuffle_rules,
}
