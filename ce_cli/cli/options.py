"""Option groups shared by several commands (click decorators; no heavy imports).

Every option is declared once, here. click does the range checks (``IntRange``, ``FloatRange``,
``Choice`` over the vocabularies of ``core.vocab``), so a bad value is a usage error, one line
(``CEGroup`` in ``cli/main.py``), before any file is opened.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from typing import Any

import click

from ce_cli.core.errors import CEError
from ce_cli.core.limits import MAX_BINS, MAX_CLASSES, MAX_THREADS
from ce_cli.core.vocab import (
    INPUT_FORMATS,
    INPUT_KINDS,
    LOSSES,
    ON_INVALID,
    OUTPUT_FORMATS,
    SMOOTHING_SPREADS,
    STRATEGIES,
    TASKS,
)

Decorator = Callable[[Callable[..., Any]], Any]
PATH = click.Path(readable=False, allow_dash=True)
"""A file argument or option: completes file names (the value stays a ``str``)."""
Param = click.Parameter | None
Ctx = click.Context | None


def complete_columns(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """The column options' shell completion (``cli/completion.py``, imported on <Tab> only)."""
    from ce_cli.cli.completion import complete_columns as complete

    return complete(ctx, param, incomplete)


def stack(options: list[Callable[[Any], Any]], section: str | None = None) -> Decorator:
    """One decorator applying ``options`` in order (as sqlite-utils' ``output_options``);
    ``section`` titles them in ``--help`` (``SectionedCommand``) unless a nested stack did."""

    def decorate(func: Callable[..., Any]) -> Any:
        before = {id(p) for p in getattr(func, "__click_params__", [])}
        for option in reversed(options):
            func = option(func)
        for param in getattr(func, "__click_params__", []):
            if section and id(param) not in before and not getattr(param, "section", None):
                param.section = section
        return func

    return decorate


SECTION_ORDER = (
    "Options",
    "Thresholds",
    "Baseline",
    "Loss",
    "Metrics",
    "Calibration bins",
    "Output",
    "Input",
    "Columns",
    "Classes and task",
    "Rows",
    "Engine",
    "Configuration",
    "Other",
)


class SectionedCommand(click.Command):
    """``--help`` lists the options under titled sections (the command's own first, then the
    loss, output, input …), then the examples of the command's epilog."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict[str, list[tuple[str, str]]] = {}
        help_option = self.get_help_option(ctx)
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                title = getattr(param, "section", None) or (
                    "Other" if param is help_option else "Options"
                )
                sections.setdefault(title, []).append(record)
        known = [s for s in SECTION_ORDER if s in sections]
        for title in known + [s for s in sections if s not in known]:
            with formatter.section(title):
                formatter.write_dl(sections[title])

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Examples as written: one command a line, never re-wrapped."""
        if not self.epilog:
            return
        with formatter.section("Examples"):
            for line in self.epilog.strip().splitlines():
                formatter.write(f"{' ' * formatter.current_indent}{line.strip()}\n")


# ---------------------------------------------------------------------- --temperature
class TemperatureType(click.ParamType):
    """``T > 0`` (finite), or a JSON file with a ``"temperature"`` key (``--save-temperature``).

    The one place a temperature from the command line (or a ``ce check`` config) is checked.
    """

    name = "temperature"

    def convert(self, value: Any, param: Param, ctx: Ctx) -> Any:
        if isinstance(value, bool):
            self.fail(f"{value!r} is not a number", param, ctx)
        if isinstance(value, (int, float)):
            return self._checked(float(value), str(value), param, ctx)
        text = str(value)
        try:
            return self._checked(float(text), text, param, ctx)
        except ValueError:
            from_file = self._from_file(text, param, ctx)
            return self._checked(from_file, f"{from_file:g} (from {text})", param, ctx)

    def _from_file(self, text: str, param: Param, ctx: Ctx) -> float:
        """The ``temperature`` of the JSON file ``text`` (opened as is: no path test first, so a
        long text is no 'File name too long' crash)."""
        import json  # only for a temperature given as a file: not on ce --help's path
        from pathlib import Path

        try:
            raw = Path(text).read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.fail(f"{text!r} is not a number nor a readable JSON file ({why})", param, ctx)
        try:
            data = json.loads(raw)
        except ValueError as exc:
            self.fail(f"{text}: not JSON ({exc})", param, ctx)
        if not isinstance(data, dict) or "temperature" not in data:
            self.fail(f"{text}: no 'temperature' key (ce calibrate --save-temperature)", param, ctx)
        value = data["temperature"]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(f"{text}: 'temperature' is {value!r}, not a number", param, ctx)
        return float(value)

    def _checked(self, value: float, text: str, param: Param, ctx: Ctx) -> float:
        if not (math.isfinite(value) and value > 0):
            self.fail(f"must be a finite number > 0, not {text}", param, ctx)
        return value


temperature_option = click.option(
    "--temperature",
    type=TemperatureType(),
    default="1",
    show_default=True,
    metavar="T|FILE.json",
    help="Divide logits by T > 0 first (or read T from a JSON file written by --save-temperature).",
)

# ---------------------------------------------------------------------- loss options
inputs_option = click.option(
    "--inputs",
    type=click.Choice(INPUT_KINDS),
    default="auto",
    show_default=True,
    help="Are the predictions logits or probabilities?",
)


def plot_option(what: str) -> Decorator:
    """``--plot FILE.png|FILE.svg``: draw ``what``."""
    return click.option("--plot", type=PATH, metavar="FILE.png|FILE.svg", help=f"Draw {what}.")


metric_options = stack(
    [
        click.option(
            "--threshold",
            type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
            metavar="T",
            help="Binary and multi-label: positive when p >= T (logits: z >= logit(T)), in "
            "(0, 1) [default: 0.5; two softmax columns: the argmax].",
        ),
        click.option(
            "--top-k-accuracy",
            type=click.IntRange(min=1),
            metavar="K",
            help="Also report top-K accuracy (scikit-learn's top_k_accuracy_score).",
        ),
        click.option(
            "--confusion",
            is_flag=True,
            help="List every confused pair; print the whole confusion matrix when there are "
            "at most 30 classes.",
        ),
        click.option(
            "--auc",
            is_flag=True,
            help="Exact ROC-AUC (one-vs-rest, macro and per class) and average precision, as "
            "scikit-learn's; keeps every score: 8·N·K bytes for N rows and K columns.",
        ),
        click.option(
            "--auc-bins",
            type=click.IntRange(2, MAX_BINS),
            metavar="B",
            help="ROC-AUC and average precision from B-bin score histograms instead (16·K·B "
            "bytes, any N); the report states their worst-case error.",
        ),
    ],
    section="Metrics",
)
"""The classification metrics' options of ``ce score`` and ``ce check`` (in ``loss_options``)."""

loss_options = stack(
    [
        click.option(
            "--loss",
            type=click.Choice(LOSSES),
            default="auto",
            show_default=True,
            help="auto: multiclass → ce; binary and multi-label → bce.",
        ),
        inputs_option,
        click.option(
            "--alpha",
            metavar="W",
            help="Class weights: balanced, a comma list, a weights JSON (ce weights -o), or "
            "for sigmoid focal the weight of positives in [0, 1] (default 0.25).",
        ),
        click.option(
            "--pos-weight",
            metavar="P",
            help="PyTorch's pos_weight: balanced, a number, or one per column (bce).",
        ),
        click.option(
            "--label-smoothing",
            type=click.FloatRange(0.0, 1.0, max_open=True),
            default=0.0,
            show_default=True,
            metavar="EPS",
            help="PyTorch's label_smoothing, in [0, 1) (bce: targets y(1−ε)+ε/2).",
        ),
        click.option(
            "--smoothing-spread",
            type=click.Choice(SMOOTHING_SPREADS),
            default="all",
            show_default=True,
            help="ce: all = PyTorch's ε/K to every class; others = 1−ε to the true class, "
            "ε/(K−1) to each other.",
        ),
        temperature_option,
        click.option(
            "--gamma",
            type=click.FloatRange(min=0.0),
            default=2.0,
            show_default=True,
            help="Focal loss focusing parameter (>= 0).",
        ),
        click.option(
            "--on-invalid",
            type=click.Choice(ON_INVALID),
            default="error",
            show_default=True,
            help="NaN/inf predictions: stop, or skip and count them.",
        ),
        metric_options,
    ],
    section="Loss",
)
"""The loss options of ``ce score`` and ``ce check`` (without --reduction and --top)."""

binning_options = stack(
    [
        click.option(
            "--bins",
            "n_bins",
            type=click.IntRange(1, MAX_BINS),
            default=15,
            show_default=True,
            metavar="M",
            help=f"Calibration bins, 1 … {MAX_BINS} (for ece, mce, rmsce, …).",
        ),
        click.option(
            "--strategy",
            type=click.Choice(STRATEGIES),
            default="uniform",
            show_default=True,
            help="Calibration bins of equal width or equal mass.",
        ),
    ],
    section="Calibration bins",
)
"""``--bins`` and ``--strategy``: the reliability bins of ``ce calibrate`` and ``ce check``."""

# ---------------------------------------------------------------------- input options
file_options = stack(
    [
        click.argument("files", metavar="FILE...", nargs=-1, required=True, type=PATH),
        click.option(
            "--labels",
            "labels_path",
            type=PATH,
            metavar="FILE",
            help="Read the labels from this file instead (aligned by row order, or "
            "joined with --on).",
        ),
        click.option(
            "--on",
            metavar="KEY",
            help="Join --labels on this key column.",
            shell_complete=complete_columns,
        ),
        click.option(
            "--input-format",
            type=click.Choice(INPUT_FORMATS),
            help="Override the format guessed from the extension.",
        ),
    ],
    section="Input",
)
"""FILE... and where the labels come from."""

column_options = stack(
    [
        click.option(
            "--label-col",
            metavar="NAME",
            shell_complete=complete_columns,
            help="Label column: a name, a comma list or a glob ('label_*').",
        ),
        click.option(
            "--pred-cols",
            metavar="COLS",
            shell_complete=complete_columns,
            help="Prediction columns: a comma list or a glob ('logit_*').",
        ),
        click.option(
            "--pred-key",
            metavar="NAME",
            help="Array files (.npz, .safetensors): the predictions' array [default: logits, "
            "probs, scores, …].",
        ),
        click.option(
            "--label-key",
            metavar="NAME",
            help="Array files (.npz, .safetensors): the labels' array [default: labels, "
            "targets, y_true, …].",
        ),
        click.option(
            "--id-col", metavar="NAME", help="Row id column.", shell_complete=complete_columns
        ),
        click.option(
            "--weight-col",
            metavar="NAME",
            help="Per-row sample weight column.",
            shell_complete=complete_columns,
        ),
        click.option(
            "--mask-col",
            metavar="NAME",
            help="Rows whose mask is false/0 are left out.",
            shell_complete=complete_columns,
        ),
    ],
    section="Columns",
)
"""Which columns hold labels, predictions, ids, sample weights and the mask."""

class_options = stack(
    [
        click.option("--task", type=click.Choice(TASKS), help="Override the detected task."),
        click.option(
            "--classes",
            metavar="A,B,C|FILE",
            help="The class names in index order (or a file with one per line).",
        ),
        click.option(
            "--num-classes",
            type=click.IntRange(min=1, max=MAX_CLASSES),
            metavar="K",
            help="Integer classes 0 … K-1.",
        ),
        click.option(
            "--label-offset",
            type=int,
            default=0,
            metavar="N",
            help="Subtract N from integer labels (1-based labels: --label-offset 1).",
        ),
    ],
    section="Classes and task",
)
"""The task and the class set."""

row_options = stack(
    [
        click.option(
            "--where",
            multiple=True,
            shell_complete=complete_columns,
            metavar="EXPR",
            help="Keep only rows where EXPR holds: COL=V, COL!=V, COL<V, COL<=V, COL>V, COL>=V, "
            "'COL in A,B,C'. Repeatable (all must hold); partition columns work too.",
        ),
        click.option(
            "--group-by",
            metavar="COL",
            shell_complete=complete_columns,
            help="Also report each value of COL on its own (a country, a model version, a "
            "partition column); at most 1000 values.",
        ),
        click.option(
            "--ignore-index",
            type=int,
            default=-100,
            show_default=True,
            help="Rows with this label are left out.",
        ),
    ],
    section="Rows",
)
"""Which rows count, and how they are grouped."""

engine_options = stack(
    [
        click.option(
            "--batch-size",
            type=click.IntRange(min=1),
            metavar="N",
            help="Rows per record batch (bounds memory) [default: about 262144 values: 32768 "
            "rows for 8 or more columns, up to 131072 for fewer].",
        ),
        click.option(
            "--threads",
            type=click.IntRange(0, MAX_THREADS),
            default=0,
            metavar="N",
            help=f"Worker threads, 0 … {MAX_THREADS} [default 0: every core].",
        ),
        click.option(
            "--engine",
            type=click.Choice(["local", "dask"]),
            help="Where batches are processed: local threads, or a Dask cluster, one task per "
            "file or row group (pip install 'ce-cli[dask]') [default: local].",
        ),
        click.option(
            "--scheduler",
            metavar="ADDRESS",
            help="The Dask scheduler (tcp://HOST:PORT) for --engine dask [default: "
            "$DASK_SCHEDULER_ADDRESS, else a local cluster of one process per core].",
        ),
        click.option(
            "--no-progress",
            "no_progress",
            is_flag=True,
            help="No progress bar on stderr (it only shows on a terminal anyway).",
        ),
        click.option(
            "-q",
            "--quiet",
            is_flag=True,
            help="No progress bar; ce check prints only the verdict and the failed checks.",
        ),
    ],
    section="Engine",
)
"""How the batches are cut and where they run."""

input_options = stack([file_options, column_options, class_options, row_options, engine_options])
"""FILE and the options every command shares to find labels, predictions and classes."""


def output_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--format, --width and -o, shared by every command (the Output section of --help)."""
    return stack([_output_options], section="Output")(func)


def _output_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "-o",
        "--output",
        type=PATH,
        metavar="FILE",
        help="Write the report here (format from .json/.csv/.md/.txt/.html), atomically.",
    )(func)
    func = click.option(
        "--width",
        type=click.IntRange(20, 10_000),
        metavar="N",
        help="Fit tables to N columns [default: the terminal's width; piped: never wrapped].",
    )(func)
    return click.option(
        "--format", "fmt", type=click.Choice(OUTPUT_FORMATS), help="Output format [default: table]."
    )(func)


# ---------------------------------------------------------------------- parsed → InputOptions
def input_options_from(kwargs: dict[str, Any]) -> Any:
    """Pop the ``input_options`` of a command's ``kwargs`` into ``InputOptions`` on its engine."""
    from ce_cli.engine.runner import with_engine
    from ce_cli.io.dataset import InputOptions
    from ce_cli.io.layout import LabelOptions
    from ce_cli.render.progress import bar as progress_bar

    files = kwargs.pop("files")
    engine, scheduler = kwargs.pop("engine"), kwargs.pop("scheduler")
    quiet = display_options(kwargs)
    options = InputOptions(
        path=files[0],
        more_paths=tuple(files[1:]),
        labels_path=kwargs.pop("labels_path"),
        on=kwargs.pop("on"),
        input_format=kwargs.pop("input_format"),
        batch_size=kwargs.pop("batch_size"),
        label_col=kwargs.pop("label_col"),
        pred_cols=kwargs.pop("pred_cols"),
        pred_key=kwargs.pop("pred_key"),
        label_key=kwargs.pop("label_key"),
        id_col=kwargs.pop("id_col"),
        weight_col=kwargs.pop("weight_col"),
        mask_col=kwargs.pop("mask_col"),
        threads=kwargs.pop("threads"),
        progress=None if kwargs.pop("no_progress") or quiet else progress_bar,
        where=tuple(kwargs.pop("where")),
        group_by=kwargs.pop("group_by"),
        label=LabelOptions(
            task=kwargs.pop("task"),
            classes=parse_classes(kwargs.pop("classes")),
            num_classes=kwargs.pop("num_classes"),
            ignore_index=kwargs.pop("ignore_index"),
            label_offset=kwargs.pop("label_offset"),
        ),
    )
    _check_stdin(files, options.labels_path)
    return with_engine(options, engine, scheduler)


def display_options(kwargs: dict[str, Any]) -> bool:
    """Pop ``--quiet`` and ``--width`` into the click context's ``meta`` (``cli/output.py``
    reads them when it renders); returns ``quiet``."""
    quiet, width = bool(kwargs.pop("quiet", False)), kwargs.pop("width", None)
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta["ce.quiet"], ctx.meta["ce.width"] = quiet, width
    return quiet


def _check_stdin(files: tuple[str, ...], labels_path: str | None) -> None:
    """``-`` reads stdin: say so in one line when stdin is closed (``ce weights - <&-``)."""
    if sys.stdin is None and "-" in (*files, labels_path):
        raise CEError("-: stdin is closed; pipe the data in, or pass a file name")


def parse_classes(value: str | None) -> tuple[str, ...] | None:
    """``a,b,c``, or a file with one class name per line."""
    if value is None:
        return None
    names = None
    if "," not in value:
        names = _class_file(value)
    if names is None:
        names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise CEError(f"--classes {value!r} names no class")
    if len(names) > MAX_CLASSES:
        raise CEError(f"--classes names {len(names)} classes, more than the {MAX_CLASSES} ce reads")
    return tuple(names)


def _class_file(value: str) -> list[str] | None:
    """The class names in the file ``value``, one per line; None when it is not a file."""
    from pathlib import Path  # not on ce --help's path

    try:
        text = Path(value).read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None
    return [line.strip() for line in text.splitlines() if line.strip()]


def command(func: Callable[..., Any]) -> Callable[..., Any]:
    """Shared wrapper: build InputOptions from the parsed options and pass them as ``options``."""

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        return func(input_options_from(kwargs), **kwargs)

    return wrapper
