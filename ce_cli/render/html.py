"""``--format html``: one self-contained HTML file per report, to attach to a CI run and open
in a browser offline.

Inline CSS, inline SVG charts (``render.svg``, drawn from the report's data), a few lines of
vanilla JavaScript that sort a table when its header is clicked, and a Content-Security-Policy
that forbids every network fetch. The page shows, in order: for ``ce check`` the verdict and
the failed checks; the summary; how it was computed; the warnings; the charts (reliability
diagram, per-class loss, class frequencies); the report's tables (per class, top-K rows, bins,
checks, groups) — the same ``View`` the terminal and Markdown show.

Every data-derived string goes through ``escape.html_text`` (text and quoted attributes
alike). Every line of the document that can hold data starts with a tag, so no line of it
starts with data (a CI log reading it never sees a workflow command).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ce_cli.render.escape import html_text
from ce_cli.render.svg import bar_chart_svg, rank_chart_svg, reliability_svg
from ce_cli.report.view import Report, Table, View

BAR_CLASSES = 40  # up to this many classes, one labelled bar each; more: the rank chart
SCROLL_ROWS = 30  # a longer table scrolls inside its box
FREQUENCY = "#55A868"  # the colour of class-frequency bars
VERDICTS = ("pass", "fail", "warn")  # a verdict cell's value → its class (its colour)
LONG_TEXT = 300  # a longer warning is folded (its start shown)

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;margin:0;
background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:16px 24px 40px}
h1{font-size:20px;margin:8px 0 12px;overflow-wrap:anywhere}
h2{font-size:16px;margin:24px 0 8px}
.verdict{border-radius:6px;padding:10px 16px;margin:8px 0 16px;color:#fff}
.verdict.pass{background:#2e7d32}.verdict.fail{background:#c62828}
.verdict h2{margin:0;font-size:18px}.verdict ul{margin:6px 0 0;padding-left:20px}
.summary{display:flex;flex-wrap:wrap;gap:8px;margin:0;padding:0}
.summary div{background:#fff;border:1px solid #dde;border-radius:6px;padding:6px 10px}
.summary dt{font-size:11px;color:#667;text-transform:uppercase}
.summary dd{margin:0;font-weight:600;font-variant-numeric:tabular-nums;overflow-wrap:anywhere}
.notes{color:#555}
summary{cursor:pointer}
.warnings{background:#fff8e1;border:1px solid #f0c36d;border-radius:6px;padding:8px 12px 8px 28px}
table{margin:12px 0}
figure{margin:12px 0;background:#fff;border:1px solid #dde;border-radius:6px;padding:8px;
overflow-x:auto}
figure svg{max-width:100%;height:auto}
figcaption{color:#555;font-size:12px}
.scroll{max-height:36em;overflow:auto;border:1px solid #dde;border-radius:6px}
table{border-collapse:collapse;background:#fff;font-variant-numeric:tabular-nums}
caption{text-align:left;font-weight:600;padding:4px 0}
th,td{padding:3px 10px;border-bottom:1px solid #e5e7eb;text-align:left;overflow-wrap:anywhere}
th{background:#eef0f4;position:sticky;top:0;cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
td.n{text-align:right;white-space:nowrap}
td.pass{color:#2e7d32;font-weight:600}td.fail{color:#c62828;font-weight:700}
td.warn{color:#a15c00;font-weight:600}
footer{margin-top:32px;color:#889;font-size:12px}
"""
# Click a header: sort its table's rows by that column (numbers as numbers, "—" last).
SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0], i = th.cellIndex;
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
    function key(row) { return row.cells[i] ? row.cells[i].textContent : ""; }
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
      if (isNaN(nx) !== isNaN(ny)) { return isNaN(nx) ? 1 : -1; }
      if (!isNaN(nx)) { return dir * (nx - ny); }
      return dir * x.localeCompare(y);
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""


def render_html(report: Report, number: Callable[[Any], str]) -> str:
    """The whole document; ``number`` formats a value as every other renderer does."""
    view = report.view()
    data = report.to_dict()
    parts = [_head(view.title), f"<h1>{html_text(view.title)}</h1>"]
    if data.get("kind") == "check":
        parts.append(_verdict(data))
    parts += _summary(view, number)
    parts += _warnings(view.warnings)
    parts += [_figure(svg, caption) for svg, caption in charts(data)]
    parts += [_table(table, number) for table in view.tables]
    version = data.get("schema_version")
    parts.append(
        f"<footer>ce · {html_text(data.get('kind', ''))} report · schema {version}</footer>"
    )
    parts.append(f"</main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n")
    return "\n".join(parts)


def _head(title: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html_text(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>"
    )


def _verdict(data: dict[str, Any]) -> str:
    """``ce check``: PASSED/FAILED, how many, and each failed check's message, first."""
    checks = data.get("checks") or []
    failed = [c for c in checks if not c["passed"]]
    state = "pass" if not failed else "fail"
    if failed:
        head = f"FAILED {len(failed)} of {len(checks)} checks"
    else:
        head = f"PASSED {len(checks)} of {len(checks)} checks"
    items = "".join(f"\n<li>{html_text(c['message'])}</li>" for c in failed)
    listing = f"\n<ul>{items}\n</ul>" if failed else ""
    return f'<section class="verdict {state}">\n<h2>{html_text(head)}</h2>{listing}\n</section>'


def _summary(view: View, number: Callable[[Any], str]) -> list[str]:
    cells = "".join(
        f"\n<div><dt>{html_text(label)}</dt><dd>{html_text(number(value))}</dd></div>"
        for label, value in view.summary
    )
    out = [f'<dl class="summary">{cells}\n</dl>']
    if view.notes:
        notes = "; ".join(html_text(n) for n in view.notes)
        out.append(f'<p class="notes">how: {notes}</p>')
    return out


def _warnings(warnings: list[str]) -> list[str]:
    if not warnings:
        return []
    items = "".join(f"\n<li>{_long_text(w)}</li>" for w in warnings)
    return [f'<h2>Warnings</h2>\n<ul class="warnings">{items}\n</ul>']


def _long_text(text: str) -> str:
    """A warning; a long one (hundreds of class names) folded: its start shown, the whole of
    it one click away (``<details>``)."""
    if len(text) <= LONG_TEXT:
        return html_text(text)
    start = html_text(text[: LONG_TEXT // 2]) + f"… ({len(text)} characters)"
    return f"<details><summary>{start}</summary>{html_text(text)}</details>"


def _figure(svg: str, caption: str) -> str:
    if not caption:
        return f"<figure>\n{svg}\n</figure>"
    return f"<figure>\n{svg}\n<figcaption>{html_text(caption)}</figcaption>\n</figure>"


def _table(table: Table, number: Callable[[Any], str]) -> str:
    status = getattr(table, "status", None) or "result"  # the verdicts column (ce check)
    status_at = table.columns.index(status) if status in table.columns else -1
    head = "".join(f"<th>{html_text(c)}</th>" for c in table.columns)
    rows = []
    for row in table.rows:
        cells = []
        for i, value in enumerate(row):
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            css = "n" if numeric else ""
            if i == status_at and isinstance(value, str) and value.lower() in VERDICTS:
                css = value.lower()
            attr = f' class="{css}"' if css else ""
            cells.append(f"<td{attr}>{html_text(number(value))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    caption = f"\n<caption>{html_text(table.caption)}</caption>" if table.caption else ""
    body = "\n".join(rows)
    html = (
        f'<table class="sortable">{caption}\n<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{body}\n</tbody>\n</table>"
    )
    if len(table.rows) > SCROLL_ROWS:
        return f'<div class="scroll">\n{html}\n</div>'
    return html


# ---------------------------------------------------------------------- charts
def charts(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(SVG, caption) of every chart a report's JSON data supports."""
    kind = data.get("kind")
    if kind == "calibration":
        return _calibration_charts(data)
    if kind == "weights":
        classes = [(c["name"], c["frequency"]) for c in data["classes"]]
        return [_class_chart(classes, "frequency", "class frequencies")]
    if kind == "score":
        return _score_charts(data)
    if kind == "check":
        losses = [(name, data["metrics"].get(f"class_loss[{name}]")) for name in data["classes"]]
        if any(v is not None for _, v in losses):
            return [_loss_chart(losses)]
    return []


def _calibration_charts(data: dict[str, Any]) -> list[tuple[str, str]]:
    before = data.get("before_fit")
    fit = data.get("temperature_fit")
    ece = data.get("ece")
    title = f"ECE {ece:.4f}" if ece is not None else "ECE —"
    label = ""
    if before is not None:
        label = f"before (T = {before['temperature']:g})"
        if fit is not None and before.get("ece") is not None and ece is not None:
            title = f"T = {fit['temperature']:.3f}: ECE {before['ece']:.4f} → {ece:.4f}"
    svg = reliability_svg(
        data["bins"],
        data["confidence"],
        f"{data['confidence']} · {title}",
        before["bins"] if before is not None else None,
        label,
    )
    caption = (
        f"reliability diagram: {data['strategy']} bins; bins of at most 5 rows show their "
        "count; empty bins are not drawn"
    )
    return [(svg, caption)]


def _score_charts(data: dict[str, Any]) -> list[tuple[str, str]]:
    per_class = data.get("per_class") or []
    if not per_class:
        return []
    out = [_loss_chart([(c["name"], c["mean_loss"]) for c in per_class])]
    total = sum(c["support"] or 0.0 for c in per_class)
    if total > 0:
        freq = [(c["name"], (c["support"] or 0.0) / total) for c in per_class]
        out.append(_class_chart(freq, "frequency", "class frequencies (support / Σ support)"))
    return out


def _loss_chart(losses: list[tuple[str, float | None]]) -> tuple[str, str]:
    """Mean loss per class: every class, or the ``BAR_CLASSES`` highest when there are more."""
    if len(losses) <= BAR_CLASSES:
        return bar_chart_svg(losses, "mean loss", "mean loss per class"), ""
    worst = sorted(losses, key=lambda item: -(item[1] if item[1] is not None else -1.0))
    title = f"the {BAR_CLASSES} classes of highest mean loss, of {len(losses)}"
    return bar_chart_svg(worst[:BAR_CLASSES], "mean loss", title), "every class is in the table"


def _class_chart(items: list[tuple[str, float | None]], value: str, title: str) -> tuple[str, str]:
    if len(items) <= BAR_CLASSES:
        return bar_chart_svg(items, value, title, FREQUENCY), ""
    return rank_chart_svg(
        items, value, title, FREQUENCY
    ), "one bar per class; hover a bar for its class"
