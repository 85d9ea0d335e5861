"""The ``torchinit`` command: see the plan before, check after.

    torchinit plan   [CONFIG]                     what will set each tensor; nothing is written
    torchinit init   [CONFIG] [--seed N] [--save out.safetensors] [--plot init.png] [--record run.json]
    torchinit verify [CONFIG] [--checkpoint PATH|URL] [--min-loaded 1.0] [--max-missing N] ...
    torchinit probe  [CONFIG] [--input-shape 1,3,224,224] [--plot probe.png]
    torchinit list                                registered initializers, layers, models, schemes

CONFIG is a Python file defining ``model = dict(...)``, or a YAML or JSON file; without one,
the example detector of the repository is used. ``--json`` prints one JSON object instead of
text. Exit status: 0 success; 1 a check failed (health errors, verify thresholds, NaN in a
probe, a Pretrained ``min_loaded``/``strict`` failure); 2 a usage, config or model error.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from typing import IO

__all__ = ["main"]


# --------------------------------------------------------------------------- parsing
def _shape(text: str) -> list[int]:
    try:
        shape = [int(x) for x in text.replace("x", ",").split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 1,3,224,224, got {text!r}") from None
    if not shape or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected positive sizes like 1,3,224,224, got {text!r}")
    return shape


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction from 0 to 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    import torchinit

    common = argparse.ArgumentParser(add_help=False)
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
    common.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    config = argparse.ArgumentParser(add_help=False, parents=[common])
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
        metavar="KEY=VALUE",
        help="override values by dotted key, e.g. model.backbone.depth=50",
    )
    seeded = argparse.ArgumentParser(add_help=False)
    seeded.add_argument(
        "--seed", type=int, default=0, help="per-tensor seeded init (default 0: reproducible)"
    )
    seeded.add_argument("--device", default="cpu", help="where to build the model (default cpu)")

    parser = argparse.ArgumentParser(
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
            type=int,
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
        "--input-high", type=int, metavar="N", help="upper bound of token ids (the vocabulary size)"
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


def main(
    argv: Sequence[str] | None = None, *, stdout: IO[str] | None = None, stderr: IO[str] | None = None
) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    err = stderr if stderr is not None else sys.stderr
    try:
        from ._render import Output
    except ImportError as exc:
        err.write(f"torchinit: error: the command needs rich ({exc}): pip install rich\n")
        return 2
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    out = Output(stdout, err)
    from ._commands import COMMANDS, EXIT_OK, EXIT_USAGE, CommandError, emit_json
    from .errors import TorchInitError

    with _logging(args.verbose, err):
        try:
            return COMMANDS[args.command](args, out)
        except (CommandError, TorchInitError) as exc:
            if args.debug:
                raise
            code = exc.code if isinstance(exc, CommandError) else EXIT_USAGE
            err.write(f"torchinit: error: {exc}\n")
            if getattr(args, "json", False):
                emit_json(out, {"error": str(exc), "exit": code})
            return code
        except KeyboardInterrupt:
            err.write("torchinit: interrupted\n")
            return 130
        except BrokenPipeError:  # the reader went away (torchinit list | head): stop quietly
            if out.file is sys.stdout:
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_OK
