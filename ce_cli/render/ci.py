"""What CI systems read from ``ce check``: JUnit XML, GitHub Actions annotations and the job
summary (Markdown, also ``--format markdown`` for a PR comment).

- JUnit: one ``<testcase>`` per check, a failed check as ``<failure>``, an error (exit 2) as
  one ``<testcase>`` with ``<error>``. GitLab (``artifacts:reports:junit``) and Jenkins
  (``junit``) read it; neither fails the job by itself — the exit code does.
- GitHub: ``::error``/``::warning`` workflow commands on stderr, escaped as
  ``actions/toolkit`` does, at most 10 of each per step (GitHub shows no more); the summary is
  appended to ``$GITHUB_STEP_SUMMARY`` (at most 1 MiB per step).

Data-derived text goes through ``render.escape`` for each medium (Markdown cells, XML text,
workflow-command values), so no control character from a file reaches the output.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ce_cli.render.escape import github_data, github_property, markdown, xml_text
from ce_cli.render.escape import in_github_actions as in_github_actions
from ce_cli.render.formats import fmt_number

if TYPE_CHECKING:
    from ce_cli.report.check import CheckReport

ANNOTATION_LIMIT = 10
SUMMARY_LIMIT = 1 << 20  # bytes per step
TITLE = "ce check"


# ---------------------------------------------------------------------- Markdown
def _cell(value: object) -> str:
    return markdown(fmt_number(value) if not isinstance(value, str) else value)


def markdown_summary(report: CheckReport) -> str:
    """A PR-comment / job-summary block: the verdict, the checks table, the warnings."""
    n, failed = len(report.checks), len(report.failed)
    if report.passed:
        head = f"### ✅ ce check passed: {n} of {n} checks"
    else:
        head = f"### ❌ ce check failed: {failed} of {n} checks"
    facts = [
        f"`{report.source.get('file', '')}`",
        report.task,
        f"N {fmt_number(report.n_samples)}",
        f"{report.loss_name} {fmt_number(report.metrics.get('loss'))}",
    ]
    if report.baseline is not None:
        b = report.baseline
        how = b.kind if b.matched_by is None else f"{b.kind}, rows matched by {b.matched_by}"
        if b.bootstrap:
            how += f", paired bootstrap × {b.bootstrap['replicates']}"
        facts.append(f"baseline `{b.file}` ({how})")
    lines = [head, "", " · ".join(_cell(f) for f in facts), ""]
    columns, rows = report.rows()
    lines.append("| " + " | ".join(["", *(_cell(c) for c in columns[:-1])]) + " |")
    lines.append("|:-:|" + "|".join(["---"] + ["--:"] * (len(columns) - 2)) + "|")
    for row in rows:
        mark = "✅" if row[-1] == "pass" else "❌"
        lines.append("| " + " | ".join([mark, *(_cell(v) for v in row[:-1])]) + " |")
    lines.append("")
    if report.failed:
        lines += ["**Failed**", ""] + [f"- {_cell(c.message)}" for c in report.failed] + [""]
    if report.warnings:
        lines += ["**Warnings**", ""] + [f"- {_cell(w)}" for w in report.warnings] + [""]
    if report.notes:
        lines += ["<details><summary>how</summary>", ""]
        lines += [f"- {_cell(n)}" for n in report.notes] + ["", "</details>", ""]
    return "\n".join(lines)


def _fit(text: str, limit: int = SUMMARY_LIMIT) -> str:
    if len(text.encode("utf-8")) <= limit:
        return text
    tail = "\n… (truncated to fit GitHub's 1 MiB step summary; see --format json)\n"
    budget = limit - len(tail.encode("utf-8"))
    return text.encode("utf-8")[:budget].decode("utf-8", "ignore").rsplit("\n", 1)[0] + tail


# ---------------------------------------------------------------------- GitHub Actions
def annotation(level: str, title: str, message: str) -> str:
    return f"::{level} title={github_property(title)}::{github_data(message)}"


def github_annotations(report: CheckReport) -> list[str]:
    """``::error`` per failed check and ``::warning`` per report warning (10 of each)."""
    file = report.source.get("file", "")
    errors = [
        annotation("error", f"{TITLE}: {c.name}", f"{file}: {c.message}") for c in report.failed
    ]
    warnings = [annotation("warning", TITLE, f"{file}: {w}") for w in report.warnings]
    return _limit(errors, "error", "failed checks") + _limit(warnings, "warning", "warnings")


def _limit(lines: list[str], level: str, what: str) -> list[str]:
    if len(lines) <= ANNOTATION_LIMIT:
        return lines
    more = len(lines) - (ANNOTATION_LIMIT - 1)
    return [
        *lines[: ANNOTATION_LIMIT - 1],
        annotation(level, TITLE, f"… and {more} more {what} (see the job summary)"),
    ]


def append_step_summary(text: str, env: Mapping[str, str] | None = None) -> str | None:
    """Append to ``$GITHUB_STEP_SUMMARY`` when it is set; returns the path written."""
    path = (os.environ if env is None else env).get("GITHUB_STEP_SUMMARY")
    if not path:
        return None
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(_fit(text) + "\n")
    return path


# ---------------------------------------------------------------------- JUnit XML
def _classname(file: str) -> str:
    stem = Path(file.split(" ")[0]).name or "input"
    return "ce.check." + "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in stem)


def _document(suite: ET.Element, tests: int, failures: int, errors: int, time: float) -> str:
    root = ET.Element(
        "testsuites",
        name=TITLE,
        tests=str(tests),
        failures=str(failures),
        errors=str(errors),
        time=f"{time:.3f}",
    )
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def junit_xml(report: CheckReport, time: float = 0.0) -> str:
    """One ``<testcase>`` per check; a failed check carries ``<failure>``."""
    file = str(report.source.get("file", ""))
    suite = ET.Element(
        "testsuite",
        name=xml_text(f"{TITLE}: {file}"),
        tests=str(len(report.checks)),
        failures=str(len(report.failed)),
        errors="0",
        skipped="0",
        time=f"{time:.3f}",
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("file", file),
        ("task", report.task),
        ("n_samples", report.n_samples),
        ("loss", report.loss_name),
        ("baseline", report.baseline.file if report.baseline else ""),
        ("fail_on", report.fail_on),
    ):
        ET.SubElement(props, "property", name=name, value=xml_text(str(value)))
    classname = _classname(file)
    for c in report.checks:
        case = ET.SubElement(
            suite, "testcase", classname=classname, name=xml_text(c.name), time="0"
        )
        if not c.passed:
            failure = ET.SubElement(case, "failure", message=xml_text(c.message), type=c.kind)
            failure.text = _failure_details(c)
    if report.notes:  # how it was checked: e.g. --auc turned on, metrics compared by value
        text = "\n".join(f"note: {xml_text(n)}" for n in report.notes)
        ET.SubElement(suite, "system-out").text = text
    if report.warnings:
        text = "\n".join(f"warning: {xml_text(w)}" for w in report.warnings)
        ET.SubElement(suite, "system-err").text = text
    return _document(suite, len(report.checks), len(report.failed), 0, time)


def _failure_details(c: Any) -> str:
    """value, threshold, and against a baseline the delta and its interval: one per line."""
    details = [f"value: {fmt_number(c.value)}", f"threshold: {c.op} {fmt_number(c.threshold)}"]
    if c.baseline is not None:
        details += [f"baseline: {fmt_number(c.baseline)}", f"delta: {fmt_number(c.delta)}"]
    if c.ci is not None:
        details.append(f"95% CI of delta: [{fmt_number(c.ci['low'])}, {fmt_number(c.ci['high'])}]")
    return "\n".join(details)


def junit_error_xml(message: str, file: str = "") -> str:
    """The run could not judge (exit 2): one test case with ``<error>``."""
    suite = ET.Element(
        "testsuite",
        name=xml_text(f"{TITLE}: {file}" if file else TITLE),
        tests="1",
        failures="0",
        errors="1",
        skipped="0",
        time="0.000",
    )
    case = ET.SubElement(suite, "testcase", classname=_classname(file), name=TITLE, time="0")
    ET.SubElement(case, "error", message=xml_text(message), type="error").text = xml_text(message)
    return _document(suite, 1, 0, 1, 0.0)
