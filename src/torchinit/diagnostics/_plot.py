"""Plots (matplotlib, the optional ``plot`` extra): weight std per layer, activation std by depth.

The weight panel puts each parameter's measured std next to the std its rule promises; the
activation panel follows the output std of every layer of an :func:`probe_activations` run
in the order the layers ran, against the input's std.
"""

from __future__ import annotations

import io
import math
import os
import textwrap
from pathlib import Path
from typing import Any

from ._health_report import HealthReport
from ._probe import ActivationProbe

__all__ = ["MATPLOTLIB_HINT", "plot_init", "require_matplotlib"]

MATPLOTLIB_HINT = "plots need matplotlib: pip install 'torchinit[plot]' (or pip install matplotlib)."
_MAX_TICKS = 40


def require_matplotlib() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend; a ModuleNotFoundError says how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise ModuleNotFoundError(MATPLOTLIB_HINT) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _short(name: str) -> str:
    return name.removesuffix(".weight")


def _ticks(ax: Any, labels: list[str]) -> None:
    step = max(1, math.ceil(len(labels) / _MAX_TICKS))
    positions = list(range(0, len(labels), step))
    ax.set_xticks(positions)
    ax.set_xticklabels([labels[i] for i in positions], rotation=75, ha="right", fontsize=6.5)


def _legend(ax: Any) -> None:
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def _weights(ax: Any, health: HealthReport) -> None:
    rows = [
        t for t in health.tensors if t.expected is not None and not t.expected.constant and t.expected.std > 0
    ]
    if not rows:
        ax.text(
            0.5, 0.5, "no parameter with a promised std", ha="center", va="center", transform=ax.transAxes
        )
        return
    x = list(range(len(rows)))
    ax.plot(
        x,
        [t.expected.std for t in rows],  # type: ignore[union-attr]  # rows have a promise
        "_",
        color="black",
        markersize=14,
        mew=2,
        label="promised by the rule",
    )
    rules = sorted({t.rule or "?" for t in rows}, key=[t.rule for t in rows].index)
    cmap = [
        "tab:blue",
        "tab:orange",
        "tab:green",
        "tab:red",
        "tab:purple",
        "tab:brown",
        "tab:pink",
        "tab:olive",
    ]
    for i, rule in enumerate(rules):
        xs = [j for j, t in enumerate(rows) if (t.rule or "?") == rule]
        ax.plot(
            xs,
            [rows[j].std for j in xs],
            "o",
            color=cmap[i % len(cmap)],
            markersize=4,
            label=textwrap.fill(f"measured: {rule}", 34),
        )
    bad = [j for j, t in enumerate(rows) if not t.ok]
    if bad:
        ax.plot(
            bad,
            [rows[j].std for j in bad],
            "x",
            color="red",
            markersize=9,
            mew=2,
            label="outside the promise",
        )
    ax.set_yscale("log")
    ax.set_ylabel("weight std")
    ax.set_title("Weights: measured std vs the std each rule promises", fontsize=10, loc="left")
    _ticks(ax, [_short(t.name) for t in rows])
    _legend(ax)
    ax.grid(True, which="major", alpha=0.3)


def _activations(ax: Any, probe: ActivationProbe) -> None:
    layers = probe.layers
    if not layers:
        ax.text(0.5, 0.5, "no layer output recorded", ha="center", va="center", transform=ax.transAxes)
        return
    stds = [x.std if math.isfinite(x.std) and x.std > 0 else math.nan for x in layers]
    ax.plot(
        range(len(layers)),
        stds,
        "-o",
        markersize=2.5,
        linewidth=1,
        color="tab:blue",
        label="layer output std",
    )
    if probe.input_std > 0:
        ax.axhline(probe.input_std, color="gray", linestyle="--", linewidth=1, label="input std")
    ax.set_yscale("log")
    ax.set_ylabel("activation std")
    ax.set_xlabel("layer, in the order the forward pass ran them")
    shape = "x".join(map(str, probe.input_shape))
    ax.set_title(f"Activations: output std through depth (random input {shape})", fontsize=10, loc="left")
    labels = [x.name + (f" [{x.call + 1}]" if x.call else "") for x in layers]
    _ticks(ax, labels)
    _legend(ax)
    ax.grid(True, which="major", alpha=0.3)


def plot_init(
    path: str | os.PathLike[str],
    *,
    health: HealthReport | None = None,
    probe: ActivationProbe | None = None,
    title: str | None = None,
) -> Path:
    """Write a PNG with one panel per given result (weights, activations); return its path.

    Raises:
        ModuleNotFoundError: matplotlib is not installed (the message says how to install it).
        ValueError: neither ``health`` nor ``probe`` was given.
    """
    if health is None and probe is None:
        raise ValueError("plot_init() needs health, probe or both.")
    plt = require_matplotlib()
    panels = [p for p in (health, probe) if p is not None]
    fig, axes = plt.subplots(len(panels), 1, figsize=(12.5, 4.2 * len(panels)), squeeze=False)
    for ax, panel in zip(axes[:, 0], panels, strict=True):
        if isinstance(panel, HealthReport):
            _weights(ax, panel)
        else:
            _activations(ax, panel)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    _write_small_png(buffer, target)
    return target


def _write_small_png(buffer: io.BytesIO, target: Path) -> None:
    """Save with a 256-colour palette: a third of the size, no visible change for line plots."""
    from PIL import Image  # matplotlib depends on Pillow

    buffer.seek(0)
    with Image.open(buffer) as image:
        image.convert("RGB").quantize(colors=256).save(target, optimize=True)
