"""Summarise a py-spy raw (collapsed-stack) profile: the functions with the largest share.

    pip install py-spy
    py-spy record --idle --rate 250 --format raw -o score.txt -- \\
        ce score benchmarks/data/big.parquet --format json
    python benchmarks/profile_top.py score.txt [--top 25] [--lines]

Shares are of all samples. With `py-spy --idle` a thread is sampled also while it waits
(e.g. on pyarrow's C++ threads or on a queue), so a thread's samples are its wall time;
record with `py-spy --threads` to get one summary per thread (worker threads are summarised
together). "inclusive" counts a function whenever it is on the stack, "self" only when it is
the innermost Python frame. Frames are grouped by function, or by function and line with
--lines.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")
_THREAD = re.compile(r"^thread \((\d+)\)(?::\s*(.*))?$")  # py-spy --threads root frame


def frame_key(frame: str, lines: bool) -> str:
    """'f (path/x.py:12)' → 'f (path/x.py)' unless `lines`."""
    return frame if lines else _LINE.sub(")", frame)


Summary = tuple[int, Counter[str], Counter[str]]


def read_stacks(path: Path) -> list[tuple[str, list[str], int]]:
    """(thread, frames, samples) per line; thread is '' unless recorded with --threads."""
    rows = []
    names: dict[str, str] = {}  # thread id → name (early samples may lack the name)
    for raw in path.read_text().splitlines():
        stack, _, count = raw.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if f]
        thread = ""
        if frames and (m := _THREAD.match(frames[0])):
            frames = frames[1:]
            thread = m.group(1)
            if m.group(2):
                # "Thread-2 (worker)" → "(worker)": identical workers are summarised together
                names[thread] = re.sub(r"^Thread-\d+\s*", "", m.group(2)).strip() or m.group(2)
        rows.append((thread, frames, int(count)))
    return [(names.get(t, f"thread {t}") if t else "", f, n) for t, f, n in rows]


def summarise(rows: list[tuple[str, list[str], int]], lines: bool) -> Summary:
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    total = 0
    for _, stack, n in rows:
        total += n
        frames = [frame_key(f, lines) for f in stack]
        for frame in set(frames):
            inclusive[frame] += n
        if frames:
            self_time[frames[-1]] += n
    return total, inclusive, self_time


def print_summary(title: str, summary: Summary, grand_total: int, top: int) -> None:
    total, inclusive, self_time = summary
    print(f"{title}: {total} samples ({100 * total / grand_total:.1f} % of all)")
    for kind, counts in (("inclusive", inclusive), ("self", self_time)):
        print(f"  {kind}:")
        for frame, n in counts.most_common(top):
            print(f"    {100 * n / total:5.1f} %  {frame}")
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path, help="py-spy record --format raw output")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--lines", action="store_true", help="one row per source line")
    args = parser.parse_args(argv)
    rows = read_stacks(args.profile)
    grand_total = sum(n for _, _, n in rows)
    if not grand_total:
        sys.exit(f"{args.profile}: no samples")
    print_summary("all threads", summarise(rows, args.lines), grand_total, args.top)
    threads = sorted({t for t, _, _ in rows if t})
    if len(threads) > 1:
        for thread in threads:
            mine = [r for r in rows if r[0] == thread]
            print_summary(thread, summarise(mine, args.lines), grand_total, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
