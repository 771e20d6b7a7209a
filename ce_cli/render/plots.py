"""Pictures: the reliability diagram and the class-weights chart (matplotlib, optional extra).

Files are written atomically in the format of their extension (.png or .svg). Every label
that may come from data (file and class names) goes through ``escape.plot_label``: one line,
no control characters (an SVG must stay well-formed XML), ``$`` never read as mathtext.
The reliability diagram's vocabulary (axis names for ``--confidence positive``, the two gap
colours, which bins are drawn and which show their count) is ``render.svg``'s, shared with the
HTML report's SVG diagram.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from ce_cli.core.errors import CEError
from ce_cli.render.escape import plot_label
from ce_cli.render.formats import publish
from ce_cli.render.signals import SignalGuard
from ce_cli.render.svg import BARS, OVER, SPARSE, UNDER, axis_names, drawn, gap_labels

FORMATS = (".png", ".svg")
SIZE_INCHES = (6.4, 6.4)
DPI = 150


def check_plot_target(path: str, inputs: list[str]) -> None:
    """Fail early (before reading any data) on a bad --plot target or a missing matplotlib."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise CEError(f"--plot {path}: use a .png or .svg file name")
    target = Path(path)
    if not target.parent.exists():
        raise CEError(f"--plot {path}: directory {target.parent} does not exist")
    for src in inputs:
        if target.exists() and Path(src).exists() and target.resolve() == Path(src).resolve():
            raise CEError(f"--plot {path}: refusing to write over the input file {src}")
    _pyplot()


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CEError("--plot needs matplotlib: pip install 'ce-cli[plot]'") from None
    return plt


def _save(fig: Any, path: str) -> None:
    target = Path(path)
    with SignalGuard():  # SIGTERM/SIGHUP unwind through the except below
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent or "."
        )
        os.close(fd)
        try:
            fig.savefig(tmp, dpi=DPI, format=target.suffix[1:])
            publish(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def reliability_diagram(report: Any, path: str) -> None:
    """Draw ``reliability_figure(report)`` into ``path``."""
    plt = _pyplot()
    fig = reliability_figure(report)
    _save(fig, path)
    plt.close(fig)


def reliability_figure(report: Any) -> Any:
    """Accuracy per bin against the diagonal, each gap in its own colour, the row count over
    sparse bins, the confidences histogram beneath; the before-fit curve as a dotted line when
    a temperature was fitted. Empty bins are not drawn."""
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=SIZE_INCHES, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    x_name, y_name = axis_names(report.mode)
    _bars(top, report.bins, "after" if report.fit else y_name, report.mode)
    if report.fit and report.before:
        _before(top, report.before["bins"], f"before (T = {report.before['temperature']:g})")
    top.plot([0, 1], [0, 1], linestyle="--", color="gray", linewidth=1, label="perfect")
    top.set(xlim=(0, 1), ylim=(0, 1.08), ylabel=y_name)
    title = f"ECE {report.metrics['ece']:.4f}" if report.metrics["ece"] is not None else "ECE —"
    if report.fit:
        title = (
            f"T = {report.fit['temperature']:.3f}: ECE {report.before['ece']:.4f} → "
            f"{report.metrics['ece']:.4f}"
        )
    name = Path(str(report.source.get("file", ""))).name
    top.set_title(plot_label(f"{name} · {report.mode}") + f" · {title}")
    top.legend(loc="upper left", fontsize="small")
    filled = drawn(report.bins)
    bottom.bar(
        [b["lower"] for b in filled],
        [b["count"] for b in filled],
        width=[b["upper"] - b["lower"] for b in filled],
        align="edge",
        color="#999999",
        edgecolor="white",
    )
    bottom.set(xlabel=x_name, ylabel="rows")
    fig.tight_layout()
    return fig


def _bars(ax: Any, bins: list[dict[str, Any]], label: str, mode: str) -> None:
    filled = drawn(bins)
    ax.bar(
        [b["lower"] for b in filled],
        [b["accuracy"] for b in filled],
        width=[b["upper"] - b["lower"] for b in filled],
        align="edge",
        color=BARS,
        edgecolor="white",
        label=label,
    )
    for colour, gap_label, side in zip((OVER, UNDER), gap_labels(mode), (1, -1), strict=True):
        gaps = [b for b in filled if side * (b["confidence"] - b["accuracy"]) > 0]
        if not gaps:
            continue
        ax.bar(
            [b["lower"] for b in gaps],
            [abs(b["confidence"] - b["accuracy"]) for b in gaps],
            width=[b["upper"] - b["lower"] for b in gaps],
            bottom=[min(b["confidence"], b["accuracy"]) for b in gaps],
            align="edge",
            color=colour,
            edgecolor="none",
            label=gap_label,
        )
    for b in filled:
        if b["count"] <= SPARSE:
            top = max(b["confidence"], b["accuracy"])
            ax.annotate(
                f"n={b['count']:g}",
                ((b["lower"] + b["upper"]) / 2, top),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize="x-small",
            )


def _before(ax: Any, bins: list[dict[str, Any]], label: str) -> None:
    """The before-fit reliability curve: (mean confidence, accuracy) of each non-empty bin."""
    filled = drawn(bins)
    ax.plot(
        [b["confidence"] for b in filled],
        [b["accuracy"] for b in filled],
        linestyle=":",
        marker="o",
        markersize=3,
        color="black",
        linewidth=1,
        label=label,
    )


def weights_chart(report: Any, path: str) -> None:
    """Class frequencies as bars, the weights as points on a second axis."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.4, 0.5 * len(report.classes)), 4.8))
    names = [plot_label(c.name) for c in report.classes]
    ax.bar(names, [c.frequency or 0 for c in report.classes], color="#4C72B0", label="frequency")
    ax.set_ylabel("frequency")
    ax.tick_params(axis="x", labelrotation=45 if len(names) > 8 else 0)
    twin = ax.twinx()
    twin.plot(
        names,
        [c.weight if c.weight is not None else float("nan") for c in report.classes],
        "o-",
        color="#DD8452",
        label="weight",
    )
    twin.set_ylabel(f"weight ({report.scheme})")
    name = Path(str(report.inputs.get("file", ""))).name
    ax.set_title(
        plot_label(f"{name} · {report.task}")
        + f" · imbalance {report.imbalance_ratio or float('nan'):.3g}"
    )
    fig.legend(loc="upper right")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
