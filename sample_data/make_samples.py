"""Write the small sample files in ``sample_data/``, one per input layout ``ce`` supports.

Run ``python sample_data/make_samples.py`` from anywhere; files land next to this script.
The output is deterministic: a rerun produces byte-identical files.

Every file comes from the same fake classifier (:func:`model_logits`). Its features are
``x = separation * onehot(y) + N(0, I)``, for which the Bayes posterior has logits
``log prior_k + separation * x_k``. The fake model outputs those logits times
``OVERCONFIDENCE`` (plus a per-row offset that softmax ignores), so it ranks well but is
over-confident: temperature scaling with T ≈ 1.5 calibrates it again.

Some files share their rows so that the tool's results can be cross-checked:
``binary_probs.parquet`` holds the rows of ``binary.csv`` as probabilities,
``multiclass.parquet`` those of ``multiclass.csv`` and ``multilabel_lists.parquet``
those of ``multilabel.csv``. The parquet twins are computed from the logits *as rounded
in the CSV*, so both give the same loss up to float32 rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

OUT = Path(__file__).resolve().parent
SEED = 20240601
OVERCONFIDENCE = 1.5  # the temperature that would calibrate the fake model

ANIMALS = ["cat", "dog", "bird", "fish", "horse"]
ANIMAL_PRIORS = [0.40, 0.25, 0.20, 0.10, 0.05]

OBJECTS = ["person", "car", "bicycle", "dog", "traffic_light", "bus"]
OBJECT_PREVALENCE = [0.40, 0.25, 0.10, 0.06, 0.04, 0.02]
OBJECT_SEPARATION = [1.6, 1.5, 1.2, 1.7, 1.1, 1.3]  # per-tag ROC AUC ≈ Φ(separation)

Columns = dict[str, Sequence | np.ndarray]  # column name -> values, in file order

IGNORE_INDEX = -100  # PyTorch's default ignore_index
DISTILL_TEMPERATURE = 2.0


# --- shared helpers ------------------------------------------------------------------


def rng_for(stream: int) -> np.random.Generator:
    """One independent generator per dataset, so editing one file never changes another."""
    return np.random.default_rng([SEED, stream])


def model_logits(
    rng: np.random.Generator,
    y: np.ndarray,
    priors: list[float],
    separation: float,
    overconfidence: float = OVERCONFIDENCE,
) -> np.ndarray:
    """Logits ``[N, C]`` of a decent, imperfect, over-confident classifier for labels ``y``.

    ``separation`` sets how well the classes separate (higher = more accurate).
    """
    n, c = len(y), len(priors)
    features = separation * np.eye(c)[y] + rng.standard_normal((n, c))
    calibrated = np.log(priors) + separation * features
    offset = rng.normal(0.0, 1.0, size=(n, 1))  # softmax ignores it; real logits have it
    return overconfidence * calibrated + offset


def binary_logit(
    rng: np.random.Generator, y: np.ndarray, prior: float, separation: float
) -> np.ndarray:
    """Scalar logit ``[N]`` for a 0/1 label: the two-class model's logit difference."""
    z = model_logits(rng, y, [1.0 - prior, prior], separation)
    return z[:, 1] - z[:, 0]


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def fmt(value: float) -> str:
    """A float with 6 significant digits, never in exponent notation."""
    return np.format_float_positional(value, precision=6, unique=False, fractional=False, trim="-")


def round6(a: np.ndarray) -> np.ndarray:
    """Round to the values written in the CSV files (6 significant digits)."""
    return np.array([float(fmt(v)) for v in a.ravel()]).reshape(a.shape)


def as_float32(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def normalized_float32(p: np.ndarray) -> np.ndarray:
    """Probabilities in float32 with rows renormalised after the cast."""
    p32 = as_float32(p)
    return p32 / p32.sum(axis=1, keepdims=True)


def csv_cells(values: Sequence | np.ndarray) -> list[str]:
    values = np.asarray(values)
    if values.dtype.kind == "f":
        return [fmt(v) for v in values]
    return [str(v) for v in values]


def write_csv(name: str, columns: Columns) -> None:
    """Plain-text CSV, ``\\n`` line ends; floats with 6 significant digits."""
    cells = [csv_cells(values) for values in columns.values()]
    lines = [",".join(columns)] + [",".join(row) for row in zip(*cells, strict=True)]
    (OUT / name).write_text("\n".join(lines) + "\n", encoding="utf-8", newline="")


def write_parquet(name: str, table: pa.Table) -> None:
    pq.write_table(table, OUT / name, compression="zstd")


# --- datasets (shared by the CSV and Parquet twins) ----------------------------------


def binary_data() -> tuple[np.ndarray, np.ndarray]:
    """CTR-like clicks: ~8% positives, logits as written (rounded) in binary.csv."""
    rng = rng_for(1)
    y = (rng.random(3000) < 0.08).astype(np.int64)
    return y, round6(binary_logit(rng, y, prior=0.08, separation=0.85))


def multiclass_data() -> tuple[np.ndarray, np.ndarray]:
    """Five imbalanced animal classes, logits as written in multiclass.csv."""
    rng = rng_for(2)
    y = rng.choice(len(ANIMALS), size=4000, p=ANIMAL_PRIORS)
    return y, round6(model_logits(rng, y, ANIMAL_PRIORS, separation=1.6))


def multilabel_data() -> tuple[np.ndarray, np.ndarray]:
    """Six independent object tags: multi-hot ``[N, 6]`` and logits ``[N, 6]``."""
    rng = rng_for(3)
    n = 2000
    y = (rng.random((n, len(OBJECTS))) < OBJECT_PREVALENCE).astype(np.int64)
    z = np.column_stack(
        [
            binary_logit(rng, y[:, k], prior, sep)
            for k, (prior, sep) in enumerate(zip(OBJECT_PREVALENCE, OBJECT_SEPARATION, strict=True))
        ]
    )
    return y, round6(z)


# --- one function per file -----------------------------------------------------------


def binary_csv() -> None:
    y, z = binary_data()
    write_csv("binary.csv", {"id": range(len(y)), "label": y, "logit": z})


def binary_probs_parquet() -> None:
    y, z = binary_data()
    table = pa.table(
        {
            "id": pa.array(np.arange(len(y)), pa.int64()),
            "label": pa.array(y.astype(bool)),
            "prob": pa.array(as_float32(sigmoid(z))),
        }
    )
    write_parquet("binary_probs.parquet", table)


def multiclass_csv() -> None:
    y, z = multiclass_data()
    columns: Columns = {
        "id": range(len(y)),
        "label": [ANIMALS[k] for k in y],
    }
    columns |= {f"logit_{name}": z[:, k] for k, name in enumerate(ANIMALS)}
    write_csv("multiclass.csv", columns)


def multiclass_parquet() -> None:
    y, z = multiclass_data()
    p = normalized_float32(softmax(z))
    weight = np.where(rng_for(4).random(len(y)) < 0.10, 2.0, 1.0)
    columns = {"id": pa.array(np.arange(len(y)), pa.int64()), "label": pa.array(y, pa.int64())}
    columns |= {f"prob_{name}": pa.array(p[:, k]) for k, name in enumerate(ANIMALS)}
    columns["weight"] = pa.array(as_float32(weight))
    write_parquet("multiclass.parquet", pa.table(columns))


def multilabel_csv() -> None:
    y, z = multilabel_data()
    columns: Columns = {"id": range(len(y))}
    columns |= {f"label_{name}": y[:, k] for k, name in enumerate(OBJECTS)}
    columns |= {f"logit_{name}": z[:, k] for k, name in enumerate(OBJECTS)}
    write_csv("multilabel.csv", columns)


def multilabel_lists_parquet() -> None:
    y, z = multilabel_data()
    names = [[OBJECTS[k] for k in np.flatnonzero(row)] for row in y]
    logits = pa.FixedSizeListArray.from_arrays(pa.array(as_float32(z).ravel()), len(OBJECTS))
    table = pa.table(
        {
            "id": pa.array(np.arange(len(y)), pa.int64()),
            "labels": pa.array(names, pa.list_(pa.string())),
            "logits": logits,
        }
    )
    write_parquet("multilabel_lists.parquet", table)
    (OUT / "multilabel_classes.txt").write_text("\n".join(OBJECTS) + "\n", encoding="utf-8")


def soft_targets_parquet() -> None:
    """Distillation: a stronger teacher's softened distribution and an over-confident student."""
    rng = rng_for(5)
    n = 1000
    y = rng.choice(len(ANIMALS), size=n, p=ANIMAL_PRIORS)
    teacher = model_logits(rng, y, ANIMAL_PRIORS, separation=2.2, overconfidence=1.0)
    softened = teacher / DISTILL_TEMPERATURE
    targets = normalized_float32(softmax(softened))
    # The student sees the same images: it matches the softened teacher up to noise.
    student = as_float32(OVERCONFIDENCE * (softened + rng.normal(0.0, 0.5, size=softened.shape)))
    columns = {"id": pa.array(np.arange(n), pa.int64())}
    columns |= {f"label_{name}": pa.array(targets[:, k]) for k, name in enumerate(ANIMALS)}
    columns |= {f"logit_{name}": pa.array(student[:, k]) for k, name in enumerate(ANIMALS)}
    write_parquet("soft_targets.parquet", pa.table(columns))


def separate_labels_csv() -> None:
    """preds.csv and labels.csv: same image ids, each file in its own shuffled order."""
    rng = rng_for(6)
    n = 1000
    ids = np.array([f"img_{i:05d}" for i in rng.choice(20000, size=n, replace=False)])
    y = rng.choice(len(ANIMALS), size=n, p=ANIMAL_PRIORS)
    z = round6(model_logits(rng, y, ANIMAL_PRIORS, separation=1.6))
    preds: Columns = {"id": ids}
    preds |= {f"logit_{name}": z[:, k] for k, name in enumerate(ANIMALS)}
    write_csv("preds.csv", preds)
    order = rng.permutation(n)
    write_csv("labels.csv", {"id": ids[order], "label": [ANIMALS[k] for k in y[order]]})


def segmentation_ignore_csv() -> None:
    """Per-pixel classes 0..3 with ~5% pixels marked IGNORE_INDEX (unlabelled boundaries)."""
    rng = rng_for(7)
    n, priors = 2000, [0.55, 0.25, 0.15, 0.05]
    y = rng.choice(len(priors), size=n, p=priors)
    z = round6(model_logits(rng, y, priors, separation=1.8))
    label = np.where(rng.random(n) < 0.05, IGNORE_INDEX, y)
    columns: Columns = {"id": range(n), "label": label}
    columns |= {f"logit_{k}": z[:, k] for k in range(len(priors))}
    write_csv("segmentation_ignore.csv", columns)


# --- arrays and tensors (.npy, .npz, .safetensors) -------------------------------------


def write_npy(name: str, array: np.ndarray) -> None:
    np.save(OUT / name, array, allow_pickle=False)


def write_npz(name: str, arrays: dict[str, np.ndarray]) -> None:
    """Like ``np.savez`` (stored, not compressed) but with a fixed member date, so a rerun
    writes the same bytes."""
    import io
    import zipfile

    with zipfile.ZipFile(OUT / name, "w", compression=zipfile.ZIP_STORED) as zf:
        for key, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            member = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(member, buffer.getvalue())


def write_safetensors(name: str, arrays: dict[str, np.ndarray]) -> None:
    """The safetensors format with numpy only: an 8-byte little-endian header length, a JSON
    header (name → dtype, shape, data_offsets), then the raw little-endian buffers."""
    import json

    codes = {"float32": "F32", "float64": "F64", "int64": "I64", "int32": "I32", "uint8": "U8"}
    header, blobs, at = {}, [], 0
    for key, array in arrays.items():
        data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
        header[key] = {"dtype": codes[array.dtype.name], "shape": list(array.shape)}
        header[key]["data_offsets"] = [at, at + len(data)]
        blobs.append(data)
        at += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    (OUT / name).write_bytes(len(text).to_bytes(8, "little") + text + b"".join(blobs))


def multiclass_npy() -> None:
    """logits.npy [4000, 5] float32 + labels.npy [4000] int64: the rows of multiclass.csv."""
    y, z = multiclass_data()
    write_npy("logits.npy", as_float32(z))
    write_npy("labels.npy", y.astype(np.int64))


def binary_npz() -> None:
    """outputs.npz: ``logit`` [3000] float32 and ``label`` [3000] int64, the rows of binary.csv."""
    y, z = binary_data()
    write_npz("outputs.npz", {"logit": as_float32(z), "label": y.astype(np.int64)})


def segmentation_tensors() -> dict[str, np.ndarray]:
    """4 images of 16 × 16 pixels, 4 classes: logits [4, 4, 16, 16] (class axis 1, as PyTorch)
    and targets [4, 16, 16] whose 1-pixel border is IGNORE_INDEX (unlabelled)."""
    rng = rng_for(11)
    n, h, w, priors = 4, 16, 16, [0.55, 0.25, 0.15, 0.05]
    y = rng.choice(len(priors), size=(n, h, w), p=priors)
    z = model_logits(rng, y.reshape(-1), priors, separation=1.8)
    logits = as_float32(round6(z)).reshape(n, h, w, len(priors)).transpose(0, 3, 1, 2)
    target = y.astype(np.int64)
    target[:, [0, -1], :] = IGNORE_INDEX
    target[:, :, [0, -1]] = IGNORE_INDEX
    return {"logits": np.ascontiguousarray(logits), "target": target}


def segmentation_arrays() -> None:
    """segmentation.npz and segmentation.safetensors: the same two tensors."""
    tensors = segmentation_tensors()
    write_npz("segmentation.npz", tensors)
    write_safetensors("segmentation.safetensors", tensors)


# --- the layouts scikit-learn and pandas users write first -----------------------------


DIGITS = [str(k) for k in range(10)]
CANCER = ["malignant", "benign"]  # load_breast_cancer().target_names


def full(values: Sequence | np.ndarray) -> list[str]:
    """Floats as pandas' ``to_csv`` writes them: the shortest text that reads back exactly."""
    return [repr(float(v)) for v in np.asarray(values, dtype=np.float64)]


def write_frame_csv(name: str, columns: Columns, index: bool) -> None:
    """CSV as ``DataFrame.to_csv`` writes it: full-precision floats, and with ``index`` the
    RangeIndex as a first column with an empty name."""
    cells = [full(v) if np.asarray(v).dtype.kind == "f" else csv_cells(v) for v in columns.values()]
    header = list(columns)
    if index:
        n = len(cells[0])
        header, cells = ["", *header], [[str(i) for i in range(n)], *cells]
    lines = [",".join(header)] + [",".join(row) for row in zip(*cells, strict=True)]
    (OUT / name).write_text("\n".join(lines) + "\n", encoding="utf-8", newline="")


def sklearn_proba_csv() -> None:
    """``pd.DataFrame(clf.predict_proba(X), columns=clf.classes_).assign(y_true=y).to_csv(p)``
    for 10 digit classes: the unnamed index, columns 0 … 9, y_true."""
    rng = rng_for(20)
    y = rng.choice(10, size=500)
    p = softmax(model_logits(rng, y, [0.1] * 10, separation=2.2))
    columns: Columns = {name: p[:, k] for k, name in enumerate(DIGITS)}
    columns["y_true"] = y
    write_frame_csv("sklearn_proba.csv", columns, index=True)


def sklearn_proba_names_parquet() -> None:
    """``df.to_parquet(p)`` of a test split (``train_test_split`` keeps the frame's shuffled
    index, stored as ``__index_level_0__``): columns malignant, benign, y_true (names)."""
    rng = rng_for(21)
    y = rng.choice(2, size=300, p=[0.37, 0.63])
    p = softmax(model_logits(rng, y, [0.37, 0.63], separation=1.4))
    index = np.sort(rng.choice(569, size=300, replace=False))
    rng.shuffle(index)
    columns = {name: pa.array(p[:, k]) for k, name in enumerate(CANCER)}
    columns["y_true"] = pa.array([CANCER[k] for k in y])
    columns["__index_level_0__"] = pa.array(index, pa.int64())
    table = pa.table(columns)
    described = [
        {"name": n, "field_name": n, "pandas_type": t, "numpy_type": u, "metadata": None}
        for n, t, u in [
            ("malignant", "float64", "float64"),
            ("benign", "float64", "float64"),
            ("y_true", "unicode", "object"),
            (None, "int64", "int64"),
        ]
    ]
    described[-1]["field_name"] = "__index_level_0__"
    pandas = {
        "index_columns": ["__index_level_0__"],
        "column_indexes": [],
        "columns": described,
        "creator": {"library": "pyarrow", "version": "sample_data/make_samples.py"},
        "pandas_version": "2.2.3",
    }
    import json

    meta = {b"pandas": json.dumps(pandas, separators=(",", ":")).encode()}
    write_parquet("sklearn_proba_names.parquet", table.replace_schema_metadata(meta))


def sklearn_ypred_proba_csv() -> None:
    """``y_true, y_pred, proba_0 … proba_2``: hard predictions (clf.predict) beside the
    probabilities (clf.predict_proba), three iris-like classes, no index."""
    rng = rng_for(22)
    y = rng.choice(3, size=300)
    p = softmax(model_logits(rng, y, [1 / 3] * 3, separation=1.5))
    columns: Columns = {"y_true": y, "y_pred": p.argmax(axis=1)}
    columns |= {f"proba_{k}": p[:, k] for k in range(3)}
    write_frame_csv("sklearn_ypred_proba.csv", columns, index=False)


def sklearn_decision_csv() -> None:
    """``y_true, decision_function_0 … 3``: a linear model's decision_function (logits)."""
    rng = rng_for(23)
    y = rng.choice(4, size=400, p=[0.4, 0.3, 0.2, 0.1])
    z = round6(model_logits(rng, y, [0.4, 0.3, 0.2, 0.1], separation=1.5))
    columns: Columns = {"y_true": y}
    columns |= {f"decision_function_{k}": z[:, k] for k in range(4)}
    write_csv("sklearn_decision.csv", columns)


def labels_1based_csv() -> None:
    """Labels 1 … 4 (as R or 1-based dataset ids write them) with logit_0 … logit_3."""
    rng = rng_for(24)
    y = rng.choice(4, size=400, p=[0.4, 0.3, 0.2, 0.1])
    z = round6(model_logits(rng, y, [0.4, 0.3, 0.2, 0.1], separation=1.5))
    columns: Columns = {"id": range(len(y)), "label": y + 1}
    columns |= {f"logit_{k}": z[:, k] for k in range(4)}
    write_csv("labels_1based.csv", columns)


COUNTRIES = {"de": (0.45, 1.9), "fr": (0.35, 1.6), "us": (0.20, 1.1)}  # share, separation


def eval_by_country() -> None:
    """Hive partitions eval_by_country/country=XX/part-0.parquet: one evaluation set whose model
    is good in de, fair in fr and weak in us (a smaller class separation there)."""
    rng = rng_for(10)
    n = 3000
    country = rng.choice(len(COUNTRIES), size=n, p=[share for share, _ in COUNTRIES.values()])
    for k, (code, (_, separation)) in enumerate(COUNTRIES.items()):
        rows = np.flatnonzero(country == k)
        y = rng.choice(len(ANIMALS), size=rows.size, p=ANIMAL_PRIORS)
        z = as_float32(round6(model_logits(rng, y, ANIMAL_PRIORS, separation)))
        columns = {
            "id": pa.array(rows, pa.int64()),
            "label": pa.array([ANIMALS[c] for c in y]),
        }
        columns |= {f"logit_{name}": pa.array(z[:, c]) for c, name in enumerate(ANIMALS)}
        (OUT / "eval_by_country" / f"country={code}").mkdir(parents=True, exist_ok=True)
        write_parquet(f"eval_by_country/country={code}/part-0.parquet", pa.table(columns))


def main() -> None:
    for make in [
        binary_csv,
        binary_probs_parquet,
        multiclass_csv,
        multiclass_parquet,
        multilabel_csv,
        multilabel_lists_parquet,
        soft_targets_parquet,
        separate_labels_csv,
        segmentation_ignore_csv,
        sklearn_proba_csv,
        sklearn_proba_names_parquet,
        sklearn_ypred_proba_csv,
        sklearn_decision_csv,
        labels_1based_csv,
        eval_by_country,
        multiclass_npy,
        binary_npz,
        segmentation_arrays,
    ]:
        make()
    for path in sorted(OUT.iterdir()):
        if path.suffix in {".csv", ".parquet", ".txt", ".npy", ".npz", ".safetensors"}:
            print(f"{path.stat().st_size:>9,d}  {path.name}")


if __name__ == "__main__":
    main()
