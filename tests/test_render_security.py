"""Hostile names never reach an output raw (issue 11, "Security").

A Parquet file whose name, class names (column suffixes and string labels), ids and group keys
carry a newline followed by a workflow command, CR, OSC/CSI escape sequences, C1 controls, a
line separator, Markdown/XML/rich-markup metacharacters and ``$``/``%``/``,``/``:`` is run through
every command and every output format, plainly and as in GitHub Actions. Asserted everywhere
(stdout, stderr, every file written): no raw control character from the data; no line that
starts with ``::`` except ``ce``'s own annotations and stop-commands blocks; in GitHub Actions
every line that quotes data is inside a stop-commands block or is an annotation; Markdown tables
keep their shape; XML (JUnit, SVG) parses; JSON and Parquet keep the data exactly.
"""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import Result

from ce_cli.render.escape import (
    github_data,
    github_guard,
    github_property,
    markdown,
    one_line,
    plot_label,
)
from tests.conftest import run

CLASSES = (
    "cat\n::add-mask::secret",
    "dog\r|<script>&",
    "e\x1b]0;title\x07\x1b[31m]]>[bold]",
    "f\u2028\x85$x%,:",
)
GROUPS = ("g\n::add-mask::grp", "h\x1b]0;t\x07|")
FILE_NAME = "in\n::add-mask::file\x1b[31m.parquet"
ROWS = 120
# every character the data carries that must never appear raw (ce's own "\n" ends lines)
RAW = ("\r", "\x1b", "\x07", "\x85", "\u2028")
TOKEN = "[0-9a-f]{32}"
OWN_COMMAND = re.compile(rf"::stop-commands::{TOKEN}|::{TOKEN}::|::(error|warning) title=.*")


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    rng = np.random.default_rng(7)
    probs = rng.dirichlet(np.ones(len(CLASSES)), ROWS)
    labels = np.arange(ROWS) % len(CLASSES)
    columns: dict[str, Any] = {
        "id": [f"r{i}\n::add-mask::id\x1b[2J" for i in range(ROWS)],
        "label": [CLASSES[k] for k in labels],
        "grp": [GROUPS[i % 2] for i in range(ROWS)],
    }
    for j, name in enumerate(CLASSES):
        columns[f"prob_{name}"] = probs[:, j]
    path = tmp_path / FILE_NAME
    pq.write_table(pa.table(columns), path)
    return path


def github_env(tmp_path: Path) -> dict[str, str]:
    summary = tmp_path / "summary.md"
    summary.touch()
    return {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}


# ---------------------------------------------------------------------- what "clean" means
def assert_clean(text: str, where: str) -> None:
    """No raw control character from the data; no line starting a workflow command but ours."""
    for char in RAW:
        assert char not in text, (where, repr(char), text[:2000])
    for line in text.splitlines():
        if line.lstrip().startswith("::"):
            assert OWN_COMMAND.fullmatch(line.lstrip()), (where, line)
        assert "##[" not in line, (where, line)


def assert_guarded(text: str, where: str) -> None:
    """In GitHub Actions: every line that quotes data sits between ``::stop-commands::T`` and
    ``::T::`` (same token), or is one of ce's annotations."""
    token = None
    for line in text.splitlines():
        if token is None and (start := re.fullmatch(rf"::stop-commands::({TOKEN})", line)):
            token = start.group(1)
        elif token is not None and line == f"::{token}::":
            token = None
        elif token is None and not line.startswith(("::error ", "::warning ")):
            assert "add-mask" not in line and "\\x1b" not in line, (where, line)
    assert token is None, (where, "a stop-commands block is never closed")


def check_result(
    result: Result, where: str, github: bool, codes: tuple[int, ...] = (0,), machine: bool = False
) -> None:
    """Exit code, no traceback, clean stdout and stderr; in GitHub Actions both guarded (JSON
    and CSV on stdout are not: they are escaped by construction and often piped)."""
    assert result.exit_code in codes, (where, result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, where
    for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        assert_clean(text, f"{where} {name}")
        if github and not (machine and name == "stdout"):
            assert_guarded(text, f"{where} {name}")


def strings(data: Any) -> list[str]:
    """Every string (keys and values) in a JSON document."""
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [*data.keys(), *(s for v in data.values() for s in strings(v))]
    if isinstance(data, list):
        return [s for v in data for s in strings(v)]
    return []


def table_shapes(text: str) -> list[tuple[int, int]]:
    """(rows, cells) of each Markdown table; every row of a table must have as many cells."""
    shapes, block = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append(_cells(line))
        elif block:
            assert len(set(block)) == 1, (block, text)
            shapes.append((len(block) - 2, block[0]))
            block = []
    return shapes


def _cells(line: str) -> int:
    """Unescaped pipes of a Markdown table row, minus one."""
    count, escaped = 0, False
    for char in line:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "|":
            count += 1
    return count - 1


# ---------------------------------------------------------------------- the escaping functions
def test_one_line_makes_every_control_visible() -> None:
    assert one_line("a\nb\r\t\x00\x1b]0;t\x07\x7f\x85\u2028\u202e\udc80\ufffe") == (
        "a\\nb\\r\\t\\x00\\x1b]0;t\\x07\\x7f\\x85\\u2028\\u202e\\udc80\\ufffe"
    )
    assert one_line("plain ünïcode · [bold] <x> | 50%") == "plain ünïcode · [bold] <x> | 50%"


def test_markdown_escapes_pipes_backslashes_and_tags_but_not_comparisons() -> None:
    assert markdown("a|b\\c\r<script></x> <= 1") == "a\\|b\\\\c\\\\r&lt;script>&lt;/x> <= 1"


def test_github_values_are_percent_encoded_and_other_controls_visible() -> None:
    assert github_data("50%\r\n\x1b[31m") == "50%25%0D%0A\\x1b[31m"
    assert github_property("a: b, c%\n") == "a%3A b%2C c%25%0A"


def test_plot_labels_never_start_mathtext() -> None:
    assert plot_label("$x$\n") == "\\$x\\$\\n"


def test_github_guard_wraps_only_in_github_actions() -> None:
    assert github_guard("x\n", env={}) == "x\n"
    guarded = github_guard("x\n::add-mask::y\n", env={"GITHUB_ACTIONS": "true"})
    start, body1, body2, end, empty = guarded.split("\n")
    token = start.removeprefix("::stop-commands::")
    assert re.fullmatch(TOKEN, token) and end == f"::{token}::" and empty == ""
    assert (body1, body2) == ("x", "::add-mask::y")
    again = github_guard("x", env={"GITHUB_ACTIONS": "true"})
    assert not again.endswith("\n") and token not in again  # a fresh token each time


def test_json_keeps_data_exactly_and_hides_the_legacy_command_marker() -> None:
    from ce_cli.render.formats import render_json

    data = {"name": "##[add-mask]x\n::y\x1b\u2028"}
    text = render_json(data)
    assert "##[" not in text and json.loads(text) == data
    assert all(ord(char) < 0x7F and (char >= " " or char == "\n") for char in text)


def test_csv_cells_are_one_line_and_never_start_a_command() -> None:
    from ce_cli.render.formats import render_csv
    from ce_cli.report.view import Table

    table = Table(["name", "n"], [["::add-mask::x", 1], ['a,"b"\r\n', 2.5], [None, float("nan")]])
    text = render_csv(table)
    assert text == 'name,n\n"::add-mask::x",1\n"a,""b""\\r\\n",2.5\n,\n'
    assert list(csv.reader(io.StringIO(text)))[1:] == [
        ["::add-mask::x", "1"],
        ['a,"b"\\r\\n', "2.5"],
        ["", ""],
    ]


# ---------------------------------------------------------------------- every command, format
FORMATS = ("table", "json", "csv", "markdown")
COMMANDS = {
    "weights": ("weights",),
    "score": ("score",),
    "score-groups": ("score", "--group-by", "grp"),
    "calibrate": ("calibrate", "--fit-temperature"),
    "check": ("check", "--max-loss", "0.5", "--min-class-recall", "0.9"),
    "label-issues": ("label-issues", "--filter-by", "predicted_neq_given"),
}


@pytest.mark.parametrize("github", [False, True], ids=["plain", "github"])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_and_format_is_clean(
    hostile: Path, tmp_path: Path, command: str, fmt: str, github: bool
) -> None:
    env = github_env(tmp_path) if github else {}
    codes = (1,) if command == "check" else (0,)
    result = run(*COMMANDS[command], str(hostile), "--format", fmt, env=env)
    where = f"{command} --format {fmt}"
    check_result(result, where, github, codes, machine=fmt in ("json", "csv"))
    if fmt in ("json", "csv"):
        assert not result.stdout.startswith("::")  # never wrapped: it is piped into programs
    if fmt == "json":
        data = json.loads(result.stdout)
        assert any(CLASSES[0] in text for text in strings(data)), where  # kept exactly
    elif github and fmt != "csv":
        assert result.stdout.startswith("::stop-commands::"), where
    if fmt == "markdown":
        for rows, _ in table_shapes(result.stdout):
            assert rows > 0
        if command == "weights":
            assert table_shapes(result.stdout) == [(len(CLASSES), 5)]
    if fmt == "csv" and command == "weights":
        lines = [x for x in result.stdout.splitlines() if not x.startswith("::")]
        parsed = list(csv.reader(io.StringIO("\n".join(lines))))
        assert [row[0] for row in parsed[1:]] == [one_line(c) for c in CLASSES]
    if fmt == "table" and command == "weights":
        assert one_line(CLASSES[2]) in result.stdout  # '[bold]' printed, not read as markup
    if github:
        assert_clean((tmp_path / "summary.md").read_text(), f"{where} step summary")


def test_markdown_tables_keep_their_rows(hostile: Path) -> None:
    score = run("score", str(hostile), "--format", "markdown", "--group-by", "grp")
    shapes = table_shapes(score.stdout)
    assert (len(GROUPS), 6) in shapes and (len(CLASSES), 6) in shapes
    assert (10, 6) in shapes  # the top-10 rows, ids and labels escaped in place
    check = run("check", str(hostile), "--min-class-recall", "0.9", "--format", "markdown")
    assert table_shapes(check.stdout) == [(len(CLASSES), 6)]


@pytest.mark.parametrize("ext", ["json", "csv", "md", "txt"])
def test_report_files_are_clean(hostile: Path, tmp_path: Path, ext: str) -> None:
    for command in ("weights", "score", "calibrate"):
        out = tmp_path / f"{command}.{ext}"
        result = run(command, str(hostile), "-o", str(out))
        check_result(result, f"{command} -o .{ext}", github=False)
        assert_clean(out.read_text(), f"{command} -o .{ext} file")


# ---------------------------------------------------------------------- --reduction none
@pytest.mark.parametrize("github", [False, True], ids=["plain", "github"])
def test_rows_on_stdout_are_clean(hostile: Path, tmp_path: Path, github: bool) -> None:
    env = github_env(tmp_path) if github else {}
    args = ("score", str(hostile), "--reduction", "none")
    streamed = run(*args, "--format", "csv", env=env)
    check_result(streamed, "--reduction none --format csv", github, machine=True)
    lines = streamed.stdout.splitlines()
    assert len(lines) == ROWS + 1  # one line per row: no value broke a line, nothing wraps it
    rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
    assert rows[0]["id"] == one_line("r0\n::add-mask::id\x1b[2J")
    assert {r["label"] for r in rows} == {one_line(c) for c in CLASSES}
    head = run(*args, env=env)
    check_result(head, "--reduction none (table)", github)


def test_row_files_csv_escaped_parquet_exact(hostile: Path, tmp_path: Path) -> None:
    args = ("score", str(hostile), "--reduction", "none", "-o")
    written = run(*args, str(tmp_path / "rows.csv"))
    check_result(written, "-o rows.csv", github=False)
    text = (tmp_path / "rows.csv").read_text()
    assert_clean(text, "rows.csv")
    assert len(text.splitlines()) == ROWS + 1
    assert run(*args, str(tmp_path / "rows.parquet")).exit_code == 0
    table = pq.read_table(tmp_path / "rows.parquet")
    assert table.column("id")[0].as_py() == "r0\n::add-mask::id\x1b[2J"  # ids still join
    assert set(table.column("label").to_pylist()) == set(CLASSES)


def test_multilabel_loss_columns_are_escaped(tmp_path: Path) -> None:
    names = ("a\n::add-mask::m", "b\x1b[31m")
    columns: dict[str, Any] = {}
    for j, name in enumerate(names):
        columns[f"label_{name}"] = [1, 0, 1, 0][j:] + [1, 0][:j]
        columns[f"logit_{name}"] = [0.5, -0.2, 1.0, 0.3][j:] + [0.1, 0.2][:j]
    path = tmp_path / "multi.parquet"
    pq.write_table(pa.table(columns), path)
    result = run("score", str(path), "--reduction", "none", "--format", "csv")
    check_result(result, "multi-label rows", github=False)
    header = result.stdout.splitlines()[0]
    assert one_line(f"loss_{names[0]}") in header and len(result.stdout.splitlines()) == 5


# ---------------------------------------------------------------------- CI outputs
def test_check_junit_summary_and_annotations(hostile: Path, tmp_path: Path) -> None:
    import junitparser

    env = github_env(tmp_path)
    junit = tmp_path / "junit.xml"
    result = run("check", str(hostile), "--min-class-recall", "0.9", "--junit", str(junit), env=env)
    check_result(result, "check --junit (github)", github=True, codes=(1,))
    annotations = [x for x in result.stderr.splitlines() if x.startswith("::error ")]
    assert len(annotations) == len(CLASSES)
    assert "cat%0A%3A%3Aadd-mask%3A%3Asecret" in annotations[0]  # percent-encoded property
    xml = junit.read_text()
    assert_clean(xml, "junit.xml")
    ET.fromstring(xml)
    suites = junitparser.JUnitXml.fromfile(str(junit))
    cases = [case for suite in suites for case in suite]
    assert [case.name for case in cases] == [f"class_recall[{one_line(c)}] >= 0.9" for c in CLASSES]
    summary = (tmp_path / "summary.md").read_text()
    assert_clean(summary, "step summary")
    assert table_shapes(summary) == [(len(CLASSES), 6)]


def test_junit_error_case_is_clean(hostile: Path, tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    args = ("--label-col", "nope", "--max-loss", "1", "--junit", str(junit))
    result = run("check", str(hostile), *args)
    assert result.exit_code == 2
    xml = junit.read_text()
    assert_clean(xml, "junit error")
    root = ET.fromstring(xml)
    error = next(root.iter("error"))
    assert "prob_cat\\n::add-mask::secret" in error.get("message", "")


@pytest.mark.parametrize("github", [False, True], ids=["plain", "github"])
def test_an_error_that_lists_columns_is_one_clean_line(
    hostile: Path, tmp_path: Path, github: bool
) -> None:
    env = github_env(tmp_path) if github else {}
    result = run("score", str(hostile), "--label-col", "nope", env=env)
    check_result(result, "error listing columns", github, codes=(2,))
    lines = [x for x in result.stderr.splitlines() if not OWN_COMMAND.fullmatch(x)]
    assert len(lines) == 1 and lines[0].startswith("ce: error: ")
    assert "prob_cat\\n::add-mask::secret" in lines[0]


# ---------------------------------------------------------------------- plots
@pytest.mark.parametrize("command", ["weights", "calibrate"])
def test_svg_plots_are_well_formed(hostile: Path, tmp_path: Path, command: str) -> None:
    pytest.importorskip("matplotlib")
    svg = tmp_path / f"{command}.svg"
    result = run(command, str(hostile), "--plot", str(svg), "--format", "json")
    check_result(result, f"{command} --plot", github=False)
    text = svg.read_text()
    assert_clean(text, f"{command} svg")
    assert ET.fromstring(text).tag.endswith("svg")


def test_row_csv_escapes_every_text_type() -> None:
    from ce_cli.render.rows import escape_text

    batch = pa.RecordBatch.from_pydict(
        {
            "b\n": pa.array([b"a\nb\xff", None], pa.binary()),
            "d": pa.array(["x\ny", "z"]).dictionary_encode(),
            "n": [1, 2],
            "s": ["ok", None],
        }
    )
    escaped = escape_text(batch)
    assert escaped.schema.names == ["b\\n", "d", "n", "s"]
    assert escaped.column(0).to_pylist() == ["a\\nb\\xff", None]
    assert escaped.column(1).to_pylist() == ["x\\ny", "z"]
    assert escaped.column(2).equals(batch.column(2)) and escaped.column(3).equals(batch.column(3))
    assert escape_text(escaped) is escaped  # nothing to escape: the same batch


def test_a_colour_terminal_gets_only_rich_own_escapes() -> None:
    from ce_cli.render.formats import render_text
    from ce_cli.report.view import Table, View

    view = View(
        title=f"ce weights · {FILE_NAME}",
        summary=[("N", 3), ("task", CLASSES[2])],
        tables=[Table(["class", f"n{CLASSES[0]}"], [[c, 1] for c in CLASSES], caption=GROUPS[1])],
        warnings=[f"class {CLASSES[2]} is rare"],
        notes=[f"classes from {CLASSES[1]}"],
    )
    text = render_text(view, color=True, width=200)
    assert "\x1b]" not in text and "\x07" not in text and "\r" not in text  # no OSC, BEL, CR
    assert "\x1b[31m" not in text  # the data's red: rich writes its codes as \x1b[1m, \x1b[2m…
    assert "[bold]" in text and one_line(CLASSES[0]) in text
