"""Threads give the single-threaded result; errors are the ones one thread would raise."""

from __future__ import annotations

import json
import random
import sys
import time

import pytest
from conftest import assert_user_error, run, sample

from ce_cli.engine import allocator, runner


def as_json(*args: str) -> dict:
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("threads", ["2", "3", "8"])
@pytest.mark.parametrize(
    "args",
    [
        ["score", "multiclass.csv", "--alpha", "1,2,0.5,3,1", "--label-smoothing", "0.1"],
        ["score", "multilabel.csv", "--loss", "focal"],
        ["score", "multiclass.parquet", "--weight-col", "weight"],
        ["weights", "multiclass.csv"],
        ["weights", "multiclass.parquet", "--weight-col", "weight"],
    ],
    ids=["ce", "focal", "weighted", "weights", "weights-ml"],
)
def test_threads_equal_one_thread(args: list[str], threads: str) -> None:
    command, name, *rest = args
    one = as_json(command, sample(name), *rest, "--threads", "1", "--batch-size", "97")
    many = as_json(command, sample(name), *rest, "--threads", threads, "--batch-size", "97")
    if command == "score":
        assert many["loss"]["mean"] == pytest.approx(one["loss"]["mean"], rel=1e-12)
        assert many["loss"]["sum"] == pytest.approx(one["loss"]["sum"], rel=1e-12)
        assert [t["row"] for t in many["top"]] == [t["row"] for t in one["top"]]
        for key in ("accuracy", "subset_accuracy", "normalized_cross_entropy"):
            assert (many[key] is None) == (one[key] is None), key
            assert many[key] is None or many[key] == pytest.approx(one[key], rel=1e-12), key
    else:
        assert many["weights"] == pytest.approx(one["weights"], rel=1e-12)


def test_threaded_error_is_the_earliest_batch(write_csv) -> None:  # type: ignore[no-untyped-def]
    rows = ["label,score_a,score_b"] + ["0,0.2,0.8"] * 50 + ["1,1.5,0.1"] + ["0,0.3,0.7"] * 50
    rows += ["1,2.5,0.1"] * 20
    path = write_csv("\n".join(rows) + "\n")
    one = run("score", path, "--threads", "1", "--batch-size", "3")
    many = run("score", path, "--threads", "4", "--batch-size", "3")
    assert_user_error(one, "row 51")
    assert many.stderr == one.stderr and many.exit_code == 2


def test_engine_merges_in_a_tree() -> None:
    class Sum:
        def __init__(self) -> None:
            self.total = 0

        def merge(self, other: Sum) -> Sum:
            out = Sum()
            out.total = self.total + other.total
            return out

    def add(acc: Sum, item: int) -> None:
        acc.total += item

    for threads in (1, 2, 5):
        assert runner.run(range(1000), Sum, add, threads=threads).total == sum(range(1000))


@pytest.mark.parametrize("threads", [2, 3])
def test_each_thread_adds_the_same_items_whatever_the_scheduling(threads: int) -> None:
    """Item k goes to thread k mod threads and the partial results merge in a fixed tree, so
    which items each partial sum holds — hence every float of the result — does not depend on
    which thread is faster (random delays here)."""

    class Seen:
        def __init__(self) -> None:
            self.items: list[int] = []

        def merge(self, other: Seen) -> Seen:
            self.items += other.items
            return self

    rng = random.Random(7)

    def add(acc: Seen, item: int) -> None:
        time.sleep(rng.random() * 0.002)
        acc.items.append(item)

    runs = [runner.run(range(60), Seen, add, threads=threads).items for _ in range(4)]
    assert all(r == runs[0] for r in runs)
    assert runs[0] == [k for t in range(threads) for k in range(t, 60, threads)]


def test_no_progress_bar_on_stdout_or_when_not_a_terminal() -> None:
    result = run("score", sample("multiclass.csv"), "--format", "json")
    json.loads(result.stdout)
    assert "rows/s" not in result.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_allocator_is_tuned_once_from_the_process_symbols(monkeypatch: pytest.MonkeyPatch) -> None:
    """``tune_allocator`` finds mallopt among the process's own symbols (no ldconfig run) and
    sets the two thresholds once."""
    calls: list[tuple[int, int]] = []

    class Libc:
        def __init__(self, name: object) -> None:
            assert name is None  # dlopen(NULL): no library search
            self.mallopt = Mallopt()

    class Mallopt:
        argtypes: object = None
        restype: object = None

        def __call__(self, param: int, value: int) -> int:
            calls.append((param, value))
            return 1

    monkeypatch.setattr(allocator, "_tuned", False)
    monkeypatch.setattr(allocator.ctypes, "CDLL", Libc)
    allocator.tune_allocator()
    allocator.tune_allocator()
    assert calls == [(-3, allocator.MALLOC_MMAP_BYTES), (-1, allocator.MALLOC_TRIM_BYTES)]
