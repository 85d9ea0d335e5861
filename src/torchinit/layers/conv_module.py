"""ConvModule: a convolution, a normalization and an activation in a declared order."""

from __future__ import annotations

import copy
import functools
import warnings
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, cast

from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from .._conv_defaults import conv_module_rules
from ..errors import ConfigTypeError, ConfigValueError, UnknownTypeError
from ..models import MODELS
from ..module import BaseModule, InitCfg
from ..registry import describe_value
from ._build import LayerCfg, find_layer_type, split_cfg, takes_argument
from ._conv_bn_eval import can_fold, conv_bn_eval_forward
from ._default_init import apply_default_init
from .activation import ACTIVATION_LAYERS, build_activation_layer
from .conv import build_conv_layer
from .norm import build_norm_layer
from .padding import PADDING_LAYERS, build_padding_layer

__all__ = ["ConvModule", "conv_module_rules"]

_RELU: Mapping[str, Any] = MappingProxyType({"type": "ReLU"})
_ORDER = ("conv", "norm", "act")
_CONV_PADDING_MODES = ("zeros", "circular")  # handled by the conv; others by a padding layer


def _check_cfg(name: str, cfg: Any) -> dict[str, Any] | None:
    if cfg is None:
        return None
    if not isinstance(cfg, Mapping):
        raise ConfigTypeError(f"ConvModule: {name} must be a dict or None, got {describe_value(cfg)}.")
    return copy.deepcopy(dict(cfg))


def _check_order(order: Any) -> tuple[str, str, str]:
    if isinstance(order, str) or not isinstance(order, Sequence) or sorted(order) != sorted(_ORDER):
        raise ConfigValueError(
            f"ConvModule: order must hold 'conv', 'norm' and 'act' once each, e.g. {_ORDER!r}; "
            f"got {describe_value(order)}."
        )
    return tuple(order)


@MODELS.register_module()
class ConvModule(BaseModule):
    """A convolution, a normalization and an activation, applied in ``order``.

    Each part is built from its cfg (:func:`build_conv_layer`, :func:`build_norm_layer`,
    :func:`build_activation_layer`) and lives in a readable attribute: ``conv``, the norm's
    inferred name (``bn``, ``gn``, ``ln``, ``in``; also reachable as :attr:`norm`),
    ``activate``, and ``padding_layer`` when a padding layer is used. Parameter names
    therefore match mmcv's checkpoints (``conv.weight``, ``bn.weight``, ...).

    Default init (:meth:`default_init_cfg`), as mmcv's ``ConvModule.init_weights``, applied
    when the module is built (as mmcv does; not on the meta device) and again as the
    lowest-priority rules of ``init_weights()``:

    - ``conv``: Kaiming normal, ``mode='fan_out'``, bias 0; ``nonlinearity='leaky_relu'``
      with ``a`` = the activation's ``negative_slope`` when the activation is a LeakyReLU,
      else ``nonlinearity='relu'``, ``a=0``. Skipped when the conv has its own
      ``init_weights`` (it initializes itself).
    - the norm (if it has parameters): weight 1, bias 0.

    Precedence, lowest first: this default; any ``init_cfg`` rule that covers the parameter, whether it is the ConvModule's own
    ``init_cfg`` or an ancestor's (a ``layer='Conv2d'`` rule or an ``override`` naming this
    module). So a user's config is never silently overwritten by the default. In
    ``compat='mmengine'`` mode a ConvModule that mmengine's ``init_weights`` reaches re-applies
    this default after its parent's rules, as mmcv does.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups: as for
            ``nn.Conv2d``.
        bias: True or False, or ``'auto'``: a bias only when there is no norm.
        conv_cfg: the conv's cfg; None is ``dict(type='Conv2d')``.
        norm_cfg: the norm's cfg (e.g. ``dict(type='BN')``); None: no norm. Its channels are
            ``out_channels`` when it follows the conv, ``in_channels`` when it precedes it.
        act_cfg: the activation's cfg; None: no activation. Default ``dict(type='ReLU')``.
        inplace: passed to activations that take ``inplace`` (unless the cfg sets it).
        with_spectral_norm: wrap the conv in ``nn.utils.spectral_norm``.
        padding_mode: ``'zeros'`` and ``'circular'`` are done by the conv; any padding
            layer name (``'reflect'``, ``'replicate'``, ``'zero'``, or one registered in
            ``PADDING_LAYERS`` or ``MODELS``) by a padding layer before an unpadded conv, as in
            mmcv. (mmcv drops ``'circular'`` silently and pads with zeros; here the conv gets
            it.)
        order: the three of ``'conv'``, ``'norm'``, ``'act'`` in the order they run.
        efficient_conv_bn_eval: when a batch norm directly follows the conv and is in eval
            mode, fold it into the conv (one convolution, same output; see
            :meth:`turn_on_efficient_conv_bn_eval`), as mmcv 2.x.
        init_cfg: this module's own init rules; they beat the default above.

    Example:
        >>> import torch
        >>> m = ConvModule(3, 8, 3, padding=1, norm_cfg=dict(type='BN'))
        >>> [name for name, _ in m.named_children()], m.conv.bias is None
        (['conv', 'bn', 'activate'], True)
        >>> tuple(m(torch.zeros(1, 3, 5, 5)).shape)
        (1, 8, 5, 5)
    """

    _abbr_ = "conv_block"  # the name mmcv's plugin builders give it

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] = 0,
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
        bias: bool | str = "auto",
        conv_cfg: LayerCfg | None = None,
        norm_cfg: LayerCfg | None = None,
        act_cfg: LayerCfg | None = _RELU,
        inplace: bool = True,
        with_spectral_norm: bool = False,
        padding_mode: str = "zeros",
        order: Sequence[str] = _ORDER,
        efficient_conv_bn_eval: bool = False,
        init_cfg: InitCfg | None = None,
    ) -> None:
        super().__init__(init_cfg)
        if bias != "auto" and not isinstance(bias, bool):
            raise ConfigTypeError(
                f"ConvModule: bias must be True, False or 'auto', got {describe_value(bias)}."
            )
        for flag, value in (
            ("inplace", inplace),
            ("with_spectral_norm", with_spectral_norm),
            ("efficient_conv_bn_eval", efficient_conv_bn_eval),
        ):
            if not isinstance(value, bool):
                raise ConfigTypeError(f"ConvModule: {flag} must be a bool, got {describe_value(value)}.")
        if not isinstance(padding_mode, str) or (
            padding_mode not in _CONV_PADDING_MODES and find_layer_type(PADDING_LAYERS, padding_mode) is None
        ):
            choices = [*_CONV_PADDING_MODES, *PADDING_LAYERS.names()]
            raise UnknownTypeError(
                f"ConvModule: padding_mode must be one of {', '.join(repr(c) for c in choices)}, "
                f"got {describe_value(padding_mode)}. Register your own padding layer with "
                "@torchinit.PADDING_LAYERS.register_module()."
            )
        self.conv_cfg = _check_cfg("conv_cfg", conv_cfg)
        self.norm_cfg = _check_cfg("norm_cfg", norm_cfg)
        self.act_cfg = _check_cfg("act_cfg", act_cfg)
        self.order = _check_order(order)
        self.inplace = inplace
        self.with_spectral_norm = with_spectral_norm
        self.padding_mode = padding_mode
        self.with_explicit_padding = padding_mode not in _CONV_PADDING_MODES
        self.with_norm = self.norm_cfg is not None
        self.with_activation = self.act_cfg is not None
        self.with_bias = (not self.with_norm) if bias == "auto" else bias

        if self.with_explicit_padding:
            self.padding_layer = build_padding_layer(dict(type=padding_mode), padding)
        conv_kwargs: dict[str, Any] = dict(
            stride=stride,
            padding=0 if self.with_explicit_padding else padding,
            dilation=dilation,
            groups=groups,
            bias=self.with_bias,
        )
        if padding_mode == "circular":
            conv_kwargs["padding_mode"] = "circular"
        self.conv = build_conv_layer(self.conv_cfg, in_channels, out_channels, kernel_size, **conv_kwargs)
        if with_spectral_norm:
            self.conv = nn.utils.spectral_norm(self.conv)

        self._export_conv_attributes(padding)

        self.norm_name: str | None = None
        if self.norm_cfg is not None:
            follows_conv = self.order.index("norm") > self.order.index("conv")
            self.norm_name, norm = build_norm_layer(
                self.norm_cfg, out_channels if follows_conv else in_channels
            )
            self.add_module(self.norm_name, norm)
            if self.with_bias and isinstance(norm, (_BatchNorm, _InstanceNorm)):
                warnings.warn(  # mmcv's words first, so filters written for mmcv still match
                    "Unnecessary conv bias before batch/instance norm: the norm cancels it; "
                    "pass bias='auto' (or False) to ConvModule to drop it.",
                    UserWarning,
                    stacklevel=2,
                )

        if self.act_cfg is not None:
            act_cfg = dict(self.act_cfg)
            target, _, _ = split_cfg(act_cfg, ACTIVATION_LAYERS)
            if "inplace" not in act_cfg and takes_argument(target, "inplace"):
                act_cfg["inplace"] = inplace
            self.activate = build_activation_layer(act_cfg)

        self.turn_on_efficient_conv_bn_eval(efficient_conv_bn_eval)
        apply_default_init(self, self.default_init_cfg())

    def _export_conv_attributes(self, padding: Any) -> None:
        """mmcv's names for the conv's attributes, read from the built conv."""
        self.in_channels = self.conv.in_channels
        self.out_channels = self.conv.out_channels
        self.kernel_size = self.conv.kernel_size
        self.stride = self.conv.stride
        self.padding = padding
        self.dilation = self.conv.dilation
        self.transposed = getattr(self.conv, "transposed", False)
        self.output_padding = getattr(self.conv, "output_padding", None)
        self.groups = self.conv.groups

    def turn_on_efficient_conv_bn_eval(self, efficient_conv_bn_eval: bool = True) -> None:
        """Fold an eval-mode batch norm into the conv in :meth:`forward` (or stop doing so).

        Takes effect only when the norm is a batch norm that tracks running statistics; the
        fold is used while the norm is in eval mode, right after the conv, and ``norm=True``.
        ``efficient_conv_bn_eval_forward`` is the function used, or None when off (mmcv's name).
        """
        on = efficient_conv_bn_eval and isinstance(self.norm, _BatchNorm) and self.norm.track_running_stats
        self.efficient_conv_bn_eval_forward: Callable[..., Tensor] | None = (
            conv_bn_eval_forward if on else None
        )

    @staticmethod
    def create_from_conv_bn(
        conv: nn.Module, bn: _BatchNorm, efficient_conv_bn_eval: bool = True
    ) -> ConvModule:
        """A ConvModule around an existing conv and batch norm (named ``conv``, ``bn``), no activation.

        The given modules are used as they are: nothing is initialized, nothing copied.
        """
        self = ConvModule.__new__(ConvModule)
        BaseModule.__init__(self)
        self.conv_cfg = self.norm_cfg = self.act_cfg = None
        self.order = _ORDER
        self.inplace = self.with_spectral_norm = self.with_explicit_padding = False
        self.padding_mode = "zeros"
        self.with_norm, self.with_activation = True, False
        self.with_bias = getattr(conv, "bias", None) is not None
        self.conv = conv
        self._export_conv_attributes(conv.padding)
        self.norm_name = "bn"
        self.add_module("bn", bn)
        self.turn_on_efficient_conv_bn_eval(efficient_conv_bn_eval)
        return self

    @property
    def norm(self) -> nn.Module | None:
        """The norm layer (whatever its attribute name), or None."""
        return getattr(self, self.norm_name) if self.norm_name else None

    def default_init_cfg(self) -> list[dict[str, Any]]:
        """The lowest-priority rules: Kaiming for ``conv``, weight 1 / bias 0 for the norm.

        See the class docstring for when they apply.
        """
        activate = getattr(self, "activate", None)
        slope = float(activate.negative_slope) if isinstance(activate, nn.LeakyReLU) else None
        norm = self.norm
        has_norm_params = norm is not None and any(True for _ in norm.parameters())
        return conv_module_rules(self.conv, slope, self.norm_name if has_norm_params else None)

    def forward(self, x: Tensor, activate: bool = True, norm: bool = True) -> Tensor:
        """Run the parts in ``order``; ``activate=False`` / ``norm=False`` skip those parts."""
        folded = False
        for index, part in enumerate(self.order):
            if part == "conv":
                if self.with_explicit_padding:
                    x = self.padding_layer(x)
                folded = self._fold_next_norm(index, norm)
                x = self._conv_with_norm(x) if folded else self.conv(x)
            elif part == "norm" and norm and self.norm_name is not None and not folded:
                x = getattr(self, self.norm_name)(x)
            elif part == "act" and activate and self.with_activation:
                x = self.activate(x)
        return x

    def _fold_next_norm(self, conv_index: int, norm: bool) -> bool:
        fold = getattr(self, "efficient_conv_bn_eval_forward", None)
        return (
            fold is not None
            and norm
            and conv_index + 1 < len(self.order)
            and self.order[conv_index + 1] == "norm"
            and self.norm is not None
            and not self.norm.training
            and can_fold(self.conv, self.norm)
        )

    def _conv_with_norm(self, x: Tensor) -> Tensor:
        # Through the conv's own call, so its hooks (spectral norm's weight update) still run.
        fold = cast(Callable[..., Tensor], self.efficient_conv_bn_eval_forward)  # set: the caller checked
        self.conv.forward = functools.partial(fold, self.norm, self.conv)
        try:
            return self.conv(x)
        finally:
            del self.conv.forward
