"""Option groups shared by several commands (click decorators; no heavy imports)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ce_cli.core.errors import CEError
from ce_cli.core.vocab import INPUT_FORMATS, INPUT_KINDS, LOSSES, OUTPUT_FORMATS, TASKS


def stack(options: list[Callable[[Any], Any]]) -> Callable[[Callable[..., Any]], Any]:
    """One decorator applying ``options`` in order (as sqlite-utils' ``output_options``)."""

    def decorate(func: Callable[..., Any]) -> Any:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def parse_temperature(ctx: click.Context | None, param: Any, value: Any) -> float:
    """A number, or a JSON file with a "temperature" key (as ``--save-temperature`` writes)."""
    if value is None:
        return 1.0
    if isinstance(value, (int, float)):
        return float(value)
    path = Path(value)
    if path.suffix.lower() == ".json" or path.is_file():
        try:
            return float(json.loads(path.read_text(encoding="utf-8"))["temperature"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CEError(
                f"--temperature {value}: not a number nor a JSON file with a "
                f"'temperature' key ({exc})"
            ) from None
    try:
        return float(value)
    except ValueError:
        raise CEError(f"--temperature {value!r}: expected a number or a JSON file") from None


temperature_option = click.option(
    "--temperature",
    default="1",
    show_default=True,
    metavar="T|FILE.json",
    callback=parse_temperature,
    help="Divide logits by T first (or read T from a JSON file written by --save-temperature).",
)

loss_options = stack(
    [
        click.option(
            "--loss",
            type=click.Choice(LOSSES),
            default="auto",
            show_default=True,
            help="auto: multiclass → ce; binary and multi-label → bce.",
        ),
        click.option(
            "--inputs",
            type=click.Choice(INPUT_KINDS),
            default="auto",
            show_default=True,
            help="Are the predictions logits or probabilities?",
        ),
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
            type=float,
            default=0.0,
            show_default=True,
            metavar="EPS",
            help="PyTorch's label_smoothing (bce: targets y(1−ε)+ε/2).",
        ),
        temperature_option,
        click.option(
            "--gamma",
            type=float,
            default=2.0,
            show_default=True,
            help="Focal loss focusing parameter (>= 0).",
        ),
        click.option(
            "--on-invalid",
            type=click.Choice(["error", "skip"]),
            default="error",
            show_default=True,
            help="NaN/inf predictions: stop, or skip and count them.",
        ),
    ]
)
"""The loss options of ``ce score`` (without --reduction and --top)."""


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


def input_options_from(kwargs: dict[str, Any]) -> Any:
    from ce_cli.engine.runner import with_engine
    from ce_cli.io.dataset import InputOptions
    from ce_cli.io.layout import LabelOptions
    from ce_cli.render.progress import bar as progress_bar

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
        progress=None if kwargs.pop("no_progress") else progress_bar,
        where=tuple(kwargs.pop("where")),
        group_by=kwargs.pop("group_by"),
        label=LabelOptions(
            task=kwargs.pop("task"),
            classes=parse_classes(kwargs.pop("classes")),
            num_classes=kwargs.pop("num_classes"),
            ignore_index=kwargs.pop("ignore_index"),
        ),
    )
    return with_engine(options, engine, scheduler)


def parse_classes(value: str | None) -> tuple[str, ...] | None:
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


def command(func: Callable[..., Any]) -> Callable[..., Any]:
    """Shared wrapper: build InputOptions from the parsed options and pass them as ``options``."""

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        return func(input_options_from(kwargs), **kwargs)

    return wrapper
