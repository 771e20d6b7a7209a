""".npy / .npz / safetensors inputs (ce_cli.io.arrays): equal to PyTorch on the sample arrays
(tests/golden/arrays.json, written by tests/golden/make_array_golden.py), the same whatever the
batch size or storage (compressed, Fortran order, big-endian, bf16), every command runs on
them, and every refusal is one line."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ROOT, SAMPLES, assert_user_error, run, sample

from ce_cli.io import arrays
from ce_cli.io.arrays import ArrayRequest, ArraySource, _class_rows

GOLDEN = json.loads((Path(__file__).parent / "golden" / "arrays.json").read_text())["cases"]
SEG = sample("segmentation.npz")


def score(*args: str) -> dict[str, Any]:
    result = run("score", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def at_root() -> Any:
    cwd = os.getcwd()
    os.chdir(ROOT)
    yield
    os.chdir(cwd)


# ---------------------------------------------------------------------- golden values
@pytest.mark.parametrize("case", GOLDEN, ids=[c["name"] for c in GOLDEN])
def test_matches_pytorch(case: dict[str, Any], at_root: None) -> None:
    report = score(*case["args"])
    assert report["loss"]["mean"] == pytest.approx(case["mean"], rel=1e-12)
    assert report["loss"]["sum"] == pytest.approx(case["sum"], rel=1e-12)
    if "n_used" in case:
        assert report["n_used"] == case["n_used"]
        assert report["n_ignored"] == report["n_samples"] - case["n_used"]


@pytest.mark.parametrize("path", ["segmentation.npz", "segmentation.safetensors"])
def test_group_by_sample_is_per_image_cross_entropy(path: str) -> None:
    case = next(c for c in GOLDEN if c["name"] == "segmentation_npz")
    report = score(sample(path), "--group-by", "sample")
    assert [g["value"] for g in report["groups"]] == [0, 1, 2, 3]
    got = [g["loss"]["mean"] for g in report["groups"]]
    assert got == pytest.approx(case["per_sample"], rel=1e-12)


def test_inputs_follow_the_key_name_and_the_option() -> None:
    assert score(SEG)["inputs"]["decided_by"] == "the column name logits"
    forced = score(SEG, "--inputs", "logits")
    assert forced["inputs"]["kind"] == "logits"


# ---------------------------------------------------------------------- invariance
@pytest.mark.parametrize(
    "args",
    [
        [SEG],
        [sample("logits.npy"), "--labels", sample("labels.npy")],
        [sample("outputs.npz")],
    ],
    ids=["segmentation", "npy-pair", "binary"],
)
def test_batch_size_does_not_change_the_result(args: list[str]) -> None:
    results = [score(*args, "--batch-size", str(b))["loss"] for b in (1, 7, 1000)]
    for other in results[1:]:
        assert other["mean"] == pytest.approx(results[0]["mean"], rel=1e-12)
        assert other["sum"] == pytest.approx(results[0]["sum"], rel=1e-12)


def _stored(tmp_path: Path, name: str, **arrays_: np.ndarray) -> str:
    path = tmp_path / name
    np.savez(path, **arrays_)
    return str(path)


def test_compressed_fortran_big_endian_and_float16_read_the_same(tmp_path: Path) -> None:
    with np.load(SEG) as z:
        x, y = z["logits"], z["target"]
    expected = score(SEG)["loss"]["mean"]
    packed = tmp_path / "packed.npz"
    np.savez_compressed(packed, logits=x, target=y)
    fortran = _stored(tmp_path, "fortran.npz", logits=np.asfortranarray(x), target=y)
    swapped = _stored(tmp_path, "big.npz", logits=x.astype(">f4"), target=y.astype(">i8"))
    for path in (str(packed), fortran, swapped):
        for batch in ("5", "1000"):
            got = score(path, "--batch-size", batch)["loss"]["mean"]
            assert got == pytest.approx(expected, rel=1e-12), path
    half = _stored(tmp_path, "half.npz", logits=x.astype(np.float16), target=y)
    x16 = x.astype(np.float16).astype(np.float64)
    logp = x16 - np.log(np.exp(x16).sum(axis=1, keepdims=True))
    keep = y != -100
    want = -np.take_along_axis(logp, np.where(keep, y, 0)[:, None], 1)[:, 0][keep].mean()
    assert score(half)["loss"]["mean"] == pytest.approx(want, rel=1e-12)


def test_compressed_members_stream_in_slabs(tmp_path: Path, monkeypatch: Any) -> None:
    """A slab smaller than a batch, and batches that end inside a sample, give the same rows."""
    with np.load(SEG) as z:
        x, y = z["logits"], z["target"]
    packed = tmp_path / "packed.npz"
    np.savez_compressed(packed, logits=x, target=y)
    monkeypatch.setattr(arrays, "SLAB_BYTES", 1)  # one sample per slab
    src = ArraySource(str(packed), "npz", ArrayRequest())
    rows = [b for b in src.batches(["logits", "target", "sample"], batch_size=300)]
    assert [b.num_rows for b in rows] == [300, 300, 300, 124]
    logits = np.concatenate([np.asarray(b.column(0).flatten()) for b in rows]).reshape(-1, 4)
    np.testing.assert_array_equal(logits, x.transpose(0, 2, 3, 1).reshape(-1, 4))
    target = np.concatenate([np.asarray(b.column(1)) for b in rows])
    np.testing.assert_array_equal(target, y.reshape(-1))
    samples = np.concatenate([np.asarray(b.column(2)) for b in rows])
    np.testing.assert_array_equal(samples, np.repeat(np.arange(4), 256))


@pytest.mark.parametrize(("lo", "hi"), [(0, 1), (3, 5), (5, 12), (2, 18), (0, 24), (4, 20)])
def test_class_rows_is_moveaxis(lo: int, hi: int) -> None:
    block = np.arange(3 * 2 * 8, dtype=np.float32).reshape(3, 2, 8)
    want = np.moveaxis(block, 1, 2).reshape(24, 2)[lo:hi]
    np.testing.assert_array_equal(_class_rows(block, lo, hi), want)


def test_bf16_safetensors_widen_to_float32(tmp_path: Path) -> None:
    x = np.array([[0.5, -1.25], [2.0, 3.0], [-0.75, 1.5]], dtype=np.float32)
    bf16 = (x.view(np.uint32) >> 16).astype("<u2")  # exact: these values fit in bf16
    y = np.array([0, 1, 1], dtype="<i8")
    header = {
        "logits": {"dtype": "BF16", "shape": [3, 2], "data_offsets": [0, bf16.nbytes]},
        "labels": {"dtype": "I64", "shape": [3], "data_offsets": [bf16.nbytes, 36]},
        "__metadata__": {"format": "pt"},
    }
    text = json.dumps(header).encode()
    path = tmp_path / "bf16.safetensors"
    path.write_bytes(len(text).to_bytes(8, "little") + text + bf16.tobytes() + y.tobytes())
    logp = x - np.log(np.exp(x.astype(np.float64)).sum(axis=1, keepdims=True))
    want = -logp[np.arange(3), y].mean()
    assert score(str(path))["loss"]["mean"] == pytest.approx(want, rel=1e-12)


# ---------------------------------------------------------------------- every command
@pytest.mark.parametrize(
    "command",
    [
        ["weights"],
        ["score"],
        ["calibrate"],
        ["check", "--max-loss", "5"],
        ["score", "--reduction", "none"],
    ],
    ids=lambda c: " ".join(c),
)
@pytest.mark.parametrize(
    "files",
    [
        ["logits.npy", "--labels", "labels.npy"],
        ["outputs.npz"],
        ["segmentation.npz"],
        ["segmentation.safetensors"],
    ],
    ids=lambda f: f[0],
)
def test_every_command_reads_the_sample_arrays(
    command: list[str], files: list[str], at_root: None
) -> None:
    paths = [
        f"sample_data/{f}" if f.endswith((".npy", ".npz", ".safetensors")) else f for f in files
    ]
    result = run(*command, *paths)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip()


def test_weights_count_every_labelled_pixel() -> None:
    with np.load(SEG) as z:
        y = z["target"]
    report = json.loads(run("weights", SEG, "--format", "json").stdout)
    counts = np.bincount(y[y != -100], minlength=4)
    assert [c["count"] for c in report["classes"]] == counts.tolist()


# ---------------------------------------------------------------------- one-line errors
def _npz(tmp_path: Path, name: str, **arrays_: np.ndarray) -> str:
    return _stored(tmp_path, name, **arrays_)


def test_errors_are_one_line(tmp_path: Path) -> None:
    x = np.zeros((5, 3), np.float32)
    y = np.zeros(5, np.int64)
    np.save(tmp_path / "obj.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
    np.save(tmp_path / "short.npy", np.zeros(4, np.int64))
    np.save(tmp_path / "names.npy", np.array(["a", "b", "c", "d", "e"]))
    np.save(tmp_path / "x.npy", x)
    keys = _npz(tmp_path, "keys.npz", a=x, b=y)
    seg = _npz(tmp_path, "seg.npz", logits=np.zeros((2, 3, 4, 4), np.float32))
    np.save(tmp_path / "mask.npy", np.zeros((2, 4, 5), np.int64))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "x.npy").read_bytes()[:140])
    (tmp_path / "junk.npy").write_bytes(b"not an array at all")
    t = str(tmp_path)
    cases = {
        (f"{t}/x.npy", "--labels", f"{t}/obj.npy"): (
            f"{t}/obj.npy: array obj holds Python objects, which ce does not read (it never "
            "unpickles); save a numeric array (np.save(path, x.astype(np.float32)))"
        ),
        (f"{t}/x.npy", "--labels", f"{t}/short.npy"): (
            f"{t}/x.npy has 5 samples (x [5, 3]) but {t}/short.npy has 4 (short [4]); the "
            "first axes must match"
        ),
        (f"{t}/x.npy", "--labels", f"{t}/names.npy"): (
            f"{t}/names.npy: array names (<U1) cannot be labels: they must be integer class "
            "indices; save it with .astype(np.int64)"
        ),
        (keys,): (
            f"{keys}: no labels array found (looked for label, labels, target, targets, y, "
            "y_true, class, gt, …); the file has arrays: a [5, 3] float32, b [5] int64; "
            "pass --label-key NAME"
        ),
        (keys, "--label-key", "b"): (
            f"{keys}: no predictions array found (looked for logits, logit, probs, prob, "
            "probabilities, probability, proba, y_proba, …); the file has arrays: a [5, 3] "
            "float32, b [5] int64; pass --pred-key NAME"
        ),
        (keys, "--pred-key", "z", "--label-key", "b"): (
            f"{keys}: no array 'z' (--pred-key); the file has arrays: a [5, 3] float32, b [5] int64"
        ),
        (keys, "--pred-key", "b", "--label-key", "b"): (
            f"{keys}: array b (int64) cannot be predictions: they must be floating point; "
            "save it with .astype(np.float32)"
        ),
        (seg, "--labels", f"{t}/mask.npy"): (
            f"{t}/mask.npy: labels mask [2, 4, 5] do not fit predictions logits [2, 3, 4, 4], "
            "which need labels of shape [2, 4, 4] (PyTorch: input [N, C, d1…dk], target "
            "[N, d1…dk])"
        ),
        (f"{t}/x.npy",): (
            f"{t}/x.npy: one array of predictions (x [5, 3] float32) and no labels; pass "
            "--labels FILE with the labels (or save both in one .npz)"
        ),
        (f"{t}/cut.npy", "--labels", f"{t}/short.npy"): (
            f"{t}/cut.npy: array cut [5, 3] needs 188 bytes but the file has 140; the file is "
            "truncated"
        ),
        (f"{t}/junk.npy", "--labels", f"{t}/short.npy"): (
            f"{t}/junk.npy: the file is not a NumPy .npy array (the magic string is not "
            "correct; expected b'\\x93NUMPY', got b'not an')"
        ),
    }
    for args, message in cases.items():
        result = run("score", *args)
        assert_user_error(result)
        assert result.stderr.strip() == f"ce: error: {message}", args


def test_compressed_fortran_members_are_refused(tmp_path: Path) -> None:
    x = np.asfortranarray(np.zeros((4, 3), np.float32))
    path = tmp_path / "f.npz"
    np.savez_compressed(path, logits=x, labels=np.zeros(4, np.int64))
    result = run("score", str(path))
    assert_user_error(result)
    assert "is compressed and in Fortran order, which cannot be streamed" in result.stderr


def test_a_damaged_zip_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("logits.npy", b"\x93NUMPY garbage")
    path.write_bytes(buffer.getvalue()[:-10])
    result = run("score", str(path))
    assert_user_error(result)
    assert result.stderr.startswith(f"ce: error: {path}: not a valid .npz file (")


def test_samples_are_listed_in_the_readme() -> None:
    text = (SAMPLES / "README.md").read_text()
    for name in ("logits.npy", "outputs.npz", "segmentation.npz", "segmentation.safetensors"):
        assert f"`{name}`" in text


def test_multilabel_npz_and_labels_from_csv(tmp_path: Path) -> None:
    """[N, C] labels beside [N, C] logits are multi-hot (BCE over N·C values, as PyTorch's
    mean); a .npy's labels may come from a CSV with one row per sample."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(20, 3)).astype(np.float32)
    y = (rng.random((20, 3)) < 0.4).astype(np.int64)
    z = x.astype(np.float64)
    want = (np.logaddexp(0, z) - y * z).mean()
    got = score(_stored(tmp_path, "ml.npz", logits=x, labels=y))
    assert got["task"] == "multilabel"
    assert got["loss"]["mean"] == pytest.approx(want, rel=1e-12)
    labels = np.load(sample("labels.npy"))
    csv = tmp_path / "labels.csv"
    csv.write_text("label\n" + "\n".join(map(str, labels)) + "\n")
    pair = score(sample("logits.npy"), "--labels", str(csv))["loss"]["mean"]
    npy = score(sample("logits.npy"), "--labels", sample("labels.npy"))["loss"]["mean"]
    assert pair == npy


def test_where_sample_and_input_format(tmp_path: Path) -> None:
    case = next(c for c in GOLDEN if c["name"] == "segmentation_npz")
    one = score(SEG, "--where", "sample=2")["loss"]["mean"]
    assert one == pytest.approx(case["per_sample"][2], rel=1e-12)
    plain = tmp_path / "seg_copy"
    plain.write_bytes(Path(SEG).read_bytes())
    got = score(str(plain), "--input-format", "npz")["loss"]["mean"]
    assert got == pytest.approx(case["mean"], rel=1e-12)


def _safetensors(path: Path, tensors: dict[str, tuple[str, list[int], bytes]]) -> str:
    header: dict[str, Any] = {}
    data, at = b"", 0
    for key, (dtype, shape, raw) in tensors.items():
        header[key] = {"dtype": dtype, "shape": shape, "data_offsets": [at, at + len(raw)]}
        data, at = data + raw, at + len(raw)
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + data)
    return str(path)


def test_n_by_1_predictions_are_binary_and_odd_dtypes_are_refused(tmp_path: Path) -> None:
    x = np.array([[0.3], [-1.2], [2.5], [0.0]], dtype=np.float32)
    y = np.array([1, 0, 1, 0])
    z = x[:, 0].astype(np.float64)
    want = (np.logaddexp(0, z) - y * z).mean()
    got = score(_stored(tmp_path, "col.npz", logits=x, labels=y))
    assert got["task"] == "binary"
    assert got["loss"]["mean"] == pytest.approx(want, rel=1e-12)
    fp8 = _safetensors(
        tmp_path / "fp8.safetensors",
        {"logits": ("F8_E4M3", [4, 2], bytes(8)), "labels": ("I64", [4], bytes(32))},
    )
    result = run("score", fp8)
    assert_user_error(result)
    assert result.stderr.strip() == (
        f"ce: error: {fp8}: array logits has dtype F8_E4M3, which ce does not read; save it as "
        "float32"
    )


def test_a_compressed_member_shorter_than_its_header_says(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.zeros((4, 3), np.float32))
    path = tmp_path / "lie.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("logits.npy", buffer.getvalue().replace(b"(4, 3)", b"(9, 3)"))
    result = run("score", str(path))
    assert_user_error(result)
    assert result.stderr.strip() == (
        f"ce: error: {path}: array logits [9, 3] needs 108 bytes but the member holds 48; the "
        "file is damaged"
    )
