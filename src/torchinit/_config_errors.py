"""Where in a config an error happened, and building a model from a config file.

An error raised while building or planning a model is traced back to the part of the
config it was raised for (``model.backbone.norm_cfg``) by looking through the frames of
the error for the dict being built, so every message can name the file and the key path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

from ._configfile import ConfigFile
from .errors import ConfigError, ConfigValueError

__all__ = ["build_from_config", "explain", "innermost_error", "innermost_message", "key_path_of"]


# --------------------------------------------------------------------------- error locations
def _index(node: Any, path: str, out: dict[int, str], nodes: list[tuple[str, Any]]) -> None:
    if isinstance(node, dict):
        out.setdefault(id(node), path)
        nodes.append((path, node))
        for k, v in node.items():
            _index(v, f"{path}.{k}", out, nodes)
    elif isinstance(node, (list, tuple)):
        out.setdefault(id(node), path)
        nodes.append((path, node))
        for i, v in enumerate(node):
            _index(v, f"{path}.{i}", out, nodes)


def key_path_of(exc: BaseException, root: Any, root_path: str = "model") -> str | None:
    """The key path (``'model.backbone'``) of the part of ``root`` that ``exc`` was raised for.

    Looks through the frames of ``exc`` (and of its causes), innermost first, for a local
    variable that is a dict or list of ``root`` (the same object, or failing that the only
    equal one). Used only to say where a config error is.
    """
    by_id: dict[int, str] = {}
    nodes: list[tuple[str, Any]] = []
    _index(root, root_path, by_id, nodes)
    chain = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or current.__context__
    for names in (("cfg",), None):  # the dict being built or parsed (named cfg) first, then any
        for error in reversed(chain):  # the innermost error first
            for frame in reversed([tb.tb_frame for tb in _walk_tb(error.__traceback__)]):
                found = _find(frame.f_locals, names, by_id, nodes)
                if found is not None:
                    return found
    return None


def _find(
    local: Mapping[str, Any],
    names: tuple[str, ...] | None,
    by_id: dict[int, str],
    nodes: list[tuple[str, Any]],
) -> str | None:
    values = [
        v for k, v in local.items() if (names is None or k in names) and isinstance(v, (dict, list, tuple))
    ]
    for value in values:
        if id(value) in by_id:
            return by_id[id(value)]
    for value in values:
        if isinstance(value, dict) and value:
            equal = [p for p, n in nodes if isinstance(n, dict) and _same(n, value)]
            if len(equal) == 1:
                return equal[0]
    return None


def _node_at(root: Any, parts: Sequence[str]) -> Any:
    node = root
    for part in parts:
        node = node[int(part)] if isinstance(node, (list, tuple)) else node.get(part)
    return node


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # tensors in a config compare elementwise; they never locate an error
        return False


def _walk_tb(tb: TracebackType | None) -> Iterator[TracebackType]:
    while tb is not None:
        yield tb
        tb = tb.tb_next


# --------------------------------------------------------------------------- building
def innermost_error(exc: BaseException) -> BaseException:
    """The deepest torchinit error that ``exc`` was raised from (a nested build wraps the inner error)."""
    from .errors import TorchInitError

    best = exc
    current: BaseException | None = exc
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TorchInitError):
            best = current
        current = current.__cause__
    return best


def innermost_message(exc: BaseException) -> str:
    """The message of :func:`innermost_error`, with the class name for an error not ours."""
    from .errors import TorchInitError

    best = innermost_error(exc)
    return str(best) if isinstance(best, TorchInitError) else f"{type(best).__name__}: {best}"


def explain(config: ConfigFile, exc: BaseException, doing: str = "") -> str:
    """``'<file>: <key path>: <message>'`` for an error raised while using ``config``'s model."""
    from .errors import TorchInitError, UnknownTypeError

    path = key_path_of(exc, config.model)
    if path is not None and isinstance(innermost_error(exc), UnknownTypeError):
        node = _node_at(config.model, path.split(".")[1:])
        if isinstance(node, dict) and "type" in node:
            path += ".type"
    message = innermost_message(exc)
    if doing and not isinstance(innermost_error(exc), TorchInitError):
        message = f"{doing} raised {message}"
    where = f"{config.path}: {path}: " if path else f"{config.path}: "
    return message if message.startswith(config.path) else where + message


def build_from_config(config: ConfigFile, device: str | None = None) -> Any:
    """Build ``config.model`` (under ``torch.device(device)`` when given).

    Raises:
        ConfigError: of the same class as the error (a ConfigValueError for an exception
            from a model's own code), saying the file and the key path where it happened;
            an unknown ``type`` also says which modules were imported to register classes.
    """
    import torch

    from .errors import UnknownTypeError
    from .models import build_model

    try:
        with torch.device(device) if device is not None else contextlib.nullcontext():
            return build_model(config.model)
    except Exception as exc:
        inner = innermost_error(exc)
        message = explain(config, exc, "building the model")
        if isinstance(inner, UnknownTypeError):
            imported = ", ".join(config.imported) or "none"
            message += (
                f" Modules imported to register classes: {imported}. If the class is yours, import "
                "the module that registers it: --import MODULE, or custom_imports = "
                "dict(imports=['MODULE']) in the config."
            )
        cls = type(inner) if isinstance(inner, ConfigError) else ConfigValueError
        raise cls(message) from exc
