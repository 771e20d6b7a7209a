"""Generate the benchmark inputs under benchmarks/data/ (deterministic, numpy seed 0).

    big.parquet      1,000,000 rows: int64 `label`, float32 `logit_0..logit_99` (snappy,
                     dictionary encoding on the label only)
    big.csv            200,000 rows: the first 200k rows of big.parquet as CSV
    big4x.parquet    4,000,000 rows: big.parquet followed by 3M more rows (peak-memory check)
    ctr/             50,000,000 binary click-through rows in 20 Parquet shards
                     (part-00.parquet … part-19.parquet): int8 `label` (~9.7 % positives),
                     float32 `logit`
    multilabel.parquet 1,000,000 rows: int8 `label_0..label_99` and float32 `logit_0..logit_99`
                     (multi-label: a label is 1 where its logit plus N(0, 1) noise exceeds 2)
    wide10k.parquet    100,000 rows: int64 `label` (0–9,999) and `logits`, a fixed-size list of
                     10,000 float32 (the 10k-class memory case; ~3.8 GiB, row groups of 5,000)
    big_b.parquet    1,000,000 rows: big.parquet's labels, logits 1.5·z + N(0, 0.5²) — another,
                     overconfident model on the same rows (ce check --baseline, temperature fit)

Rows are produced in blocks of 125,000 (one Parquet row group each); block i is drawn
from its own generator seeded with (SEED, i), so block i is the same in every file and
big4x.parquet starts with exactly the rows of big.parquet. Memory stays at one block
(~50 MB) whatever the file size. Existing files are kept unless --force is given.

CTR rows come in blocks of 625,000 (four row groups per shard) from generators seeded with
(SEED, 1, block): a true logit z ~ N(-2.75, 1.2²), a click ~ Bernoulli(sigmoid(z)), and the
model's logit z + N(0, 0.7²) (NCE ≈ 0.90). The shards are written to ctr.tmp/ and renamed.

Usage: python benchmarks/make_data.py [--force] [--out DIR]
       [--only big,csv,big4x,ctr,wide,multilabel,big_b]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

SEED = 0
NUM_CLASSES = 100
BLOCK_ROWS = 125_000  # one Parquet row group per block (~128k rows)
DATA_DIR = Path(__file__).resolve().parent / "data"

# name → number of rows
FILES = {
    "big.parquet": 1_000_000,
    "big.csv": 200_000,
    "big4x.parquet": 4_000_000,
}
CTR_DIR = "ctr"
CTR_SHARDS = 20
CTR_ROWS = 50_000_000
CTR_BLOCK_ROWS = 625_000  # one row group; four per shard
WIDE_NAME, WIDE_ROWS, WIDE_CLASSES, WIDE_BLOCK_ROWS = "wide10k.parquet", 100_000, 10_000, 5_000


def make_block(index: int, rows: int = BLOCK_ROWS) -> pa.Table:
    """Block `index`: labels uniform over the classes, logits N(0, 2²) plus 4 on the label.

    That gives a realistic, not-too-easy classifier (mean CE around 2.4, accuracy ~25 %).
    Logits are drawn class-major, so every column is a contiguous array (no transpose).
    """
    rng = np.random.default_rng([SEED, index])
    label = rng.integers(0, NUM_CLASSES, size=rows, dtype=np.int64)
    logits = rng.standard_normal((NUM_CLASSES, rows), dtype=np.float32)
    logits *= 2.0
    logits[label, np.arange(rows)] += 4.0
    columns = {"label": pa.array(label)}
    for c in range(NUM_CLASSES):
        columns[f"logit_{c}"] = pa.array(logits[c])
    return pa.table(columns)


def blocks(total_rows: int) -> Iterator[pa.Table]:
    """The first `total_rows` rows, block by block (the last block may be cut short)."""
    index = 0
    while total_rows > 0:
        rows = min(BLOCK_ROWS, total_rows)
        yield make_block(index, BLOCK_ROWS).slice(0, rows)
        total_rows -= rows
        index += 1


def write_parquet(path: Path, total_rows: int) -> None:
    writer = None
    try:
        for table in blocks(total_rows):
            if writer is None:
                # Dictionary encoding only for the label: model outputs are high-entropy floats,
                # for which a dictionary only adds a page to decode (and ~45 % to the file).
                writer = pq.ParquetWriter(
                    path, table.schema, compression="snappy", use_dictionary=["label"]
                )
            writer.write_table(table, row_group_size=BLOCK_ROWS)
    finally:
        if writer is not None:
            writer.close()


def write_csv(path: Path, total_rows: int) -> None:
    writer = None
    try:
        for table in blocks(total_rows):
            if writer is None:
                writer = pacsv.CSVWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def make_ctr_block(index: int, rows: int = CTR_BLOCK_ROWS) -> pa.Table:
    """CTR block `index`: int8 clicks (~9.7 % positives) and the model's float32 logits."""
    rng = np.random.default_rng([SEED, 1, index])
    true_logit = rng.normal(-2.75, 1.2, rows)
    label = (rng.random(rows) < 1 / (1 + np.exp(-true_logit))).astype(np.int8)
    logit = (true_logit + rng.normal(0.0, 0.7, rows)).astype(np.float32)
    return pa.table({"label": pa.array(label), "logit": pa.array(logit)})


def write_ctr(directory: Path) -> None:
    """The CTR shards, each written block by block (memory: one block, ~10 MB)."""
    directory.mkdir(parents=True)
    per_shard = CTR_ROWS // CTR_SHARDS // CTR_BLOCK_ROWS
    for shard in range(CTR_SHARDS):
        writer = None
        try:
            for block in range(shard * per_shard, (shard + 1) * per_shard):
                table = make_ctr_block(block)
                if writer is None:
                    writer = pq.ParquetWriter(
                        directory / f"part-{shard:02d}.parquet",
                        table.schema,
                        compression="snappy",
                        use_dictionary=["label"],
                    )
                writer.write_table(table, row_group_size=CTR_BLOCK_ROWS)
        finally:
            if writer is not None:
                writer.close()


def multilabel_blocks(total_rows: int) -> Iterator[pa.Table]:
    """big.parquet's logits with multi-hot labels: label_c = [logit_c + N(0, 1) > 2]."""
    for index, table in enumerate(blocks(total_rows)):
        rng = np.random.default_rng([SEED, 3, index])
        columns = {}
        for c in range(NUM_CLASSES):
            z = table.column(f"logit_{c}").to_numpy()
            columns[f"label_{c}"] = pa.array((z + rng.standard_normal(len(z)) > 2).astype(np.int8))
        for c in range(NUM_CLASSES):
            columns[f"logit_{c}"] = table.column(f"logit_{c}")
        yield pa.table(columns)


def write_blocks(
    path: Path,
    tables: Iterable[pa.Table],
    row_group_size: int,
    force: bool,
    dictionary: list[str] | None = None,
) -> None:
    """Write ``tables`` as one snappy Parquet file through a temp file (kept if it exists);
    ``dictionary``: the only columns dictionary-encoded (None: pyarrow's default, every one)."""
    if path.exists() and not force:
        print(f"{path}: exists, kept (--force to regenerate)")
        return
    start = time.perf_counter()
    tmp = path.with_name(path.name + ".tmp")
    writer = None
    try:
        for table in tables:
            if writer is None:
                writer = pq.ParquetWriter(
                    tmp,
                    table.schema,
                    compression="snappy",
                    use_dictionary=True if dictionary is None else dictionary,
                )
            writer.write_table(table, row_group_size=row_group_size)
    finally:
        if writer is not None:
            writer.close()
    tmp.replace(path)
    size = path.stat().st_size / 2**20
    print(f"{path}: {size:,.0f} MiB, {time.perf_counter() - start:.1f} s")


def big_b_blocks(total_rows: int) -> Iterator[pa.Table]:
    """big.parquet's rows as scored by another, overconfident model: the same labels, logits
    1.5·z + N(0, 0.5²) (float32), noise from default_rng([SEED, 4, block])."""
    for index, table in enumerate(blocks(total_rows)):
        rng = np.random.default_rng([SEED, 4, index])
        columns = {"label": table.column("label")}
        for c in range(NUM_CLASSES):
            z = table.column(f"logit_{c}").to_numpy()
            noise = rng.standard_normal(len(z), dtype=np.float32)
            columns[f"logit_{c}"] = pa.array(np.float32(1.5) * z + np.float32(0.5) * noise)
        yield pa.table(columns)


def make_multilabel(path: Path, force: bool) -> None:
    # written as big.parquet is: a dictionary for the labels only. Float logits in a dictionary
    # (pyarrow's default) fall back to plain pages after a 1 MiB dictionary page, and decoding
    # those takes twice the reader memory of plain pages (pool peak 207 vs 94 MiB).
    labels = [f"label_{c}" for c in range(NUM_CLASSES)]
    write_blocks(path, multilabel_blocks(FILES["big.parquet"]), BLOCK_ROWS, force, labels)


def make_wide_block(index: int) -> pa.Table:
    """Wide block `index`: as `make_block` with WIDE_CLASSES classes, logits as one list column."""
    rng = np.random.default_rng([SEED, 2, index])
    rows = WIDE_BLOCK_ROWS
    label = rng.integers(0, WIDE_CLASSES, size=rows, dtype=np.int64)
    logits = rng.standard_normal((rows, WIDE_CLASSES), dtype=np.float32)
    logits *= 2.0
    logits[np.arange(rows), label] += 4.0
    values = pa.array(logits.reshape(-1))
    lists = pa.FixedSizeListArray.from_arrays(values, WIDE_CLASSES)
    return pa.table({"label": pa.array(label), "logits": lists})


def make_wide(path: Path, force: bool) -> None:
    tables = (make_wide_block(i) for i in range(WIDE_ROWS // WIDE_BLOCK_ROWS))
    write_blocks(path, tables, WIDE_BLOCK_ROWS, force)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="regenerate existing files")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help=f"default: {DATA_DIR}")
    parser.add_argument(
        "--only",
        default="big,csv,big4x,ctr",
        help="comma list of: big, csv, big4x, ctr, wide, multilabel, big_b",
    )
    args = parser.parse_args(argv)
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    keys = {"big.parquet": "big", "big.csv": "csv", "big4x.parquet": "big4x"}
    if unknown := only - {*keys.values(), "ctr", "wide", "multilabel", "big_b"}:
        parser.error(f"unknown --only value(s): {', '.join(sorted(unknown))}")

    args.out.mkdir(parents=True, exist_ok=True)
    for name, rows in FILES.items():
        if keys[name] not in only:
            continue
        path = args.out / name
        if path.exists() and not args.force:
            print(f"{path}: exists, kept (--force to regenerate)")
            continue
        start = time.perf_counter()
        # Write to a temporary name and rename, so an interrupted run leaves no partial file
        # that a later run would mistake for a finished one.
        tmp = path.with_name(path.name + ".tmp")
        if name.endswith(".csv"):
            write_csv(tmp, rows)
        else:
            write_parquet(tmp, rows)
        tmp.replace(path)
        size = path.stat().st_size / 2**20
        elapsed = time.perf_counter() - start
        print(f"{path}: {rows:,} rows, {size:,.0f} MiB, {elapsed:.1f} s")
    if "ctr" in only:
        make_ctr(args.out / CTR_DIR, args.force)
    if "wide" in only:
        make_wide(args.out / WIDE_NAME, args.force)
    if "multilabel" in only:
        make_multilabel(args.out / "multilabel.parquet", args.force)
    if "big_b" in only:
        big_b = big_b_blocks(FILES["big.parquet"])
        write_blocks(args.out / "big_b.parquet", big_b, BLOCK_ROWS, args.force, ["label"])
    return 0


def make_ctr(path: Path, force: bool) -> None:
    if path.exists() and not force:
        print(f"{path}/: exists, kept (--force to regenerate)")
        return
    start = time.perf_counter()
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    write_ctr(tmp)
    if path.exists():
        shutil.rmtree(path)
    tmp.rename(path)
    size = sum(f.stat().st_size for f in path.iterdir()) / 2**20
    elapsed = time.perf_counter() - start
    print(f"{path}/: {CTR_ROWS:,} rows in {CTR_SHARDS} shards, {size:,.0f} MiB, {elapsed:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
