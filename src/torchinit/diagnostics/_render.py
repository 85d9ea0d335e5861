"""Rendering for people: tables of reports, health checks and probes (rich).

On a terminal the output is styled (no colour when ``NO_COLOR`` is set) and long work shows
a progress display on stderr; anywhere else it is plain text without trailing spaces, the
same on every run, for logs, pipes and tests.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
from collections.abc import Iterator
from typing import IO, Any

from rich import box
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from ..report import InitReport, ParamRecord
from ._health_report import HealthReport
from ._probe import ActivationProbe

__all__ = ["Output", "print_report", "report_table"]

WIDE = 1000  # line width for plain output: tables never wrap


def _isatty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty()) and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


class Output:
    """Where a command prints: ``print`` takes strings and rich renderables.

    Args:
        file: the stream (default stdout).
        err: the stream for progress displays (default stderr); shown only when it is a TTY.
    """

    def __init__(self, file: IO[str] | None = None, err: IO[str] | None = None) -> None:
        self.file = file if file is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.tty = _isatty(self.file)
        color = self.tty and not os.environ.get("NO_COLOR")
        self.console = Console(
            file=self.file,
            force_terminal=self.tty,
            no_color=not color,
            color_system="auto" if color else None,
            markup=False,
            highlight=False,
            emoji=False,
            width=None if self.tty else WIDE,
        )
        self.err_tty = _isatty(self.err)

    def print(self, *items: RenderableType, style: str | None = None) -> None:
        if self.tty:
            self.console.print(*items, style=style)
            return
        with self.console.capture() as captured:
            self.console.print(*items)
        text = "\n".join(line.rstrip() for line in captured.get().splitlines())
        self.file.write(text + "\n")

    def heading(self, text: str) -> None:
        self.print(Text(text, style="bold"))

    def table(self, *columns: str, title: str | None = None) -> Table:
        """An empty table in the house style (plain: no borders, no padding at the edges)."""
        table = Table(
            box=box.SIMPLE_HEAD if self.tty else None,
            show_edge=False,
            pad_edge=False,
            header_style="bold" if self.tty else "",
            title=title,
            title_justify="left",
        )
        for column in columns:
            table.add_column(column, overflow="fold")
        return table

    @contextlib.contextmanager
    def progress(self, description: str, total: int | None = None) -> Iterator[Any]:
        """A progress display on stderr while the block runs (TTY only); yields ``advance()``."""
        if not self.err_tty:
            yield lambda *_: None
            return
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn()]
        console = Console(file=self.err, no_color=bool(os.environ.get("NO_COLOR")))
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task(description, total=total)
            yield lambda n=1: progress.advance(task, n)


# --------------------------------------------------------------------------- reports
_BEATEN = re.compile(r"^(.*) \((\w+), ([^()]*)\)$")


def _why(winner: ParamRecord, beaten: str) -> str:
    """``'Kaiming(...) [default of neck.conv]: defaults have the lowest priority'``."""
    match = _BEATEN.match(beaten)
    if match is None:
        return beaten
    rule, source, owner = match.groups()
    owner = "" if owner == "root" else owner
    where = f"{'default' if source == 'default' else 'init_cfg'} of {owner or 'the root'}"
    win = winner.owner or ""
    if winner.source == "pretrained":
        reason = "Pretrained is applied last"
    elif winner.source == "user":
        reason = "a user-defined init_weights runs after the rules"
    elif source == "default":
        reason = "defaults have the lowest priority"
    elif win != owner and (owner == "" or win.startswith(owner + ".")):
        reason = "a deeper init_cfg wins"
    elif win == owner:
        reason = "later in the same init_cfg (an override beats a layer rule)"
    else:
        reason = "applied later"
    return f"{rule} [{where}]: {reason}"


def _set_by(record: ParamRecord) -> str:
    if record.source == "none":
        return "- (left as built)"
    if record.source == "user":
        return f"init_weights of {record.initializer}"
    if record.source == "reset":
        return f"{record.initializer}"
    if record.source == "pretrained":
        return f"checkpoint: {record.initializer}"
    if record.role == "bias" and record.value is not None:
        return f"bias = {record.value:g}"
    return record.initializer or "?"


def _held_by(record: ParamRecord) -> str:
    if record.source in ("none", "reset"):
        return ""
    owner = record.owner or "the root"
    if record.source == "user":
        return owner
    return f"{'default' if record.source == 'default' else 'init_cfg'} of {owner}"


def report_table(out: Output, report: InitReport, types: dict[str, str] | None = None) -> Table:
    """Every tensor of ``report`` under its module: what sets it, whose rule, what it beats and why."""
    table = out.table("tensor", "shape", "set by", "rule of", "beats")
    groups: dict[str, list[ParamRecord]] = {}
    for record in report:  # buffers come after the parameters in a plan: gather them by module
        groups.setdefault(record.name.rpartition(".")[0], []).append(record)
    for module, records in groups.items():
        label = module or "(root)"
        if types and module in types:
            label += f" ({types[module]})"
        table.add_row(Text(label, style="bold"), "", "", "", "")
        for record in records:
            shape = "x".join(map(str, record.shape)) or "scalar"
            name = "  " + record.name.rpartition(".")[2] + (" (buffer)" if record.is_buffer else "")
            beats = "\n".join(_why(record, b) for b in record.beaten)
            table.add_row(name, shape, _set_by(record), _held_by(record), beats)
    return table


def print_report(report: InitReport, *, model: Any = None, file: IO[str] | None = None) -> None:
    """Print ``report`` (from :func:`torchinit.plan` or an init run) as a table grouped by module.

    Then the checkpoint loads, the rules that matched nothing, and the summary line. Styled
    on a terminal, plain text otherwise (see :class:`Output`).

    Args:
        report: an :class:`~torchinit.InitReport`.
        model: the model, to show each module's class next to its name.
        file: the stream (default stdout).
    """
    out = Output(file)
    types = {name: type(m).__name__ for name, m in model.named_modules()} if model is not None else None
    out.print(report_table(out, report, types))
    print_loads(out, report)
    if report.unmatched:
        out.heading("Rules that matched nothing:")
        for message in report.unmatched:
            out.print(f"  {message}")
    out.print(report.summary())


def print_loads(out: Output, report: InitReport) -> None:
    for load in report.loads:
        summary = getattr(load, "summary", None)
        out.print(f"Checkpoint: {summary() if callable(summary) else load}")


def rules_table(out: Output, report: InitReport) -> Table:
    """The rules that set or lost a tensor: where each is, modules reached, tensors set.

    Rules that differ only in the index of their module (the defaults of ``convs.0``,
    ``convs.1``, ...) share one row, with ``*`` for the index.
    """
    rows: dict[tuple[str, str], list[int]] = {}
    for rule in report.rules:
        if rule.tensors or rule.beaten_tensors:
            key = (rule.initializer, _INDEX.sub(".*", rule.where))
            counts = rows.setdefault(key, [0, 0, 0, 0])
            for i, value in enumerate((1, rule.modules, rule.tensors, rule.beaten_tensors)):
                counts[i] += value
    table = out.table("rule", "in", "modules", "tensors", "overridden")
    for (initializer, where), (n, modules, tensors, beaten) in rows.items():
        where += f" ({n} rules)" if n > 1 else ""
        table.add_row(initializer, where, str(modules), str(tensors), str(beaten) if beaten else "")
    return table


_INDEX = re.compile(r"\.\d+(?=[\s.]|$)")


# --------------------------------------------------------------------------- health and probe
def _ratio(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "exact"
    return f"{low:.3f}" if f"{low:.3f}" == f"{high:.3f}" else f"{low:.3f} .. {high:.3f}"


def health_table(out: Output, health: HealthReport) -> Table:
    """Per promising rule: tensors checked and the measured std / promised std (constants: exact)."""
    table = out.table("rule", "tensors", "std / promised")
    for rule, count, low, high in health.by_rule():
        table.add_row(rule, str(count), _ratio(low, high))
    return table


def print_findings(out: Output, health: HealthReport) -> None:
    for finding in health.findings:
        style = "red" if finding.severity == "error" else "yellow"
        out.print(Text(f"  {finding}", style=style if out.tty else ""))


def probe_table(out: Output, probe: ActivationProbe) -> Table:
    """One row per layer output, in the order the layers ran."""
    table = out.table("#", "layer", "type", "output", "mean", "std")
    for i, layer in enumerate(probe.layers):
        name = layer.name + (f" [call {layer.call + 1}]" if layer.call else "")
        std = f"{layer.std:.4g}" if math.isfinite(layer.std) else "NaN/Inf"
        table.add_row(str(i), name, layer.type, "x".join(map(str, layer.shape)), f"{layer.mean:.4g}", std)
    return table
