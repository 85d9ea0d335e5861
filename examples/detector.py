"""A RetinaNet-style detector: ResNet backbone, FPN neck, RetinaNet head.

The classes only build layers; how their weights are initialized is the ``init_cfg`` of
the config that builds them (see :mod:`examples.models`). They are registered in
``torchinit.MODELS`` under their class names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn
from torch.nn import functional as F

from torchinit import (
    MODELS,
    BaseModule,
    ConfigValueError,
    ConvModule,
    build_conv_layer,
    build_model,
    build_norm_layer,
)

__all__ = ["FPN", "BasicBlock", "Bottleneck", "ResNet", "RetinaHead", "RetinaNet"]

Cfg = Mapping[str, Any]


class BasicBlock(nn.Module):
    """Two 3x3 convs with a shortcut (ResNet-18/34). Norm names: ``bn1``, ``bn2`` for BN."""

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int,
        downsample: nn.Module | None,
        conv_cfg: Cfg | None,
        norm_cfg: Cfg,
    ) -> None:
        super().__init__()
        self.conv1 = build_conv_layer(conv_cfg, inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, planes, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(conv_cfg, planes, planes, 3, padding=1, bias=False)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, planes, postfix=2)
        self.add_module(self.norm2_name, norm2)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(getattr(self, self.norm1_name)(self.conv1(x)))
        out = getattr(self, self.norm2_name)(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1, 3x3 (strided), 1x1 convs with a shortcut (ResNet-50/101/152)."""

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int,
        downsample: nn.Module | None,
        conv_cfg: Cfg | None,
        norm_cfg: Cfg,
    ) -> None:
        super().__init__()
        self.conv1 = build_conv_layer(conv_cfg, inplanes, planes, 1, bias=False)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, planes, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(conv_cfg, planes, planes, 3, stride=stride, padding=1, bias=False)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, planes, postfix=2)
        self.add_module(self.norm2_name, norm2)
        self.conv3 = build_conv_layer(conv_cfg, planes, planes * self.expansion, 1, bias=False)
        self.norm3_name, norm3 = build_norm_layer(norm_cfg, planes * self.expansion, postfix=3)
        self.add_module(self.norm3_name, norm3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(getattr(self, self.norm1_name)(self.conv1(x)))
        out = self.relu(getattr(self, self.norm2_name)(self.conv2(out)))
        out = getattr(self, self.norm3_name)(self.conv3(out))
        return self.relu(out + identity)


@MODELS.register_module()
class ResNet(BaseModule):
    """He et al. (2016), Deep Residual Learning for Image Recognition; returns stage outputs.

    Args:
        depth: 18, 34, 50, 101 or 152.
        in_channels: channels of the input image.
        base_channels: width of the stem and the first stage (64 in the paper).
        out_indices: which of the four stages to return.
        conv_cfg, norm_cfg: layer cfgs for every conv and norm.
        init_cfg: init rules; OpenMMLab's are Kaiming on Conv2d, 1 on the norms.
    """

    arch_settings: Mapping[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, ...]]] = {
        18: (BasicBlock, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(
        self,
        depth: int = 50,
        in_channels: int = 3,
        base_channels: int = 64,
        out_indices: Sequence[int] = (0, 1, 2, 3),
        conv_cfg: Cfg | None = None,
        norm_cfg: Cfg | None = None,
        init_cfg: Any = None,
    ) -> None:
        super().__init__(init_cfg)
        if depth not in self.arch_settings:
            raise ConfigValueError(
                f"ResNet: depth must be one of {sorted(self.arch_settings)}, got {depth!r}."
            )
        norm_cfg = norm_cfg if norm_cfg is not None else {"type": "BN"}
        block, stage_blocks = self.arch_settings[depth]
        self.depth = depth
        self.out_indices = tuple(out_indices)
        self.conv1 = build_conv_layer(
            conv_cfg, in_channels, base_channels, 7, stride=2, padding=3, bias=False
        )
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, base_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

        self.res_layers: list[str] = []
        self.out_channels: list[int] = []
        inplanes = base_channels
        for i, num_blocks in enumerate(stage_blocks):
            planes = base_channels * 2**i
            stride = 1 if i == 0 else 2
            blocks = []
            for j in range(num_blocks):
                downsample = None
                if j == 0 and (stride != 1 or inplanes != planes * block.expansion):
                    downsample = nn.Sequential(
                        build_conv_layer(
                            conv_cfg, inplanes, planes * block.expansion, 1, stride=stride, bias=False
                        ),
                        build_norm_layer(norm_cfg, planes * block.expansion)[1],
                    )
                blocks.append(
                    block(inplanes, planes, stride if j == 0 else 1, downsample, conv_cfg, norm_cfg)
                )
                inplanes = planes * block.expansion
            name = f"layer{i + 1}"
            self.add_module(name, nn.Sequential(*blocks))
            self.res_layers.append(name)
            self.out_channels.append(inplanes)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        x = self.maxpool(self.relu(getattr(self, self.norm1_name)(self.conv1(x))))
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


@MODELS.register_module()
class FPN(BaseModule):
    """Lin et al. (2017), Feature Pyramid Networks for Object Detection.

    Lateral 1x1 and output 3x3 convs are ConvModules in plain ``nn.ModuleList``s, as in
    mmdet; extra levels come from strided 3x3 convs (``add_extra_convs='on_input'`` or
    ``'on_output'``) or from max pooling (``False``).

    Args:
        in_channels: channels of each backbone output.
        out_channels: channels of every pyramid level.
        num_outs: number of pyramid levels returned.
        start_level: first backbone output used.
        add_extra_convs: how levels beyond the backbone's are made.
        conv_cfg, norm_cfg, act_cfg: passed to every ConvModule.
        init_cfg: init rules; OpenMMLab's is Xavier uniform on Conv2d.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: int,
        num_outs: int,
        start_level: int = 0,
        add_extra_convs: bool | str = False,
        conv_cfg: Cfg | None = None,
        norm_cfg: Cfg | None = None,
        act_cfg: Cfg | None = None,
        init_cfg: Any = None,
    ) -> None:
        super().__init__(init_cfg)
        if add_extra_convs not in (False, "on_input", "on_output"):
            raise ConfigValueError(
                f"FPN: add_extra_convs must be False, 'on_input' or 'on_output', got {add_extra_convs!r}."
            )
        self.in_channels = list(in_channels)
        self.num_outs = num_outs
        self.start_level = start_level
        self.add_extra_convs = add_extra_convs
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg, inplace=False)
        self.lateral_convs = nn.ModuleList()
        self.fpn_convs = nn.ModuleList()
        for channels in self.in_channels[start_level:]:
            self.lateral_convs.append(ConvModule(channels, out_channels, 1, **common))
            self.fpn_convs.append(ConvModule(out_channels, out_channels, 3, padding=1, **common))
        extra_levels = num_outs - len(self.lateral_convs)
        if add_extra_convs:
            for i in range(extra_levels):
                channels = self.in_channels[-1] if i == 0 and add_extra_convs == "on_input" else out_channels
                self.fpn_convs.append(ConvModule(channels, out_channels, 3, stride=2, padding=1, **common))

    def forward(self, inputs: Sequence[Tensor]) -> tuple[Tensor, ...]:
        laterals = [conv(inputs[i + self.start_level]) for i, conv in enumerate(self.lateral_convs)]
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + F.interpolate(
                laterals[i], size=laterals[i - 1].shape[2:], mode="nearest"
            )
        outs = [self.fpn_convs[i](lateral) for i, lateral in enumerate(laterals)]
        for level in range(len(laterals), self.num_outs):
            if not self.add_extra_convs:
                outs.append(F.max_pool2d(outs[-1], 1, stride=2))
            elif level == len(laterals) and self.add_extra_convs == "on_input":
                outs.append(self.fpn_convs[level](inputs[-1]))
            else:
                outs.append(self.fpn_convs[level](outs[-1]))
        return tuple(outs)


@MODELS.register_module()
class RetinaHead(BaseModule):
    """Lin et al. (2017), Focal Loss for Dense Object Detection: the classification and
    box-regression subnets, shared over pyramid levels.

    Args:
        num_classes: classes scored per anchor (sigmoid, no background class).
        in_channels: channels of the pyramid levels.
        stacked_convs: 3x3 ConvModules in each subnet (in plain ``nn.ModuleList``s).
        feat_channels: their width.
        num_anchors: anchors per location.
        conv_cfg, norm_cfg: passed to the stacked ConvModules.
        init_cfg: init rules; OpenMMLab's is Normal(std=0.01) on Conv2d and a
            ``bias_prob=0.01`` override for ``retina_cls``.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        stacked_convs: int = 4,
        feat_channels: int = 256,
        num_anchors: int = 9,
        conv_cfg: Cfg | None = None,
        norm_cfg: Cfg | None = None,
        init_cfg: Any = None,
    ) -> None:
        super().__init__(init_cfg)
        self.num_classes = num_classes
        self.cls_convs = nn.ModuleList()
        self.reg_convs = nn.ModuleList()
        for i in range(stacked_convs):
            channels = in_channels if i == 0 else feat_channels
            for convs in (self.cls_convs, self.reg_convs):
                convs.append(
                    ConvModule(channels, feat_channels, 3, padding=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
                )
        self.retina_cls = build_conv_layer(conv_cfg, feat_channels, num_anchors * num_classes, 3, padding=1)
        self.retina_reg = build_conv_layer(conv_cfg, feat_channels, num_anchors * 4, 3, padding=1)

    def forward(self, feats: Sequence[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        cls_scores, bbox_preds = [], []
        for x in feats:
            cls_feat, reg_feat = x, x
            for conv in self.cls_convs:
                cls_feat = conv(cls_feat)
            for conv in self.reg_convs:
                reg_feat = conv(reg_feat)
            cls_scores.append(self.retina_cls(cls_feat))
            bbox_preds.append(self.retina_reg(reg_feat))
        return cls_scores, bbox_preds


@MODELS.register_module()
class RetinaNet(BaseModule):
    """A one-stage detector: ``bbox_head(neck(backbone(images)))``; each part from its cfg."""

    def __init__(self, backbone: Cfg, neck: Cfg, bbox_head: Cfg, init_cfg: Any = None) -> None:
        super().__init__(init_cfg)
        self.backbone = build_model(backbone)
        self.neck = build_model(neck)
        self.bbox_head = build_model(bbox_head)

    def forward(self, images: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        return self.bbox_head(self.neck(self.backbone(images)))
