"""The subcommands of ``torchinit``: load the config, build, run the library, print the result.

Each ``cmd_*`` takes the parsed arguments and an :class:`~torchinit.diagnostics._render.Output` and returns
the exit status; the steps they share (and the JSON envelope) are in :mod:`._command_steps`.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._command_steps import (
    EXIT_CHECK,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    build_meta,
    build_target,
    config_from_args,
    config_shape,
    emit_json,
    header,
    in_config,
    init_model,
    need_matplotlib,
    output_path,
    plan_target,
    strict_json,
    submodule,
    write_output,
)
from .diagnostics._health import own_init

__all__ = ["COMMANDS", "EXIT_CHECK", "EXIT_OK", "EXIT_USAGE", "CommandError", "emit_json"]


def _identity(config: Any, target: Any) -> dict[str, Any]:
    """The JSON keys every subcommand gives about the config and what it built."""
    return {
        "config": config.path,
        "model": type(target.model).__name__,
        "semantics": target.semantics(),
        "own_init": own_init(target.model) if target.functional else None,
    }


def cmd_plan(args: argparse.Namespace, out: Any) -> int:
    from .diagnostics._render import print_report

    config = config_from_args(args)
    target = build_meta(config)
    model = target.model
    report = plan_target(target, config)
    if args.json:
        return emit_json(out, "plan", EXIT_OK, {**_identity(config, target), "plan": report.to_dict()})
    header(out, config, target)
    where = "on the meta device: nothing is allocated" if target.device == "meta" else "on the CPU"
    out.print(f"Plan (model built {where}; no weight is written):")
    print_report(report, model=model, file=out.file)
    return EXIT_OK


def cmd_init(args: argparse.Namespace, out: Any) -> int:
    from .diagnostics import _render
    from .diagnostics._health import health_check, tied_parameters
    from .diagnostics._record import reproducibility_record

    if args.plot:
        need_matplotlib()
    save, record_to = output_path(args.save, "--save"), output_path(args.record, "--record")
    plot_to = output_path(args.plot, "--plot")
    config = config_from_args(args)
    target = build_target(config, args.device)
    model = target.model
    ties = tied_parameters(model)
    report, extra, elapsed = init_model(out, target, config, args.seed)
    health = health_check(model, report, ties=ties)
    record = reproducibility_record(report, config=config.model, model=model)
    saved = write_output(save, "--save", lambda p: _save(model, p)) if save else None
    if record_to:
        text = json.dumps(strict_json(record), indent=2, default=str, allow_nan=False)
        write_output(record_to, "--record", lambda p: p.write_text(text, encoding="utf-8"))
    plot = None
    if plot_to:
        from .diagnostics._plot import plot_init

        title = f"{type(model).__name__}: {config.path}"
        plot = write_output(plot_to, "--plot", lambda p: plot_init(p, health=health, title=title))
    code = EXIT_OK if health.ok else EXIT_CHECK
    if args.json:
        return emit_json(
            out,
            "init",
            code,
            {
                **_identity(config, target),
                "report": report.to_dict(),
                "health": health.to_dict(),
                "record": record,
                "saved": saved,
                "plot": plot,
            },
        )
    header(out, config, target)
    out.print(f"{target.semantics()}(seed={args.seed}) took {elapsed * 1000:.1f} ms.")
    out.print("")
    out.heading("Rules, as applied:")
    out.print(_render.rules_table(out, report))
    out.print(report.summary())
    untouched = report.by_source("none")
    if untouched:
        more = f" ... ({len(untouched)} in all)" if len(untouched) > 8 else ""
        built = f"; they keep what {own_init(model)} set" if target.functional and own_init(model) else ""
        out.print(f"Left as built (no rule covers them{built}): {', '.join(untouched[:8])}{more}")
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
    return code


def _save(model: Any, path: Path) -> None:
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import save_model

        save_model(model, str(path))
    else:
        torch.save(model.state_dict(), path)


def cmd_verify(args: argparse.Namespace, out: Any) -> int:
    from .checkpoint._pretrained import plan_pretrained
    from .initializers import Pretrained

    config = config_from_args(args)
    built = build_meta(config)
    model = built.model
    target = submodule(model, args.module, config) if args.module is not None else model
    if args.checkpoint:
        with in_config(config, "loading the checkpoint"):
            init = Pretrained(checkpoint=args.checkpoint, prefix=args.prefix, allow_pickle=args.allow_pickle)
            loads = [plan_pretrained(init, target).result]
    else:
        loads = plan_target(built, config).loads
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
    code = EXIT_OK if passed else EXIT_CHECK
    if args.json:
        return emit_json(
            out,
            "verify",
            code,
            {
                **_identity(config, built),
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
    header(out, config, built)
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
    return code


def cmd_probe(args: argparse.Namespace, out: Any) -> int:
    import torch

    from .diagnostics import _render
    from .diagnostics._health import health_check
    from .diagnostics._probe import _leaves, probe_activations

    if args.plot:
        need_matplotlib()
    plot_to = output_path(args.plot, "--plot")
    config = config_from_args(args)
    shape = args.input_shape or config_shape(config)
    target = build_target(config, args.device)
    model = target.model
    health = None
    if not args.no_init:
        report, _, _ = init_model(out, target, config, args.seed)
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
            raise CommandError(
                f"{config.path}: the forward pass on a random input of shape {tuple(shape)} "
                f"({args.input_dtype}) raised {type(exc).__name__}: {exc}. Check --input-shape "
                "(and --input-dtype int64 --input-high N for token ids)."
            ) from exc
    plot = None
    if plot_to:
        from .diagnostics._plot import plot_init

        title = f"{type(model).__name__}: {config.path}"
        plot = write_output(
            plot_to, "--plot", lambda p: plot_init(p, health=health, probe=probe, title=title)
        )
    code = EXIT_OK if probe.ok else EXIT_CHECK
    if args.json:
        return emit_json(
            out,
            "probe",
            code,
            {
                **_identity(config, target),
                "probe": probe.to_dict(),
                "health": health.to_dict() if health else None,
                "plot": plot,
            },
        )
    header(out, config, target)
    out.print(_render.probe_table(out, probe))
    out.print(f"Probe: {probe.summary()}")
    for problem in probe.problems():
        out.print(f"  {problem}")
    if plot:
        out.print(f"Plot: {plot}")
    return code


def cmd_list(args: argparse.Namespace, out: Any) -> int:
    from ._configfile import import_modules
    from .checkpoint._sources import known_schemes
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
        return emit_json(
            out,
            "list",
            EXIT_OK,
            {
                "initializers": initializers,
                "layers": {k: r.names() for k, r in tables.items()},
                "models": MODELS.names(),
                "schemes": known_schemes(),
            },
        )
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
