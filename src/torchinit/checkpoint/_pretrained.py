"""Pretrained weights: read a checkpoint, check it against the model, then copy.

Three entry points share one core, and every check happens before the first write::

    read the file            torchinit.checkpoint._sources (scheme, download, safe read)
    pick the state dict      torchinit.checkpoint._state_dict: {'state_dict': ...}, {'model': ...}, EMA, bare
    rename keys              torchinit.checkpoint._state_dict: revise_keys in order, then ``prefix``
    match the model          loaded / missing / unexpected / shape-mismatched
    check                    strict, thresholds           -> CheckpointError, model unchanged
    copy                     under no_grad (the engine does this itself for init_weights)

:func:`plan_pretrained` stops before the copy: it is what ``init_weights()`` uses, so the
engine can write every parameter once. :func:`load_checkpoint` and
:func:`load_state_dict` are the mmengine functions of the same names.

Example:
    >>> import torch, tempfile, os
    >>> net = torch.nn.Linear(2, 2)
    >>> path = os.path.join(tempfile.mkdtemp(), 'net.pth')
    >>> torch.save({'state_dict': net.state_dict()}, path)
    >>> result = load_state_dict(torch.nn.Linear(2, 2), read_checkpoint(path)['state_dict'])
    >>> result.loaded
    ('weight', 'bias')
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from .._compat import get_compat
from .._load import HookView, LazyValue, PostHook, has_load_hooks, run_load_hooks
from ..distributed.sharded import is_sharded
from ..errors import CheckpointStrictError, CheckpointThresholdError, ConfigTypeError
from ..initializers import Pretrained
from ..module import unwrap_model
from ..registry import describe_value
from . import _serialization, _sources
from ._apply import apply_load
from ._state_dict import DEFAULT_REVISE_KEYS, RevisePairs, get_state_dict, rename_keys, shorten

logger = logging.getLogger("torchinit")


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class LoadResult:
    """What a load did, key by key (names as in the target module's ``state_dict()``).

    Attributes:
        loaded: keys copied from the checkpoint.
        missing: model keys the checkpoint has no entry for (``num_batches_tracked``
            buffers are not counted, as in mmengine).
        unexpected: checkpoint keys (after ``revise_keys`` and ``prefix``) the model lacks.
        mismatched: ``(key, checkpoint shape, model shape)`` for keys present in both with
            different shapes; these are not copied.
        source: the resolved path or URL that was read.
        loaded_fraction: share of the model's parameter elements that were loaded (1.0 for
            a model without parameters).
    """

    loaded: tuple[str, ...]
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    mismatched: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...]
    source: str
    loaded_fraction: float = 1.0

    @property
    def missing_keys(self) -> list[str]:
        """``missing`` under the name ``torch.nn.Module.load_state_dict`` uses."""
        return list(self.missing)

    @property
    def unexpected_keys(self) -> list[str]:
        """``unexpected`` under the name ``torch.nn.Module.load_state_dict`` uses."""
        return list(self.unexpected)

    @property
    def complete(self) -> bool:
        """True when every key matched: nothing missing, unexpected or mismatched."""
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self) -> str:
        """One line for the log: counts, and the first few names of each problem."""
        total = len(self.loaded) + len(self.missing) + len(self.mismatched)
        head = f"loaded {len(self.loaded)}/{total} tensors ({self.loaded_fraction:.1%} of parameters)"
        parts = [f"{head} from {self.source}"]
        if self.missing:
            parts.append(f"missing {len(self.missing)}: {shorten(self.missing)}")
        if self.unexpected:
            parts.append(f"unexpected {len(self.unexpected)}: {shorten(self.unexpected)}")
        if self.mismatched:
            shown = [f"{k} {_shape(c)} in checkpoint vs {_shape(m)} in model" for k, c, m in self.mismatched]
            parts.append(f"shape mismatch {len(self.mismatched)}: {shorten(shown)}")
        return "; ".join(parts)

    def details(self) -> str:
        """Every problem key, one per line (the text of a strict failure)."""
        lines = []
        if self.missing:
            lines.append(f"missing keys ({len(self.missing)}, in the model, not in the checkpoint):")
            lines += [f"    {k}" for k in self.missing]
        if self.unexpected:
            lines.append(f"unexpected keys ({len(self.unexpected)}, in the checkpoint, not in the model):")
            lines += [f"    {k}" for k in self.unexpected]
        if self.mismatched:
            lines.append(f"shape mismatches ({len(self.mismatched)}):")
            lines += [
                f"    {k}: {_shape(c)} in checkpoint, {_shape(m)} in model" for k, c, m in self.mismatched
            ]
        return "\n".join(lines)


@dataclass(frozen=True)
class LoadPlan:
    """A checked load that has not been applied yet.

    Attributes:
        tensors: checkpoint tensors by ``state_dict()`` key relative to the target
            module, each with the target's shape; copy them with ``target.copy_(value)``.
        result: the report of this load.
        post_hooks: the modules' load-state-dict post-hooks, to call after the copy.
    """

    tensors: dict[str, Tensor] = field(repr=False)
    result: LoadResult
    post_hooks: tuple[PostHook, ...] = field(default=(), repr=False)


def _shape(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


# --------------------------------------------------------------------------- matching
def _match(module: nn.Module, state: Mapping[str, Any], names: Mapping[str, str], source: str) -> LoadPlan:
    """Compare checkpoint entries with ``module.state_dict()`` and read the ones that fit.

    Every tensor read is checked (its kind, shape and dtype against its target) before the
    caller copies anything, so a tensor that cannot be copied fails the whole load.
    """
    targets = {k: v for k, v in module.state_dict(keep_vars=True).items() if isinstance(v, Tensor)}
    loaded, unexpected, mismatched = [], [], []
    for name, key in names.items():
        target = targets.get(name)
        shape = None if target is None else _serialization.entry_shape(state, key, source)
        if target is None or shape is None:
            unexpected.append(name)
        elif shape != tuple(target.shape):
            mismatched.append((name, shape, tuple(target.shape)))
        else:
            loaded.append(name)
    missing = [k for k in targets if k not in names and not k.endswith("num_batches_tracked")]
    tensors: dict[str, Any] = {}
    for name in loaded:
        value = state[names[name]]
        _serialization.check_loadable(names[name], value, targets[name], source)
        # A rank of a sharded model keeps only its part: read, check and drop the whole tensor
        # now, and read it again when its shard is written (the file's identity is checked).
        later = _lazy(state, names[name]) if is_sharded(targets[name]) else None
        tensors[name] = later if later is not None else value
    params = {k: v.numel() for k, v in targets.items() if isinstance(v, nn.Parameter)}
    total = sum(params.values())
    fraction = sum(params.get(k, 0) for k in loaded) / total if total else 1.0
    result = LoadResult(tuple(loaded), tuple(missing), tuple(unexpected), tuple(mismatched), source, fraction)
    return LoadPlan(tensors, result)


def _lazy(state: Mapping[str, Any], key: str) -> LazyValue | None:
    if isinstance(state, _serialization.SafetensorsStateDict):
        return LazyValue(state, key)
    return state.lazy(key) if isinstance(state, HookView) else None


def _check(result: LoadResult, *, strict: bool, min_loaded: float | None) -> None:
    if strict and not result.complete:
        raise CheckpointStrictError(
            f"strict load of {result.source} failed; nothing was changed.\n{result.details()}\n"
            "Pass strict=False to load what fits and keep the rest."
        )
    if min_loaded is not None and result.loaded_fraction < min_loaded:
        raise CheckpointThresholdError(
            f"only {result.loaded_fraction:.1%} of the model's parameters were loaded from {result.source}, "
            f"below min_loaded={min_loaded}; nothing was changed. Check prefix and revise_keys.\n"
            f"{result.details()}"
        )


def _log(result: LoadResult, log: logging.Logger | None) -> None:
    if log is not None:
        log.log(logging.INFO if result.complete else logging.WARNING, "%s", result.summary())


def _check_module(model: Any, what: str) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise ConfigTypeError(f"{what} must be a torch.nn.Module, got {describe_value(model)}.")
    return unwrap_model(model)


def _resolve_logger(logger_arg: Any) -> logging.Logger | None:
    """mmengine's conventions: None or 'current' -> our logger, 'silent' -> none, a name or a Logger."""
    if logger_arg is None or logger_arg == "current":
        return logger
    if logger_arg == "silent":
        return None
    if isinstance(logger_arg, logging.Logger):
        return logger_arg
    if isinstance(logger_arg, str):
        return logging.getLogger(logger_arg)
    raise ConfigTypeError(
        "logger must be None, a logging.Logger, 'silent', 'current' or a logger name, "
        f"got {describe_value(logger_arg)}."
    )


# --------------------------------------------------------------------------- entry points
def plan_pretrained(init: Pretrained, module: nn.Module, *, compat: bool = False) -> LoadPlan:
    """Read and check ``init.checkpoint`` against ``module``; change nothing.

    Everything that can fail does so here: the source, the download, the file's safety
    and integrity, its layout, ``revise_keys`` and ``prefix``, the modules' load pre-hooks
    (see :mod:`torchinit._load`), ``strict`` and ``min_loaded``. Logs one summary line on
    the ``torchinit`` logger. ``compat``: mmengine's rule for where the state dict is.

    Raises:
        CheckpointError: a subclass naming what went wrong; ``module`` is untouched.
    """
    module = _check_module(module, "Pretrained")
    opened = _sources.open_checkpoint(
        init.checkpoint,
        map_location=init.map_location,
        allow_pickle=init.allow_pickle,
        timeout=init.timeout,
        deadline=init.deadline,
    )
    state = get_state_dict(opened.checkpoint, use_ema=init.use_ema, source=opened.source, compat=compat)
    names = rename_keys(state.keys(), init.revise_keys, init.prefix, opened.source)
    plan = _match_with_hooks(module, state, names, opened.source)
    _log(plan.result, logger)
    _check(plan.result, strict=init.strict, min_loaded=init.min_loaded)
    return plan


def _match_with_hooks(
    module: nn.Module, state: Mapping[str, Any], names: Mapping[str, str], source: str
) -> LoadPlan:
    """``_match`` after the modules' load pre-hooks and custom loaders rewrote the checkpoint."""
    if not has_load_hooks(module):
        return _match(module, state, names, source)
    view = HookView(state, names)
    errors, post = run_load_hooks(module, view)
    view.hooks_done()
    for message in errors:
        logger.warning("%s: %s", source, message)
    plan = _match(module, view, {name: name for name in view}, source)
    return LoadPlan(plan.tensors, plan.result, tuple(post))


def load_state_dict(
    module: nn.Module, state_dict: Mapping[str, Any], strict: bool = False, logger: Any = None
) -> LoadResult:
    """Copy ``state_dict`` into ``module`` (mmengine's ``load_state_dict``, checked first).

    Keys present in both with equal shapes are copied; the others are reported (missing
    ``num_batches_tracked`` buffers are ignored). Parameters on the meta device are
    replaced by the loaded tensors. Nothing is copied unless every check passes.

    Args:
        module: the model (a DDP / DataParallel / compiled wrapper is unwrapped).
        state_dict: name -> tensor, names relative to ``module``.
        strict: raise :class:`CheckpointStrictError` on any missing, unexpected or
            shape-mismatched key instead of loading what fits.
        logger: where the summary line goes: None or ``'current'`` (the ``torchinit``
            logger), ``'silent'``, a logger name, or a ``logging.Logger``.

    Returns:
        The :class:`LoadResult`.
    """
    log = _resolve_logger(logger)
    module = _check_module(module, "load_state_dict: module")
    if not isinstance(state_dict, Mapping):
        raise ConfigTypeError(
            "load_state_dict: state_dict must be a mapping of names to tensors, "
            f"got {describe_value(state_dict)}."
        )
    names = rename_keys(state_dict.keys(), (), None, "state_dict")
    plan = _match_with_hooks(module, state_dict, names, "state_dict")
    _log(plan.result, log)
    _check(plan.result, strict=strict, min_loaded=None)
    apply_load(module, plan.tensors, plan.post_hooks, plan.result)
    return plan.result


def read_checkpoint(
    filename: str | os.PathLike[str],
    map_location: Any = None,
    *,
    allow_pickle: bool = False,
    timeout: float | None = None,
    deadline: float | None = None,
) -> Any:
    """Read a whole checkpoint from a path, URL or ``scheme://name`` (nothing is loaded).

    The safe reader behind :func:`load_checkpoint`: ``.safetensors`` through safetensors,
    anything else through ``torch.load(weights_only=True)`` with numpy scalars and arrays
    allowed. See :func:`load_checkpoint` for the arguments.
    """
    opened = _sources.open_checkpoint(
        filename, map_location=map_location, allow_pickle=allow_pickle, timeout=timeout, deadline=deadline
    )
    return _serialization.materialize(opened.checkpoint)


def load_checkpoint(
    model: nn.Module,
    filename: str | os.PathLike[str],
    map_location: Any = None,
    strict: bool = False,
    logger: Any = None,
    revise_keys: RevisePairs = DEFAULT_REVISE_KEYS,
    *,
    prefix: str | None = None,
    use_ema: bool = False,
    allow_pickle: bool = False,
    timeout: float | None = None,
    min_loaded: float | None = None,
    deadline: float | None = None,
) -> Any:
    """Load a checkpoint into ``model`` and return the whole checkpoint (as mmengine does).

    Sources: a local path (``str`` or ``os.PathLike``), ``file://``, ``http(s)://`` (downloaded
    once into ``$TORCHINIT_HOME/checkpoints``, checked against the SHA-256 prefix in a
    ``name-<hex>.pth`` file name), ``torchvision://NAME``, ``open-mmlab://NAME`` and any
    scheme added with :func:`register_scheme`.

    Args:
        model: the model (a wrapper is unwrapped).
        filename: where the checkpoint is.
        map_location: device the tensors are read onto (None: where they were saved).
        strict: raise on any missing, unexpected or shape-mismatched key.
        logger: see :func:`load_state_dict`.
        revise_keys: ``(pattern, replacement)`` pairs applied with ``re.sub`` in order to
            every key; the default strips DataParallel's ``module.``.
        prefix: load only keys under ``prefix.``, with it stripped (``'backbone'``).
        use_ema: load the EMA weights of the checkpoint (see :func:`get_state_dict`).
        allow_pickle: let ``torch.load`` run the pickle code in the file. Only for files
            you trust: a pickle can run any program. Off by default, and no environment
            variable turns it on.
        timeout: seconds a download may stall (default: ``$TORCHINIT_DOWNLOAD_TIMEOUT``
            or 60).
        min_loaded: raise unless at least this fraction of the model's parameter elements
            was loaded.
        deadline: seconds a whole download may take (default: ``$TORCHINIT_DOWNLOAD_DEADLINE``
            or one hour).

    The state dict is found as :func:`get_state_dict` says; with the process in
    ``torchinit.set_compat('mmengine')`` mode, by mmengine's rule (only ``'state_dict'``).

    Returns:
        The checkpoint as read (for safetensors, a dict of all its tensors).

    Raises:
        CheckpointError: a subclass naming the failure; ``model`` is unchanged.
    """
    log = _resolve_logger(logger)
    if min_loaded is not None:
        Pretrained(checkpoint=filename, min_loaded=min_loaded)  # validates the number
    model = _check_module(model, "load_checkpoint: model")
    opened = _sources.open_checkpoint(
        filename, map_location=map_location, allow_pickle=allow_pickle, timeout=timeout, deadline=deadline
    )
    checkpoint = _serialization.materialize(opened.checkpoint)

    state = get_state_dict(
        checkpoint, use_ema=use_ema, source=opened.source, compat=get_compat() == "mmengine"
    )
    names = rename_keys(state.keys(), revise_keys, prefix, opened.source)
    plan = _match_with_hooks(model, state, names, opened.source)
    _log(plan.result, log)
    _check(plan.result, strict=strict, min_loaded=min_loaded)
    apply_load(model, plan.tensors, plan.post_hooks, plan.result)
    return checkpoint
