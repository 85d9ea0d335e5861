"""The reproducibility record: everything needed to redo one initialization, as one JSON.

The config, the seed, its scheme and the mode, the torch and torchinit versions, the SHA-256 of every
checkpoint that was read, and how many modules and tensors each rule reached. Two runs with
equal records start from the same weights (seeded runs are bit-identical on one device).
"""

from __future__ import annotations

import enum
import hashlib
import os
import platform
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoint._download import cache_path
from ..distributed.bands import describe_scheme
from ..report import InitReport

__all__ = ["checkpoint_sha256", "reproducibility_record"]

_CHUNK = 1 << 20


def _checkpoint_file(source: str) -> Path | None:
    """The local file behind a load's ``source`` (a path, ``file://``, a cached URL, ``name (target)``)."""
    if source.endswith(")") and " (" in source:  # 'torchvision://resnet18 (https://...)'
        return _checkpoint_file(source[source.index(" (") + 2 : -1])
    if source.startswith(("http://", "https://")):
        return cache_path(source)
    if source.startswith("file://"):
        return Path(urllib.request.url2pathname(urllib.parse.urlparse(source).path))
    return Path(source).expanduser()


def checkpoint_sha256(source: str) -> str | None:
    """SHA-256 of the checkpoint file a load read (None when it is not a local or cached file)."""
    path = _checkpoint_file(source)
    if path is None or not path.is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    """``value`` with only JSON types: classes and functions by their dotted name, the rest by repr."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, type) or callable(value):
        return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', repr(value))}"
    return repr(value)


def reproducibility_record(
    report: InitReport,
    *,
    config: Any = None,
    model: nn.Module | None = None,
) -> dict[str, Any]:
    """One JSON-ready dict that says how a model was initialized.

    Args:
        report: the report of the run (``init_weights()``, ``initialize()``, ``materialize()``).
        config: the model config (any classes in it are written by their dotted name).
        model: adds the parameter count.

    Returns:
        ``{'torchinit', 'torch', 'python', 'seed', 'seed_scheme', 'compat', 'config',
        'checkpoints', 'rules', 'sources', 'tensors'[, 'parameters']}``; ``seed_scheme`` says how
        a seeded run derives each tensor's values from the seed (the band scheme, see
        docs/distributed.md; None unseeded); each checkpoint with its source,
        ``sha256`` (None when not a local or cached file) and load counts; each rule with
        where it is and the modules and tensors it set.

    Example:
        >>> net = nn.Linear(4, 4)
        >>> from torchinit import initialize
        >>> report = initialize(net, dict(type='Constant', layer='Linear', val=1), seed=0)
        >>> record = reproducibility_record(report)
        >>> record['seed'], record['rules'][0]['tensors']
        (0, 2)
    """
    import torchinit

    sources: dict[str, int] = {}
    for rec in report:
        sources[rec.source] = sources.get(rec.source, 0) + 1
    record: dict[str, Any] = {
        "torchinit": torchinit.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "seed": report.seed,
        "seed_scheme": report.seed_scheme or (describe_scheme() if report.seed is not None else None),
        "compat": report.compat,
        "config": _plain(config),
        "checkpoints": [
            {
                "source": load.source,
                "sha256": checkpoint_sha256(load.source),
                "loaded": len(load.loaded),
                "missing": len(load.missing),
                "unexpected": len(load.unexpected),
                "mismatched": len(load.mismatched),
                "loaded_fraction": load.loaded_fraction,
            }
            for load in report.loads
            if hasattr(load, "source")
        ],
        "rules": [
            {
                "rule": r.initializer,
                "where": r.where,
                "owner": r.owner,
                "modules": r.modules,
                "tensors": r.tensors,
                "beaten_tensors": r.beaten_tensors,
            }
            for r in report.rules
        ],
        "sources": dict(sorted(sources.items())),
        "tensors": len(report),
    }
    if model is not None:
        record["parameters"] = sum(p.numel() for p in model.parameters())
    return record
