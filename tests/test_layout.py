"""``io.layout``: the layout is decided in named steps and built once, whole."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ce_cli.io.columns import PredColumns
from ce_cli.io.dataset import Dataset, InputOptions
from ce_cli.io.layout import LabelOptions, LayoutRequest, decide_layout


def request(**changes: object) -> LayoutRequest:
    batch = pa.record_batch(
        {"label": pa.array([1, 0]), "logit_1": pa.array([0.2, 0.1]), "logit_0": [0.3, 0.4]}
    )
    base = LayoutRequest(
        label_file="f.parquet",
        label_schema=batch.schema,
        label_cols=["label"],
        first_labels=batch,
        preds=PredColumns(("logit_1", "logit_0"), "logit_", ("1", "0")),
        pred_file="f.parquet",
        pred_schema=batch.schema,
        first_main=batch,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_layout_is_frozen_and_whole() -> None:
    layout = decide_layout(
        request(weight_col="w", mask_col="m", id_col="id", reader_notes=("read note",))
    )
    assert (layout.weight_col, layout.mask_col, layout.id_col) == ("w", "m", "id")
    assert layout.classes == ("1", "0") and layout.int_names == {1: 0, 0: 1}
    assert layout.notes == [
        "classes from the prediction columns logit_*",
        "integer labels matched to the integer suffixes of the prediction columns",
        "read note",
    ]
    with pytest.raises(dataclasses.FrozenInstanceError):
        layout.id_col = "other"  # type: ignore[misc]


def test_class_set_from_options_then_task_and_target() -> None:
    layout = decide_layout(request(preds=None, options=LabelOptions(num_classes=3)))
    assert (layout.classes, layout.task, layout.target_kind) == (
        ("0", "1", "2"),
        "multiclass",
        "index",
    )
    assert layout.int_names is None and layout.notes == ["classes from --classes/--num-classes"]
    binary = decide_layout(request(options=LabelOptions(task="binary")))
    assert (binary.task, binary.notes[-1]) == ("binary", "task from --task binary")


def test_dataset_builds_the_layout_with_its_columns_and_notes(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    table = pa.table(
        {"id": ["a", "b"], "label": [0, 1], "prob": [0.2, 0.7], "w": [1.0, 2.0], "m": [1, 1]}
    )
    pq.write_table(table, path)
    options = InputOptions(str(path), weight_col="w", mask_col="m", where=("m=1",))
    layout = Dataset(options, read_preds=True).layout
    assert (layout.id_col, layout.weight_col, layout.mask_col) == ("id", "w", "m")
    assert layout.notes[-1] == "only rows where m=1 (--where)"
