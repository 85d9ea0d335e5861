"""The default init of ConvModule, torchinit's and mmcv's, as rules.

A module of its own, below :mod:`torchinit.layers` (torchinit's ConvModule) and
:mod:`torchinit.openmmlab.defaults` (mmcv's, which :mod:`torchinit.module` reads on first
use), so that none of them imports another in a circle.
"""

from __future__ import annotations

from typing import Any

from torch import nn

__all__ = ["conv_module_rules"]


def conv_module_rules(
    conv: nn.Module, leaky_slope: float | None, norm_name: str | None
) -> list[dict[str, Any]]:
    """ConvModule's default as rules (torchinit's and mmcv's, which read their inputs apart).

    Kaiming normal, fan_out, bias 0 on ``conv`` (leaky_relu with ``leaky_slope`` when the
    activation is a LeakyReLU, else relu), unless the conv has an ``init_weights`` of its
    own; weight 1, bias 0 on the norm named ``norm_name`` (None: no norm to fill).
    """
    rules: list[dict[str, Any]] = []
    if not hasattr(conv, "init_weights"):
        a, nonlinearity = (0.0, "relu") if leaky_slope is None else (leaky_slope, "leaky_relu")
        rules.append(
            dict(
                type="Kaiming",
                a=a,
                mode="fan_out",
                nonlinearity=nonlinearity,
                distribution="normal",
                bias=0,
                override=dict(name="conv"),
            )
        )
    if norm_name is not None:
        rules.append(dict(type="Constant", val=1, bias=0, override=dict(name=norm_name)))
    return rules
