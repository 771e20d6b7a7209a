"""Charts as inline SVG text, drawn from a report's data alone (no matplotlib): the reliability
diagram, labelled bar charts and a rank chart for many classes. The HTML report embeds them.

Every string that may come from data (class names, bin tooltips) goes through
``escape.html_text``: one line, no control character, ``& < > " '`` as references — valid as
SVG text and attribute values both inside HTML and as XML. Every line starts with a tag, so no
line of the output starts with data. The reliability diagram's vocabulary (axis names, the two
gap colours, which bins are drawn, which show their row count) is shared with
``render.plots``' matplotlib version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ce_cli.render.escape import html_text

OVER, UNDER, BARS = "#F0B48C", "#8172B3", "#4C72B0"
SPARSE = 5  # bins with 1..SPARSE rows show their count: their accuracy is a coarse fraction
LABEL_CHARS = 40  # a chart label longer than this is shortened (the full name is its tooltip)
FONT = 'font-family="sans-serif" font-size="12"'


def axis_names(mode: str) -> tuple[str, str]:
    """(x, y) of a reliability diagram: the top label's confidence and accuracy, or, with
    ``--confidence positive``, the mean P(y=1) and the fraction of positives."""
    if mode == "positive":
        return "mean P(y=1)", "fraction of positives"
    return "confidence", "accuracy"


def gap_labels(mode: str) -> tuple[str, str]:
    """Legend labels of the two gaps: x above y in the bin (over), and y above x (under)."""
    x, y = axis_names(mode)
    if mode == "positive":
        return f"gap: {x} > {y}", f"gap: {y} > {x}"
    return (
        "gap: over-confident (confidence > accuracy)",
        "gap: under-confident (accuracy > confidence)",
    )


def drawn(bins: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bins that hold rows (an empty bin has no accuracy: nothing to draw)."""
    return [b for b in bins if b["count"] and b["accuracy"] is not None]


def _n(x: float) -> str:
    """A coordinate: one decimal, no trailing zeros."""
    text = f"{x:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _g(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}g}"


def _open(width: float, height: float, label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(width)}" height="{_n(height)}" '
        f'viewBox="0 0 {_n(width)} {_n(height)}" role="img" aria-label="{html_text(label)}" '
        f"{FONT}>\n<title>{html_text(label)}</title>"
    )


def _rect(x: float, y: float, w: float, h: float, fill: str, tip: str = "", extra: str = "") -> str:
    attrs = f'x="{_n(x)}" y="{_n(y)}" width="{_n(max(w, 0.0))}" height="{_n(max(h, 0.0))}"'
    if not tip:
        return f'<rect {attrs} fill="{fill}"{extra}/>'
    return f'<rect {attrs} fill="{fill}"{extra}><title>{html_text(tip)}</title></rect>'


def _text(x: float, y: float, text: str, extra: str = "") -> str:
    return f'<text x="{_n(x)}" y="{_n(y)}"{extra}>{html_text(text)}</text>'


def _line(x1: float, y1: float, x2: float, y2: float, extra: str = "") -> str:
    return f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}"{extra}/>'


def short(name: str) -> str:
    """A chart label: ``name`` shortened to ``LABEL_CHARS`` with ``…`` (tables keep it whole)."""
    return name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "…"


# ---------------------------------------------------------------------- reliability diagram
class _Frame:
    """The diagram's geometry: the plot (y up to 1.08, room for counts) and the histogram."""

    width, height = 620.0, 580.0
    left, right, top, plot_h, hist_gap, hist_h = 64.0, 16.0, 40.0, 360.0, 24.0, 100.0
    y_max = 1.08

    @property
    def plot_w(self) -> float:
        return self.width - self.left - self.right

    def x(self, v: float) -> float:
        return self.left + v * self.plot_w

    def y(self, v: float) -> float:
        return self.top + (1 - v / self.y_max) * self.plot_h

    @property
    def hist_top(self) -> float:
        return self.top + self.plot_h + self.hist_gap


def reliability_svg(
    bins: Sequence[dict[str, Any]],
    mode: str,
    title: str,
    before: Sequence[dict[str, Any]] | None = None,
    before_label: str = "",
) -> str:
    """The reliability diagram: accuracy per non-empty bin, each gap in its own colour, the
    count over sparse bins, the diagonal, the before-fit curve, the rows histogram beneath."""
    f = _Frame()
    x_name, y_name = axis_names(mode)
    filled = drawn(bins)
    out = [_open(f.width, f.height, f"reliability diagram: {y_name} against {x_name}")]
    out.append(_text(f.width / 2, 22, title, ' text-anchor="middle" font-size="14"'))
    out += _axes(f, x_name, y_name)
    out += _bin_bars(f, filled, x_name, y_name)
    grey = ' stroke="#777" stroke-dasharray="5 4"'
    out.append(_line(f.x(0), f.y(0), f.x(1), f.y(1), grey))
    if before:
        out += _before_curve(f, drawn(before), before_label)
    out += _legend(
        f, filled, mode, y_name if not before else "after", before_label if before else ""
    )
    out += _histogram(f, filled, x_name)
    out.append("</svg>")
    return "\n".join(out)


def _axes(f: _Frame, x_name: str, y_name: str) -> list[str]:
    out = [_rect(f.left, f.top, f.plot_w, f.plot_h, "#fff", extra=' stroke="#333"')]
    for i in range(6):
        v = i / 5
        out.append(_line(f.left, f.y(v), f.x(1), f.y(v), ' stroke="#eee"'))
        out.append(_text(f.left - 6, f.y(v) + 4, f"{v:g}", ' text-anchor="end"'))
        base = f.hist_top + f.hist_h
        out.append(_text(f.x(v), base + 16, f"{v:g}", ' text-anchor="middle"'))
    mid = f.top + f.plot_h / 2
    out.append(
        _text(16, mid, y_name, f' text-anchor="middle" transform="rotate(-90 16 {_n(mid)})"')
    )
    out.append(_text(f.x(0.5), f.height - 8, x_name, ' text-anchor="middle"'))
    return out


def _bin_bars(f: _Frame, filled: list[dict[str, Any]], x_name: str, y_name: str) -> list[str]:
    out = []
    for b in filled:
        x0, w = f.x(b["lower"]), (b["upper"] - b["lower"]) * f.plot_w
        acc, conf = b["accuracy"], b["confidence"]
        tip = (
            f"({b['lower']:.3g}, {b['upper']:.3g}]: {b['count']:g} rows, "
            f"{y_name} {acc:.4g}, {x_name} {conf:.4g}"
        )
        out.append(_rect(x0, f.y(acc), w, f.y(0) - f.y(acc), BARS, tip, ' stroke="#fff"'))
        low, high = min(acc, conf), max(acc, conf)
        if high > low:
            colour = OVER if conf > acc else UNDER
            out.append(_rect(x0, f.y(high), w, f.y(low) - f.y(high), colour, tip))
        if b["count"] <= SPARSE:
            label = f"n={b['count']:g}"
            out.append(
                _text(x0 + w / 2, f.y(high) - 3, label, ' text-anchor="middle" font-size="9"')
            )
    return out


def _before_curve(f: _Frame, filled: list[dict[str, Any]], label: str) -> list[str]:
    points = " ".join(f"{_n(f.x(b['confidence']))},{_n(f.y(b['accuracy']))}" for b in filled)
    out = [
        f'<polyline points="{points}" fill="none" stroke="#000" stroke-dasharray="2 3">'
        f"<title>{html_text(label)}</title></polyline>"
    ]
    out += [
        f'<circle cx="{_n(f.x(b["confidence"]))}" cy="{_n(f.y(b["accuracy"]))}" r="2.5"/>'
        for b in filled
    ]
    return out


def _legend(
    f: _Frame, filled: list[dict[str, Any]], mode: str, bars: str, before: str
) -> list[str]:
    over, under = gap_labels(mode)
    entries = [(BARS, bars)]
    if any(b["confidence"] > b["accuracy"] for b in filled):
        entries.append((OVER, over))
    if any(b["accuracy"] > b["confidence"] for b in filled):
        entries.append((UNDER, under))
    if before:
        entries.append(("#000", before))
    x, y = f.left + 8, f.top + 8
    width = 30 + 6.6 * max(len(label) for _, label in entries)
    out = [_rect(x, y, width, 18 * len(entries) + 6, "#fff", extra=' stroke="#ccc" opacity="0.9"')]
    for i, (colour, label) in enumerate(entries):
        row = y + 6 + 18 * i
        if colour == "#000":
            out.append(
                _line(x + 6, row + 6, x + 22, row + 6, ' stroke="#000" stroke-dasharray="2 3"')
            )
        else:
            out.append(_rect(x + 6, row, 16, 12, colour))
        out.append(_text(x + 28, row + 10, label, ' font-size="11"'))
    return out


def _histogram(f: _Frame, filled: list[dict[str, Any]], x_name: str) -> list[str]:
    top, h = f.hist_top, f.hist_h
    out = [_rect(f.left, top, f.plot_w, h, "#fff", extra=' stroke="#333"')]
    most = max((b["count"] for b in filled), default=0) or 1
    for b in filled:
        x0, w = f.x(b["lower"]), (b["upper"] - b["lower"]) * f.plot_w
        bar = b["count"] / most * h
        tip = f"({b['lower']:.3g}, {b['upper']:.3g}]: {b['count']:g} rows"
        out.append(_rect(x0, top + h - bar, w, bar, "#999", tip, ' stroke="#fff"'))
    out.append(_text(f.left - 6, top + 10, f"{most:g}", ' text-anchor="end"'))
    out.append(_text(f.left - 6, top + h, "0", ' text-anchor="end"'))
    mid = top + h / 2
    out.append(
        _text(16, mid, "rows", f' text-anchor="middle" transform="rotate(-90 16 {_n(mid)})"')
    )
    return out


# ---------------------------------------------------------------------- class charts
def bar_chart_svg(
    items: Sequence[tuple[str, float | None]], value_name: str, title: str, colour: str = BARS
) -> str:
    """One labelled horizontal bar per item (name, value); an undefined value shows ``—``."""
    row_h, width, top = 18.0, 720.0, 34.0
    label_w = 16 + 6.8 * max((len(short(name)) for name, _ in items), default=4)
    plot_w = width - label_w - 70
    height = top + row_h * len(items) + 30
    most = max((v for _, v in items if v is not None and v > 0), default=1.0)
    out = [_open(width, height, title)]
    out.append(_text(width / 2, 20, title, ' text-anchor="middle" font-size="14"'))
    for i, (name, value) in enumerate(items):
        y = top + row_h * i
        out.append(
            f'<text x="{_n(label_w - 6)}" y="{_n(y + 13)}" text-anchor="end">'
            f"<title>{html_text(name)}</title>{html_text(short(name))}</text>"
        )
        length = max(value or 0.0, 0.0) / most * plot_w
        tip = f"{name}: {value_name} {_g(value, 6)}"
        out.append(_rect(label_w, y + 2, length, row_h - 4, colour, tip))
        out.append(_text(label_w + length + 4, y + 13, _g(value, 4), ' font-size="11"'))
    axis = top + row_h * len(items)
    out.append(_line(label_w, top, label_w, axis, ' stroke="#333"'))
    out.append(_text(label_w + plot_w / 2, axis + 20, value_name, ' text-anchor="middle"'))
    out.append("</svg>")
    return "\n".join(out)


def rank_chart_svg(
    items: Sequence[tuple[str, float | None]], value_name: str, title: str, colour: str = BARS
) -> str:
    """Many classes at once: one thin bar per class, highest value first (each bar's tooltip
    names its class); the shape of a long tail at a glance."""
    ranked = sorted(items, key=lambda item: -(item[1] or 0.0))
    width, height, left, top, plot_h = 660.0, 300.0, 64.0, 34.0, 220.0
    plot_w = width - left - 16
    step = plot_w / max(len(ranked), 1)
    most = max((v for _, v in ranked if v is not None and v > 0), default=1.0)
    out = [_open(width, height, title)]
    out.append(_text(width / 2, 20, title, ' text-anchor="middle" font-size="14"'))
    out.append(_rect(left, top, plot_w, plot_h, "#fff", extra=' stroke="#333"'))
    for i, (name, value) in enumerate(ranked):
        bar = max(value or 0.0, 0.0) / most * plot_h
        tip = f"{name}: {value_name} {_g(value, 6)}"
        out.append(_rect(left + i * step, top + plot_h - bar, step, bar, colour, tip))
    out.append(_text(left - 6, top + 10, _g(most), ' text-anchor="end"'))
    out.append(_text(left - 6, top + plot_h, "0", ' text-anchor="end"'))
    caption = f"{len(ranked)} classes by {value_name}, highest first"
    out.append(_text(left + plot_w / 2, top + plot_h + 20, caption, ' text-anchor="middle"'))
    if ranked:
        first, last = ranked[0], ranked[-1]
        out.append(_text(left, top + plot_h + 36, f"first: {short(first[0])}"))
        last_text = f"last: {short(last[0])}"
        out.append(_text(left + plot_w, top + plot_h + 36, last_text, ' text-anchor="end"'))
    out.append("</svg>")
    return "\n".join(out)
