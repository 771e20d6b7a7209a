"""``--format html`` (issue 13, part 6): one self-contained file per report, valid HTML
(html5lib in strict mode), every data-derived string escaped, charts as inline SVG, under
~1 MB for 1000 classes, and a page headless Chromium renders (its screenshot checked)."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import html5lib
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ce_cli.render.escape import html_text, one_line
from ce_cli.render.svg import BARS
from tests.conftest import run, sample
from tests.test_render_security import CLASSES, FILE_NAME, assert_clean, hostile  # noqa: F401

SVG = "{http://www.w3.org/2000/svg}"
COMMANDS = {
    "weights": ("weights",),
    "score": ("score",),
    "calibrate": ("calibrate", "--fit-temperature"),
    "check": ("check", "--max-ece", "0.01", "--min-class-recall", "0.5"),
}


def parse(text: str) -> Any:
    """The document as an element tree; any HTML parse error fails the test."""
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    return parser.parse(text)


def texts(root: Any) -> list[str]:
    """Every text node and attribute value of the parsed document."""
    out = []
    for element in root.iter():
        out += [element.text or "", element.tail or "", *element.attrib.values()]
    return out


def write_html(tmp_path: Path, *args: str, codes: tuple[int, ...] = (0, 1)) -> str:
    path = tmp_path / "report.html"
    result = run(*args, "-o", str(path))
    assert result.exit_code in codes, result.stderr
    assert f"ce: wrote {path}" in result.stderr
    return path.read_text(encoding="utf-8")


# ---------------------------------------------------------------------- escaping
def test_html_text_escapes_markup_quotes_controls_and_noncharacters() -> None:
    assert html_text("<script>&\"'x") == "&lt;script&gt;&amp;&quot;&#x27;x"
    assert html_text("a\nb\x1b[31m\u2028") == "a\\nb\\x1b[31m\\u2028"
    assert html_text("\ufdd0\U0001fffe😀") == "\\U0000fdd0\\U0001fffe😀"


# ---------------------------------------------------------------------- every command
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_writes_one_valid_self_contained_file(tmp_path: Path, command: str) -> None:
    text = write_html(tmp_path, *COMMANDS[command], sample("multiclass.csv"))
    root = parse(text)
    assert text.startswith("<!DOCTYPE html>")
    # nothing fetched: no src/href at all, the only URL is the SVG namespace, and a CSP says so
    for element in root.iter():
        assert not {"src", "href"} & set(element.attrib), element.tag
    assert text.replace("http://www.w3.org/2000/svg", "").count("://") == 0
    csp = root.find(".//meta[@http-equiv='Content-Security-Policy']")
    assert csp is not None and csp.get("content", "").startswith("default-src 'none'")
    assert [s.tag for s in root.iter("script")] == ["script"]  # ours: the table sorter
    assert root.find(".//table[@class='sortable']") is not None
    charts = list(root.iter(f"{SVG}svg"))
    assert charts, command
    stdout = run(*COMMANDS[command], sample("multiclass.csv"), "--format", "html")
    assert stdout.stdout == text  # --format html on stdout is the same document


def test_score_shows_the_loss_chart_the_frequencies_and_top_rows(tmp_path: Path) -> None:
    root = parse(write_html(tmp_path, "score", sample("multiclass.csv")))
    labels = [svg.get("aria-label") for svg in root.iter(f"{SVG}svg")]
    assert labels == ["mean loss per class", "class frequencies (support / Σ support)"]
    captions = [c.text for c in root.iter("caption")]
    assert any(c and c.startswith("top ") for c in captions), captions
    bars = root.find(f".//{SVG}svg").findall(f"{SVG}rect")
    assert len(bars) == 5  # cat, dog, bird, fish, horse


def test_check_puts_the_verdict_and_failures_first(tmp_path: Path) -> None:
    text = write_html(tmp_path, *COMMANDS["check"], sample("multiclass.csv"), codes=(1,))
    root = parse(text)
    main = root.find(".//main")
    first = main[1]  # after the h1
    assert first.tag == "section" and first.get("class") == "verdict fail"
    assert first.find("h2").text.startswith("FAILED 2 of ")
    failures = [li.text for li in first.iter("li")]
    assert failures == [
        "ece = 0.0834117 is above the limit 0.01 (--max-ece 0.01)",
        "class_recall[horse] = 0.340541 is below the limit 0.5 (--min-class-recall 0.5)",
    ]
    cells = [td.get("class") for td in root.iter("td") if td.text in ("pass", "FAIL")]
    assert cells.count("fail") == 2 and "pass" in cells


def test_passing_check_says_passed(tmp_path: Path) -> None:
    root = parse(write_html(tmp_path, "check", sample("multiclass.csv"), "--max-loss", "5"))
    verdict = root.find(".//section")
    assert verdict.get("class") == "verdict pass"
    assert verdict.find("h2").text == "PASSED 1 of 1 checks"


def test_calibration_diagram_is_inline_svg_that_parses_as_xml(tmp_path: Path) -> None:
    text = write_html(tmp_path, "calibrate", sample("binary.csv"), "--confidence", "positive")
    svg = text[text.index("<svg") : text.index("</svg>") + len("</svg>")]
    tree = ET.fromstring(svg)  # the chart alone is well-formed XML too
    words = [t.text for t in tree.iter(f"{SVG}text")]
    assert "fraction of positives" in words and "mean P(y=1)" in words
    assert "gap: fraction of positives > mean P(y=1)" in words
    assert "n=3" in words  # sparse bins show their count


# ---------------------------------------------------------------------- hostile names
@pytest.mark.parametrize("command", list(COMMANDS))
def test_hostile_names_are_escaped(hostile: Path, tmp_path: Path, command: str) -> None:  # noqa: F811
    args = (*COMMANDS[command], str(hostile))
    result = run(*args, "--format", "html")
    assert result.exit_code in (0, 1), result.stderr
    text = result.stdout
    assert_clean(text, f"{command} html")
    root = parse(text)  # strict: a raw '<script>' or quote from the data would break it
    assert [s.tag for s in root.iter("script")] == ["script"]
    assert not [e for e in root.iter() if e.tag in ("bold", "x")]
    found = "\n".join(texts(root))
    for name in CLASSES:  # the names read back as text, controls visible
        assert one_line(name) in found, (command, name)
    assert one_line(FILE_NAME) in root.find(".//title").text
    for line in text.splitlines():  # data never starts a line (no workflow command)
        if "add-mask" in line:
            assert line.startswith("<"), line


# ---------------------------------------------------------------------- size
@pytest.fixture(scope="module")
def thousand_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(3)
    n, c = 3000, 1000
    p = 1 / (np.arange(c) + 10.0)
    labels = rng.choice(c, n, p=p / p.sum())
    logits = rng.normal(size=(n, c)).astype(np.float32)
    logits[np.arange(n), labels] += 4
    names = [f"class_{k:04d}_with_a_longer_name" for k in range(c)]
    columns: dict[str, Any] = {"label": [names[k] for k in labels]}
    columns.update({f"logit_{name}": logits[:, j] for j, name in enumerate(names)})
    path = tmp_path_factory.mktemp("c1000") / "c1000.parquet"
    pq.write_table(pa.table(columns), path)
    return path


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_thousand_classes_stay_under_a_megabyte(
    thousand_classes: Path, tmp_path: Path, command: str
) -> None:
    text = write_html(tmp_path, *COMMANDS[command], str(thousand_classes))
    size = len(text.encode("utf-8"))
    assert 20_000 < size < 1_000_000, size
    parse(text)


# ---------------------------------------------------------------------- in a browser
def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.skip(
        "chromium is not installed, so the HTML report is not rendered in a browser here "
        "(Debian: apt-get install chromium; .ci/run installs it when it can)"
    )


def screenshot(html: Path, png: Path, tmp_path: Path) -> Any:
    import matplotlib.image

    subprocess.run(
        [
            chromium(),
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={png}",
            "--window-size=1200,2000",
            html.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return matplotlib.image.imread(str(png))


def near(image: Any, colour: str, tolerance: float = 0.04) -> int:
    """How many pixels are within ``tolerance`` (per channel) of ``#rrggbb``."""
    rgb = np.array([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(image[:, :, :3] - rgb) <= tolerance).all(axis=2).sum())


@pytest.mark.parametrize(
    ("command", "colour"), [("calibrate", BARS), ("check", "#c62828"), ("weights", "#55A868")]
)
def test_headless_chromium_renders_the_report(tmp_path: Path, command: str, colour: str) -> None:
    chromium()
    html = tmp_path / "report.html"
    html.write_text(write_html(tmp_path, *COMMANDS[command], sample("multiclass.csv")))
    image = screenshot(html, tmp_path / "shot.png", tmp_path)
    assert image.shape[:2] == (2000, 1200)
    background = near(image, "#f6f7f9", 0.01)
    assert background < 0.95 * 2000 * 1200  # not blank: text, tables and charts drawn
    assert near(image, "#222222", 0.15) > 2000  # dark text
    assert near(image, colour) > 1500, command  # the chart's bars / the red verdict


def test_in_github_actions_stdout_is_left_whole_and_no_line_starts_with_data(
    hostile: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Like JSON, the page is escaped by construction: it is not wrapped in stop-commands lines
    (a browser would show them), because every line that holds data starts with a tag and
    every other line is ce's own CSS or JavaScript."""
    from ce_cli.render.html import SCRIPT, STYLE

    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    result = run("score", str(hostile), "--group-by", "grp", "--format", "html", env=env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("<!DOCTYPE html>")
    own = set(STYLE.splitlines()) | set(SCRIPT.splitlines())
    for line in result.stdout.splitlines():
        assert line.startswith("<") or line in own, line


def test_clicking_a_header_sorts_its_table_in_chromium(tmp_path: Path) -> None:
    """The inline sorter, run by the browser: a click on "count" sorts ascending by number, a
    second click descending."""
    chromium()
    text = write_html(tmp_path, "weights", sample("multiclass.csv"))
    clicks = '<script>var th = document.querySelectorAll("th")[2]; th.click();</script>'
    orders = []
    for n in (1, 2):
        page = tmp_path / f"clicked{n}.html"
        page.write_text(text.replace("</body>", clicks * n + "\n</body>"))
        dom = subprocess.run(
            [
                chromium(),
                "--headless",
                "--disable-gpu",
                "--no-sandbox",
                f"--user-data-dir={tmp_path / 'profile'}",
                "--dump-dom",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=180,
        ).stdout
        rows = parse(dom).find(".//tbody").findall("tr")
        orders.append([row[0].text for row in rows])
        assert parse(dom).find(".//th[@aria-sort]").text == "count"
    assert orders[0] == ["horse", "fish", "bird", "dog", "cat"]
    assert orders[1] == ["cat", "dog", "bird", "fish", "horse"]
