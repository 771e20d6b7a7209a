"""Several files as one input: paths, directories, globs; schema disagreements name the file."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_user_error, run, sample


def shard(tmp_path: Path, parts: int = 4) -> list[str]:
    table = pq.read_table(sample("multiclass.parquet"))
    step = table.num_rows // parts
    paths = []
    for i in range(parts):
        sub = tmp_path / f"day={i}"
        sub.mkdir()
        path = sub / f"part-{i}.parquet"
        pq.write_table(table.slice(i * step, step), path)
        paths.append(str(path))
    return paths


def score_json(*args: str) -> dict:
    result = run("score", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("batch_size", ["7", "65536"])
def test_directory_glob_and_paths_equal_one_file(tmp_path: Path, batch_size: str) -> None:
    paths = shard(tmp_path)
    whole = score_json(sample("multiclass.parquet"))
    for args in ([str(tmp_path)], [str(tmp_path / "*" / "*.parquet")], paths):
        got = score_json(*args, "--batch-size", batch_size)
        assert got["loss"]["mean"] == pytest.approx(whole["loss"]["mean"], rel=1e-12)
        assert got["n_samples"] == whole["n_samples"]
        assert [t["row"] for t in got["top"]] == [t["row"] for t in whole["top"]]
    weights = run("weights", str(tmp_path), "--format", "json")
    assert json.loads(weights.stdout)["n_samples"] == 4000


def test_csv_shards_with_other_inferred_types_are_cast(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("label,logit_a,logit_b\n0,1,2\n1,3,4\n")
    (tmp_path / "b.csv").write_text("label,logit_a,logit_b\n1,0.5,2.5\n")
    got = score_json(str(tmp_path))
    assert got["n_samples"] == 3


def test_missing_column_names_the_file(tmp_path: Path) -> None:
    shard(tmp_path, 2)
    bad = tmp_path / "day=1" / "part-1.parquet"
    pq.write_table(pq.read_table(bad).drop_columns(["prob_cat"]), bad)
    assert_user_error(run("score", str(tmp_path)), "part-1.parquet", "prob_cat")


def test_type_disagreement_names_the_file(tmp_path: Path) -> None:
    pq.write_table(
        pa.table({"label": ["cat", "dog"], "logit_cat": [1.0, 2.0], "logit_dog": [0.0, 1.0]}),
        tmp_path / "a.parquet",
    )
    pq.write_table(
        pa.table({"label": [1, 0], "logit_cat": ["x", "y"], "logit_dog": [0.0, 1.0]}),
        tmp_path / "b.parquet",
    )
    assert_user_error(run("score", str(tmp_path)), "b.parquet", "logit_cat")


def test_no_match_and_empty_directory(tmp_path: Path) -> None:
    assert_user_error(run("score", str(tmp_path / "*.parquet")), "no file matches")
    assert_user_error(run("score", str(tmp_path)), "holds no data file")
