"""Inside a checkpoint: where its state dict is, and which model name each key loads into.

:func:`get_state_dict` picks the state dict out of the common checkpoint layouts;
:func:`rename_keys` applies ``revise_keys`` and then ``prefix``, refusing collisions and a
prefix that matches nothing. Neither reads tensor data, so a lazy safetensors file stays
unread until the matched tensors are asked for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from torch import nn

from . import _serialization
from .errors import (
    CheckpointFormatError,
    CheckpointKeyCollisionError,
    CheckpointPrefixError,
    ConfigTypeError,
    ConfigValueError,
)
from .registry import describe_value, did_you_mean

__all__ = [
    "DEFAULT_REVISE_KEYS",
    "RevisePairs",
    "check_revise_keys",
    "get_state_dict",
    "rename_keys",
    "shorten",
]

RevisePairs = Sequence[tuple[str | re.Pattern[str], str]]
DEFAULT_REVISE_KEYS: tuple[tuple[str, str], ...] = ((r"^module\.", ""),)
"""Strip the ``module.`` that DataParallel/DDP put in front of every key."""

_STATE_KEYS = ("state_dict", "model")
_EMA_KEYS = ("state_dict_ema", "model_ema", "ema_state_dict")
_LIST_SHOWN = 5


def get_state_dict(
    checkpoint: Mapping[str, Any], *, use_ema: bool = False, source: str = "checkpoint"
) -> Mapping[str, Any]:
    """The state dict inside a checkpoint.

    Layouts, in the order they are tried: ``checkpoint['state_dict']`` (mmengine, Lightning),
    ``checkpoint['model']`` (detectron2, DeiT), and otherwise the checkpoint itself when it
    holds tensors (a bare ``model.state_dict()``). A whole pickled model (``torch.save(model)``,
    readable only with ``allow_pickle=True``) gives its ``state_dict()``. EMA weights live under
    ``'state_dict_ema'``, ``'model_ema'`` (timm) or ``'ema_state_dict'`` (mmengine's
    EMAHook, whose ``module.`` prefix and ``steps`` counter are dropped): they are used
    with ``use_ema=True``, or when the checkpoint holds nothing else.

    Raises:
        CheckpointFormatError: nothing in the checkpoint looks like a state dict, or
            ``use_ema=True`` and it has no EMA weights. The message lists its top-level keys.
    """
    if isinstance(checkpoint, nn.Module):  # torch.save(model), read with allow_pickle=True
        return checkpoint.state_dict()
    if not isinstance(checkpoint, Mapping):
        raise CheckpointFormatError(
            f"{source} holds a {type(checkpoint).__name__}, not a dict of tensors; extract the weights "
            "yourself and pass them to torchinit.load_state_dict."
        )
    ema = next((k for k in _EMA_KEYS if isinstance(checkpoint.get(k), Mapping)), None)
    plain = next((k for k in _STATE_KEYS if isinstance(checkpoint.get(k), Mapping)), None)
    if use_ema and ema is None:
        raise CheckpointFormatError(
            f"{source} has no EMA weights (looked for {', '.join(map(repr, _EMA_KEYS))}); its top-level "
            f"keys are: {shorten(sorted(map(str, checkpoint)))}. "
            "Drop use_ema=True to load its plain weights."
        )
    if use_ema or (plain is None and ema is not None and not _holds_tensors(checkpoint)):
        state = checkpoint[ema]  # type: ignore[index]
        if ema == "ema_state_dict":  # mmengine's AveragedModel: module.<key>, plus a step counter
            state = {k.removeprefix("module."): v for k, v in state.items() if k != "steps"}
        return state
    if plain is not None:
        return checkpoint[plain]
    if _holds_tensors(checkpoint):
        return checkpoint
    raise CheckpointFormatError(
        f"{source} holds no state dict: no 'state_dict' or 'model' entry and no tensors at the top "
        f"level. Its top-level keys are: {shorten(sorted(map(str, checkpoint)))}. Extract the weights "
        "yourself and pass them to torchinit.load_state_dict."
    )


def _holds_tensors(mapping: Mapping[str, Any]) -> bool:
    return any(_serialization.is_tensor_entry(mapping, k) for k in mapping)


# --------------------------------------------------------------------------- key mapping
def check_revise_keys(
    revise_keys: Any, owner: str = "revise_keys"
) -> tuple[tuple[re.Pattern[str], str], ...]:
    """Validate ``[(pattern, replacement), ...]`` and compile the patterns."""
    if isinstance(revise_keys, (str, bytes)) or not isinstance(revise_keys, Iterable):
        raise ConfigTypeError(
            f"{owner} must be a list of (pattern, replacement) pairs, got {describe_value(revise_keys)}."
        )
    pairs = []
    for pair in revise_keys:
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise ConfigTypeError(
                f"{owner}: each entry must be a (pattern, replacement) pair, got {describe_value(pair)}."
            )
        pattern, repl = pair
        if not isinstance(pattern, (str, re.Pattern)) or not isinstance(repl, str):
            raise ConfigTypeError(
                f"{owner}: pattern and replacement must be strings, got {describe_value(pattern)} and "
                f"{describe_value(repl)}."
            )
        try:
            pairs.append((re.compile(pattern), repl))
        except re.error as exc:
            raise ConfigValueError(
                f"{owner}: {pattern!r} is not a valid regular expression: {exc}."
            ) from None
    return tuple(pairs)


def rename_keys(
    keys: Iterable[Any], revise_keys: RevisePairs, prefix: str | None, source: str
) -> dict[str, str]:
    """Map each target name to the checkpoint key it reads: ``revise_keys``, then ``prefix``."""
    pairs = check_revise_keys(revise_keys)
    renamed: dict[str, str] = {}
    for key in keys:
        if not isinstance(key, str):
            raise CheckpointFormatError(
                f"{source}: state dict keys must be strings, found {describe_value(key)}."
            )
        new = key
        for pattern, repl in pairs:
            new = pattern.sub(repl, new)
        if new in renamed:
            raise CheckpointKeyCollisionError(
                f"{source}: keys {renamed[new]!r} and {key!r} both become {new!r} after revise_keys, so "
                "one would silently overwrite the other. Make the patterns more specific."
            )
        renamed[new] = key
    if prefix is None:
        return renamed
    dotted = prefix if prefix.endswith(".") else prefix + "."
    selected = {k[len(dotted) :]: v for k, v in renamed.items() if k.startswith(dotted)}
    if not selected:
        tops = sorted({k.split(".", 1)[0] for k in renamed})
        raise CheckpointPrefixError(
            f"{source}: prefix {prefix!r} matches no key. The checkpoint's top-level prefixes are: "
            f"{shorten(tops) or '(none: it is empty)'}.{did_you_mean(dotted.rstrip('.'), tops)}"
        )
    return selected


def shorten(names: Sequence[str]) -> str:
    """The first few names, and how many more there are."""
    shown = ", ".join(names[:_LIST_SHOWN])
    return shown + (f", ... and {len(names) - _LIST_SHOWN} more" if len(names) > _LIST_SHOWN else "")
