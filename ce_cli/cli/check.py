"""``ce check``: the click command — options (and the config file) → ``run_check`` → outputs.

Exit codes: 0 every check passed, 1 a check failed, 2 any error (``CEError`` → the group's
handler in ``cli/main.py``, which registers ``check_command`` lazily: this module is
imported when ``ce check`` runs or completes, not for ``ce --help``).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from ce_cli.cli.options import (
    PATH,
    SectionedCommand,
    binning_options,
    input_options,
    input_options_from,
    loss_options,
    output_options,
    stack,
)
from ce_cli.cli.output import meta, text_width, to_stdout, write_file
from ce_cli.core.errors import CEError
from ce_cli.core.vocab import OUTPUT_FORMATS
from ce_cli.report.check_flags import FLAG_THRESHOLDS

if TYPE_CHECKING:  # the rules load when ce check runs, not for ce --help
    from ce_cli.report.check_rules import Config

LOSS_KEYS = (
    "loss",
    "inputs",
    "alpha",
    "pos_weight",
    "label_smoothing",
    "smoothing_spread",
    "temperature",
    "gamma",
    "on_invalid",
)
METRIC_KEYS = ("threshold", "top_k_accuracy", "confusion", "auc", "auc_bins")
"""ce score's classification-metric options (``metric_options``), passed on to ScoreOptions."""
_NOT_IN_CONFIG = ("config", "no_config")


_THRESHOLD_HELP = {
    "loss": "the loss's mean (as ce score reports it)",
    "accuracy": "accuracy (single-label)",
    "nce": "normalised cross-entropy",
    "ece": "expected calibration error",
    "mce": "maximum calibration error",
    "brier": "Brier score",
    "nll": "negative log-likelihood (calibration pass)",
    "subset_accuracy": "multi-label subset accuracy",
    "hamming_loss": "multi-label Hamming loss",
    "macro_f1": "macro-averaged F1 (over every class)",
}


threshold_options = stack(
    [
        *(
            click.option(
                "--" + name.replace("_", "-"),
                name,
                type=float,
                metavar="X",
                help=f"Fail if {_THRESHOLD_HELP[metric]} is "
                f"{'above' if op == '<=' else 'below'} X.",
            )
            for name, metric, op in FLAG_THRESHOLDS
        ),
        click.option(
            "--max-label-issues",
            metavar="N|P%",
            help="Fail if more than N rows (or P% of them) are estimated label issues "
            "(cleanlab's num_label_issues, as ce label-issues).",
        ),
        click.option(
            "--require",
            multiple=True,
            metavar="'METRIC<=X'",
            help="Any metric and bound, repeatable: 'ece<=0.05', 'rmsce<0.1', "
            "'class_recall[cat]>=0.5', 'macro_f1>=0.8', 'confusion[cat,dog]<=0.05' "
            "(roc_auc turns on --auc; top_k_accuracy needs --top-k-accuracy K).",
        ),
        click.option(
            "--max-class-loss",
            multiple=True,
            metavar="[CLASS=]X",
            help="Fail if a class's mean loss is above X; a bare X applies to every class. "
            "Repeatable.",
        ),
        click.option(
            "--min-class-recall",
            multiple=True,
            metavar="[CLASS=]X",
            help="Fail if a class's recall is below X; a bare X applies to every class. "
            "Repeatable.",
        ),
        click.option(
            "--min-class-f1",
            multiple=True,
            metavar="[CLASS=]X",
            help="Fail if a class's F1 is below X; a bare X applies to every class. Repeatable.",
        ),
        click.option(
            "--max-confusion",
            multiple=True,
            metavar="A,B=X",
            help="Fail if more than a share X of the rows labelled A are predicted as B "
            "(confusion[A,B]). Repeatable.",
        ),
    ],
    section="Thresholds",
)

baseline_options = stack(
    [
        click.option(
            "--baseline",
            type=PATH,
            metavar="FILE",
            help="A JSON report (ce score/ce check --format json), or the previous model's "
            "predictions on the same rows (matched by id column, else row order).",
        ),
        click.option(
            "--max-regression",
            multiple=True,
            metavar="X|X%|METRIC=X",
            help="How much worse than the baseline a metric may get: absolute, or % of the "
            "baseline; METRIC=X for one metric, which is then compared. [default: 0]",
        ),
        click.option(
            "--compare",
            multiple=True,
            metavar="METRIC",
            help="Also compare METRIC with the baseline (the loss and every metric with a "
            "threshold always are); exit 2 if the baseline lacks it.",
        ),
        click.option(
            "--bootstrap",
            type=int,
            default=1000,
            show_default=True,
            metavar="B",
            help="Paired bootstrap replicates for a predictions baseline (0: off).",
        ),
        click.option(
            "--seed", type=int, default=0, show_default=True, help="Bootstrap random seed."
        ),
        click.option(
            "--fail-on",
            type=click.Choice(["value", "significant"]),
            default="value",
            show_default=True,
            help="value: fail when worse than the baseline by more than the margin; "
            "significant: only when the whole 95% interval is.",
        ),
    ],
    section="Baseline",
)

config_options = stack(
    [
        click.option(
            "--config",
            type=PATH,
            metavar="FILE",
            help="Read options from this TOML file's [check] table (default: ce.toml "
            "[check] or pyproject.toml [tool.ce.check] in the current directory).",
        ),
        click.option("--no-config", is_flag=True, help="Ignore ce.toml / pyproject.toml."),
    ],
    section="Configuration",
)


def _check(ctx: click.Context, **kwargs: Any) -> None:
    """A CI gate: fail (exit 1) when a threshold or a baseline comparison fails.

    Exit 0 when every check passes, 1 when any fails, 2 on any error. Options can also come
    from pyproject.toml [tool.ce.check] or ce.toml [check] (keys are the flag names without
    dashes); flags override the file.
    """
    from ce_cli.render.ci import in_github_actions
    from ce_cli.report.check import run_check
    from ce_cli.report.check_rules import CheckOptions
    from ce_cli.report.score import ScoreOptions

    started = time.monotonic()
    github = in_github_actions()
    junit: str | None = kwargs.get("junit")
    file = kwargs["files"][0] if kwargs.get("files") else ""
    protected = _protected(kwargs)
    try:
        config = _apply_config(ctx, kwargs)
        junit = kwargs.pop("junit")
        protected = _protected(kwargs)
        options = input_options_from(kwargs)
        file = options.display
        score = ScoreOptions(**{key: kwargs.pop(key) for key in (*LOSS_KEYS, *METRIC_KEYS)})
        fmt, output = kwargs.pop("fmt"), kwargs.pop("output")
        check = CheckOptions(**kwargs)
        for flag, path in (("--junit", junit), ("-o", output)):
            if path and not os.path.isdir(os.path.dirname(path) or "."):
                raise CEError(f"{flag} {path}: directory {os.path.dirname(path)} does not exist")
        report = run_check(options, check, score, config=config.where if config else None)
        inputs = _inputs(options, check.baseline)
        if junit:
            _write_junit(junit, report, time.monotonic() - started, inputs)
        _emit(report, fmt, output, inputs)
        if github:
            _github(report)
    except CEError as exc:
        _report_error(str(exc), github, junit, file, protected)
        raise
    ctx.exit(report.exit_code)


EXAMPLES = """
ce check preds.parquet --max-loss 0.8 --min-accuracy 0.7
ce check preds.parquet --require 'ece<=0.05' --min-class-recall horse=0.3
ce check preds.parquet --min-macro-f1 0.8 --max-confusion cat,dog=0.05 --require 'roc_auc>=0.9'
ce check new.parquet --baseline old.parquet --fail-on significant
ce check preds.parquet --junit ce-check.xml     # thresholds from pyproject.toml [tool.ce.check]
"""


def _build() -> click.Command:
    """The command, with the shared input and output options."""
    decorators: list[Callable[[Any], Any]] = [
        click.command("check", cls=SectionedCommand, epilog=EXAMPLES),
        input_options,
        loss_options,
        binning_options,
        threshold_options,
        baseline_options,
        config_options,
        output_options,
        stack(
            [
                click.option(
                    "--junit",
                    type=PATH,
                    metavar="FILE",
                    help="Also write a JUnit XML report (one test per check).",
                )
            ],
            section="Output",
        ),
        click.pass_context,
    ]
    func: Any = _check
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


check_command = _build()


# ---------------------------------------------------------------------- configuration
def _key(param: click.Parameter) -> str:
    longs = [o for o in param.opts if o.startswith("--")]
    return (longs[0] if longs else param.opts[0]).lstrip("-")


def _apply_config(ctx: click.Context, kwargs: dict[str, Any]) -> Config | None:
    """Fill every option not given on the command line from the config file."""
    from ce_cli.report.check_rules import find_config, read_config

    path, no_config = kwargs.pop("config"), kwargs.pop("no_config")
    if no_config:
        if path:
            raise CEError("--config and --no-config contradict each other; pass one")
        return None
    config = read_config(path) if path else find_config(".")
    if config is None:
        return None
    params = {
        _key(p): p
        for p in ctx.command.params
        if isinstance(p, click.Option) and p.name not in _NOT_IN_CONFIG
    }
    unknown = [k for k in config.values if k not in params]
    if unknown:
        import difflib  # only for an unknown key's hint: not on ce --help's path

        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, list(params), n=1)
            hints.append(f"{key} (did you mean {close[0]}?)" if close else key)
        raise CEError(
            f"{config.where}: unknown key{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(hints)}; keys are ce check's flag names without the dashes "
            "(ce check --help)"
        )
    for key, value in config.values.items():
        param = params[key]
        assert param.name is not None
        converted = _convert(ctx, param, key, value, config)  # a bad value is an error anyway
        source = ctx.get_parameter_source(param.name)
        if source in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP, None):
            kwargs[param.name] = converted  # else the command line wins
    return config


def _convert(ctx: click.Context, param: click.Option, key: str, value: Any, config: Config) -> Any:
    from ce_cli.report.check_rules import config_list

    where = config.where
    if param.is_flag:
        if not isinstance(value, bool):
            raise CEError(f"{where}: {key} = {value!r}: expected true or false")
        return value
    if param.multiple:
        raw: Any = config_list(value, key, where)
    elif (
        isinstance(value, list)
        and isinstance(param.type, click.types.StringParamType)
        and all(isinstance(v, (str, int, float)) for v in value)
    ):
        raw = ",".join(str(v) for v in value)  # alpha = [1, 2, 0.5], classes = ["a", "b"]
    elif isinstance(value, (dict, list)) or (isinstance(value, bool) and param.type != click.BOOL):
        raise CEError(f"{where}: {key} = {value!r}: expected a single value")
    else:
        raw = value
    try:
        return param.type_cast_value(ctx, raw)
    except click.BadParameter as exc:
        raise CEError(f"{where}: {key} = {value!r}: {exc.message}") from None


# ---------------------------------------------------------------------- outputs
def _inputs(options: Any, baseline: str | None) -> list[str]:
    from ce_cli.io.dataset import input_files

    files = input_files(options)
    return files + ([baseline] if baseline else [])


def _render(report: Any, fmt: str, *, color: bool = False, width: int | None = None) -> str:
    from ce_cli.render.ci import markdown_summary
    from ce_cli.render.formats import render

    if fmt == "markdown":
        return markdown_summary(report)
    return render(report, fmt, color=color, width=width)


def _emit(report: Any, fmt: str | None, output: str | None, inputs: list[str]) -> None:
    """The report to stdout or ``-o``; ``--quiet``: on a table stdout only the verdict and the
    failed checks, and no warnings on stderr."""
    from ce_cli.render.formats import format_for_path, render_text, use_color, write_stderr
    from ce_cli.report.view import View

    if fmt is not None and fmt not in OUTPUT_FORMATS:
        raise CEError(f"--format must be one of {', '.join(OUTPUT_FORMATS)}, not {fmt!r}")
    quiet = meta("quiet", False)
    if output:
        write_file(output, _render(report, format_for_path(output, fmt)), inputs)
        click.echo(f"ce: wrote {output}", err=True)
    else:
        fmt = fmt or "table"
        color = fmt == "table" and use_color()
        if quiet and fmt == "table":
            closing = View("", [], [], closing=report.verdict_lines())
            to_stdout(render_text(closing, color=color, width=text_width()), fmt)
            return
        to_stdout(_render(report, fmt, color=color, width=text_width()), fmt)
        if fmt == "table":
            return
    if not quiet:
        write_stderr(f"ce: warning: {warning}" for warning in report.warnings)
    n, failed = len(report.checks), len(report.failed)
    verdict = f"passed: {n} of {n} checks" if report.passed else f"FAILED: {failed} of {n} checks"
    click.echo(f"ce: check {verdict}", err=True)


def _write_junit(path: str, report: Any, seconds: float, inputs: list[str]) -> None:
    from ce_cli.render.ci import junit_xml

    write_file(path, junit_xml(report, seconds), inputs, flag="--junit")


def _github(report: Any) -> None:
    from ce_cli.render.ci import append_step_summary, github_annotations, markdown_summary

    for line in github_annotations(report):
        click.echo(line, err=True)
    try:
        append_step_summary(markdown_summary(report))
    except OSError as exc:  # the summary is a courtesy: never turn a verdict into an error
        click.echo(f"ce: warning: cannot append to $GITHUB_STEP_SUMMARY ({exc})", err=True)


def _protected(kwargs: dict[str, Any]) -> list[str]:
    """The files this run reads, which no output may replace."""
    from ce_cli.io.files import expand

    out: list[str] = []
    for spec in [*kwargs.get("files", ()), kwargs.get("labels_path"), kwargs.get("baseline")]:
        if spec and spec != "-":
            try:
                out += expand(spec)
            except CEError:
                out.append(spec)
    return out


def _report_error(
    message: str, github: bool, junit: str | None, file: str, protected: list[str]
) -> None:
    """An error (exit 2) still reaches the CI: an annotation and a JUnit <error>."""
    from ce_cli.render.ci import annotation, junit_error_xml

    if github:
        click.echo(annotation("error", "ce check error", message), err=True)
    if junit:
        with contextlib.suppress(CEError, OSError):
            write_file(junit, junit_error_xml(message, file), protected, flag="--junit")
