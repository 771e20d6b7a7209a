"""``ce label-issues``: rows whose given label is likely wrong (confident learning)."""

from __future__ import annotations

from typing import Any

import click

from ce_cli.cli.options import (
    SectionedCommand,
    command,
    input_options,
    inputs_option,
    output_options,
)
from ce_cli.cli.output import emit, input_files, warn, writing
from ce_cli.core.vocab import FILTER_BY, RANK_BY


@click.command(
    "label-issues",
    cls=SectionedCommand,
    epilog="""
ce label-issues preds.parquet
ce label-issues preds.parquet --filter-by confident_learning --rank-by normalized_margin
ce label-issues preds.parquet -o flagged.parquet     # every flagged row, streamed
ce label-issues tags.parquet                         # multi-label: one-vs-rest per label
ce label-issues preds.parquet --group-by source      # a report per source, as if run alone
""",
)
@input_options
@inputs_option
@click.option(
    "--filter-by",
    type=click.Choice(FILTER_BY),
    default=FILTER_BY[0],
    show_default=True,
    help="cleanlab's rule for which rows are flagged.",
)
@click.option(
    "--rank-by",
    type=click.Choice(RANK_BY),
    default=RANK_BY[0],
    show_default=True,
    help="cleanlab's label-quality score; the lowest come first.",
)
@click.option(
    "--top",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    metavar="N",
    help="List the N flagged rows of lowest quality (every one with -o rows.csv|.parquet).",
)
@output_options
@command
def label_issues_command(options: Any, fmt: str | None, output: str | None, **kwargs: Any) -> None:
    """Rows whose given label is likely wrong, as cleanlab's confident learning finds them.

    The predictions must be out-of-sample (cross-validated or held out). Binary, multiclass
    and multi-label (one-vs-rest per label, as cleanlab's multi_label=True) labels. -o rows.csv
    or rows.parquet writes every flagged row; the report still goes to stdout.
    """
    from ce_cli.render.issue_rows import IssueRowWriter, is_rows_target
    from ce_cli.report.label_issues import LabelIssuesOptions, compute_label_issues

    li = LabelIssuesOptions(**kwargs)
    inputs = input_files(options)
    if not is_rows_target(output):
        emit(compute_label_issues(options, li), fmt, output, inputs)
        return
    assert output is not None
    classes = _classes(options)
    with writing(f"-o {output}"):
        writer = IssueRowWriter(output, classes, inputs)
    try:
        with writing(f"-o {output}", with_reads=True):
            report = compute_label_issues(options, li, sink=writer.write)
    except BaseException:
        writer.abort()
        raise
    with writing(f"-o {output}"):
        writer.close()
    click.echo(f"ce: wrote {output} ({report.n_flagged} rows)", err=True)
    emit(report, fmt, None, inputs)
    if fmt in (None, "table"):
        warn(report.warnings)


def _classes(options: Any) -> tuple[str, ...]:
    """The class names the rows are written with (decided as the report decides them)."""
    from ce_cli.io.dataset import Dataset
    from ce_cli.report.decisions import class_set

    return class_set(Dataset(options, read_preds=False).layout)
