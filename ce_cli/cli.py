"""The ``ce`` command line: parse options, call the library, render. Nothing else.

Heavy modules (numpy, pyarrow, rich) are imported inside the commands so ``ce --help`` is fast.
Exit codes: 0 success, 1 a failed ``ce check``, 2 any error (usage or input).
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ce_cli import __version__
from ce_cli.choices import (
    INPUT_FORMATS,
    INPUT_KINDS,
    OUTPUT_FORMATS,
    REDUCTIONS,
    TASKS,
    WEIGHT_SCHEMES,
)
from ce_cli.cli_options import loss_options, temperature_option
from ce_cli.errors import CEError

EXIT_ERROR = 2


class CEGroup(click.Group):
    """Maps every ``CEError`` (and any unexpected exception) to one line on stderr and exit 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CEError as exc:
            if _debug(ctx):
                raise
            click.echo(f"ce: error: {exc}", err=True)
            ctx.exit(EXIT_ERROR)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:  # `ce … | head`: the reader left; stop quietly
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(141)
        except KeyboardInterrupt:
            click.echo("ce: interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:
            if _debug(ctx):
                raise
            click.echo(
                f"ce: internal error: {type(exc).__name__}: {exc} (rerun with --debug "
                "for a traceback, and please report it)",
                err=True,
            )
            ctx.exit(EXIT_ERROR)


def _debug(ctx: click.Context) -> bool:
    return bool((ctx.obj or {}).get("debug")) or os.environ.get("CE_DEBUG") == "1"


@click.group(
    cls=CEGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, "-V", "--version", prog_name="ce")
@click.option("--debug", is_flag=True, help="Show a traceback on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """ce — class weights, losses and calibration from label and prediction files.

    Reads CSV/TSV (optionally .gz/.bz2/.zst), Parquet, Arrow IPC/Feather and JSON Lines in
    record batches, so memory is bounded by --batch-size, not the file.
    """
    ctx.obj = {"debug": debug}


# ---------------------------------------------------------------------- shared options
def input_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """FILE and the options every command shares to find labels, predictions and classes."""
    options = [
        click.argument("files", metavar="FILE...", nargs=-1, required=True),
        click.option(
            "--labels",
            "labels_path",
            metavar="FILE",
            help="Read the labels from this file instead (aligned by row order, or "
            "joined with --on).",
        ),
        click.option("--on", metavar="KEY", help="Join --labels on this key column."),
        click.option(
            "--input-format",
            type=click.Choice(INPUT_FORMATS),
            help="Override the format guessed from the extension.",
        ),
        click.option(
            "--batch-size",
            type=int,
            metavar="N",
            help="Rows per record batch (bounds memory) [default: about 262144 values: 32768 "
            "rows for 8 or more columns, up to 131072 for fewer].",
        ),
        click.option(
            "--label-col",
            metavar="NAME",
            help="Label column: a name, a comma list or a glob ('label_*').",
        ),
        click.option(
            "--pred-cols",
            metavar="COLS",
            help="Prediction columns: a comma list or a glob ('logit_*').",
        ),
        click.option("--id-col", metavar="NAME", help="Row id column."),
        click.option("--weight-col", metavar="NAME", help="Per-row sample weight column."),
        click.option("--mask-col", metavar="NAME", help="Rows whose mask is false/0 are left out."),
        click.option("--task", type=click.Choice(TASKS), help="Override the detected task."),
        click.option(
            "--classes",
            metavar="A,B,C|FILE",
            help="The class names in index order (or a file with one per line).",
        ),
        click.option("--num-classes", type=int, metavar="K", help="Integer classes 0 … K-1."),
        click.option(
            "--where",
            multiple=True,
            metavar="EXPR",
            help="Keep only rows where EXPR holds: COL=V, COL!=V, COL<V, COL<=V, COL>V, COL>=V, "
            "'COL in A,B,C'. Repeatable (all must hold); partition columns work too.",
        ),
        click.option(
            "--group-by",
            metavar="COL",
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
        click.option(
            "--threads",
            type=int,
            default=0,
            metavar="N",
            help="Worker threads [default: every core].",
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
            "--quiet",
            "no_progress",
            is_flag=True,
            help="No progress bar on stderr (it only shows on a terminal anyway).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def output_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--format and -o, shared by every command."""
    func = click.option(
        "-o",
        "--output",
        metavar="FILE",
        help="Write the report here (format from .json/.csv/.md/.txt), atomically.",
    )(func)
    return click.option(
        "--format", "fmt", type=click.Choice(OUTPUT_FORMATS), help="Output format [default: table]."
    )(func)


def _input_options_from(kwargs: dict[str, Any]) -> Any:
    from ce_cli.engine import with_engine
    from ce_cli.io.dataset import InputOptions
    from ce_cli.io.layout import LabelOptions

    files = kwargs.pop("files")
    engine, scheduler = kwargs.pop("engine"), kwargs.pop("scheduler")
    options = InputOptions(
        path=files[0],
        more_paths=tuple(files[1:]),
        labels_path=kwargs.pop("labels_path"),
        on=kwargs.pop("on"),
        input_format=kwargs.pop("input_format"),
        batch_size=kwargs.pop("batch_size"),
        label_col=kwargs.pop("label_col"),
        pred_cols=kwargs.pop("pred_cols"),
        id_col=kwargs.pop("id_col"),
        weight_col=kwargs.pop("weight_col"),
        mask_col=kwargs.pop("mask_col"),
        threads=kwargs.pop("threads"),
        progress=not kwargs.pop("no_progress"),
        where=tuple(kwargs.pop("where")),
        group_by=kwargs.pop("group_by"),
        label=LabelOptions(
            task=kwargs.pop("task"),
            classes=_parse_classes(kwargs.pop("classes")),
            num_classes=kwargs.pop("num_classes"),
            ignore_index=kwargs.pop("ignore_index"),
        ),
    )
    return with_engine(options, engine, scheduler)


def _parse_classes(value: str | None) -> tuple[str, ...] | None:
    """``a,b,c``, or a file with one class name per line."""
    if value is None:
        return None
    path = Path(value)
    if "," not in value and path.is_file():
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        names = [n for n in names if n]
    else:
        names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise CEError(f"--classes {value!r} names no class")
    return tuple(names)


def emit(report: Any, fmt: str | None, output: str | None, inputs: list[str]) -> None:
    """Render the report to stdout or, atomically, to ``-o FILE``; warnings also to stderr
    whenever stdout is not a human-readable table."""
    from ce_cli.render import format_for_path, render, use_color, write_atomic

    if output:
        text = render(report, format_for_path(output, fmt))
        write_atomic(output, text, inputs)
        click.echo(f"ce: wrote {output}", err=True)
        _warn(report.warnings)
        return
    fmt = fmt or "table"
    color = fmt == "table" and use_color()
    width = shutil.get_terminal_size().columns if color else None
    sys.stdout.write(render(report, fmt, color=color, width=width))
    if fmt != "table":
        _warn(report.warnings)


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        click.echo(f"ce: warning: {warning}", err=True)


def _draw(chart: str, report: Any, path: str) -> None:
    """Draw ``report`` with ``ce_cli.plots.<chart>`` into ``path`` (checked before reading)."""
    from ce_cli import plots

    getattr(plots, chart)(report, path)
    click.echo(f"ce: wrote {path}", err=True)


def _input_files(options: Any) -> list[str]:
    from ce_cli.io.dataset import input_files

    return input_files(options)


def command(func: Callable[..., Any]) -> Callable[..., Any]:
    """Shared wrapper: build InputOptions from the parsed options and pass them as ``options``."""

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        return func(_input_options_from(kwargs), **kwargs)

    return wrapper


# ---------------------------------------------------------------------- commands
@cli.command("weights")
@input_options
@click.option(
    "--scheme",
    type=click.Choice(WEIGHT_SCHEMES),
    default="balanced",
    show_default=True,
    help="How weights follow from class frequencies.",
)
@click.option(
    "--beta",
    type=float,
    default=0.999,
    show_default=True,
    help="β of the 'effective' scheme, in [0, 1).",
)
@click.option("--plot", metavar="FILE.png|FILE.svg", help="Bar chart of frequencies and weights.")
@output_options
@command
def weights_command(
    options: Any, scheme: str, beta: float, plot: str | None, fmt: str | None, output: str | None
) -> None:
    """Class frequencies and the class weights to train with."""
    from ce_cli.weights_report import compute_weights

    if not 0 <= beta < 1:
        raise CEError(f"--beta must be in [0, 1), not {beta}")
    files = _input_files(options)
    if plot:
        from ce_cli.plots import check_plot_target

        check_plot_target(plot, files)
    report = compute_weights(options, scheme=scheme, beta=beta)
    if plot:
        _draw("weights_chart", report, plot)
    emit(report, fmt, output, files)


@cli.command("score")
@input_options
@loss_options
@click.option(
    "--reduction",
    type=click.Choice(REDUCTIONS),
    default="mean",
    show_default=True,
    help="none: one output row per input row.",
)
@click.option(
    "--top",
    type=int,
    default=10,
    show_default=True,
    metavar="K",
    help="List the K rows with the highest loss.",
)
@output_options
@command
def score_command(options: Any, fmt: str | None, output: str | None, **kwargs: Any) -> None:
    """The loss PyTorch would report: CE, BCE or focal, per class and per row."""
    from ce_cli.score_report import ScoreOptions, compute_score

    score = ScoreOptions(**kwargs)
    inputs = _input_files(options)
    if score.reduction != "none":
        emit(compute_score(options, score), fmt, output, inputs)
        return
    _score_rows(options, score, fmt, output, inputs)


def _score_rows(
    options: Any, score: Any, fmt: str | None, output: str | None, inputs: list[str]
) -> None:
    """--reduction none: rows to -o FILE or as CSV on stdout (streamed), or a head on a terminal."""
    from ce_cli.render import render_text, use_color
    from ce_cli.report import Table
    from ce_cli.rows_out import RowHead, RowWriter
    from ce_cli.score_report import compute_score

    if output or fmt == "csv":
        writer = RowWriter(path=output, stream=sys.stdout.buffer, inputs=inputs)
        try:
            report = compute_score(options, score, row_sink=writer)
        except BaseException:
            writer.abort()
            raise
        writer.close()
        if output:
            click.echo(f"ce: wrote {output}", err=True)
        _warn(report.warnings)
        return
    if fmt not in (None, "table"):
        raise CEError("--reduction none writes rows: use --format csv, or -o rows.csv|.parquet")
    head = RowHead()
    report = compute_score(options, score, row_sink=head)
    columns, rows = head.table()
    view = report.view()
    view.tables = [
        Table(
            columns, rows, caption=f"first {len(rows)} of {report.n_used} rows (all: -o rows.csv)"
        )
    ]
    color = use_color()
    width = shutil.get_terminal_size().columns if color else None
    sys.stdout.write(render_text(view, color=color, width=width))


@cli.command("calibrate")
@input_options
@click.option("--bins", "n_bins", type=int, default=15, show_default=True, help="Number of bins.")
@click.option(
    "--strategy",
    type=click.Choice(["uniform", "quantile"]),
    default="uniform",
    show_default=True,
    help="Equal-width or equal-mass bins.",
)
@click.option(
    "--confidence",
    type=click.Choice(["top-label", "positive"]),
    default="top-label",
    show_default=True,
    help="positive: calibration of P(y=1) (binary).",
)
@click.option("--inputs", type=click.Choice(INPUT_KINDS), default="auto", show_default=True)
@temperature_option
@click.option("--fit-temperature", is_flag=True, help="Find T > 0 minimising the NLL.")
@click.option(
    "--save-temperature",
    metavar="FILE.json",
    help="Write the fitted temperature as JSON (for a training or serving config).",
)
@click.option("--plot", metavar="FILE.png|FILE.svg", help="Draw the reliability diagram.")
@output_options
@command
def calibrate_command(
    options: Any,
    n_bins: int,
    strategy: str,
    confidence: str,
    inputs: str,
    temperature: float,
    fit_temperature: bool,
    save_temperature: str | None,
    plot: str | None,
    fmt: str | None,
    output: str | None,
) -> None:
    """Calibration: ECE, MCE, Brier, NLL, reliability bins, temperature scaling."""
    from ce_cli.calibrate_report import CalibrationOptions, compute_calibration

    if save_temperature and not fit_temperature:
        raise CEError("--save-temperature needs --fit-temperature")
    files = _input_files(options)
    if plot:
        from ce_cli.plots import check_plot_target

        check_plot_target(plot, files)
    calib = CalibrationOptions(
        n_bins=n_bins,
        strategy=strategy,
        confidence=confidence,
        temperature=temperature,
        fit_temperature=fit_temperature,
        inputs=inputs,
    )
    report = compute_calibration(options, calib)
    if save_temperature:
        import json

        from ce_cli.render import write_atomic

        write_atomic(
            save_temperature,
            json.dumps({"temperature": report.temperature, **(report.fit or {})}, indent=2) + "\n",
            files,
        )
        click.echo(f"ce: wrote {save_temperature}", err=True)
    if plot:
        _draw("reliability_diagram", report, plot)
    emit(report, fmt, output, files)


from ce_cli.cli_check import check_command  # noqa: E402  (it reuses the decorators above)

cli.add_command(check_command, "check")


def main() -> None:
    # ce parallelises over batches itself; BLAS threads on top only spin on the other cores
    # (measured: 50M-row BCE 4.4 s → 2.9 s). Set before anything imports numpy.
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    cli(prog_name="ce")
