"""Option groups shared by several commands (click decorators; no heavy imports)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ce_cli.choices import INPUT_KINDS, LOSSES
from ce_cli.errors import CEError


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
