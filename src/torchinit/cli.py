"""The ``torchinit`` command: see the plan before, check after.

    torchinit plan   [CONFIG]                     what will set each tensor; nothing is written
    torchinit init   [CONFIG] [--seed N] [--save out.safetensors] [--plot init.png] [--record run.json]
    torchinit verify [CONFIG] [--checkpoint PATH|URL] [--min-loaded 1.0] [--max-missing N] ...
    torchinit probe  [CONFIG] [--input-shape 1,3,224,224] [--plot probe.png]
    torchinit list                                registered initializers, layers, models, schemes

CONFIG is a Python file defining ``model = dict(...)``, or a YAML or JSON file (``_base_``
inheritance as in mmengine); without one, the example detector of the repository is used.
``--json`` prints one JSON object instead of text, also when the command fails. Exit status:
0 success; 1 a check failed (health errors, verify thresholds, NaN in a probe, a Pretrained
``min_loaded``/``strict`` failure); 2 any other failure (usage, config, model, files), always
one line on stderr (``--debug`` adds the traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any, NoReturn

from . import _config_merge

__all__ = ["main"]


# --------------------------------------------------------------------------- argument types
class UsageError(Exception):
    """A command line the parser rejects: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose mistakes are one line (``UsageError``), not usage text and an exit."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _number(text: str, kind: Callable[[str], Any], expected: str, ok: Callable[[Any], bool]) -> Any:
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def _count(text: str) -> int:
    return _number(text, int, "a whole number >= 0", lambda v: v >= 0)


def _positive(text: str) -> int:
    return _number(text, int, "a whole number >= 1", lambda v: v >= 1)


def _fraction(text: str) -> float:
    return _number(text, float, "a fraction from 0 to 1", lambda v: 0 <= v <= 1)


def _shape(text: str) -> list[int]:
    parts = [p for p in text.replace("x", ",").split(",") if p.strip()]
    try:
        if not parts:
            raise argparse.ArgumentTypeError(text)
        return [_positive(p) for p in parts]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected sizes >= 1 like 1,3,224,224, got {text!r}") from None


def _device(text: str) -> str:
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        raise argparse.ArgumentTypeError(
            f"expected a torch device such as cpu, cuda or cuda:1, got {text!r}"
        ) from None
    backend = getattr(torch, device.type, None)
    is_available = getattr(backend, "is_available", None)
    if device.type not in ("cpu", "meta") and callable(is_available) and not is_available():
        raise argparse.ArgumentTypeError(f"device {text!r} is not available on this machine")
    return text


def _cfg_option(text: str) -> tuple[str, Any]:
    """``'model.depth=50'`` -> ``('model.depth', 50)``: the value read as mmengine's ``DictAction``."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or "" in key.split("."):
        raise argparse.ArgumentTypeError(
            f"expected KEY=VALUE with a dotted key, e.g. model.backbone.depth=50, got {text!r}"
        )
    try:
        return key, _config_merge.parse_option_value(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def build_parser() -> argparse.ArgumentParser:
    import torchinit

    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    common.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first (it registers your classes); repeatable; . is importable",
    )
    common.add_argument(
        "-v", "--verbose", action="count", default=0, help="show the torchinit log (-vv: debug)"
    )
    common.add_argument("--debug", action="store_true", help="add the traceback to an error")
    config = _Parser(add_help=False, parents=[common])
    config.add_argument(
        "config",
        nargs="?",
        metavar="CONFIG",
        help="a .py, .yaml or .json file defining model; default: the example detector",
    )
    config.add_argument(
        "--cfg-options",
        nargs="+",
        action="extend",
        default=[],
        type=_cfg_option,
        metavar="KEY=VALUE",
        help="merge a value in by dotted key, as mmengine: model.backbone.depth=50 model.out_indices=[1,2]",
    )
    seeded = _Parser(add_help=False)
    seeded.add_argument(
        "--seed", type=_count, default=0, help="per-tensor seeded init (default 0: reproducible)"
    )
    seeded.add_argument(
        "--device", type=_device, default="cpu", help="where to build the model (default cpu)"
    )

    parser = _Parser(
        prog="torchinit",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument("--version", action="version", version=f"torchinit {torchinit.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("plan", parents=[config], help="show what will set each tensor, writing nothing")
    p = sub.add_parser(
        "init", parents=[config, seeded], help="initialize, then show the summary and health check"
    )
    p.add_argument("--save", metavar="PATH", help="save the weights (.safetensors, else torch.save)")
    p.add_argument("--plot", metavar="PNG", help="plot measured vs promised weight std per layer")
    p.add_argument("--record", metavar="JSON", help="write the reproducibility record")
    p.add_argument("--table", action="store_true", help="also print every tensor's provenance")
    p = sub.add_parser("verify", parents=[config], help="load a checkpoint's report and check thresholds")
    p.add_argument("--checkpoint", metavar="PATH|URL", help="default: the config's Pretrained rules")
    p.add_argument("--module", metavar="NAME", help="the submodule the checkpoint is for (e.g. backbone)")
    p.add_argument("--prefix", help="take only checkpoint keys under PREFIX. (stripped)")
    p.add_argument(
        "--min-loaded",
        type=_fraction,
        default=1.0,
        metavar="F",
        help="fail below this fraction of parameters loaded (default 1.0)",
    )
    for what, default in (("missing", None), ("unexpected", None), ("mismatched", 0)):
        p.add_argument(
            f"--max-{what}",
            type=_count,
            default=default,
            metavar="N",
            help=f"fail above N {what} keys (default {'no limit' if default is None else default})",
        )
    p.add_argument(
        "--allow-pickle", action="store_true", help="let a pickle checkpoint run code (trusted only)"
    )
    p = sub.add_parser(
        "probe", parents=[config, seeded], help="forward a random batch, record each layer's std"
    )
    p.add_argument(
        "--input-shape",
        type=_shape,
        metavar="SHAPE",
        help="e.g. 1,3,224,224 (default: the config's input_shape)",
    )
    p.add_argument(
        "--input-dtype",
        choices=["float32", "float64", "float16", "bfloat16", "int64"],
        default="float32",
        help="int64 draws token ids from [0, --input-high)",
    )
    p.add_argument(
        "--input-high", type=_positive, metavar="N", help="upper bound of token ids (the vocabulary size)"
    )
    p.add_argument("--no-init", action="store_true", help="probe the model as built, without init_weights()")
    p.add_argument(
        "--train", action="store_true", help="run in training mode (BatchNorm uses batch statistics)"
    )
    p.add_argument("--plot", metavar="PNG", help="plot weight std and activation std through depth")
    sub.add_parser(
        "list", parents=[common], help="registered initializers, layers, models and checkpoint schemes"
    )
    return parser


# --------------------------------------------------------------------------- entry point
@contextlib.contextmanager
def _logging(verbose: int, stream: IO[str]) -> Iterator[None]:
    """Quiet by default (everything is printed by the command); -v shows the log on stderr."""
    log = logging.getLogger("torchinit")
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.CRITICAL + 1)
    handler.setFormatter(logging.Formatter("torchinit: %(message)s"))
    old_level = log.level
    log.addHandler(handler)
    log.setLevel(min(handler.level, logging.WARNING))
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(old_level)


def _one_line(text: str) -> str:
    """``text`` on one line: its lines joined by ' ' (an error is one line on stderr)."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip()) or "(no message)"


def _failure(exc: BaseException) -> tuple[int, str]:
    """The exit status and the one-line message for ``exc`` raised by a subcommand."""
    from ._commands import EXIT_USAGE, CommandError
    from .errors import TorchInitError

    if isinstance(exc, CommandError):
        return exc.code, str(exc)
    if isinstance(exc, TorchInitError):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return 130, "interrupted"
    if isinstance(exc, OSError) and exc.strerror:
        name = f" {exc.filename!r}" if exc.filename else ""
        return EXIT_USAGE, f"{exc.strerror}{name}"
    if isinstance(exc, MemoryError):
        return EXIT_USAGE, f"out of memory ({str(exc) or 'MemoryError'}); try a smaller model or input"
    what = "code in the config or the model called sys.exit" if isinstance(exc, SystemExit) else "unexpected"
    return EXIT_USAGE, f"{what}: {type(exc).__name__}: {exc} (--debug shows the traceback)"


def main(
    argv: Sequence[str] | None = None, *, stdout: IO[str] | None = None, stderr: IO[str] | None = None
) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status.

    Whatever happens, a failure is one line on ``stderr`` (and, with ``--json``, one JSON
    object on ``stdout``: ``{"command", "ok": false, "exit_status", "error"}``).
    """
    err = stderr if stderr is not None else sys.stderr
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        from .diagnostics._render import Output
    except ImportError as exc:
        err.write(f"torchinit: error: the command needs rich ({exc}): pip install rich\n")
        return 2
    out = Output(stdout, err)
    real_stdout = sys.stdout
    from ._commands import COMMANDS, EXIT_OK, EXIT_USAGE

    command = next((a for a in argv if a in COMMANDS), None)
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        return _fail(out, err, command, EXIT_USAGE, str(exc), json_out="--json" in argv)
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    # with --json, what the config's or the model's code prints goes to stderr: stdout is one JSON object
    redirect = contextlib.redirect_stdout(err) if args.json else contextlib.nullcontext()
    with _logging(args.verbose, err), warnings.catch_warnings(record=True) as caught, redirect:
        warnings.simplefilter("default")
        try:
            code = COMMANDS[args.command](args, out)
        except BrokenPipeError:  # the reader went away (torchinit list | head): stop quietly
            if out.file is real_stdout:
                os.dup2(os.open(os.devnull, os.O_WRONLY), real_stdout.fileno())
            return EXIT_OK
        except BaseException as exc:
            code, message = _failure(exc)
            if args.debug:
                traceback.print_exception(exc, file=err)
            elif args.verbose:
                _print_warnings(err, caught)
            return _fail(out, err, args.command, code, message, json_out=args.json)
    _print_warnings(err, caught)
    return code


def _print_warnings(err: IO[str], caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        err.write(f"torchinit: warning: {w.category.__name__}: {_one_line(str(w.message))}\n")


def _fail(out: Any, err: IO[str], command: str | None, code: int, message: str, *, json_out: bool) -> int:
    """Print ``message`` as one line on stderr (and the JSON error object); return ``code``."""
    from ._commands import emit_json

    message = _one_line(message)
    err.write(f"torchinit: error: {message}\n")
    if json_out:
        emit_json(out, command, code, {}, error=message)
    return code
