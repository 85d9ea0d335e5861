"""The steps the ``torchinit`` subcommands share: load and build, initialize, check paths, print JSON.

Any ``nn.Module`` a config builds can be initialized. The config's ``model.init_cfg`` goes to
the constructor when it takes one (a BaseModule: ``init_weights()`` semantics, its tree's
``init_cfg`` and ``init_weights`` included); otherwise (a timm or Hugging Face model, a
factory function) it is held back and applied to what was built with ``initialize()``
semantics: the rules alone, and what they do not cover keeps what the constructor left.

A user mistake is raised as :class:`CommandError` (or a torchinit error) and printed by
:func:`torchinit.cli.main` as one line. With ``--json`` a command's last act is
:func:`emit_json`: one object with the same four keys on every subcommand (``command``,
``ok``, ``exit_status``, ``error``) and the subcommand's own (``config``, ``model``, ...).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "EXIT_CHECK",
    "EXIT_OK",
    "EXIT_USAGE",
    "CommandError",
    "Target",
    "build",
    "build_meta",
    "config_from_args",
    "config_shape",
    "emit_json",
    "header",
    "in_config",
    "init_model",
    "need_matplotlib",
    "output_path",
    "plan_target",
    "strict_json",
    "submodule",
    "write_output",
]

BIG_MODEL = 100_000_000  # parameters above which init shows a progress display (on a TTY)
EXIT_OK, EXIT_CHECK, EXIT_USAGE = 0, 1, 2


class CommandError(Exception):
    """A user-facing failure: printed as one message, exit status ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def config_from_args(args: argparse.Namespace) -> Any:
    """The ConfigFile of CONFIG (or of the example detector), with the overrides merged in."""
    from ._configfile import finish_config, import_modules, load_config
    from ._demo import demo_config

    if args.config is None:
        imported = import_modules(args.imports, "--import")
        config = demo_config()
        config.imported[:0] = imported
        return finish_config(config, args.cfg_options)
    return load_config(args.config, cfg_options=args.cfg_options, imports=args.imports)


@dataclass
class Target:
    """What a config built, and how its ``init_cfg`` applies to it.

    Attributes:
        model: the built module.
        init_cfg: the config's ``init_cfg``, applied with ``initialize()`` semantics (the
            constructor did not take it); None: the model's own ``init_cfg`` tree
            (``init_weights()`` semantics), or nothing to apply.
        device: where it was built (``'meta'`` when planning).
    """

    model: Any
    init_cfg: Any = None
    device: str = "cpu"

    @property
    def functional(self) -> bool:
        """Is the config's init_cfg applied with initialize() semantics?"""
        return self.init_cfg is not None

    def semantics(self) -> str:
        return "initialize" if self.functional else "init_weights"


def _takes_init_cfg(config: Any) -> bool:
    """Does the model's constructor (class or factory) take an ``init_cfg`` argument by name?"""
    import inspect

    from .errors import TorchInitError
    from .models import MODELS

    try:
        target = MODELS.get(config.model.get("type"))
        parameters = inspect.signature(target).parameters
    except (TorchInitError, TypeError, ValueError):
        return True  # unknown type or no signature: building reports it as it always did
    return any(
        p.name == "init_cfg" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        for p in parameters.values()
    )


def _held_back(config: Any) -> tuple[Any, Any]:
    """The config to build with and the ``init_cfg`` the command applies itself (None: none held back)."""
    from ._configfile import ConfigFile

    if "init_cfg" not in config.model or config.model["init_cfg"] is None or _takes_init_cfg(config):
        return config, None
    model = {k: v for k, v in config.model.items() if k != "init_cfg"}
    return ConfigFile(config.path, {**config.data, "model": model}, config.imported), config.model["init_cfg"]


def build_target(config: Any, device: str | None) -> Target:
    """Build ``config``'s model on ``device``; hold back an ``init_cfg`` its constructor does not take."""
    from ._config_errors import build_from_config

    build_config, init_cfg = _held_back(config)
    return Target(build_from_config(build_config, device), init_cfg, device or "cpu")


def build(config: Any, device: str | None) -> Any:
    """The model ``config`` builds (its ``init_cfg`` as the constructor takes it, or held back)."""
    return build_target(config, device).model


def build_meta(config: Any) -> Target:
    """Build on the meta device (no memory, no random numbers); on CPU if the model's code needs values."""
    from ._config_errors import innermost_error
    from .errors import ConfigError

    try:
        return build_target(config, "meta")
    except ConfigError as exc:
        if isinstance(innermost_error(exc), ConfigError):
            raise
    return build_target(config, "cpu")


def _check_applicable(target: Target, config: Any) -> None:
    """A model that is not a BaseModule needs the config's init_cfg: there is nothing else to apply."""
    from .module import is_init_owner

    if not target.functional and not is_init_owner(target.model):
        name = type(target.model).__name__
        raise CommandError(
            f"{config.path}: model: {name} is not a BaseModule and the config gives no init_cfg, so there is "
            f"nothing to initialize. Add init_cfg=[...] to model (the rules for {name}, e.g. a preset of "
            "torchinit.presets), or build a torchinit BaseModule."
        )


def plan_target(target: Target, config: Any) -> Any:
    """The plan of what initializing ``target`` does (the same call ``init`` makes, without writing)."""
    from . import plan

    _check_applicable(target, config)
    with in_config(config, "planning"):
        return plan(target.model, target.init_cfg)


def need_matplotlib() -> None:
    from .diagnostics._plot import require_matplotlib

    try:
        require_matplotlib()
    except ModuleNotFoundError as exc:
        raise CommandError(str(exc)) from None


def output_path(path: str | None, flag: str) -> Path | None:
    """Check before any work that ``path`` can be written; its folder is created when it is written."""
    if path is None:
        return None
    target = Path(path)
    if target.is_dir():
        raise CommandError(f"{flag} {path}: is a folder; give a file name (e.g. {target / 'out'}).")
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise CommandError(f"{flag} {path}: {folder} is a file, so no folder can be made there.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CommandError(f"{flag} {path}: cannot write in {folder} (permission denied).")
    return target


def write_output(target: Path, flag: str, write: Callable[[Path], Any]) -> str:
    """Create ``target``'s folder and call ``write(target)``; an OS error names the flag."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write(target)
    except OSError as exc:
        raise CommandError(f"{flag} {target}: cannot write it: {exc.strerror or exc}.") from exc
    return str(target)


@contextlib.contextmanager
def in_config(config: Any, doing: str) -> Iterator[None]:
    """Turn an error raised while using the model into one message naming the file and key path."""
    from ._config_errors import explain
    from .errors import CheckpointStrictError, CheckpointThresholdError

    try:
        yield
    except (CheckpointStrictError, CheckpointThresholdError) as exc:
        raise CommandError(f"{config.path}: {exc}", EXIT_CHECK) from exc
    except Exception as exc:  # ours with the key path; anything else as "<doing> raised X: ..."
        raise CommandError(explain(config, exc, doing)) from exc


def init_model(out: Any, target: Target, config: Any, seed: int) -> tuple[Any, list[str], float]:
    """Initialize ``target`` as its config says; ``(report, warnings, seconds)``."""
    from .engine import initialize
    from .errors import InitWarning

    _check_applicable(target, config)
    model = target.model
    n = sum(p.numel() for p in model.parameters())
    display = (
        out.progress(f"Initializing {n:,} parameters", total=n) if n > BIG_MODEL else contextlib.nullcontext()
    )
    doing = "initialize()" if target.functional else "init_weights()"
    with (
        warnings.catch_warnings(record=True) as caught,
        in_config(config, doing),
        display as advance,
    ):
        warnings.simplefilter("always", InitWarning)
        start = time.perf_counter()
        if target.functional:
            report = initialize(model, target.init_cfg, seed=seed, progress=_elements_to(advance))
        else:
            report = model.init_weights(seed=seed, progress=_elements_to(advance))
        elapsed = time.perf_counter() - start
    if report is None:
        raise CommandError(f"{config.path}: the model was already initialized (is_init is True).")
    extra = [str(w.message) for w in caught if str(w.message) not in report.unmatched]
    for w in caught:
        if not issubclass(w.category, InitWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return report, extra, elapsed


def _elements_to(advance: Any) -> Any:
    """A ``progress(done, total)`` callback that advances a display by the new elements."""
    if advance is None:
        return None
    last = [0]

    def progress(done: int, total: int) -> None:
        advance(done - last[0])
        last[0] = done

    # torchinit's own display: not user code, so the run need not copy tensors to undo it
    progress._torchinit_trusted = True  # type: ignore[attr-defined]
    return progress


def header(out: Any, config: Any, target: Target) -> None:
    from .diagnostics._health import own_init

    model = target.model
    n = sum(p.numel() for p in model.parameters())
    out.print(f"Config: {config.path}")
    out.print(f"Model: {type(model).__name__}, {n:,} parameters in {sum(1 for _ in model.modules())} modules")
    if target.functional:
        built = own_init(model)
        rest = f"; the rest keeps what {built} set when it was built" if built else ""
        out.print(
            f"Init: the config's init_cfg, applied with initialize() semantics ({type(model).__name__} is not a "
            f"BaseModule): the rules alone{rest}."
        )


def emit_json(
    out: Any, command: str | None, code: int, payload: dict[str, Any], *, error: str | None = None
) -> int:
    """Print the one JSON object of a run and return ``code``.

    The object is ``{"command", "ok", "exit_status", "error", **payload}``: ``ok`` is
    ``exit_status == 0``; ``error`` the one-line message of a failure, else null. It is
    strict JSON: NaN and infinities are written as the strings "nan", "inf", "-inf".
    """
    document = {"command": command, "ok": code == EXIT_OK, "exit_status": code, "error": error, **payload}
    out.file.write(json.dumps(strict_json(document), indent=2, default=str, allow_nan=False) + "\n")
    return code


def strict_json(value: Any) -> Any:
    """``value`` with string keys and non-finite floats as strings, for strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    return value


def submodule(model: Any, name: str, config: Any) -> Any:
    """The submodule ``name`` (dotted) of ``model``; a wrong part gets close names and the real children."""
    from .registry import did_you_mean

    node: Any = model
    done: list[str] = []
    for part in name.split("."):
        children = [n for n, _ in node.named_children()]
        if part not in children:
            where = repr(".".join(done)) if done else "the model"
            listed = ", ".join(children[:20]) + (
                f", ... ({len(children)} in all)" if len(children) > 20 else ""
            )
            raise CommandError(
                f"{config.path}: --module {name!r}: {where} has no submodule {part!r}."
                f"{did_you_mean(part, children)} Its children: {listed or 'none'}."
            )
        node = node.get_submodule(part)
        done.append(part)
    return node


def config_shape(config: Any) -> list[int]:
    """The config's ``input_shape``: a list of sizes >= 1."""
    shape = config.data.get("input_shape")
    if shape is None:
        raise CommandError(
            f"{config.path}: say the input shape: --input-shape 1,3,224,224 (or input_shape in the config)."
        )
    if not (
        isinstance(shape, list | tuple)
        and shape
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape)
    ):
        raise CommandError(
            f"{config.path}: input_shape must be a list of sizes >= 1 like [1, 3, 224, 224], "
            f"got {shape!r:.80}."
        )
    return list(shape)
