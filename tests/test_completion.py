"""Shell completion (issue 13): file names for file arguments and options, column names of the
file on the command line for column options — through click's completion API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather
import pytest
from click.shell_completion import ShellComplete

from ce_cli.cli.main import cli
from tests.conftest import ROOT, sample

MULTICLASS = ["id", "label", "logit_cat", "logit_dog", "logit_bird", "logit_fish", "logit_horse"]


def complete(args: list[str], incomplete: str) -> list[tuple[str, str]]:
    """(type, value) of each completion of ``ce ARGS INCOMPLETE<Tab>``."""
    items = ShellComplete(cli, {}, "ce", "_CE_COMPLETE").get_completions(args, incomplete)
    return [(item.type, item.value) for item in items]


@pytest.mark.parametrize(
    "args",
    [
        ["score"],
        ["weights"],
        ["score", "x.csv", "--labels"],
        ["check", "x.csv", "--baseline"],
        ["check", "x.csv", "--junit"],
        ["check", "x.csv", "--config"],
        ["calibrate", "x.csv", "--plot"],
        ["calibrate", "x.csv", "--save-temperature"],
        ["score", "x.csv", "-o"],
        ["weights", "x.csv", "--output"],
    ],
)
def test_file_arguments_and_options_complete_file_names(args: list[str]) -> None:
    """click answers "file": the shell then lists the matching files itself."""
    assert complete(args, "sample_data/mul") == [("file", "sample_data/mul")]


@pytest.mark.parametrize(
    "option", ["--label-col", "--pred-cols", "--id-col", "--weight-col", "--mask-col", "--on"]
)
def test_column_options_complete_the_columns_of_the_file(option: str) -> None:
    got = complete(["score", sample("multiclass.csv"), option], "")
    assert got == [("plain", name) for name in MULTICLASS]
    assert complete(["score", sample("multiclass.csv"), option], "logit_d") == [
        ("plain", "logit_dog")
    ]


def test_columns_of_parquet_directories_and_labels_files() -> None:
    parquet = complete(["check", sample("multiclass.parquet"), "--weight-col"], "w")
    assert parquet == [("plain", "weight")]
    hive = complete(["score", sample("eval_by_country"), "--group-by"], "")
    assert ("plain", "country") in hive and ("plain", "logit_cat") in hive  # partition key too
    joined = complete(
        ["score", sample("preds.csv"), "--labels", sample("labels.csv"), "--label-col"], "la"
    )
    assert joined == [("plain", "label")]  # the label column is in the labels file


def test_comma_lists_and_where_expressions() -> None:
    got = complete(["score", sample("multiclass.csv"), "--pred-cols"], "logit_cat,logit_b")
    assert got == [("plain", "logit_cat,logit_bird")]
    where = complete(["score", sample("eval_by_country"), "--where"], "cou")
    assert where == [("plain", "country")]
    assert complete(["score", sample("eval_by_country"), "--where"], "country=") == []


def test_arrow_jsonl_and_compressed_csv(tmp_path: Path) -> None:
    table = pa.table({"label": [0, 1], "prob": [0.2, 0.7]})
    feather.write_feather(table, tmp_path / "a.arrow")
    (tmp_path / "b.jsonl").write_text('{"y": 1, "score": 0.3}\n')
    import gzip

    with gzip.open(tmp_path / "c.tsv.gz", "wt") as fh:
        fh.write("target\tlogit_a\tlogit_b\n1\t0.1\t0.2\n")
    assert complete(["score", str(tmp_path / "a.arrow"), "--label-col"], "") == [
        ("plain", "label"),
        ("plain", "prob"),
    ]
    assert complete(["score", str(tmp_path / "b.jsonl"), "--label-col"], "") == [
        ("plain", "y"),
        ("plain", "score"),
    ]
    assert complete(["score", str(tmp_path / "c.tsv.gz"), "--pred-cols"], "logit_") == [
        ("plain", "logit_a"),
        ("plain", "logit_b"),
    ]


def test_no_file_or_an_unreadable_one_completes_nothing(tmp_path: Path) -> None:
    assert complete(["score", "--label-col"], "") == []
    assert complete(["score", str(tmp_path / "missing.csv"), "--label-col"], "") == []
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    assert complete(["score", str(tmp_path / "bad.parquet"), "--label-col"], "") == []


def test_the_shell_script_hook_answers_fast_without_numpy() -> None:
    """What bash runs on <Tab>: reads the CSV header only (no numpy, no pyarrow)."""
    code = (
        "import sys\n"
        "from click.shell_completion import ShellComplete\n"
        "from ce_cli.cli.main import cli\n"
        "c = ShellComplete(cli, {}, 'ce', '_CE_COMPLETE')\n"
        f"got = [i.value for i in c.get_completions(['score', {sample('multiclass.csv')!r}, "
        "'--label-col'], 'lab')]\n"
        "print(got, 'numpy' in sys.modules, 'pyarrow' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=os.environ
    )
    assert out.stdout.strip() == "['label'] False False", out.stderr


def test_bash_source_script_is_generated() -> None:
    env = {**os.environ, "_CE_COMPLETE": "bash_source"}
    out = subprocess.run(
        [sys.executable, "-c", "from ce_cli.cli.main import main; main()"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert "_ce_completion" in out.stdout and "complete -o nosort -F" in out.stdout
