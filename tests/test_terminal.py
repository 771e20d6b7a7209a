"""What a person sees (issue 13): tables that fit any terminal width without cutting a number or
a name, plain greppable piped output, the gate at a glance, rows one can look up, progress on
every long pass, and the small things (each pinned here).
"""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ce_cli.render import formats
from ce_cli.render.formats import fmt_number, render_text
from ce_cli.render.text import cell_len
from ce_cli.report.view import Table, View
from tests.conftest import ROOT, run, sample

CHECK_ARGS = ("--max-ece", "0.01", "--min-class-recall", "0.5", "--max-loss", "2")
COMMANDS = {
    "weights": ("weights", sample("multiclass.csv")),
    "weights-binary": ("weights", sample("binary.csv")),
    "score": ("score", sample("multiclass.csv")),
    "score-multilabel": ("score", sample("multilabel.csv")),
    "score-groups": ("score", sample("eval_by_country"), "--group-by", "country"),
    "calibrate": ("calibrate", sample("multiclass.csv"), "--fit-temperature"),
    "check": ("check", sample("multiclass.csv"), *CHECK_ARGS),
    "check-groups": (
        "check",
        sample("eval_by_country"),
        "--group-by",
        "country",
        "--max-loss",
        "1",
    ),
}
WIDTHS = (40, 60, 80, 120)


def shown(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[str, View]:
    """``ce ARGS`` as text, with the View the renderer was given."""
    views: list[View] = []
    original = formats.render_text

    def spy(view: View, **kwargs: Any) -> str:
        views.append(view)
        return original(view, **kwargs)

    monkeypatch.setattr(formats, "render_text", spy)
    result = run(*args)
    assert result.exit_code in (0, 1), result.stderr
    assert len(views) == 1
    return result.stdout, views[0]


def hidden_columns(text: str) -> set[str]:
    """The columns a narrow terminal hid, as the line after each table names them."""
    flat = " ".join(text.split())
    out: set[str] = set()
    for part in flat.split("(not shown at this width: ")[1:]:
        out |= {name.strip() for name in part.split(")")[0].split(",")}
    return out


def data_texts(view: View, hidden: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    """Every number and name of the view's tables and summary, as the renderer prints them
    (but for the columns the terminal hid, which a line names)."""
    texts = [fmt_number(v) for _, v in view.summary]
    for table in view.tables:
        keep = [i for i, c in enumerate(table.columns) if c not in hidden]
        texts += [fmt_number(row[i]) for row in table.rows for i in keep]
    return [t.strip() for t in texts if t.strip()]


@pytest.mark.parametrize("width", [*WIDTHS, None], ids=[*map(str, WIDTHS), "piped"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_no_number_or_name_is_ever_cut(
    monkeypatch: pytest.MonkeyPatch, command: str, width: int | None
) -> None:
    extra = () if width is None else ("--width", str(width))
    text, view = shown(monkeypatch, *COMMANDS[command], *extra)
    lines = text.splitlines()
    assert "…" not in text
    hidden = hidden_columns(text)
    assert hidden <= {"index", "loss share", "support", "p_true", "predicted", "threshold", "gap",
                      "accuracy ▏confidence", "frequency"}  # fmt: skip
    for value in data_texts(view, hidden):
        assert any(value in line for line in lines), (command, width, value)
    if width is not None:
        for line in lines:  # only a single value longer than the line may overflow
            assert cell_len(line) <= width or " " not in line.strip(), (width, line)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_piped_output_has_one_line_per_table_row(
    monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """A CI log is greppable: each row's cells, in order, on one line; notes on one line."""
    text, view = shown(monkeypatch, *COMMANDS[command])
    lines = text.splitlines()
    rows_shown = [[c.strip() for c in x.split("|")[1:-1]] for x in lines if x.startswith("|")]
    for table in view.tables:
        for row in table.rows:
            assert [fmt_number(v).strip() for v in row] in rows_shown, (command, row)
    if view.notes:
        assert sum(line.startswith("how: ") for line in lines) == 1
        assert any(line.endswith(view.notes[-1]) for line in lines)


def test_a_narrow_terminal_hides_the_least_important_columns_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text, _ = shown(monkeypatch, "score", sample("multiclass.csv"), "--width", "60")
    header = next(line for line in text.splitlines() if line.startswith("| class"))
    assert header.split("|")[1:-1] == [
        " class ",
        " support ",
        " mean loss ",
        " loss share ",
        "   recall ",
    ]
    assert "(not shown at this width: index)" in text
    wide, _ = shown(monkeypatch, "score", sample("multiclass.csv"), "--width", "120")
    assert "| class | index | support |" in wide and "not shown" not in wide


def test_too_narrow_for_a_table_gives_one_record_per_block() -> None:
    text = run("weights", sample("multiclass.csv"), "--width", "24").stdout
    lines = text.splitlines()
    block = lines[lines.index("class horse") : lines.index("class horse") + 5]
    assert [line.split() for line in block] == [
        ["class", "horse"],
        ["index", "4"],
        ["count", "185"],
        ["frequency", "0.04625"],
        ["weight", "4.32432"],
    ]
    assert all(cell_len(line) <= 24 for line in lines[2:])
    assert lines[:2] == ["ce weights ·", f"  {sample('multiclass.csv')}"]  # a path stays whole


def test_a_name_longer_than_the_terminal_wraps_whole() -> None:
    long = "a_class_name_that_is_much_longer_than_forty_columns_of_terminal"
    view = View(
        "ce weights · x.csv",
        [("N", 3)],
        [Table(["class", "count", "weight"], [[long, 1, 0.5], ["b", 2, 0.25]])],
    )
    lines = render_text(view, color=False, width=40).splitlines()
    assert f"class {long}" in lines or long in lines  # whole, on its own line
    assert "  count   1" in lines and "  weight  0.5" in lines


def test_width_option_is_checked() -> None:
    result = run("weights", sample("binary.csv"), "--width", "5")
    assert result.exit_code == 2 and "--width" in result.stderr


# ---------------------------------------------------------------------- ce check at a glance
def test_check_closes_with_the_failed_checks_and_their_options() -> None:
    result = run("check", sample("multiclass.csv"), *CHECK_ARGS)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    start = lines.index("FAILED 2 of 7:")
    assert lines[start + 1 :] == [
        "  ✗ ece = 0.0834117 is above the limit 0.01 (--max-ece 0.01)",
        "  ✗ class_recall[horse] = 0.340541 is below the limit 0.5 (--min-class-recall 0.5)",
    ]
    header = next(line for line in lines if line.startswith("| check"))
    assert "baseline" not in header and "delta" not in header  # no baseline given
    passed = run("check", sample("multiclass.csv"), "--max-loss", "2")
    assert passed.exit_code == 0 and passed.stdout.splitlines()[-1] == "PASSED 1 of 1 checks"


def test_quiet_prints_only_the_verdict_and_the_failures() -> None:
    result = run("check", sample("multiclass.csv"), *CHECK_ARGS, "--quiet")
    assert result.exit_code == 1
    assert result.stdout == (
        "FAILED 2 of 7:\n"
        "  ✗ ece = 0.0834117 is above the limit 0.01 (--max-ece 0.01)\n"
        "  ✗ class_recall[horse] = 0.340541 is below the limit 0.5 (--min-class-recall 0.5)\n"
    )
    ok = run("check", sample("multiclass.csv"), "--max-loss", "2", "-q")
    assert ok.exit_code == 0 and ok.stdout == "PASSED 1 of 1 checks\n"
    as_json = run("check", sample("multiclass.csv"), *CHECK_ARGS, "-q", "--format", "json")
    assert json.loads(as_json.stdout)["n_failed"] == 2  # machine formats stay whole


def test_quiet_implies_no_progress_and_width_reaches_the_renderer() -> None:
    import click

    from ce_cli.cli.main import cli
    from ce_cli.cli.options import input_options_from

    command = cli.commands["score"]
    for flags, progress in (([], True), (["--quiet"], False), (["--no-progress"], False)):
        ctx = command.make_context("score", [sample("binary.csv"), *flags, "--width", "50"])
        with ctx:
            options = input_options_from(dict(ctx.params))
            assert (options.progress is not None) is progress, flags
            assert ctx.meta["ce.width"] == 50 and click.get_current_context() is ctx


def _on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """``ce ARGS`` with stdout a pseudo-terminal of 100 columns: what a person sees."""
    main, child = pty.openpty()
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "GITHUB_ACTIONS")}
    full_env = {**base, "COLUMNS": "100", **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ce_cli", *args],
        stdout=child,
        stderr=subprocess.DEVNULL,
        env=full_env,
        cwd=ROOT,
    )
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(main)
    return b"".join(chunks).decode("utf-8")


def test_colour_on_a_terminal_and_none_at_all_with_no_color() -> None:
    args = ["check", sample("multiclass.csv"), *CHECK_ARGS]
    coloured = _on_a_terminal(args, {})
    assert "\x1b[1;31mFAIL" in coloured and "\x1b[32mpass" in coloured
    assert "\x1b[1;31mFAILED 2 of 7:" in coloured
    plain = _on_a_terminal(args, {"NO_COLOR": "1"})
    assert "\x1b" not in plain and "FAILED 2 of 7:" in plain
    for line in plain.splitlines():  # the terminal's width (COLUMNS) is kept
        assert cell_len(line) <= 100, line


# ---------------------------------------------------------------------- rows one can look up
def test_top_rows_are_0_based_positions_and_say_so(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(50, 3))
    labels = rng.integers(0, 3, 50)
    frame = pd.DataFrame({"label": labels, **{f"logit_{j}": logits[:, j] for j in range(3)}})
    path = tmp_path / "noid.csv"
    frame.to_csv(path, index=False)
    report = json.loads(run("score", str(path), "--top", "3", "--format", "json").stdout)
    shifted = logits - logits.max(axis=1, keepdims=True)
    losses = np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(50), labels]
    want = np.argsort(-losses)[:3].tolist()
    assert [t["row"] for t in report["top"]] == want  # df.iloc[row] is that row
    assert [t["id"] for t in report["top"]] == [None, None, None]
    text = run("score", str(path), "--top", "3").stdout
    header = next(line for line in text.splitlines() if "row (0-based)" in line)
    assert header.split("|")[1:-1] == [
        " row (0-based) ",
        " label ",
        " predicted ",
        "    p_true ",
        "    loss ",
    ]  # no id column: the input has none
    rows = run("score", str(path), "--reduction", "none", "--format", "csv").stdout
    assert pd.read_csv(io.StringIO(rows))["row"].tolist() == list(range(50))
    head = run("score", str(path), "--reduction", "none").stdout
    assert "| row (0-based) | label |" in head and "| id " not in head
    assert "ce (none; mean)" in head  # --reduction none has no single value: the mean, said so


def test_a_stored_pandas_index_is_the_id(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {"label": rng.integers(0, 2, 30), "logit": rng.normal(size=30)},
        index=pd.Index([f"img_{i:03d}" for i in range(30)], name="image"),
    )
    path = tmp_path / "indexed.parquet"
    frame.to_parquet(path)  # the index is stored as the column "image"
    report = json.loads(run("score", str(path), "--format", "json").stdout)
    assert [t["id"] for t in report["top"]] == [f"img_{t['row']:03d}" for t in report["top"]]


# ---------------------------------------------------------------------- progress
class _Meter:
    def __init__(self, log: list[list[Any]], label: str, total: int | None) -> None:
        self.log = log
        log.append([label, total, 0])

    def update(self, rows: int, nbytes: int) -> None:
        self.log[-1][2] = rows

    def close(self) -> None:
        pass


def test_every_temperature_fit_pass_reports_progress() -> None:
    from ce_cli.io.dataset import InputOptions
    from ce_cli.report.calibrate import CalibrationOptions, compute_calibration

    log: list[list[Any]] = []
    options = InputOptions(path=sample("multiclass.csv"), progress=lambda *a: _Meter(log, *a))
    report = compute_calibration(options, CalibrationOptions(fit_temperature=True))
    assert report.fit is not None
    passes = [entry for entry in log if entry[0].startswith("fit pass")]
    assert [p[0] for p in passes] == [f"fit pass {i}/≤30" for i in range(1, len(passes) + 1)]
    assert len(passes) == report.fit["passes"]
    assert all(p[2] == 4000 for p in passes) and all(p[1] == 4000 for p in passes[1:])


def test_the_bootstrap_reports_its_replicates() -> None:
    from ce_cli.core.bootstrap import paired_intervals

    log: list[list[Any]] = []
    rng = np.random.default_rng(0)
    parts = (rng.random(64), np.ones(64))
    other = (rng.random(64), np.ones(64))
    quiet = paired_intervals({"loss": (parts, other)}, 700, 1)
    loud = paired_intervals({"loss": (parts, other)}, 700, 1, progress=lambda *a: _Meter(log, *a))
    assert log == [["bootstrap (700 replicates)", 700, 700]]
    assert loud == quiet  # the bar changes nothing


def test_the_row_writer_pass_has_its_own_progress_label(tmp_path: Path) -> None:
    from ce_cli.io.dataset import InputOptions
    from ce_cli.render.rows import RowWriter
    from ce_cli.report.score import ScoreOptions, compute_score

    log: list[list[Any]] = []
    options = InputOptions(path=sample("binary.csv"), progress=lambda *a: _Meter(log, *a))
    writer = RowWriter(path=str(tmp_path / "rows.parquet"), inputs=[])
    compute_score(options, ScoreOptions(reduction="none"), row_sink=writer)
    writer.close()
    assert [entry[0] for entry in log] == ["scoring, writing rows"] and log[0][2] == 3000


# ---------------------------------------------------------------------- the small things
def test_uniform_bins_do_not_warn_of_quantile_bins(tmp_path: Path) -> None:
    path = tmp_path / "ties.csv"
    probs = np.repeat([0.2, 0.6, 0.9], 40)
    labels = (np.arange(120) % 3 == 0).astype(int)
    pd.DataFrame({"label": labels, "prob": probs}).to_csv(path, index=False)
    uniform = json.loads(run("calibrate", str(path), "--bins", "10", "--format", "json").stdout)
    assert uniform["warnings"] and all(
        w.startswith("adaptive ECE: ") for w in uniform["warnings"] if "quantile" in w
    )
    quantile = json.loads(
        run(
            "calibrate", str(path), "--bins", "10", "--strategy", "quantile", "--format", "json"
        ).stdout
    )
    assert [w for w in quantile["warnings"] if w.startswith("quantile binning formed")]
    assert not [w for w in quantile["warnings"] if w.startswith("adaptive ECE: quantile")]


def test_how_names_no_softmax_for_probability_inputs() -> None:
    probs = run("score", sample("multiclass.parquet"), "--format", "json")
    notes = json.loads(probs.stdout)["notes"]
    assert "loss: ce (−log of the given probabilities, clipped to [ε, 1−ε])" in notes
    assert not any("softmax" in n for n in notes)
    logits = json.loads(run("score", sample("multiclass.csv"), "--format", "json").stdout)
    assert "loss: ce (softmax)" in logits["notes"]


def test_markdown_numbers_are_right_aligned_in_every_table() -> None:
    rules = {
        command: [
            line
            for line in run(
                command, sample("multiclass.csv"), "--format", "markdown"
            ).stdout.splitlines()
            if line.startswith("|---")
        ]
        for command in ("weights", "score", "calibrate")
    }
    assert rules == {
        "weights": ["|---|---:|---:|---:|---:|"],  # class, index, count, frequency, weight
        "score": [
            "|---|---:|---:|---:|---:|---:|",  # class, index, support, mean loss, share, recall
            "|---|---:|---:|---:|---:|",  # class, predicted, precision, recall, F1
            "|---|---:|---:|",  # confused pair, count, % of true
            "|---:|---:|---|---|---:|---:|",  # row, id, label, predicted, p_true, loss
        ],
        "calibrate": [
            "|---|---:|---:|---:|---:|---|",  # bin, count, confidence, accuracy, gap, bar
            "|---|---:|---:|",  # class, support, ECE
        ],
    }


def test_csv_writes_counts_as_integers() -> None:
    text = run("calibrate", sample("multiclass.csv"), "--format", "csv").stdout
    table = [line.split(",") for line in text.splitlines()]
    count = table[0].index("count")
    assert [row[count] for row in table[1:5]] == ["0", "0", "0", "2"]
    assert ".0," not in text


def test_json_bin_edges_are_their_decimals() -> None:
    result = run("calibrate", sample("multiclass.csv"), "--bins", "10", "--format", "json")
    bins = json.loads(result.stdout)["bins"]
    assert [b["lower"] for b in bins] == [i / 10 for i in range(10)]
    assert [b["upper"] for b in bins] == [(i + 1) / 10 for i in range(10)]
    assert '"lower": 0.3,' in result.stdout and "0.30000000000000004" not in result.stdout


@pytest.mark.parametrize("command", ["weights", "score", "calibrate", "check", "label-issues"])
def test_help_has_sections_and_examples(command: str) -> None:
    """--help lists each option once, under titled sections, and ends with examples."""
    text = run(command, "--help", env={"COLUMNS": "100"}).stdout
    titles = [line[:-1] for line in text.splitlines() if line and not line[0].isspace()]
    assert {"Input", "Columns", "Rows", "Engine", "Output", "Examples"} <= set(titles), titles
    assert titles[-1] == "Examples"
    declared = [line.split()[0] for line in text.splitlines() if line.startswith("  -")]
    assert declared.count("--batch-size") == 1 and declared.count("--format") == 1
    examples = text.split("Examples:\n", 1)[1].splitlines()
    assert examples and all(line.startswith(f"  ce {command} ") for line in examples)
    if command == "check":
        assert {"Thresholds", "Baseline", "Loss", "Configuration"} <= set(titles)
