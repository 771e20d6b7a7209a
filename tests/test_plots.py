"""The reliability diagram (issue 13, part 7), in matplotlib (``--plot``) and in SVG (the HTML
report): both gap colours in the legend, axis names for ``--confidence positive``, the row
count over sparse bins, nothing drawn for an empty bin."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import matplotlib
import pytest

from ce_cli.render.plots import reliability_figure
from ce_cli.render.svg import OVER, UNDER, reliability_svg

matplotlib.use("Agg")


def _bin(lower: float, count: int, confidence: float | None, accuracy: float | None) -> dict:
    return {
        "lower": lower,
        "upper": lower + 0.25,
        "count": count,
        "weight": count,
        "confidence": confidence,
        "accuracy": accuracy,
        "gap": None if accuracy is None else accuracy - confidence,  # type: ignore[operator]
    }


# an empty bin, a 3-row bin (under-confident), two full bins (over-confident, under-confident)
BINS = [
    _bin(0.0, 0, None, None),
    _bin(0.25, 3, 0.4, 0.6667),
    _bin(0.5, 100, 0.62, 0.55),
    _bin(0.75, 200, 0.85, 0.9),
]
BEFORE = [_bin(0.0, 2, 0.2, 0.5), _bin(0.25, 40, 0.4, 0.3), _bin(0.5, 0, None, None)]


def report(mode: str = "top-label", fitted: bool = False) -> Any:
    return SimpleNamespace(
        mode=mode,
        bins=BINS,
        fit={"temperature": 1.5} if fitted else None,
        before={"temperature": 1.0, "ece": 0.1, "bins": BEFORE} if fitted else None,
        metrics={"ece": 0.05},
        source={"file": "preds.csv"},
    )


@pytest.fixture
def figure() -> Any:
    import matplotlib.pyplot as plt

    made: list[Any] = []

    def make(*args: Any, **kwargs: Any) -> Any:
        made.append(reliability_figure(report(*args, **kwargs)))
        return made[-1]

    yield make
    for fig in made:
        plt.close(fig)


def legend(ax: Any) -> dict[str, Any]:
    box = ax.get_legend()
    return {t.get_text(): h for t, h in zip(box.get_texts(), box.legend_handles, strict=True)}


def test_both_gap_colours_are_in_the_legend(figure: Any) -> None:
    top = figure().axes[0]
    entries = legend(top)
    over = entries["gap: over-confident (confidence > accuracy)"]
    under = entries["gap: under-confident (accuracy > confidence)"]
    assert matplotlib.colors.to_hex(over.get_facecolor()) == OVER.lower()
    assert matplotlib.colors.to_hex(under.get_facecolor()) == UNDER.lower()
    svg = reliability_svg(BINS, "top-label", "t")
    assert "gap: under-confident (accuracy &gt; confidence)" in svg
    assert svg.count(f'fill="{UNDER}"') == 3  # two bins + the legend swatch


def test_positive_confidence_names_its_axes(figure: Any) -> None:
    top, bottom = figure("positive").axes
    assert top.get_ylabel() == "fraction of positives"
    assert bottom.get_xlabel() == "mean P(y=1)"
    assert "gap: fraction of positives > mean P(y=1)" in legend(top)
    top, bottom = figure().axes
    assert (top.get_ylabel(), bottom.get_xlabel()) == ("accuracy", "confidence")
    svg = reliability_svg(BINS, "positive", "t")
    assert ">fraction of positives<" in svg and ">mean P(y=1)<" in svg
    assert ">accuracy<" not in svg


def test_sparse_bins_show_their_row_count(figure: Any) -> None:
    top = figure().axes[0]
    assert [t.get_text() for t in top.texts] == ["n=3"]
    assert ">n=3<" in reliability_svg(BINS, "top-label", "t")
    assert ">n=100<" not in reliability_svg(BINS, "top-label", "t")


def test_empty_bins_are_not_drawn(figure: Any) -> None:
    top, bottom = figure(fitted=True).axes
    lefts = {round(p.get_x(), 6) for p in top.patches}
    assert 0.0 not in lefts  # the empty first bin: no bar, no gap
    assert all(p.get_fill() for p in top.patches)  # no outline boxes
    before = [line for line in top.lines if line.get_label().startswith("before")]
    assert len(before) == 1 and list(before[0].get_xdata()) == [0.2, 0.4]  # its 2 non-empty bins
    assert len(bottom.patches) == 3  # the histogram: non-empty bins only
    svg = reliability_svg(BINS, "top-label", "t")
    assert "(0, 0.25]" not in svg  # the empty bin has no bar (each bar's tooltip names it)


def test_svg_before_fit_is_a_dotted_curve_of_its_non_empty_bins() -> None:
    svg = reliability_svg(BINS, "top-label", "t", BEFORE, "before (T = 1)")
    polylines = [line for line in svg.splitlines() if line.startswith("<polyline")]
    assert len(polylines) == 1 and polylines[0].count(",") == 2  # two points: empty bin left out
    assert ">before (T = 1)<" in svg and svg.count("<circle") == 2
    assert 'fill="none" stroke="#000"' in polylines[0]  # a line, never an empty box
