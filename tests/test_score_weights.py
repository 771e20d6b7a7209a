"""`ce score` with class weights and sample weights: every mean convention against numpy, the
--alpha list-or-file rule, and the all-zero sample weight message (issue 11)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_user_error, run

from ce_cli.core.errors import CEError
from ce_cli.io.dataset import InputOptions
from ce_cli.report.score import ScoreOptions, ScoreReport, compute_score
from ce_cli.report.score_weights import is_number_list

N, CLASSES = 60, ("a", "b", "c")
W = np.array([0.5, 2.0, 3.0])  # class weights
P = 4.0  # pos_weight


def data(seed: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    s = rng.uniform(0.0, 3.0, N)
    s[:5] = 0.0
    s[5:10] = 1.0
    soft = rng.dirichlet(np.ones(3), N)
    return {
        "z": rng.normal(0, 2, (N, 3)),
        "y": rng.integers(0, 3, N),
        "yb": rng.integers(0, 2, N),
        "ym": rng.integers(0, 2, (N, 3)).astype(np.float64),
        "soft": soft,
        "s": s,
    }


D = data()


def write(path: Path, labels: dict[str, object], preds: dict[str, np.ndarray]) -> str:
    pq.write_table(pa.table({**labels, **preds, "wt": D["s"]}), path)
    return str(path)


def logits3() -> dict[str, np.ndarray]:
    return {f"logit_{c}": D["z"][:, j] for j, c in enumerate(CLASSES)}


def scored(path: str, weighted: bool, **options: object) -> ScoreReport:
    inputs = InputOptions(path, weight_col="wt" if weighted else None)
    return compute_score(inputs, ScoreOptions(**options))  # type: ignore[arg-type]


def log_softmax(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def log_sigmoid(z: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -z)


def conventions(
    loss_rows: np.ndarray, omega_rows: np.ndarray, terms_per_row: int, s: np.ndarray
) -> dict[str, float]:
    """L / N, L / Σ s·ω and L / (Σ s · K) with L = Σ s·l (l: a row's class-weighted loss)."""
    total = float(loss_rows @ s)
    return {
        "count": total / (len(s) * terms_per_row),
        "weights": total / float(omega_rows @ s),
        "samples": total / (float(s.sum()) * terms_per_row),
    }


def check(report: ScoreReport, expected: dict[str, float], main: str, others: list[str]) -> None:
    """The reported mean is ``expected[main]``; the other conventions are exactly ``others``
    (label=key), in this order."""
    assert report.mean == pytest.approx(expected[main], rel=1e-12)
    got = [(c["label"], c["value"]) for c in report.other_conventions]
    assert [label for label, _ in got] == [label for label, _ in others_of(others)]
    for (_, value), (_, key) in zip(got, others_of(others), strict=True):
        assert value == pytest.approx(expected[key], rel=1e-12)
    if others:
        assert report.to_dict()["loss"]["other_convention"] == report.other_conventions[0]
        assert any(n.startswith(f"mean: {main_label(report)}") for n in report.notes)
    else:
        assert "other_convention" not in report.to_dict()["loss"]


def others_of(spec: list[str]) -> list[tuple[str, str]]:
    """'label=key' → (label, key)."""
    return [tuple(item.split("=")) for item in spec]  # type: ignore[misc]


def main_label(report: ScoreReport) -> str:
    return next(n for n in report.notes if n.startswith("mean: ")).split(" ")[1]


# ---------------------------------------------------------------------- softmax, index targets
@pytest.mark.parametrize(
    ("class_weighted", "weighted", "main", "others"),
    [
        (True, False, "weights", ["Σw·l/N=count"]),
        (False, True, "samples", ["Σs·l/N=count"]),
        (True, True, "weights", ["Σs·w·l/N=count", "Σs·w·l/Σs=samples"]),
        (False, False, "samples", []),
    ],
)
def test_ce_index_conventions(
    tmp_path: Path, class_weighted: bool, weighted: bool, main: str, others: list[str]
) -> None:
    path = write(tmp_path / "ce.parquet", {"label": D["y"]}, logits3())
    w = W if class_weighted else np.ones(3)
    s = D["s"] if weighted else np.ones(N)
    rows = -log_softmax(D["z"])[np.arange(N), D["y"]] * w[D["y"]]
    expected = conventions(rows, w[D["y"]], 1, s)
    alpha = ",".join(map(str, W)) if class_weighted else None
    check(scored(path, weighted, alpha=alpha), expected, main, others)


@pytest.mark.parametrize("weighted", [False, True])
def test_softmax_focal_conventions(tmp_path: Path, weighted: bool) -> None:
    path = write(tmp_path / "focal.parquet", {"label": D["y"]}, logits3())
    s = D["s"] if weighted else np.ones(N)
    log_py = log_softmax(D["z"])[np.arange(N), D["y"]]
    rows = -W[D["y"]] * (1 - np.exp(log_py)) ** 2 * log_py
    expected = conventions(rows, W[D["y"]], 1, s)
    report = scored(path, weighted, loss="focal", alpha=",".join(map(str, W)))
    if weighted:
        check(report, expected, "samples", ["Σs·w·l/N=count", "Σs·w·l/Σs·w=weights"])
    else:
        check(report, expected, "samples", ["Σw·l/Σw=weights"])


@pytest.mark.parametrize("weighted", [False, True])
def test_soft_target_conventions(tmp_path: Path, weighted: bool) -> None:
    labels = {f"label_{c}": D["soft"][:, j] for j, c in enumerate(CLASSES)}
    path = write(tmp_path / "soft.parquet", labels, logits3())
    s = D["s"] if weighted else np.ones(N)
    rows = -(D["soft"] * W * log_softmax(D["z"])).sum(axis=1)
    expected = conventions(rows, D["soft"] @ W, 1, s)
    report = scored(path, weighted, alpha=",".join(map(str, W)))
    assert report.target_kind == "soft"
    if weighted:
        check(report, expected, "samples", ["Σs·w·l/N=count", "Σs·w·l/Σs·w=weights"])
    else:
        check(report, expected, "samples", ["Σw·l/Σw=weights"])


# ---------------------------------------------------------------------- sigmoids
def bce_elements(z: np.ndarray, y: np.ndarray, w: np.ndarray, p: np.ndarray) -> np.ndarray:
    return -w * (p * y * log_sigmoid(z) + (1 - y) * log_sigmoid(-z))


@pytest.mark.parametrize(
    ("pos_weighted", "weighted", "main", "others"),
    [
        (True, False, "samples", ["Σw·l/Σw=weights"]),
        (False, True, "samples", ["Σs·l/N=count"]),
        (True, True, "samples", ["Σs·w·l/N=count", "Σs·w·l/Σs·w=weights"]),
    ],
)
def test_binary_bce_conventions(
    tmp_path: Path, pos_weighted: bool, weighted: bool, main: str, others: list[str]
) -> None:
    z, y = D["z"][:, 0], D["yb"]
    path = write(tmp_path / "bce.parquet", {"label": y}, {"logit": z})
    p = P if pos_weighted else 1.0
    s = D["s"] if weighted else np.ones(N)
    rows = bce_elements(z, y, np.ones(1), np.array(p))
    omega = p * y + (1 - y)
    expected = conventions(rows, omega, 1, s)
    report = scored(path, weighted, pos_weight=str(P) if pos_weighted else None)
    check(report, expected, main, others)


@pytest.mark.parametrize("weighted", [False, True])
def test_multilabel_bce_conventions(tmp_path: Path, weighted: bool) -> None:
    labels = {f"label_{c}": D["ym"][:, j] for j, c in enumerate(CLASSES)}
    path = write(tmp_path / "ml.parquet", labels, logits3())
    s = D["s"] if weighted else np.ones(N)
    elements = bce_elements(D["z"], D["ym"], W, np.ones(3))
    expected = conventions(elements.sum(axis=1), np.full(N, W.sum()), 3, s)
    report = scored(path, weighted, alpha=",".join(map(str, W)))
    if weighted:
        check(report, expected, "samples", ["Σs·w·l/(N·K)=count", "Σs·w·l/Σs·w=weights"])
    else:
        check(report, expected, "samples", ["Σw·l/Σw=weights"])


def test_sigmoid_focal_sample_weights(tmp_path: Path) -> None:
    z, y = D["z"][:, 0], D["yb"]
    path = write(tmp_path / "focal.parquet", {"label": y}, {"logit": z})
    p = 1 / (1 + np.exp(-z))
    one_minus_pt = y * (1 - p) + (1 - y) * p
    rows = bce_elements(z, y, np.ones(1), np.array(1.0)) * one_minus_pt**2
    rows *= 0.25 * y + 0.75 * (1 - y)
    expected = conventions(rows, np.ones(N), 1, D["s"])
    check(scored(path, True, loss="focal"), expected, "samples", ["Σs·l/N=count"])


def test_weight_column_of_ones_adds_no_convention(tmp_path: Path) -> None:
    path = tmp_path / "ones.parquet"
    pq.write_table(pa.table({"label": D["y"], **logits3(), "wt": np.ones(N)}), path)
    report = scored(str(path), True)
    assert report.other_conventions == [] and "other_convention" not in report.to_dict()["loss"]


# ---------------------------------------------------------------------- zero weights
def test_all_zero_sample_weights_name_the_column(tmp_path: Path) -> None:
    path = tmp_path / "zero.csv"
    path.write_text("label,logit_a,logit_b,wt\na,1,2,0\nb,0.5,0.1,0\n")
    assert_user_error(
        run("score", str(path), "--weight-col", "wt"),
        f"{path}: column wt: every used row has sample weight 0 (--weight-col), so the mean "
        "loss is undefined; check the column or drop --weight-col",
    )


def test_all_zero_class_weights_still_say_class_weight(tmp_path: Path) -> None:
    path = tmp_path / "zero.csv"
    path.write_text("label,logit_a,logit_b\na,1,2\na,0.5,0.1\n")
    assert_user_error(
        run("score", str(path), "--alpha", "0,1", "--loss", "ce", "--inputs", "logits"),
        f"{path}: the mean loss is undefined: every used row has class weight 0",
    )


# ---------------------------------------------------------------------- --alpha: list or file
def test_alpha_list_or_file_is_decided_by_syntax() -> None:
    assert is_number_list("1,2,3") and is_number_list("0.5") and is_number_list("1e-3")
    assert is_number_list("1,x")  # a list with a bad item: an error about numbers, not files
    assert not is_number_list("weights.json") and not is_number_list("balanced")


def test_a_long_alpha_list_never_reaches_the_filesystem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = 70
    rng = np.random.default_rng(1)
    columns = {f"logit_k{j}": rng.normal(size=20) for j in range(c)}
    path = tmp_path / "many.parquet"
    pq.write_table(pa.table({"label": np.arange(20) % c, **columns}), path)
    alpha = ",".join(f"{1 + j / 1000:.6f}" for j in range(c))
    assert len(alpha) > 255

    def no_filesystem(*args: object, **kwargs: object) -> None:
        raise AssertionError("--alpha list text reached the filesystem")

    monkeypatch.setattr(Path, "is_file", no_filesystem)
    monkeypatch.setattr(Path, "read_text", no_filesystem)
    report = compute_score(InputOptions(str(path)), ScoreOptions(alpha=alpha))
    assert report.parameters["class_weight"] == pytest.approx([1 + j / 1000 for j in range(c)])


def test_a_long_alpha_path_is_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "two.csv"
    path.write_text("label,logit_a,logit_b\na,1,2\nb,0.5,0.1\n")
    name = "w" * 300
    assert_user_error(
        run("score", str(path), "--alpha", name),
        f"--alpha '{name}': expected a number, a comma list of numbers, 'balanced' or a weights "
        "JSON file (File name too long)",
    )
    with pytest.raises(CEError, match="No such file or directory"):
        compute_score(InputOptions(str(path)), ScoreOptions(alpha="missing.json"))
