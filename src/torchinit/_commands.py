"""The subcommands of ``torchinit``: load the config, build, run the library, print the result.

Each ``cmd_*`` takes the parsed arguments and an :class:`~torchinit._render.Output` and returns
the exit status; a user mistake is raised as :class:`CommandError` (or a torchinit error) and
printed by :func:`torchinit.cli.main` as one line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["COMMANDS", "EXIT_CHECK", "EXIT_OK", "EXIT_USAGE", "CommandError", "emit_json"]

BIG_MODEL = 100_000_000  # parameters above which init shows a progress display (on a TTY)
EXIT_OK, EXIT_CHECK, EXIT_USAGE = 0, 1, 2


class CommandError(Exception):
    """A user-facing failure: printed as one message, exit status ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------- shared steps
def _load(args: argparse.Namespace) -> Any:
    from ._configfile import import_modules, load_config
    from ._demo import demo_config

    if args.config is None:
        imported = import_modules(args.imports, "--import")
        config = demo_config()
        from ._configfile import apply_cfg_options, parse_cfg_options

        apply_cfg_options(config.data, parse_cfg_options(args.cfg_options), "--cfg-options")
        config.imported[:0] = imported
        return config
    return load_config(args.config, cfg_options=args.cfg_options, imports=args.imports)


def _build(config: Any, device: str | None) -> Any:
    from ._config_errors import build_from_config

    return build_from_config(config, device)


def _build_meta(config: Any) -> tuple[Any, str]:
    """Build on the meta device (no memory, no random numbers); on CPU if the model's code needs values."""
    from ._config_errors import innermost_error
    from .errors import ConfigError

    try:
        return _build(config, "meta"), "meta"
    except ConfigError as exc:
        if isinstance(innermost_error(exc), ConfigError):
            raise
    return _build(config, "cpu"), "cpu"


def _need_matplotlib() -> None:
    from ._plot import require_matplotlib

    try:
        require_matplotlib()
    except ModuleNotFoundError as exc:
        raise CommandError(str(exc)) from None


@contextlib.contextmanager
def _in_config(config: Any, doing: str) -> Iterator[None]:
    """Turn an error raised while using the model into one message naming the file and key path."""
    from ._config_errors import explain
    from .errors import CheckpointStrictError, CheckpointThresholdError, TorchInitError

    try:
        yield
    except (CheckpointStrictError, CheckpointThresholdError) as exc:
        raise CommandError(f"{config.path}: {exc}", EXIT_CHECK) from exc
    except TorchInitError as exc:
        raise CommandError(explain(config, exc, doing)) from exc


def _init(out: Any, model: Any, config: Any, seed: int) -> tuple[Any, list[str], float]:
    from .errors import InitWarning
    from .module import BaseModule

    if not isinstance(model, BaseModule):
        raise CommandError(
            f"{config.path}: model: {type(model).__name__} is not a torchinit BaseModule, so it has no "
            "init_cfg tree to initialize; derive it from torchinit.BaseModule."
        )
    n = sum(p.numel() for p in model.parameters())
    display = out.progress(f"Initializing {n:,} parameters", total=n) if n > BIG_MODEL else contextlib.nullcontext()
    with warnings.catch_warnings(record=True) as caught, _in_config(config, "init_weights()"), display as advance:
        warnings.simplefilter("always", InitWarning)
        start = time.perf_counter()
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

    return progress


def _header(out: Any, config: Any, model: Any) -> None:
    n = sum(p.numel() for p in model.parameters())
    out.print(f"Config: {config.path}")
    out.print(f"Model: {type(model).__name__}, {n:,} parameters in {sum(1 for _ in model.modules())} modules")


def emit_json(out: Any, payload: dict[str, Any]) -> None:
    out.file.write(json.dumps(payload, indent=2, default=str) + "\n")


# --------------------------------------------------------------------------- commands
def cmd_plan(args: argparse.Namespace, out: Any) -> int:
    from . import plan
    from ._render import print_report

    config = _load(args)
    model, device = _build_meta(config)
    with _in_config(config, "planning"):
        report = plan(model)
    if args.json:
        emit_json(out, {"config": config.path, "model": type(model).__name__, "plan": report.to_dict()})
        return EXIT_OK
    _header(out, config, model)
    where = "on the meta device: nothing is allocated" if device == "meta" else "on the CPU"
    out.print(f"Plan (model built {where}; no weight is written):")
    print_report(report, model=model, file=out.file)
    return EXIT_OK


def cmd_init(args: argparse.Namespace, out: Any) -> int:
    from . import _render
    from ._record import reproducibility_record
    from .health import health_check, tied_parameters

    if args.plot:
        _need_matplotlib()
    config = _load(args)
    model = _build(config, args.device)
    ties = tied_parameters(model)
    report, extra, elapsed = _init(out, model, config, args.seed)
    health = health_check(model, report, ties=ties)
    record = reproducibility_record(report, config=config.model, model=model)
    saved = _save(model, args.save) if args.save else None
    if args.record:
        with open(args.record, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=2)
    plot = None
    if args.plot:
        from ._plot import plot_init

        plot = str(plot_init(args.plot, health=health, title=f"{type(model).__name__}: {config.path}"))
    if args.json:
        emit_json(
            out,
            {
                "config": config.path,
                "model": type(model).__name__,
                "report": report.to_dict(),
                "health": health.to_dict(),
                "record": record,
                "saved": saved,
                "plot": plot,
            },
        )
        return EXIT_OK if health.ok else EXIT_CHECK
    _header(out, config, model)
    out.print(f"init_weights(seed={args.seed}) took {elapsed * 1000:.1f} ms.")
    out.print("")
    out.heading("Rules, as applied:")
    out.print(_render.rules_table(out, report))
    out.print(report.summary())
    untouched = report.by_source("none")
    if untouched:
        more = f" ... ({len(untouched)} in all)" if len(untouched) > 8 else ""
        out.print(f"Left as built (no rule covers them): {', '.join(untouched[:8])}{more}")
    _render.print_loads(out, report)
    for message in [*report.unmatched, *extra]:
        out.print(f"Warning: {message}")
    if args.table:
        out.print("")
        out.print(_render.report_table(out, report, {n: type(m).__name__ for n, m in model.named_modules()}))
    out.print("")
    out.heading(f"Health check: {health.summary()}")
    out.print(_render.health_table(out, health))
    _render.print_findings(out, health)
    for label, value in (
        ("Saved the weights to", saved),
        ("Reproducibility record:", args.record),
        ("Plot:", plot),
    ):
        if value:
            out.print(f"{label} {value}")
    return EXIT_OK if health.ok else EXIT_CHECK


def _save(model: Any, path: str) -> str:
    import torch

    if path.endswith(".safetensors"):
        from safetensors.torch import save_model

        save_model(model, path)
    else:
        torch.save(model.state_dict(), path)
    return path


def cmd_verify(args: argparse.Namespace, out: Any) -> int:
    from . import plan
    from .initializers import Pretrained
    from .pretrained import plan_pretrained

    config = _load(args)
    model, _ = _build_meta(config)
    with _in_config(config, "loading the checkpoint"):
        if args.checkpoint:
            try:
                target = model.get_submodule(args.module) if args.module else model
            except AttributeError:
                raise CommandError(
                    f"{config.path}: --module {args.module!r} is not a submodule of the model."
                ) from None
            init = Pretrained(checkpoint=args.checkpoint, prefix=args.prefix, allow_pickle=args.allow_pickle)
            loads = [plan_pretrained(init, target).result]
        else:
            loads = plan(model).loads
    if not loads:
        raise CommandError(f"{config.path}: the config has no Pretrained rule; pass --checkpoint PATH|URL.")
    results = []
    for load in loads:
        checks = [
            (
                "loaded fraction",
                load.loaded_fraction,
                args.min_loaded,
                load.loaded_fraction >= args.min_loaded,
            )
        ]
        for what in ("missing", "unexpected", "mismatched"):
            limit = getattr(args, f"max_{what}")
            count = len(getattr(load, what))
            checks.append((f"{what} keys", count, limit, limit is None or count <= limit))
        results.append((load, checks))
    passed = all(ok for _, checks in results for *_, ok in checks)
    if args.json:
        emit_json(
            out,
            {
                "config": config.path,
                "passed": passed,
                "loads": [
                    {
                        "source": load.source,
                        "loaded": list(load.loaded),
                        "missing": list(load.missing),
                        "unexpected": list(load.unexpected),
                        "mismatched": [list(m) for m in load.mismatched],
                        "loaded_fraction": load.loaded_fraction,
                        "checks": [
                            {"check": c, "value": v, "threshold": t, "passed": ok} for c, v, t, ok in checks
                        ],
                    }
                    for load, checks in results
                ],
            },
        )
        return EXIT_OK if passed else EXIT_CHECK
    _header(out, config, model)
    for load, checks in results:
        out.print(f"Checkpoint: {load.summary()}")
        if not load.complete:
            out.print(load.details())
        if args.module and not load.loaded and any(k.startswith(f"{args.module}.") for k in load.unexpected):
            out.print(f"Hint: the checkpoint's keys start with '{args.module}.'; add --prefix {args.module}.")
        table = out.table("check", "value", "threshold", "result")
        for check, value, threshold, ok in checks:
            shown = f"{value:.1%}" if isinstance(value, float) else str(value)
            limit = (
                "-"
                if threshold is None
                else (f">= {threshold:.1%}" if isinstance(threshold, float) else f"<= {threshold}")
            )
            table.add_row(check, shown, limit, "pass" if ok else "FAIL")
        out.print(table)
    out.print("verify: passed" if passed else "verify: FAILED")
    return EXIT_OK if passed else EXIT_CHECK


def cmd_probe(args: argparse.Namespace, out: Any) -> int:
    import torch

    from . import _render
    from ._probe import _leaves, probe_activations
    from .health import health_check

    if args.plot:
        _need_matplotlib()
    config = _load(args)
    shape = args.input_shape or config.data.get("input_shape")
    if shape is None:
        raise CommandError(
            f"{config.path}: say the input shape: --input-shape 1,3,224,224 (or input_shape in the config)."
        )
    model = _build(config, args.device)
    health = None
    if not args.no_init:
        report, _, _ = _init(out, model, config, args.seed)
        health = health_check(model, report)
    dtype = getattr(torch, args.input_dtype)
    with out.progress("Probing activations", total=len(_leaves(model))) as advance:
        try:
            probe = probe_activations(
                model,
                input_shape=shape,
                dtype=dtype,
                high=args.input_high,
                seed=args.seed,
                train=args.train,
                on_layer=lambda _: advance(),
            )
        except Exception as exc:
            if args.debug:
                raise
            raise CommandError(
                f"{config.path}: the forward pass on a random input of shape {tuple(shape)} "
                f"({args.input_dtype}) raised {type(exc).__name__}: {exc}. Check --input-shape "
                "(and --input-dtype int64 --input-high N for token ids)."
            ) from exc
    plot = None
    if args.plot:
        from ._plot import plot_init

        plot = str(
            plot_init(args.plot, health=health, probe=probe, title=f"{type(model).__name__}: {config.path}")
        )
    if args.json:
        emit_json(
            out,
            {
                "config": config.path,
                "model": type(model).__name__,
                "probe": probe.to_dict(),
                "health": health.to_dict() if health else None,
                "plot": plot,
            },
        )
        return EXIT_OK if probe.ok else EXIT_CHECK
    _header(out, config, model)
    out.print(_render.probe_table(out, probe))
    out.print(f"Probe: {probe.summary()}")
    for problem in probe.problems():
        out.print(f"  {problem}")
    if plot:
        out.print(f"Plot: {plot}")
    return EXIT_OK if probe.ok else EXIT_CHECK


def cmd_list(args: argparse.Namespace, out: Any) -> int:
    from ._configfile import import_modules
    from ._sources import known_schemes
    from .initializers import WEIGHT_INITIALIZERS
    from .layers import ACTIVATION_LAYERS, CONV_LAYERS, NORM_LAYERS, PADDING_LAYERS, UPSAMPLE_LAYERS
    from .models import MODELS

    import_modules(args.imports, "--import")
    tables = {
        "conv": CONV_LAYERS,
        "norm": NORM_LAYERS,
        "activation": ACTIVATION_LAYERS,
        "padding": PADDING_LAYERS,
        "upsample": UPSAMPLE_LAYERS,
    }
    initializers = {name: _first_line(WEIGHT_INITIALIZERS.get(name)) for name in WEIGHT_INITIALIZERS.names()}
    if args.json:
        emit_json(
            out,
            {
                "initializers": initializers,
                "layers": {k: r.names() for k, r in tables.items()},
                "models": MODELS.names(),
                "schemes": known_schemes(),
            },
        )
        return EXIT_OK
    table = out.table("initializer", "what it does")
    for name, doc in initializers.items():
        table.add_row(name, doc)
    out.print(table)
    layers = out.table("layers", "names (use as type= in conv_cfg, norm_cfg, act_cfg, ...)")
    for kind, registry in tables.items():
        layers.add_row(kind, ", ".join(registry.names()))
    out.print(layers)
    models = ", ".join(MODELS.names()) or "(none registered; --import the module that registers yours)"
    out.print(f"Models: {models}")
    out.print(f"Checkpoint schemes: {', '.join(known_schemes())} (and local paths)")
    return EXIT_OK


def _first_line(obj: Any) -> str:
    """The docstring's first line without reST markup (``x`` and :func:`x` become x)."""
    doc = (getattr(obj, "__doc__", None) or "").strip()
    line = doc.splitlines()[0] if doc else ""
    return re.sub(r":\w+:`~?([^`]*)`", r"\1", line).replace("``", "")


COMMANDS: dict[str, Callable[[argparse.Namespace, Any], int]] = {
    "plan": cmd_plan,
    "init": cmd_init,
    "verify": cmd_verify,
    "probe": cmd_probe,
    "list": cmd_list,
}
