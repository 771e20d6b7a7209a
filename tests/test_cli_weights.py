"""`ce weights` end to end: every sample layout, output formats, options, streaming invariants."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, run, run_json, sample

CLASSES = ["cat", "dog", "bird", "fish", "horse"]


def expected_balanced(counts: np.ndarray) -> np.ndarray:
    return counts.sum() / (counts * len(counts))


def test_multiclass_string_labels_hand_computed() -> None:
    df = pd.read_csv(sample("multiclass.csv"))
    counts = df["label"].value_counts().reindex(CLASSES).to_numpy(dtype=float)
    report = run_json("weights", sample("multiclass.csv"))
    assert [c["name"] for c in report["classes"]] == CLASSES  # order of the logit_* columns
    assert [c["index"] for c in report["classes"]] == list(range(5))
    np.testing.assert_allclose([c["count"] for c in report["classes"]], counts)
    np.testing.assert_allclose(report["weights"], expected_balanced(counts), rtol=1e-12)
    np.testing.assert_allclose(
        [c["frequency"] for c in report["classes"]], counts / counts.sum(), rtol=1e-12
    )
    assert report["task"] == "multiclass"
    assert report["n_samples"] == 4000 and report["n_classes"] == 5
    assert report["imbalance_ratio"] == pytest.approx(counts.max() / counts.min())
    p = counts / counts.sum()
    assert report["normalized_entropy"] == pytest.approx(-(p * np.log(p)).sum() / np.log(5))
    assert report["schema_version"] == 1 and report["warnings"] == []


def test_parquet_integer_labels_equal_csv_string_labels() -> None:
    # multiclass.parquet holds the same rows, labels as integer indices.
    a = run_json("weights", sample("multiclass.csv"))
    b = run_json("weights", sample("multiclass.parquet"))
    assert a["weights"] == b["weights"]
    assert [c["name"] for c in b["classes"]] == CLASSES


def test_binary_matches_seed_and_gives_pos_weight() -> None:
    y = pd.read_csv(sample("binary.csv"))["label"].to_numpy()
    n, n1 = len(y), int(y.sum())
    report = run_json("weights", sample("binary.csv"))
    assert report["task"] == "binary"
    np.testing.assert_allclose(report["weights"], [n / (2 * (n - n1)), n / (2 * n1)])
    assert report["classes"][1]["pos_weight"] == pytest.approx((n - n1) / n1)
    assert report["classes"][0]["pos_weight"] is None
    assert report["pos_weight"] == [None, pytest.approx((n - n1) / n1)]


def test_boolean_labels_are_binary() -> None:
    report = run_json("weights", sample("binary_probs.parquet"))
    y = pq.read_table(sample("binary_probs.parquet")).column("label").to_pylist()
    assert report["task"] == "binary"
    assert [c["name"] for c in report["classes"]] == ["False", "True"]
    assert [c["count"] for c in report["classes"]] == [y.count(False), y.count(True)]


def test_multilabel_multi_hot_matches_seed() -> None:
    df = pd.read_csv(sample("multilabel.csv"))
    y = df[[c for c in df.columns if c.startswith("label_")]].to_numpy(dtype=float)
    report = run_json("weights", sample("multilabel.csv"))
    assert report["task"] == "multilabel" and report["target_kind"] == "multi-hot"
    pos = y.sum(axis=0)
    np.testing.assert_allclose(report["weights"], len(y) / (pos * y.shape[1]))  # seed formula
    np.testing.assert_allclose(report["pos_weight"], (len(y) - pos) / pos)


def test_multilabel_list_column_equals_multi_hot() -> None:
    a = run_json("weights", sample("multilabel.csv"))
    b = run_json(
        "weights",
        sample("multilabel_lists.parquet"),
        "--classes",
        sample("multilabel_classes.txt"),
    )
    assert a["weights"] == b["weights"] and a["pos_weight"] == b["pos_weight"]


def test_soft_targets_count_probability_mass() -> None:
    table = pq.read_table(sample("soft_targets.parquet"))
    mass = np.array([table.column(f"label_{c}").to_numpy().sum(dtype=np.float64) for c in CLASSES])
    report = run_json("weights", sample("soft_targets.parquet"))
    assert report["target_kind"] == "soft" and report["task"] == "multiclass"
    np.testing.assert_allclose([c["count"] for c in report["classes"]], mass, rtol=1e-9)
    assert any("soft targets" in note for note in report["notes"])


def test_labels_file_joined_on_key_and_by_row_order(tmp_path: Path) -> None:
    joined = run_json(
        "weights", sample("preds.csv"), "--labels", sample("labels.csv"), "--on", "id"
    )
    labels = pd.read_csv(sample("labels.csv"))
    counts = labels["label"].value_counts().reindex(CLASSES).to_numpy(dtype=float)
    np.testing.assert_allclose([c["count"] for c in joined["classes"]], counts)
    # The same labels in the predictions' row order, without an id column: row-order alignment.
    preds = pd.read_csv(sample("preds.csv"))
    ordered = labels.set_index("id").loc[preds["id"]].reset_index()[["label"]]
    ordered.to_csv(tmp_path / "ordered.csv", index=False)
    by_order = run_json("weights", sample("preds.csv"), "--labels", str(tmp_path / "ordered.csv"))
    assert by_order["weights"] == joined["weights"]


def test_ignore_index_rows_leave_counts_and_are_reported() -> None:
    df = pd.read_csv(sample("segmentation_ignore.csv"))
    kept = df["label"][df["label"] != -100]
    report = run_json("weights", sample("segmentation_ignore.csv"))
    assert report["n_samples"] == len(kept) and report["n_ignored"] == int(
        (df["label"] == -100).sum()
    )
    np.testing.assert_allclose(
        [c["count"] for c in report["classes"]], kept.value_counts().sort_index().to_numpy()
    )
    assert any("--ignore-index" in w for w in report["warnings"])


def test_weight_col_sums_sample_weights() -> None:
    table = pq.read_table(sample("multiclass.parquet")).to_pandas()
    sums = table.groupby("label")["weight"].sum().sort_index().to_numpy()
    report = run_json("weights", sample("multiclass.parquet"), "--weight-col", "weight")
    np.testing.assert_allclose([c["count"] for c in report["classes"]], sums)
    np.testing.assert_allclose(report["weights"], sums.sum() / (5 * sums))
    assert report["total_weight"] == pytest.approx(sums.sum())


def test_mask_col_leaves_rows_out(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("label,keep\n0,1\n1,0\n1,1\n2,true\n".replace("true", "1"))
    report = run_json("weights", path, "--mask-col", "keep")
    assert [c["count"] for c in report["classes"]] == [1, 1, 1] and report["n_masked"] == 1


@pytest.mark.parametrize(
    ("scheme", "extra", "formula"),
    [
        ("inverse", [], lambda n, N, C: N / n),
        ("sqrt-inverse", [], lambda n, N, C: np.sqrt(N / n)),
        ("median", [], lambda n, N, C: np.median(n / N) / (n / N)),
        (
            "effective",
            ["--beta", "0.99"],
            lambda n, N, C: C * ((1 - 0.99) / (1 - 0.99**n)) / ((1 - 0.99) / (1 - 0.99**n)).sum(),
        ),
    ],
)
def test_schemes_through_cli(scheme, extra, formula) -> None:  # type: ignore[no-untyped-def]
    report = run_json("weights", sample("multiclass.csv"), "--scheme", scheme, *extra)
    n = np.array([c["count"] for c in report["classes"]])
    np.testing.assert_allclose(report["weights"], formula(n, n.sum(), len(n)), rtol=1e-12)
    assert report["scheme"] == scheme


def test_declared_classes_absent_from_data_show_zero_and_null(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("label\ncat\ndog\ncat\n")
    report = run_json("weights", path, "--classes", "cat,dog,bird")
    assert [c["count"] for c in report["classes"]] == [2, 1, 0]
    assert report["classes"][2]["weight"] is None and report["weights"][2] is None
    assert report["zero_count_classes"] == ["bird"]
    assert any("'bird'" in w and "undefined" in w for w in report["warnings"])
    table = run("weights", path, "--classes", "cat,dog,bird").stdout
    assert "—" in table and "nan" not in table.lower() and "inf" not in table.lower()


def test_num_classes_and_one_based_warning(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("label\n1\n2\n3\n3\n")
    report = run_json("weights", path)
    assert [c["name"] for c in report["classes"]] == ["0", "1", "2", "3"]
    assert any("1-based" in w for w in report["warnings"])
    report = run_json("weights", path, "--num-classes", "5")
    assert [c["count"] for c in report["classes"]] == [0, 1, 1, 2, 0]


def test_string_classes_without_class_list_are_sorted(write_csv) -> None:  # type: ignore[no-untyped-def]
    a = run_json("weights", write_csv("label\nzebra\napple\nmango\napple\n", "a.csv"))
    b = run_json("weights", write_csv("label\napple\nmango\napple\nzebra\n", "b.csv"))
    assert [c["name"] for c in a["classes"]] == ["apple", "mango", "zebra"]
    assert a["classes"] == b["classes"] and a["task"] == "multiclass"


def test_one_hot_columns_with_task_multiclass(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("label_a,label_b,label_c\n1,0,0\n0,0,1\n1,0,0\n")
    assert run_json("weights", path)["task"] == "multilabel"
    report = run_json("weights", path, "--task", "multiclass")
    assert report["task"] == "multiclass" and [c["count"] for c in report["classes"]] == [2, 0, 1]


@pytest.mark.parametrize("batch_size", ["1", "7", "1000", "1000000"])
def test_batch_size_does_not_change_the_result(batch_size: str) -> None:
    for name, extra in [
        ("multiclass.csv", []),
        ("multiclass.parquet", ["--weight-col", "weight"]),
        ("multilabel.csv", []),
        ("segmentation_ignore.csv", []),
    ]:
        base = run_json("weights", sample(name), *extra)
        other = run_json("weights", sample(name), *extra, "--batch-size", batch_size)
        assert other == base, name


def test_row_order_does_not_change_the_result(tmp_path: Path) -> None:
    df = pd.read_csv(sample("multiclass.csv"))
    df.sample(frac=1.0, random_state=3).to_csv(tmp_path / "shuffled.csv", index=False)
    a = run_json("weights", sample("multiclass.csv"))
    b = run_json("weights", str(tmp_path / "shuffled.csv"))
    assert a["classes"] == b["classes"]


def test_every_format_gives_the_same_weights(tmp_path: Path) -> None:
    table = pq.read_table(sample("multiclass.parquet"), columns=["id", "label", "weight"])
    import pyarrow.csv as pacsv
    import pyarrow.feather as feather

    pacsv.write_csv(table, tmp_path / "d.csv")
    pacsv.write_csv(table, tmp_path / "d.tsv", pacsv.WriteOptions(delimiter="\t"))
    for codec, ext in [("gzip", "gz"), ("bz2", "bz2"), ("zstd", "zst")]:
        with pa.CompressedOutputStream(str(tmp_path / f"d.csv.{ext}"), codec) as out:
            pacsv.write_csv(table, out)
    pq.write_table(table, tmp_path / "d.pq")
    feather.write_feather(table, tmp_path / "d.feather")
    feather.write_feather(table, tmp_path / "d.arrow")
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in table.to_pylist()) + "\n")
    base = run_json("weights", sample("multiclass.parquet"))["weights"]
    for f in sorted(tmp_path.iterdir()):
        assert run_json("weights", str(f))["weights"] == base, f.name
    # --input-format overrides the extension; '-' reads CSV from stdin.
    shutil.copy(tmp_path / "d.csv", tmp_path / "d.data")
    assert run_json("weights", str(tmp_path / "d.data"), "--input-format", "csv")["weights"] == base
    result = run("weights", "-", "--format", "json", input=(tmp_path / "d.csv").read_bytes())
    assert result.exit_code == 0 and json.loads(result.stdout)["weights"] == base


def test_output_formats(tmp_path: Path) -> None:
    path = sample("multiclass.csv")
    md = run("weights", path, "--format", "markdown").stdout
    assert md.startswith("## ce weights") and "| cat | 0 | 1662 |" in md
    csv_text = run("weights", path, "--format", "csv").stdout
    assert csv_text.splitlines()[0] == "name,index,count,frequency,weight"
    assert len(csv_text.splitlines()) == 6
    table = run("weights", path).stdout
    assert "\x1b[" not in table and "cat" in table and "multiclass" in table
    for ext in ("json", "csv", "md", "txt"):
        out = tmp_path / f"w.{ext}"
        result = run("weights", path, "-o", str(out))
        assert result.exit_code == 0 and result.stdout == ""
        assert out.exists() and "wrote" in result.stderr
    assert json.loads((tmp_path / "w.json").read_text())["kind"] == "weights"
    assert list(tmp_path.glob(".w.*")) == []  # no temp files left behind


def test_json_stdout_is_pure_and_warnings_go_to_stderr(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("label\ncat\ndog\n")
    result = run("weights", path, "--classes", "cat,dog,bird", "--format", "json")
    report = json.loads(result.stdout)  # nothing but JSON on stdout
    assert report["warnings"] and "ce: warning:" in result.stderr


def test_json_never_holds_nan_or_inf(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("label\n0\n0\n")
    result = run("weights", path, "--num-classes", "3", "--format", "json")
    assert "NaN" not in result.stdout and "Infinity" not in result.stdout
    json.loads(result.stdout)


def test_installed_console_script_and_module() -> None:
    env = {**os.environ, "NO_COLOR": "1"}
    exe = shutil.which("ce", path=str(Path(sys.executable).parent))
    assert exe, "the ce console script is installed next to the interpreter"
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, env=env)
    assert version.returncode == 0 and "0.1.0" in version.stdout
    helptext = subprocess.run([exe, "--help"], capture_output=True, text=True, env=env).stdout
    assert "weights" in helptext and "Class frequencies" in helptext
    out = subprocess.run(
        [sys.executable, "-m", "ce_cli", "weights", sample("binary.csv"), "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert out.returncode == 0 and json.loads(out.stdout)["task"] == "binary"
    bad = subprocess.run([exe, "weights", "nope.csv"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and bad.stderr.startswith("ce: error: nope.csv")


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys; from ce_cli.cli.main import cli; "
        "heavy = [m for m in ('pandas', 'pyarrow', 'numpy', 'rich') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]"


def test_weights_on_parquet_does_not_import_pandas() -> None:
    code = (
        "import sys; from ce_cli.io.dataset import InputOptions; "
        "from ce_cli.report.weights import compute_weights; "
        f"compute_weights(InputOptions({sample('multiclass.parquet')!r})); "
        "print('pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_nothing_counted_is_an_error(write_csv) -> None:  # type: ignore[no-untyped-def]
    """Every label ignored, every row masked or every sample weight 0: exit 2 and one line
    naming the file and the reason (as ce score), never N = 0 with null weights."""
    from conftest import assert_user_error

    ignored = write_csv("label,w,m\n-100,1,1\n-100,2,1\n", "ignored.csv")
    result = run("weights", ignored)
    assert_user_error(result)
    assert result.stderr == (
        f"ce: error: {ignored}: no class counts, so no class weights: every row was left "
        "out: 2 rows with label -100 (--ignore-index)\n"
    )
    masked = write_csv("label,m\n0,0\n-100,1\n", "masked.csv")
    result = run("weights", masked, "--mask-col", "m")
    assert result.stderr == (
        f"ce: error: {masked}: no class counts, so no class weights: every row was left out: "
        "1 rows with label -100 (--ignore-index); 1 rows with a false m (--mask-col)\n"
    )
    weightless = write_csv("label,w\n0,0\n1,0\n", "weightless.csv")
    result = run("weights", weightless, "--weight-col", "w", "--format", "json")
    assert_user_error(result)
    assert result.stderr == (
        f"ce: error: {weightless}: no class counts, so no class weights: every used row has "
        "sample weight 0 (--weight-col w)\n"
    )
    grouped = run("weights", ignored, "--group-by", "w")
    assert_user_error(grouped, "every row was left out")


def test_an_empty_group_is_only_a_warning(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv("g,label\nx,0\nx,1\ny,-100\n")
    report = run_json("weights", path, "--group-by", "g")
    assert report["n_samples"] == 2
    groups = {g["value"]: g for g in report["groups"]}
    assert groups["y"]["n_samples"] == 0 and groups["y"]["weights"] == [None, None]


def test_library_checks_beta_once() -> None:
    from ce_cli.core.errors import CEError
    from ce_cli.io.dataset import InputOptions
    from ce_cli.report.weights import compute_weights

    with pytest.raises(CEError, match=r"^--beta must be in \[0, 1\), not 1.0$"):
        compute_weights(InputOptions(sample("binary.csv")), scheme="effective", beta=1.0)


def test_schema_vocabularies_are_the_option_vocabularies() -> None:
    """The weights schema's enums and bounds are the CLI's (one vocabulary, core/vocab.py)."""
    from importlib import resources

    from ce_cli.core.vocab import TASKS, WEIGHT_SCHEMES, TargetKind

    text = resources.files("ce_cli").joinpath("schemas", "weights.json").read_text("utf-8")
    props = json.loads(text)["properties"]
    assert props["scheme"]["enum"] == list(WEIGHT_SCHEMES)
    assert props["task"]["enum"] == list(TASKS)
    assert props["target_kind"]["enum"] == list(TargetKind.values())
    assert (props["beta"]["minimum"], props["beta"]["maximum"]) == (0, 1)
