"""ROC-AUC and average precision (``--auc``, ``--auc-bins B``) against scikit-learn, their error
bound, and the invariants (batch size, row order, merge, --group-by, the dask engine).

Golden values: tests/golden/make_auc_golden.py (scikit-learn, run outside the project's venv).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import assert_user_error, run, run_json, sample

from ce_cli.core import ranking
from ce_cli.engine import ranking_sums
from ce_cli.engine.ranking_sums import RankingSums

GOLDEN = json.loads((Path(__file__).parent / "golden" / "auc.json").read_text())
CASES = {c["name"]: c for c in GOLDEN["cases"]}
TOL = 1e-12
SLACK = 1e-12  # rounding: the bounds are exact-arithmetic bounds


def _write(tmp_path: Path, case: dict[str, Any]) -> str:
    path = tmp_path / f"{case['name']}.csv"
    path.write_text(case["csv"])
    return str(path)


def _auc(path: str, *args: str) -> dict[str, Any]:
    return run_json("score", path, *args)


def _close(got: float | None, want: float | None, tol: float = TOL) -> None:
    if want is None:
        assert got is None
    else:
        assert got == pytest.approx(want, abs=tol, rel=0)


# ---------------------------------------------------------------------- core
def test_sklearn_docstring_examples() -> None:
    """roc_auc_score / average_precision_score's own examples."""
    roc, ap, pos, neg = ranking.exact(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
    assert roc == 0.75 and ap == pytest.approx(0.8333333333333333, abs=1e-15)
    assert (pos, neg) == (2.0, 2.0)


def test_ties_count_half_and_undefined_is_nan() -> None:
    roc, ap, _, _ = ranking.exact(np.array([0.5, 0.5]), np.array([0, 1]))
    assert roc == 0.5 and ap == 0.5
    roc, ap, pos, neg = ranking.exact(np.array([0.2, 0.7]), np.array([1, 1]))
    assert np.isnan(roc) and np.isnan(ap) and (pos, neg) == (2.0, 0.0)


def test_bin_index_is_uniform_and_clamps_one() -> None:
    p = np.array([0.0, 0.0999, 0.1, 0.55, 0.9999, 1.0])
    assert ranking.bin_index(p, 10).tolist() == [0, 0, 1, 5, 9, 9]


def _random_class(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    score = np.round(rng.random(n), int(rng.integers(1, 4)))
    truth = (rng.random(n) < rng.random()).astype(np.int64)
    return score, truth, np.round(rng.random(n) * 3, 1)


@pytest.mark.parametrize("bins", [2, 3, 10, 100])
def test_binned_bounds_hold_and_are_reached_by_the_data(bins: int) -> None:
    """|binned − exact| ≤ the stated bound, for ROC-AUC and AP, weighted or not; and the
    bound is not vacuous: it is 0 when no bin mixes scores that differ."""
    rng = np.random.default_rng(bins)
    seen_error = 0.0
    for trial in range(200):
        score, truth, w = _random_class(rng, int(rng.integers(2, 200)))
        weight = w if trial % 2 else None
        roc, ap, pos_mass, neg_mass = ranking.exact(score, truth, weight)
        if not (pos_mass > 0 and neg_mass > 0):
            continue
        idx = ranking.bin_index(score, bins)
        mass = np.ones_like(score) if weight is None else weight
        pos = np.bincount(idx, weights=mass * truth, minlength=bins)
        neg = np.bincount(idx, weights=mass * (1 - truth), minlength=bins)
        r = ranking.binned(pos[None], neg[None])
        assert abs(r.roc_auc[0] - roc) <= r.roc_auc_error[0] + SLACK
        assert abs(r.average_precision[0] - ap) <= r.average_precision_error[0] + SLACK
        seen_error = max(seen_error, abs(r.roc_auc[0] - roc))
    assert seen_error > 0  # the bins did lose something, so the test could fail


def test_binned_is_exact_when_each_bin_holds_one_score() -> None:
    """The values are exact and the ROC-AUC bound is 0; the AP bound is not (a histogram does
    not tell one row from many)."""
    score = np.array([0.05, 0.15, 0.25, 0.35])
    truth = np.array([0, 1, 0, 1])
    idx = ranking.bin_index(score, 10)
    pos = np.bincount(idx, weights=truth, minlength=10).astype(float)
    neg = np.bincount(idx, weights=1 - truth, minlength=10).astype(float)
    r = ranking.binned(pos[None], neg[None])
    roc, ap, _, _ = ranking.exact(score, truth)
    assert r.roc_auc_error[0] == 0 and 0 < r.average_precision_error[0] < 0.05
    assert r.roc_auc[0] == roc and r.average_precision[0] == pytest.approx(ap, abs=1e-15)


def test_roc_bound_is_attained() -> None:
    """One bin with a positive above a negative: true 1, binned ½, bound ½."""
    r = ranking.binned(np.array([[0.0, 1.0]]), np.array([[0.0, 1.0]]))
    roc, _, _, _ = ranking.exact(np.array([0.9, 0.8]), np.array([1, 0]))
    assert (roc, r.roc_auc[0], r.roc_auc_error[0]) == (1.0, 0.5, 0.5)


# ---------------------------------------------------------------------- golden (CLI)
@pytest.mark.parametrize("name", sorted(CASES))
def test_exact_equals_sklearn(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    report = _auc(_write(tmp_path, case), *case["args"], "--auc")
    want, got = case["exact"], report["auc"]
    assert got["method"] == "exact" and got["bins"] is None and got["max_error"] == 0
    for key in ("roc_auc_macro", "average_precision_macro", "roc_auc_weighted"):
        _close(got[key], want[key])
    for i, row in enumerate(report["per_class"]):
        _close(row["roc_auc"], want["roc_auc"][i])
        _close(row["average_precision"], want["average_precision"][i])


def test_sklearn_averages_where_every_class_is_defined(tmp_path: Path) -> None:
    """sklearn's own multiclass (ovr) and multilabel averages, not only per-class calls."""
    case = CASES["multiclass_weighted"]
    got = _auc(_write(tmp_path, case), *case["args"], "--auc")["auc"]
    _close(got["roc_auc_macro"], case["sklearn_ovr_macro"])
    _close(got["roc_auc_weighted"], case["sklearn_ovr_weighted"])
    _close(got["average_precision_macro"], case["sklearn_ap_macro"])
    case = CASES["multilabel_logits"]
    got = _auc(_write(tmp_path, case), "--auc")["auc"]
    _close(got["roc_auc_macro"], case["sklearn_macro_defined"])
    _close(got["roc_auc_weighted"], case["sklearn_weighted_defined"])
    _close(got["average_precision_macro"], case["sklearn_ap_macro_defined"])


@pytest.mark.parametrize("bins", ["4", "10", "1000"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_binned_equals_sklearn_on_bins_within_bound(tmp_path: Path, name: str, bins: str) -> None:
    """The binned values are sklearn's on the bin indices; each is within the reported bound
    of the exact value."""
    case = CASES[name]
    path = _write(tmp_path, case)
    report = _auc(path, *case["args"], "--auc-bins", bins)
    got, want, exact = report["auc"], case["binned"][bins], case["exact"]
    assert got["method"] == "binned" and got["bins"] == int(bins)
    for key in ("roc_auc_macro", "average_precision_macro", "roc_auc_weighted"):
        _close(got[key], want[key])
    for i, row in enumerate(report["per_class"]):
        _close(row["roc_auc"], want["roc_auc"][i])
        _close(row["average_precision"], want["average_precision"][i])
        if exact["roc_auc"][i] is not None:
            assert abs(row["roc_auc"] - exact["roc_auc"][i]) <= got["max_error"] + SLACK
            ap_error = abs(row["average_precision"] - exact["average_precision"][i])
            assert ap_error <= got["average_precision_max_error"] + SLACK
    assert abs(got["roc_auc_macro"] - exact["roc_auc_macro"]) <= got["max_error"] + SLACK


def test_binned_error_shrinks_with_bins(tmp_path: Path) -> None:
    path = _write(tmp_path, CASES["multiclass_logits_T"])
    errors = [_auc(path, "--auc-bins", b)["auc"]["max_error"] for b in ("4", "10", "1000")]
    assert errors[0] > errors[1] > errors[2] > 0


# ---------------------------------------------------------------------- report
def test_memory_bytes(tmp_path: Path) -> None:
    path = _write(tmp_path, CASES["multiclass_logits_T"])  # 600 rows × 5 columns, index labels
    assert _auc(path, "--auc")["auc"]["memory_bytes"] == 600 * (5 * 8 + 4)
    assert _auc(path, "--auc-bins", "1000")["auc"]["memory_bytes"] == 16 * 5 * 1000
    assert run_json("score", path)["auc"] is None


def test_undefined_classes_are_null_and_warned(tmp_path: Path) -> None:
    report = _auc(_write(tmp_path, CASES["multilabel_logits"]), "--auc")
    assert [r["roc_auc"] is None for r in report["per_class"]] == [False] * 3 + [True] * 2
    assert (
        "ROC-AUC and average precision are undefined for 2 of 5 classes, left out of the macro "
        "and weighted averages: bus (no positive rows), sky (no negative rows)"
    ) in report["warnings"]


def test_text_and_markdown_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, CASES["multiclass_logits_T"])
    text = run("score", path, "--auc", "--temperature", "1.7").stdout
    assert "ROC-AUC (macro, one-vs-rest) 0.823103 · AP " in text
    assert "± " not in text
    binned = run("score", path, "--auc-bins", "10", "--format", "markdown").stdout
    summary = next(line for line in binned.splitlines() if "ROC-AUC (macro" in line)
    assert " · ± " in summary and summary.count("±") == 2
    assert any(line.endswith("| ROC-AUC | AP |") for line in binned.splitlines())
    binary = run("score", _write(tmp_path, CASES["binary_logits"]), "--auc").stdout
    assert "ROC-AUC 0.802376 · AP " in binary


def test_csv_has_the_columns(tmp_path: Path) -> None:
    path = _write(tmp_path, CASES["binary_logits"])
    lines = run("score", path, "--auc", "--format", "csv").stdout.splitlines()
    assert lines[0].endswith(",roc_auc,average_precision")


def test_schema_validates_auc_reports(tmp_path: Path) -> None:
    from test_check_schemas import validate

    path = _write(tmp_path, CASES["multilabel_logits"])
    validate(_auc(path, "--auc"), "score")
    validate(_auc(path, "--auc-bins", "50"), "score")


# ---------------------------------------------------------------------- errors
def test_auc_and_bins_together_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, CASES["binary_logits"])
    result = run("score", path, "--auc", "--auc-bins", "10")
    assert_user_error(result, "--auc keeps every score and --auc-bins B bins them: pass one")


def test_bins_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    result = run("score", _write(tmp_path, CASES["binary_logits"]), "--auc-bins", "1")
    assert result.exit_code == 2 and "--auc-bins" in result.stderr


def test_exact_store_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, CASES["multiclass_logits_T"])
    monkeypatch.setattr(ranking_sums, "AUC_MAX_BYTES", 1000)
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow.csv as pacsv

    parquet = str(tmp_path / "m.parquet")
    pq.write_table(pacsv.read_csv(path), parquet)
    result = run("score", parquet, "--auc", "--temperature", "1.7")
    assert_user_error(
        result,
        "m.parquet (600 rows × 5 columns): --auc needs 25.8 KiB for its scores, over the 1000 "
        "bytes limit; use --auc-bins B instead (bounded memory)",
    )
    # a CSV's row count is not known before reading: refused as the scores arrive
    assert_user_error(run("score", path, "--auc"), "--auc needs", "use --auc-bins B instead")
    # the histograms: 16·K·B bytes, checked before reading
    assert run("score", path, "--auc-bins", "10").exit_code == 0  # 800 bytes
    result = run("score", path, "--auc-bins", "100")
    assert_user_error(
        result,
        "--auc-bins 100 needs 7.81 KiB for its histograms, over the 1000 bytes limit; "
        "pass fewer --auc-bins",
    )


def test_soft_targets_are_refused() -> None:
    result = run("score", sample("soft_targets.parquet"), "--auc")
    assert_user_error(result, "--auc: ROC-AUC and average precision need 0/1 or class-index")


# ---------------------------------------------------------------------- invariants
@pytest.mark.parametrize("flag", [["--auc"], ["--auc-bins", "100"]])
@pytest.mark.parametrize("name", ["multiclass_probs_ties_absent", "multilabel_logits"])
def test_batch_size_and_threads_do_not_matter(tmp_path: Path, name: str, flag: list[str]) -> None:
    case = CASES[name]
    path = _write(tmp_path, case)
    whole = _auc(path, *case["args"], *flag, "--threads", "1")
    for size in ("1", "7", "1000"):
        got = _auc(path, *case["args"], *flag, "--batch-size", size, "--threads", "2")
        if flag == ["--auc"]:  # blocks are put back in row order: the same bits
            assert got["auc"] == whole["auc"]
            assert got["per_class"] == whole["per_class"] or _same_auc(got, whole, 0)
        else:
            _same_auc(got, whole, TOL)


def _same_auc(a: dict[str, Any], b: dict[str, Any], tol: float) -> bool:
    for key, value in b["auc"].items():
        if isinstance(value, float):
            assert a["auc"][key] == pytest.approx(value, abs=tol, rel=0), key
        else:
            assert a["auc"][key] == value, key
    for x, y in zip(a["per_class"], b["per_class"], strict=True):
        for key in ("roc_auc", "average_precision"):
            _close(x[key], y[key], tol)
    return True


def test_row_order_does_not_matter(tmp_path: Path) -> None:
    case = CASES["binary_probs_weighted"]
    header, *rows = case["csv"].splitlines()
    forward = _write(tmp_path, case)
    backward = tmp_path / "reversed.csv"
    backward.write_text("\n".join([header, *rows[::-1]]) + "\n")
    for flag in (["--auc"], ["--auc-bins", "10"]):
        _same_auc(
            _auc(str(backward), *case["args"], *flag), _auc(forward, *case["args"], *flag), TOL
        )


def _sums(method: str, bins: int | None = None) -> RankingSums:
    return RankingSums(
        method, bins, geometry="softmax", inputs="logits", n_cols=3, target_kind="index"
    )


@pytest.mark.parametrize("method,bins", [("exact", None), ("binned", 20)])
def test_merge_of_halves_equals_one_pass(method: str, bins: int | None) -> None:
    rng = np.random.default_rng(7)
    z = np.round(rng.normal(size=(500, 3)), 1)
    y = rng.integers(0, 3, 500)
    w = rng.random(500)
    one = _sums(method, bins)
    one.update(0, z, y, w)
    first, second = _sums(method, bins), _sums(method, bins)
    second.update(250, z[250:], y[250:], w[250:])  # arrives first: order is restored
    first.update(0, z[:250], y[:250], w[:250])
    merged = second.merge(first)
    a, b = one.compute(3), merged.compute(3)
    if method == "exact":
        assert np.array_equal(a.roc_auc, b.roc_auc)
        assert np.array_equal(a.average_precision, b.average_precision)
        assert merged.memory_bytes == one.memory_bytes == 500 * (3 * 8 + 4 + 8)
    else:
        np.testing.assert_allclose(b.roc_auc, a.roc_auc, rtol=0, atol=TOL)
        np.testing.assert_allclose(b.average_precision, a.average_precision, rtol=0, atol=TOL)
        assert merged.memory_bytes == 3 * 20 * 2 * 8


def test_group_by_equals_each_group_alone(tmp_path: Path) -> None:
    case = CASES["multiclass_logits_T"]
    header, *rows = case["csv"].splitlines()
    path = tmp_path / "grouped.csv"
    path.write_text(
        "\n".join([header + ",split", *(f"{r},{'ab'[i % 2]}" for i, r in enumerate(rows))]) + "\n"
    )
    for flag in (["--auc"], ["--auc-bins", "50"]):
        grouped = _auc(str(path), "--temperature", "1.7", *flag, "--group-by", "split")
        _same_auc(grouped, _auc(_write(tmp_path, case), "--temperature", "1.7", *flag), 0)
        for group in grouped["groups"]:
            alone = _auc(
                str(path), "--temperature", "1.7", *flag, "--where", f"split={group['value']}"
            )
            _same_auc(group, alone, TOL)


def test_dask_engine_equals_local(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow.csv as pacsv
    from test_dask import NO_HTTP_PORT

    case = CASES["multiclass_probs_ties_absent"]
    table = pacsv.read_csv(_write(tmp_path, case))
    (tmp_path / "shards").mkdir()
    for i in range(3):
        pq.write_table(table.slice(i * 100, 100), tmp_path / "shards" / f"part-{i}.parquet")
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
        dashboard_address=None, scheduler_kwargs=NO_HTTP_PORT,
    )  # fmt: skip
    try:
        for flag in (["--auc"], ["--auc-bins", "100"]):
            args = [str(tmp_path / "shards"), *case["args"], *flag]
            local = _auc(*args)
            dask = _auc(*args, "--engine", "dask", "--scheduler", cluster.scheduler_address)
            _same_auc(dask, local, 0 if flag == ["--auc"] else TOL)
            if flag == ["--auc"]:
                _close(dask["auc"]["roc_auc_macro"], case["exact"]["roc_auc_macro"])
    finally:
        cluster.close()


def test_sigmoid_geometry_ranks_each_column_by_its_own_logit() -> None:
    """``--loss bce`` on K softmax-style columns scores σ(z_k/T), the model's own, so class k's
    ROC-AUC is that of its logit column (σ is monotone); not that of the softmax."""
    pacsv = pytest.importorskip("pyarrow.csv")
    table = pacsv.read_csv(sample("multiclass.csv"))
    names = [c.removeprefix("logit_") for c in table.column_names if c.startswith("logit_")]
    label = np.array([names.index(v) for v in table.column("label").to_pylist()])
    z = np.column_stack([table.column(f"logit_{c}").to_numpy() for c in names])
    report = run_json("score", sample("multiclass.csv"), "--auc", "--loss", "bce")
    for k, row in enumerate(report["per_class"]):
        _close(row["roc_auc"], ranking.exact(z[:, k], label == k)[0])
    softmax = run_json("score", sample("multiclass.csv"), "--auc")["auc"]["roc_auc_macro"]
    assert abs(report["auc"]["roc_auc_macro"] - softmax) > 0.01


def test_schema_method_enum_is_the_vocabulary() -> None:
    from test_check_schemas import load_schema

    from ce_cli.core.vocab import AucMethod

    method = load_schema("score")["properties"]["auc"]["properties"]["method"]["enum"]
    assert method == list(AucMethod.values())
