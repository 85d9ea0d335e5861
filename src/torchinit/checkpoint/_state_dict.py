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

from ..errors import (
    CheckpointFormatError,
    CheckpointKeyCollisionError,
    CheckpointNotDictError,
    CheckpointPrefixError,
    ConfigTypeError,
    ConfigValueError,
)
from ..registry import describe_value, did_you_mean
from . import _serialization

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
    checkpoint: Mapping[str, Any], *, use_ema: bool = False, source: str = "checkpoint", compat: bool = False
) -> Mapping[str, Any]:
    """The state dict inside a checkpoint.

    Layouts, in the order they are tried: ``checkpoint['state_dict']`` (mmengine, Lightning),
    ``checkpoint['model']`` (detectron2, DeiT), and otherwise the checkpoint itself when it
    holds tensors (a bare ``model.state_dict()``). A whole pickled model (``torch.save(model)``,
    readable only with ``allow_pickle=True``) gives its ``state_dict()``. EMA weights live under
    ``'state_dict_ema'``, ``'model_ema'`` (timm) or ``'ema_state_dict'`` (mmengine's
    EMAHook, whose ``module.`` prefix and ``steps`` counter are dropped): they are used
    with ``use_ema=True``, or when the checkpoint holds nothing else.

    With ``compat=True`` the layout rule is mmengine's exactly: a ``'state_dict'`` entry is
    unwrapped, anything else is the state dict as it is (``{'model': sd}`` is then a state
    dict whose one key is ``'model'``; ``{}`` an empty one that loads nothing, without error).
    ``use_ema=True`` is still honoured.

    Raises:
        CheckpointNotDictError: the checkpoint is not a dict (also a ``RuntimeError``, as in
            mmengine).
        CheckpointFormatError: nothing in the checkpoint looks like a state dict, or
            ``use_ema=True`` and it has no EMA weights. The message lists its top-level keys.
        CheckpointKeyCollisionError: two EMA keys are one once ``module.`` is dropped.
    """
    if isinstance(checkpoint, nn.Module):  # torch.save(model), read with allow_pickle=True
        return checkpoint.state_dict()
    if not isinstance(checkpoint, Mapping):
        raise CheckpointNotDictError(
            f"{source} holds a {type(checkpoint).__name__}, not a dict of tensors, so it has no state dict; "
            "extract the weights yourself and pass them to torchinit.load_state_dict."
        )
    ema = next((k for k in _EMA_KEYS if isinstance(checkpoint.get(k), Mapping)), None)
    if use_ema and ema is None:
        raise CheckpointFormatError(
            f"{source} has no EMA weights (looked for {', '.join(map(repr, _EMA_KEYS))}); its top-level "
            f"keys are: {shorten(sorted(map(str, checkpoint)))}. "
            "Drop use_ema=True to load its plain weights."
        )
    if compat and not use_ema:
        return _compat_state_dict(checkpoint, source)
    plain = next((k for k in _STATE_KEYS if isinstance(checkpoint.get(k), Mapping)), None)
    if use_ema or (plain is None and ema is not None and not _holds_tensors(checkpoint)):
        state = checkpoint[ema]  # type: ignore[index]
        if ema == "ema_state_dict":  # mmengine's AveragedModel: module.<key>, plus a step counter
            pairs = (
                (k, k.removeprefix("module.") if isinstance(k, str) else k) for k in state if k != "steps"
            )
            state = {
                new: state[old] for new, old in _renamed(pairs, source, "once 'module.' is dropped").items()
            }
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


def _compat_state_dict(checkpoint: Mapping[str, Any], source: str) -> Mapping[str, Any]:
    """mmengine's rule (runner/checkpoint.py, _load_checkpoint_to_model)."""
    if "state_dict" not in checkpoint:
        return checkpoint
    state = checkpoint["state_dict"]
    if not isinstance(state, Mapping):
        raise CheckpointFormatError(
            f"{source}: its 'state_dict' entry is a {type(state).__name__}, not a dict of tensors."
        )
    return state


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
    """Map each target name to the checkpoint key it reads: ``revise_keys``, then ``prefix``.

    Raises:
        CheckpointKeyCollisionError: two keys get the same name.
        CheckpointPrefixError: ``prefix`` matches no key.
    """
    pairs = check_revise_keys(revise_keys)

    def revised(key: str) -> str:
        for pattern, repl in pairs:
            key = pattern.sub(repl, key)
        return key

    renamed = _renamed(
        ((k, revised(k) if isinstance(k, str) else k) for k in keys), source, "after revise_keys"
    )
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


def _renamed(pairs: Iterable[tuple[Any, Any]], source: str, when: str) -> dict[str, str]:
    """``{new: old}`` for ``(old, new)`` key pairs; keys must be strings and stay distinct."""
    renamed: dict[str, str] = {}
    for old, new in pairs:
        if not isinstance(old, str):
            raise CheckpointFormatError(
                f"{source}: state dict keys must be strings, found {describe_value(old)}."
            )
        if new in renamed:
            raise CheckpointKeyCollisionError(
                f"{source}: keys {renamed[new]!r} and {old!r} both become {new!r} {when}, so one would "
                "silently overwrite the other. Remove one of them from the checkpoint, or make revise_keys "
                "more specific."
            )
        renamed[new] = old
    return renamed


def shorten(names: Sequence[str]) -> str:
    """The first few names, and how many more there are."""
    shown = ", ".join(names[:_LIST_SHOWN])
    return shown + (f", ... and {len(names) - _LIST_SHOWN} more" if len(names) > _LIST_SHOWN else "")
