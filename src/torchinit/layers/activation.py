"""``build_activation_layer`` and its name table ``ACTIVATION_LAYERS``.

=============  ====================  ==========================================
type           layer                 f(x)
=============  ====================  ==========================================
ReLU           ``nn.ReLU``           max(0, x)
LeakyReLU      ``nn.LeakyReLU``      max(0, x) + negative_slope · min(0, x)
PReLU          ``nn.PReLU``          LeakyReLU with a learned slope
RReLU          ``nn.RReLU``          LeakyReLU with a random slope in training
ReLU6          ``nn.ReLU6``          min(max(0, x), 6)
ELU            ``nn.ELU``            x if x > 0 else alpha · (exp(x) - 1)
Sigmoid        ``nn.Sigmoid``        1 / (1 + exp(-x))
Tanh           ``nn.Tanh``           tanh(x)
GELU           ``nn.GELU``           x · Φ(x)
SiLU, Swish    ``nn.SiLU``           x · sigmoid(x)
HSigmoid       :class:`HSigmoid`     clamp((x + bias) / divisor, min, max)
HSwish         ``nn.Hardswish``      x · ReLU6(x + 3) / 6
Mish           ``nn.Mish``           x · tanh(softplus(x))
Clamp, Clip    :class:`Clamp`        clamp(x, min, max)
=============  ====================  ==========================================

The names are mmcv's (``Mish`` is ours too). mmcv registers its own ``Swish`` class and,
before torch 1.7, its own ``HSwish``; they compute the same functions and have no
parameters, so configs and checkpoints are unaffected.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..errors import ConfigValueError
from ..registry import Registry
from ._build import LayerCfg, build_layer

__all__ = ["ACTIVATION_LAYERS", "Clamp", "HSigmoid", "build_activation_layer"]

ACTIVATION_LAYERS = Registry("activation layer", import_path="torchinit.ACTIVATION_LAYERS")
for _cls in (
    nn.ReLU,
    nn.LeakyReLU,
    nn.PReLU,
    nn.RReLU,
    nn.ReLU6,
    nn.ELU,
    nn.Sigmoid,
    nn.Tanh,
    nn.GELU,
    nn.Mish,
):
    ACTIVATION_LAYERS.register_module(module=_cls)
ACTIVATION_LAYERS.register_module(["SiLU", "Swish"], module=nn.SiLU)
ACTIVATION_LAYERS.register_module("HSwish", module=nn.Hardswish)


@ACTIVATION_LAYERS.register_module()
class HSigmoid(nn.Module):
    """Hard sigmoid, Howard et al. (2019), Searching for MobileNetV3, with mmcv's knobs.

    ``f(x) = clamp((x + bias) / divisor, min_value, max_value)``; the defaults give
    ``ReLU6(x + 3) / 6``, the same as ``nn.Hardsigmoid``. It has no parameters.

    Example:
        >>> import torch
        >>> HSigmoid()(torch.tensor([-3.0, 0.0, 3.0]))
        tensor([0.0000, 0.5000, 1.0000])
    """

    def __init__(
        self, bias: float = 3.0, divisor: float = 6.0, min_value: float = 0.0, max_value: float = 1.0
    ):
        super().__init__()
        if divisor == 0:
            raise ConfigValueError("HSigmoid: divisor must not be 0.")
        self.bias = bias
        self.divisor = divisor
        self.min_value = min_value
        self.max_value = max_value

    def forward(self, x: Tensor) -> Tensor:
        return ((x + self.bias) / self.divisor).clamp(self.min_value, self.max_value)

    def extra_repr(self) -> str:
        return (
            f"bias={self.bias}, divisor={self.divisor}, "
            f"min_value={self.min_value}, max_value={self.max_value}"
        )


@ACTIVATION_LAYERS.register_module(["Clamp", "Clip"])
class Clamp(nn.Module):
    """Clamp every value to ``[min, max]`` (``torch.clamp``); mmcv's ``Clamp``, alias ``Clip``.

    It has no parameters.

    Example:
        >>> import torch
        >>> Clamp(min=0.0)(torch.tensor([-2.0, 0.5, 3.0]))
        tensor([0.0000, 0.5000, 1.0000])
    """

    def __init__(self, min: float = -1.0, max: float = 1.0) -> None:  # mmcv's argument names
        super().__init__()
        if min > max:
            raise ConfigValueError(f"Clamp: min must not exceed max, got min={min!r}, max={max!r}.")
        self.min = min
        self.max = max

    def forward(self, x: Tensor) -> Tensor:
        return x.clamp(self.min, self.max)

    def extra_repr(self) -> str:
        return f"min={self.min}, max={self.max}"


def build_activation_layer(cfg: LayerCfg) -> nn.Module:
    """Build an activation from ``cfg``: ``dict(type='LeakyReLU', negative_slope=0.2)``.

    Example:
        >>> build_activation_layer(dict(type='LeakyReLU', negative_slope=0.2))
        LeakyReLU(negative_slope=0.2)
    """
    return build_layer(ACTIVATION_LAYERS, cfg)
