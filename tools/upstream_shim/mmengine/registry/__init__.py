"""Shim: ``mmengine.registry`` is torchinit's Registry, with ``MODELS`` seen as mmcv 2.x sees it.

mmcv 2.x registers every brick (convs, norms, activations, paddings, upsamplers,
ConvModule) in mmengine's one ``MODELS`` registry. torchinit keeps a table per kind plus
``torchinit.MODELS``, and every layer builder searches its own table, then ``MODELS``. The
``MODELS`` here lists all of those tables as one (``module_dict``) and registers into
``torchinit.MODELS``, where the builders find what a test registers.
"""

from __future__ import annotations

from typing import Any

import torchinit
from torchinit import Registry, build_from_cfg

_TABLES = (
    torchinit.CONV_LAYERS,
    torchinit.NORM_LAYERS,
    torchinit.ACTIVATION_LAYERS,
    torchinit.PADDING_LAYERS,
    torchinit.UPSAMPLE_LAYERS,
    torchinit.MODELS,
)


class _AllLayers:
    """torchinit's layer tables and MODELS, read as one registry; writes go to MODELS."""

    name = "models"

    @property
    def module_dict(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for table in _TABLES:
            for key, obj in table.module_dict.items():
                if merged.setdefault(key, obj) is not obj and table is not torchinit.MODELS:
                    raise RuntimeError(f"torchinit's tables disagree on {key!r}: {merged[key]!r} vs {obj!r}")
        return merged

    def register_module(self, *args: Any, **kwargs: Any) -> Any:
        return torchinit.MODELS.register_module(*args, **kwargs)

    def get(self, key: str) -> Any:
        return self.module_dict.get(key)

    def build(self, cfg: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        return torchinit.MODELS.build(cfg, *args, **kwargs)

    def __contains__(self, key: object) -> bool:
        return key in self.module_dict


MODELS = _AllLayers()

__all__ = ["MODELS", "Registry", "build_from_cfg"]
