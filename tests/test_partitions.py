"""Hive partition directories as columns, and ``--where`` row filters.

Every expectation is computed by hand with pandas: the rows kept by a boolean mask over the
same data, unpartitioned, written to one file and scored, and the loss recomputed in numpy.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_user_error, run

from ce_cli.io import formats
from ce_cli.io.dataset import Dataset, InputOptions
from ce_cli.io.where import InputRows, parse

CLASSES = ["a", "b", "c"]
# (country, day) in the order ce reads their directories: sorted paths, so day=10 < day=2
GROUPS = [("de", 10), ("de", 2), ("fr", 2), ("us", 10), ("us", 2)]


def frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Rows in the order ``partitioned`` files are read (sorted paths)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 3)) * 2
    group = np.sort(rng.integers(0, len(GROUPS), size=n))
    return pd.DataFrame(
        {
            "id": np.arange(1000, 1000 + n),
            "label": rng.integers(0, 3, size=n),
            "logit_a": logits[:, 0],
            "logit_b": logits[:, 1],
            "logit_c": logits[:, 2],
            "weight": rng.uniform(0.1, 1.0, size=n).round(3),
            "split": rng.choice(["train", "test", "val"], size=n),
            "country": [GROUPS[g][0] for g in group],
            "day": [GROUPS[g][1] for g in group],
        }
    )


def partitioned(root: Path, df: pd.DataFrame, fmt: str = "parquet") -> Path:
    """country=…/day=…/part-K files (two per group), without the partition columns."""
    for (country, day), part in df.groupby(["country", "day"], sort=False):
        sub = root / f"country={country}" / f"day={day}"
        sub.mkdir(parents=True)
        body = part.drop(columns=["country", "day"])
        half = len(body) // 2
        for k, piece in enumerate([body.iloc[:half], body.iloc[half:]]):
            if fmt == "parquet":
                piece.to_parquet(sub / f"part-{k}.parquet", index=False)
            else:
                piece.to_csv(sub / f"part-{k}.csv", index=False)
    return root


def as_json(*args: str) -> dict[str, Any]:
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def same_report(got: dict[str, Any], want: dict[str, Any], row_map: np.ndarray | None) -> None:
    """Equal (floats to 1e-12) but for the file name and notes; ``want``'s top rows mapped
    through ``row_map`` (its 0-based input rows)."""
    for report in (got, want):
        report.pop("source", None), report.pop("notes", None), report["inputs"].pop("file", None)
    if row_map is not None:
        for t in want["top"]:
            t["row"] = int(row_map[t["row"]])  # rows 0-based
    assert_close(got, want)


def assert_close(got: Any, want: Any, where: str = "") -> None:
    if isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-12, abs=1e-15), where
    elif isinstance(want, dict):
        assert sorted(got) == sorted(want), where
        for key in want:
            assert_close(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_close(g, w, f"{where}[{i}]")
    else:
        assert got == want, where


def ce_mean(df: pd.DataFrame) -> float:
    z = df[["logit_a", "logit_b", "logit_c"]].to_numpy()
    m = z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
    return float(np.mean(lse - z[np.arange(len(z)), df["label"].to_numpy()]))


def by_hand(tmp_path: Path, df: pd.DataFrame, mask: pd.Series, name: str) -> tuple[str, np.ndarray]:
    """The kept rows in one file, and their input row numbers (0-based)."""
    kept = df[mask]
    path = tmp_path / name
    kept.drop(columns=["country", "day"], errors="ignore").to_parquet(path, index=False)
    return str(path), kept.index.to_numpy()


WHERES = [
    (["country=de"], lambda d: d.country == "de"),
    (["day>=5"], lambda d: d.day >= 5),
    (["day<3"], lambda d: d.day < 3),  # numeric: a text compare would keep "10"
    (["country in de,us", "day!=2"], lambda d: d.country.isin(["de", "us"]) & (d.day != 2)),
    (["country not in de"], lambda d: d.country != "de"),
    (["label in 0,2", "weight>0.5"], lambda d: d.label.isin([0, 2]) & (d.weight > 0.5)),
    (["split=train", "country!=fr"], lambda d: (d.split == "train") & (d.country != "fr")),
    (["logit_a<=0.25"], lambda d: d.logit_a <= 0.25),
]


@pytest.mark.parametrize("batch_size", ["32768", "7"])
@pytest.mark.parametrize("wheres,select", WHERES, ids=[" & ".join(w) for w, _ in WHERES])
def test_where_on_partitions_equals_pandas(
    tmp_path: Path, wheres: list[str], select: Any, batch_size: str
) -> None:
    df = frame()
    root = partitioned(tmp_path / "ds", df)
    hand, rows = by_hand(tmp_path, df, select(df), "kept.parquet")
    assert 0 < len(rows) < len(df)
    where = [a for w in wheres for a in ("--where", w)]
    got = as_json("score", str(root), *where, "--batch-size", batch_size, "--top", "8")
    want = as_json("score", hand, "--top", "8")
    assert got["loss"]["mean"] == pytest.approx(ce_mean(df[select(df)]), rel=1e-12)
    same_report(got, want, rows)
    weights = as_json("weights", str(root), *where, "--batch-size", batch_size)
    same_report(weights, as_json("weights", hand), None)


def test_partition_columns_and_their_types(tmp_path: Path) -> None:
    df = frame()
    root = partitioned(tmp_path / "ds", df)
    dataset = Dataset(InputOptions(str(root)), read_preds=True)
    assert dataset.main.schema.field("country").type == pa.string()
    assert dataset.main.schema.field("day").type == pa.int64()
    got = pa.Table.from_batches(dataset.main.batches(["id", "country", "day"]))
    assert got.column("country").to_pylist() == df.country.tolist()
    assert got.column("day").to_pylist() == df.day.tolist()
    assert got.column("id").to_pylist() == df.id.tolist()
    assert "partition columns from key=value directories: country (text), day (integer)" in (
        dataset.layout.notes
    )


def test_partition_values_that_are_not_all_integers_are_text(tmp_path: Path) -> None:
    df = frame(90)
    df["model"] = np.where(np.arange(90) < 40, "2", "v1")
    for model, part in df.groupby("model"):
        (tmp_path / f"model={model}").mkdir()
        part.drop(columns=["model"]).to_parquet(tmp_path / f"model={model}" / "p.parquet")
    dataset = Dataset(InputOptions(str(tmp_path), where=("model=2",)), read_preds=True)
    assert dataset.main.schema.field("model").type == pa.string()
    assert sum(b.n for b in dataset) == 40


def test_partition_values_are_url_decoded_and_files_named_directly_count(tmp_path: Path) -> None:
    df = frame(40)
    for city, part in (("S%C3%A3o%20Paulo", df.iloc[:15]), ("Lima", df.iloc[15:])):
        (tmp_path / f"city={city}").mkdir()
        part.to_parquet(tmp_path / f"city={city}" / "p.parquet")
    assert as_json("weights", str(tmp_path), "--where", "city=São Paulo")["n_samples"] == 15
    one = str(tmp_path / "city=Lima" / "p.parquet")
    assert as_json("weights", one, "--where", "city=Lima")["n_samples"] == 25


def test_partition_directory_as_the_label(tmp_path: Path) -> None:
    """label=cat/… directories: the label column comes from the path, found by its name."""
    rng = np.random.default_rng(3)
    counts = {"cat": 7, "dog": 19}
    for name, n in counts.items():
        (tmp_path / f"label={name}").mkdir()
        pd.DataFrame({"logit_cat": rng.normal(size=n), "logit_dog": rng.normal(size=n)}).to_parquet(
            tmp_path / f"label={name}" / "p.parquet"
        )
    report = as_json("weights", str(tmp_path))
    assert {c["name"]: c["count"] for c in report["classes"]} == counts
    only = as_json("weights", str(tmp_path), "--where", "label=dog")
    assert [c["count"] for c in only["classes"]] == [0, 19]


def test_csv_partitions_and_threads(tmp_path: Path) -> None:
    df = frame(400, seed=5)
    root = partitioned(tmp_path / "ds", df, fmt="csv")
    mask = (df.country != "fr") & (df.weight < 0.7)
    hand, rows = by_hand(tmp_path, df, mask, "kept.parquet")
    args = ["--where", "country!=fr", "--where", "weight<0.7", "--weight-col", "weight"]
    want = as_json("score", hand, "--weight-col", "weight", "--top", "6")
    for threads in ("1", "3"):
        got = as_json(
            "score", str(root), *args, "--threads", threads, "--batch-size", "11", "--top", "6"
        )
        assert got["loss"]["mean"] == pytest.approx(want["loss"]["mean"], rel=1e-12)
        assert [t["row"] for t in got["top"]] == [int(rows[t["row"]]) for t in want["top"]]
        assert got["n_samples"] == int(mask.sum())


def test_rows_output_names_input_rows(tmp_path: Path) -> None:
    df = frame()
    root = partitioned(tmp_path / "ds", df)
    mask = (df.day == 10) & (df.label != 1)
    out = tmp_path / "rows.csv"
    result = run(
        "score", str(root), "--where", "day=10", "--where", "label!=1",
        "--reduction", "none", "-o", str(out), "--batch-size", "16",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    rows = pd.read_csv(out)
    assert rows["row"].tolist() == np.flatnonzero(mask.to_numpy()).tolist()  # 0-based
    assert rows["id"].tolist() == df.id[mask].tolist()


def test_error_rows_are_input_rows_under_a_filter(tmp_path: Path) -> None:
    """Rows 1-4 are filtered out; the bad label at input row 7 is still called row 7, and a
    bad value in a filtered-out row is no error at all."""
    path = tmp_path / "p.csv"
    lines = ["split,label,logit_a,logit_b,logit_c"]
    lines += ["test,,0,0,0"] * 4  # null labels, but filtered out
    lines += ["train,0,1,0,0", "test,1,0,1,0", "train,9,0,0,1", "train,1,0,1,0"]
    path.write_text("\n".join(lines) + "\n")
    assert_user_error(
        run(
            "score", str(path), "--where", "split=train", "--num-classes", "3", "--batch-size", "2"
        ),
        "p.csv: column label has 1 labels outside the class set (first at row 7: 9)",
    )
    ok = as_json("score", str(path), "--where", "split=train", "--where", "label!=9")
    assert ok["n_samples"] == 2


def test_where_with_a_labels_file(tmp_path: Path) -> None:
    """A condition may name a column of either file (the main file's first)."""
    df = frame(300, seed=9)
    preds, labels = tmp_path / "preds.csv", tmp_path / "labels.csv"
    df[["id", "logit_a", "logit_b", "logit_c", "country"]].to_csv(preds, index=False)
    df[["id", "label", "split"]].to_csv(labels, index=False)
    mask = (df.country == "us") & (df.split != "val") & (df.label >= 1)
    hand, rows = by_hand(tmp_path, df, mask, "kept.parquet")
    want = as_json("score", hand, "--top", "5")
    where = ["--where", "country=us", "--where", "split!=val", "--where", "label>=1"]
    got = as_json("score", str(preds), "--labels", str(labels), *where, "--top", "5")
    same_report(got, want, rows)
    # joined on a key: the labels file in another order, every key still used
    shuffled = tmp_path / "shuffled.csv"
    df[["id", "label", "split"]].sample(frac=1, random_state=1).to_csv(shuffled, index=False)
    joined = as_json("score", str(preds), "--labels", str(shuffled), "--on", "id", *where)
    assert joined["loss"]["mean"] == pytest.approx(want["loss"]["mean"], rel=1e-12)
    assert [t["row"] for t in joined["top"]][:5] == [t["row"] for t in got["top"]]


def test_inconsistent_partition_keys_are_no_columns(tmp_path: Path) -> None:
    df = frame(60)
    (tmp_path / "country=de").mkdir()
    df.iloc[:30].drop(columns=["country", "day"]).to_parquet(tmp_path / "country=de" / "a.parquet")
    df.iloc[30:].drop(columns=["country", "day"]).to_parquet(tmp_path / "b.parquet")
    assert as_json("weights", str(tmp_path))["n_samples"] == 60
    assert_user_error(
        run("score", str(tmp_path), "--where", "country=de"),
        "--where 'country=de': no column 'country' (partition directories differ between "
        f"files ({tmp_path}/b.parquet has no key=value directory, {tmp_path}/country=de/a.parquet"
        " has country=), so they are not columns)",
    )


def test_a_file_column_wins_over_its_directory(tmp_path: Path) -> None:
    df = frame(50)
    (tmp_path / "country=zz").mkdir()
    df.to_parquet(tmp_path / "country=zz" / "a.parquet")  # the files hold country too
    got = as_json("weights", str(tmp_path), "--where", "country=de")
    assert got["n_samples"] == int((df.country == "de").sum())


def test_hive_null_partition_never_matches(tmp_path: Path) -> None:
    df = frame(80)
    for name, part in (("de", df.iloc[:50]), ("__HIVE_DEFAULT_PARTITION__", df.iloc[50:])):
        (tmp_path / f"country={name}").mkdir()
        part.drop(columns=["country"]).to_parquet(tmp_path / f"country={name}" / "p.parquet")
    assert as_json("weights", str(tmp_path), "--where", "country=de")["n_samples"] == 50
    assert_user_error(
        run("weights", str(tmp_path), "--where", "country!=de"), "no row matches --where"
    )


def test_schema_disagreement_in_a_partition_names_the_file(tmp_path: Path) -> None:
    df = frame()
    root = partitioned(tmp_path / "ds", df)
    bad = root / "country=fr" / "day=2" / "part-1.parquet"
    pq.write_table(pq.read_table(bad).drop_columns(["logit_b"]), bad)
    assert_user_error(
        run("score", str(root), "--where", "country=fr"),
        f"{bad}: no column 'logit_b', which {root}/country=de/day=10/part-0.parquet has",
    )


def test_files_a_partition_condition_excludes_are_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    df = frame()
    root = partitioned(tmp_path / "ds", df)
    read: list[str] = []
    original = formats.Source.batches

    def spy(self: formats.Source, *args: Any, **kwargs: Any) -> Any:
        read.append(self.path)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(formats.Source, "batches", spy)
    got = as_json("score", str(root), "--where", "country=us", "--top", "4")
    assert sorted({Path(p).parent.parent.name for p in read}) == ["country=us"]
    hand, rows = by_hand(tmp_path, df, df.country == "us", "kept.parquet")
    same_report(got, as_json("score", hand, "--top", "4"), rows)


@pytest.mark.parametrize(
    "where,message",
    [
        (
            "nope=1",
            "--where 'nope=1': no column 'nope'; {root} has columns: id, label, logit_a, "
            "logit_b, logit_c, weight, split, country, day",
        ),
        (
            "country~de",
            "--where 'country~de': not a condition; write COL=V, COL!=V, COL<V, COL<=V, COL>V, "
            "COL>=V or 'COL in A,B,C'",
        ),
        ("day=", "--where 'day=': no value after '='"),
        ("day>=x", "--where 'day>=x': 'x' is not a number, and column day is numeric (int64)"),
        ("day in 2,,3", "--where 'day in 2,,3': an empty value in the list"),
        ("country=xx", "{root}: no row matches --where 'country=xx'"),
    ],
)
def test_where_errors(tmp_path: Path, where: str, message: str) -> None:
    root = partitioned(tmp_path / "ds", frame(100))
    assert_user_error(run("score", str(root), "--where", where), message.format(root=root))


def test_parse() -> None:
    spaced = parse(" day >= 3 ")
    assert (spaced.column, spaced.op, spaced.values) == ("day", ">=", ("3",))
    assert parse("a==b").op == "="
    got = parse("name in 'x, y',z")
    assert (got.column, got.op, got.values) == ("name", "in", ("x, y", "z"))
    assert parse("name NOT IN a").op == "not in"
    assert parse('"my col"=""').column == "my col" and parse('"my col"=""').values == ("",)


def test_input_rows_behave_like_row_start() -> None:
    rows = InputRows(np.array([3, 8, 9, 20]))
    assert int(rows) == 3 and rows == 3
    assert rows + 0 == 3 and rows + 2 + 1 == 10 and 3 + rows == 20
    assert (rows + np.array([1, 3])).tolist() == [8, 20]
    assert rows + np.int64(1) == 8
    again = pickle.loads(pickle.dumps(rows))
    assert isinstance(again, InputRows) and (again + 3) == 20
