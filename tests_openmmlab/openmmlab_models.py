"""Real OpenMMLab models from the configs that ship inside the mmpretrain, mmdet and mmseg wheels.

Each wheel carries its model zoo's ``.py`` configs under ``<package>/.mim/configs/``. A
:class:`Case` names one of them; :func:`load_model_cfg` reads it with mmengine's ``Config``
(``_base_`` files included) and removes every pointer to downloadable weights, so that nothing
is ever loaded from the network:

* an ``init_cfg`` of ``type='Pretrained'`` is deleted from the config (inside a list, only that
  entry is), so the module's constructor default applies, as if the config never named weights:
  the init its authors wrote for training from scratch (CSPNeXt's Kaiming default argument,
  mmdet's ResNet rules for ``init_cfg=None``...).
* a ``pretrained=...`` argument (mmseg segmentors, older backbones) is deleted the same way.

What was removed is returned with the config, and the tests show it. :func:`build_model` builds
the model through the package's own ``MODELS`` registry, seeded, on the CPU, without weights.

Import this module only after ``openmmlab_shim.install()`` (``conftest.py`` does it).
"""

from __future__ import annotations

import copy
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["CASES", "Case", "build_model", "cases_by_id", "config_root", "load_model_cfg"]


@dataclass(frozen=True)
class Case:
    """One packaged config.

    Attributes:
        package: the import name whose registry builds it (``'mmpretrain'``, ``'mmdet'``, ``'mmseg'``).
        config: the config's path below ``<package>/.mim/configs/``.
        family: the model family it stands for in issue 10's list (``'RetinaNet'``, ...).
    """

    package: str
    config: str
    family: str

    @property
    def id(self) -> str:
        """``'mmdet:retinanet_r18_fpn_1x_coco'``: the package and the config's file stem."""
        return f"{self.package}:{Path(self.config).stem}"


#: The configs under test: small variants of every family issue 10 names, plus larger ones where
#: the small variant would hide a structure (ResNet-50 bottlenecks, caffe-style and GN heads,
#: two-stage Deformable DETR). 30 configs; `make test-openmmlab ARGS="-k mmdet"` picks a package.
CASES: tuple[Case, ...] = (
    Case("mmpretrain", "resnet/resnet18_8xb32_in1k.py", "ResNet"),
    Case("mmpretrain", "resnet/resnet50_8xb32_in1k.py", "ResNet"),
    Case("mmpretrain", "resnet/resnetv1d50_8xb32_in1k.py", "ResNet"),
    Case("mmpretrain", "resnet/resnet18_8xb16_cifar10.py", "ResNet"),
    Case("mmpretrain", "resnext/resnext50-32x4d_8xb32_in1k.py", "ResNet"),
    Case("mmpretrain", "seresnet/seresnet50_8xb32_in1k.py", "ResNet"),
    Case("mmpretrain", "convnext/convnext-tiny_32xb128_in1k.py", "ConvNeXt"),
    Case("mmpretrain", "deit/deit-tiny_4xb256_in1k.py", "DeiT"),
    Case("mmpretrain", "deit/deit-small-distilled_4xb256_in1k.py", "DeiT"),
    Case("mmpretrain", "vision_transformer/vit-base-p16_64xb64_in1k.py", "ViT"),
    Case("mmpretrain", "swin_transformer/swin-tiny_16xb64_in1k.py", "Swin"),
    Case("mmpretrain", "mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py", "MAE"),
    Case("mmdet", "retinanet/retinanet_r18_fpn_1x_coco.py", "RetinaNet"),
    Case("mmdet", "retinanet/retinanet_r50_fpn_1x_coco.py", "RetinaNet"),
    Case("mmdet", "fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py", "FCOS"),
    Case("mmdet", "atss/atss_r18_fpn_8xb8-amp-lsj-200e_coco.py", "ATSS"),
    Case("mmdet", "faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py", "Faster R-CNN"),
    Case("mmdet", "mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py", "Mask R-CNN"),
    Case("mmdet", "yolo/yolov3_mobilenetv2_8xb24-320-300e_coco.py", "YOLOv3"),
    Case("mmdet", "yolo/yolov3_d53_8xb8-320-273e_coco.py", "YOLOv3"),
    Case("mmdet", "rtmdet/rtmdet_tiny_8xb32-300e_coco.py", "RTMDet"),
    Case("mmdet", "rtmdet/rtmdet-ins_tiny_8xb32-300e_coco.py", "RTMDet"),
    Case("mmdet", "detr/detr_r18_8xb2-500e_coco.py", "DETR"),
    Case("mmdet", "deformable_detr/deformable-detr_r50_16xb2-50e_coco.py", "Deformable DETR"),
    Case("mmdet", "deformable_detr/deformable-detr-refine-twostage_r50_16xb2-50e_coco.py", "Deformable DETR"),
    Case("mmseg", "pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py", "PSPNet"),
    Case("mmseg", "deeplabv3/deeplabv3_r18-d8_4xb2-80k_cityscapes-512x1024.py", "DeepLabV3"),
    Case("mmseg", "segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py", "SegFormer"),
    Case("mmseg", "swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py",
         "UperNet-Swin"),
    Case("mmseg", "upernet/upernet_r18_4xb2-40k_cityscapes-512x1024.py", "UperNet"),
)


def cases_by_id() -> dict[str, Case]:
    """Every case under its :attr:`Case.id`."""
    return {case.id: case for case in CASES}


def config_root(package: str) -> Path:
    """``<site-packages>/<package>/.mim/configs``: where the wheel keeps its configs."""
    module = importlib.import_module(package)
    root = Path(module.__file__).parent / ".mim" / "configs"
    if not root.is_dir():
        raise FileNotFoundError(f"{package} has no packaged configs at {root}; "
                                "is it installed from its wheel?")
    return root


def _strip_downloads(node: Any, path: str, removed: list[str]) -> None:
    """Remove ``Pretrained`` init_cfgs and ``pretrained=`` arguments below ``node`` in place."""
    if isinstance(node, dict):
        for key in list(node):
            value = node[key]
            where = f"{path}.{key}"
            if key == "init_cfg" and _is_pretrained(value):
                del node[key]
                removed.append(f"{where}={_describe(value)}")
            elif key == "init_cfg" and isinstance(value, list) and any(_is_pretrained(v) for v in value):
                kept = [v for v in value if not _is_pretrained(v)]
                if kept:
                    node[key] = kept
                else:
                    del node[key]
                removed.append(f"{where}[Pretrained]={_describe([v for v in value if _is_pretrained(v)][0])}")
            elif key == "pretrained" and isinstance(value, str):
                del node[key]
                removed.append(f"{where}={value!r}")
            else:
                _strip_downloads(value, where, removed)
    elif isinstance(node, list | tuple):
        for i, value in enumerate(node):
            _strip_downloads(value, f"{path}[{i}]", removed)


def _is_pretrained(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") in ("Pretrained", "PretrainedInit")


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return f"Pretrained({value.get('checkpoint')!r})"
    return repr(value)


def load_model_cfg(case: Case) -> tuple[Any, list[str]]:
    """The case's ``model`` config (an mmengine ``ConfigDict``) without downloads, and what was removed.

    Raises ``ValueError`` if a ``Pretrained`` or ``checkpoint`` entry is still left after the
    removal (so a config that hides one elsewhere cannot reach the network).
    """
    from mmengine.config import Config

    cfg = Config.fromfile(str(config_root(case.package) / case.config))
    model_cfg = copy.deepcopy(cfg.model)
    removed: list[str] = []
    _strip_downloads(model_cfg, "model", removed)
    leftover = [text for text in _walk_strings(model_cfg) if "Pretrained" in text or "://" in text]
    if leftover:
        raise ValueError(f"{case.id}: config still points to weights after removing Pretrained: {leftover}")
    return model_cfg, removed


def _walk_strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _walk_strings(v)]
    if isinstance(node, list | tuple):
        return [s for v in node for s in _walk_strings(v)]
    return []


def build_model(case: Case, model_cfg: Any, seed: int) -> nn.Module:
    """A fresh model from ``model_cfg`` through ``<package>.registry.MODELS``, built after
    ``torch.manual_seed(seed)``."""
    from mmengine.registry import init_default_scope

    registry = importlib.import_module(f"{case.package}.registry").MODELS
    init_default_scope(case.package)
    torch.manual_seed(seed)
    return registry.build(copy.deepcopy(model_cfg))
