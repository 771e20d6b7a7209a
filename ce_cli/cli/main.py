"""The ``ce`` command line: parse options, call the library, render. Nothing else.

Heavy modules (numpy, pyarrow, rich) are imported inside the commands so ``ce --help`` is fast.
Exit codes: 0 success, 1 a failed ``ce check``, 2 any error (usage, input or the system's), each
one line on stderr: ``ce: error: …``.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from gettext import gettext
from typing import Any, NamedTuple, NoReturn

import click

from ce_cli.cli.options import (
    PATH,
    SectionedCommand,
    binning_options,
    command,
    input_options,
    inputs_option,
    loss_options,
    output_options,
    plot_option,
    temperature_option,
)
from ce_cli.cli.output import (
    STDOUT,
    draw,
    emit,
    input_files,
    stdout,
    text_width,
    warn,
    write_file,
    writing,
)
from ce_cli.core.errors import CEError
from ce_cli.core.version import __version__
from ce_cli.core.vocab import CONFIDENCE_MODES, REDUCTIONS, WEIGHT_SCHEMES

EXIT_ERROR = 2


class UsageLine(click.ClickException):
    """A usage error as one line (click's own is three: Usage / Try / Error)."""

    exit_code = EXIT_ERROR

    def show(self, file: Any = None) -> None:
        from ce_cli.render.escape import one_line

        click.echo(f"ce: error: {one_line(self.message)}", err=True)


def usage_line(exc: click.UsageError) -> click.UsageError | UsageLine:
    """``exc`` as one line: click's own message ("Invalid value for '--reduction': …", "No such
    option '--redution'. Did you mean '--reduction'?"). ``ce`` alone still shows the help."""
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        return exc
    return UsageLine(" ".join(exc.format_message().split()).removesuffix("."))


def os_error_line(exc: OSError) -> str:
    """An OS condition nobody wrapped with its target: the path it names (if any) and the cause."""
    cause = exc.strerror or str(exc) or type(exc).__name__
    return f"{exc.filename}: {cause}" if exc.filename else cause


class LazyCommand(NamedTuple):
    """A command imported when first looked up: ``module:attribute`` and the first paragraph of
    its help (what ``ce --help`` lists, so listing it imports nothing)."""

    target: str
    help: str


class LazyCommands(MutableMapping[str, click.Command]):
    """A group's commands by name, where a ``LazyCommand`` is imported on its first look-up
    (``ce check …``, ``<Tab>``) and then kept; iterating lists every name without importing."""

    def __init__(self, commands: Mapping[str, click.Command]) -> None:
        self.loaded: dict[str, click.Command] = dict(commands)
        self.lazy: dict[str, LazyCommand] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self.loaded:
            module, _, attribute = self.lazy[name].target.partition(":")
            self.loaded[name] = getattr(importlib.import_module(module), attribute)
        return self.loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self.loaded[name] = command

    def __delitem__(self, name: str) -> None:
        found = [d.pop(name) for d in (self.loaded, self.lazy) if name in d]
        if not found:
            raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return name in self.loaded or name in self.lazy

    def __iter__(self) -> Iterator[str]:
        return iter({**self.lazy, **self.loaded})

    def __len__(self) -> int:
        return len({**self.lazy, **self.loaded})

    def listed(self, name: str) -> click.Command:
        """The command if loaded, else a stand-in holding its help (for the list in --help)."""
        if name in self.loaded:
            return self.loaded[name]
        return click.Command(name, help=self.lazy[name].help)


class CEGroup(click.Group):
    """Errors → exit codes, in one place: ``CEError``, usage errors and OS conditions become one
    line on stderr and exit 2; anything else is an internal error (exit 2, ``--debug`` for the
    traceback)."""

    command_class = SectionedCommand

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = self.lazy_commands = LazyCommands(self.commands)

    def add_lazy_command(self, name: str, target: str, help: str) -> None:
        """Register ``module:attribute`` as command ``name``, imported when first looked up."""
        self.lazy_commands.lazy[name] = LazyCommand(target, help)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's own list of commands, but a command not imported yet shows the help its
        ``LazyCommand`` holds: ``ce --help`` imports none of them."""
        shown = [(name, self.lazy_commands.listed(name)) for name in self.list_commands(ctx)]
        shown = [(name, cmd) for name, cmd in shown if not cmd.hidden]
        if not shown:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in shown)
        with formatter.section(gettext("Commands")):
            formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in shown])

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:  # `ce --bogus`
            raise usage_line(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # `ce score --reduction avg`, `ce scre`, …
            raise usage_line(exc) from None
        except CEError as exc:
            _fail(ctx, str(exc))
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:  # `ce … | head`: the reader left; stop quietly
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(141)
        except KeyboardInterrupt:
            click.echo("ce: interrupted", err=True)
            ctx.exit(130)
        except OSError as exc:  # disk full, read-only, … where no write wrapped it
            _fail(ctx, os_error_line(exc))
        except Exception as exc:
            _fail(
                ctx,
                f"{type(exc).__name__}: {exc} (rerun with --debug for a traceback, and please "
                "report it)",
                prefix="ce: internal error: ",
            )


def _fail(ctx: click.Context, message: str, prefix: str = "ce: error: ") -> NoReturn:
    """One line on stderr and exit 2; with ``--debug`` (or CE_DEBUG=1) the exception goes on.

    The message may quote data (column names, values): its control characters are shown as
    escapes, and in GitHub Actions it sits in a stop-commands block."""
    if _debug(ctx):
        raise  # the exception being handled
    from ce_cli.render.escape import github_guard, one_line

    click.echo(github_guard(prefix + one_line(message)), err=True)
    ctx.exit(EXIT_ERROR)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from ce_cli.core import native

    click.echo(f"ce, version {__version__}\nCE kernel: {native.describe()}")
    ctx.exit()


def _debug(ctx: click.Context) -> bool:
    return bool((ctx.obj or {}).get("debug")) or os.environ.get("CE_DEBUG") == "1"


@click.group(
    cls=CEGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.option(
    "-V",
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and which cross-entropy kernel runs, and exit.",
)
@click.option("--debug", is_flag=True, help="Show a traceback on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """ce — class weights, losses and calibration from label and prediction files.

    Reads CSV/TSV (optionally .gz/.bz2/.zst), Parquet, Arrow IPC/Feather and JSON Lines in
    record batches, so memory is bounded by --batch-size, not the file.
    """
    ctx.obj = {"debug": debug}


# ---------------------------------------------------------------------- commands
@cli.command(
    "weights",
    epilog="""
ce weights labels.parquet
ce weights labels.csv --scheme effective --beta 0.999 -o weights.json
ce weights 'shards/*.parquet' --group-by country --plot weights.svg
""",
)
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
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=0.999,
    show_default=True,
    help="β of the 'effective' scheme, in [0, 1).",
)
@plot_option("a bar chart of frequencies and weights")
@output_options
@command
def weights_command(
    options: Any, scheme: str, beta: float, plot: str | None, fmt: str | None, output: str | None
) -> None:
    """Class frequencies and the class weights to train with."""
    from ce_cli.report.weights import compute_weights

    files = input_files(options)
    _check_plot(plot, files)
    report = compute_weights(options, scheme=scheme, beta=beta)
    if plot:
        draw("weights_chart", report, plot)
    emit(report, fmt, output, files)


def _check_plot(plot: str | None, files: list[str]) -> None:
    """--plot FILE: its extension and directory, before any data is read."""
    if plot:
        from ce_cli.render.plots import check_plot_target

        check_plot_target(plot, files)


@cli.command(
    "score",
    epilog="""
ce score preds.csv
ce score preds.parquet --loss focal --gamma 2 --alpha balanced
ce score logits.npy --labels labels.npy --label-smoothing 0.1
ce score preds.parquet --reduction none -o rows.parquet
""",
)
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
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    metavar="K",
    help="List the K rows with the highest loss.",
)
@output_options
@command
def score_command(options: Any, fmt: str | None, output: str | None, **kwargs: Any) -> None:
    """The loss PyTorch would report: CE, BCE or focal, per class and per row."""
    from ce_cli.report.score import ScoreOptions, compute_score

    score = ScoreOptions(**kwargs)
    inputs = input_files(options)
    if score.reduction != "none":
        emit(compute_score(options, score), fmt, output, inputs)
        return
    _score_rows(options, score, fmt, output, inputs)


def _score_rows(
    options: Any, score: Any, fmt: str | None, output: str | None, inputs: list[str]
) -> None:
    """--reduction none: rows to -o FILE or as CSV on stdout (streamed), or a head on a terminal."""
    from ce_cli.render.rows import RowWriter
    from ce_cli.report.score import compute_score

    if not output and fmt not in (None, "table", "csv"):
        raise CEError("--reduction none writes rows: use --format csv, or -o rows.csv|.parquet")
    if not output and fmt != "csv":
        _score_head(options, score)
        return
    target = f"-o {output}" if output else STDOUT
    with writing(target):
        writer = RowWriter(path=output, stream=None if output else stdout().buffer, inputs=inputs)
    try:
        with writing(target, with_reads=True):
            report = compute_score(options, score, row_sink=writer)
    except BaseException:
        writer.abort()
        raise
    with writing(target):
        writer.close()
    if output:
        click.echo(f"ce: wrote {output}", err=True)
    warn(report.warnings)


def _score_head(options: Any, score: Any) -> None:
    """--reduction none on a terminal: the first rows as a table, the rest with -o."""
    from ce_cli.render.formats import guard_stdout, render_text, use_color
    from ce_cli.render.rows import RowHead
    from ce_cli.report.score import compute_score
    from ce_cli.report.view import Table

    head = RowHead()
    report = compute_score(options, score, row_sink=head)
    columns, rows = head.table()
    columns = ["row (0-based)" if c == "row" else c for c in columns]
    view = report.view()
    caption = f"first {len(rows)} of {report.n_used} rows (all: -o rows.csv)"
    view.tables = [Table(columns, rows, caption=caption)]
    text = render_text(view, color=use_color(), width=text_width())
    out = stdout()
    with writing(STDOUT):
        out.write(guard_stdout(text, "table", out))
        out.flush()


@cli.command(
    "calibrate",
    epilog="""
ce calibrate preds.parquet
ce calibrate preds.parquet --fit-temperature --save-temperature t.json
ce calibrate preds.parquet --strategy quantile --bins 20 --plot reliability.svg
""",
)
@input_options
@binning_options
@click.option(
    "--confidence",
    type=click.Choice(CONFIDENCE_MODES),
    default="top-label",
    show_default=True,
    help="positive: calibration of P(y=1) (binary).",
)
@inputs_option
@temperature_option
@click.option("--fit-temperature", is_flag=True, help="Find T > 0 minimising the NLL.")
@click.option(
    "--memory-budget",
    type=click.IntRange(min=0),
    metavar="MiB",
    callback=lambda _ctx, _param, mib: None if mib is None else mib << 20,
    help="Memory the temperature fit may keep its rows in (read once); beyond it, it reads "
    "the input again per step. Default: a quarter of RAM.",
)
@click.option(
    "--save-temperature",
    type=PATH,
    metavar="FILE.json",
    help="Write the fitted temperature as JSON (for a training or serving config).",
)
@plot_option("the reliability diagram")
@output_options
@command
def calibrate_command(
    options: Any,
    save_temperature: str | None,
    plot: str | None,
    fmt: str | None,
    output: str | None,
    **kwargs: Any,
) -> None:
    """Calibration: ECE, MCE, Brier, NLL, reliability bins, temperature scaling."""
    from ce_cli.report.calibrate import CalibrationOptions, compute_calibration

    calib = CalibrationOptions(**kwargs)
    if save_temperature and not calib.fit_temperature:
        raise CEError("--save-temperature needs --fit-temperature")
    files = input_files(options)
    _check_plot(plot, files)
    report = compute_calibration(options, calib)
    if save_temperature:
        _save_temperature(save_temperature, report, files)
    if plot:
        draw("reliability_diagram", report, plot)
    emit(report, fmt, output, files)


def _save_temperature(path: str, report: Any, files: list[str]) -> None:
    """--save-temperature FILE.json: the fitted T (and the fit's numbers), for --temperature."""
    import json

    text = json.dumps({"temperature": report.temperature, **(report.fit or {})}, indent=2)
    write_file(path, text + "\n", files, flag="--save-temperature")
    click.echo(f"ce: wrote {path}", err=True)


# imported when run or completed, not for ``ce --help`` (tests/test_startup.py: same help text)
cli.add_lazy_command(
    "check",
    "ce_cli.cli.check:check_command",
    "A CI gate: fail (exit 1) when a threshold or a baseline comparison fails.",
)
cli.add_lazy_command(
    "label-issues",
    "ce_cli.cli.label_issues:label_issues_command",
    "Rows whose given label is likely wrong, as cleanlab's confident learning finds them.",
)


def main() -> None:
    # ce parallelises over batches itself; BLAS threads on top only spin on the other cores
    # (measured: 50M-row BCE 4.4 s → 2.9 s). Set before anything imports numpy.
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    cli(prog_name="ce")
