"""The accumulators of ``ce label-issues``: one per pass, each merged by ``+`` or by keeping the
best entries in a fixed order, so threads and chunking do not change the result.

- ``ThresholdSums`` (pass 1): per class, Σ p_y over rows labelled y, and the row count;
- ``JointSums`` (pass 2): the (given, confident true) pair counts and the issue counts that need
  the thresholds only (``confident_learning``, ``predicted_neq_given``, cleanlab's
  ``num_label_issues``);
- ``CellTop`` (pass 3, the ``prune_by_*`` filters only): per (given y, class j) cell the
  ``Q[y][j]`` rows with the largest prune score (ties: the smaller row) — at most Σ Q entries;
- ``FlaggedRows`` (last pass): the flagged rows' counts per class, the ``--top`` rows with the
  lowest quality score (a bounded ``TopK``), and every flagged row handed to a sink (``-o``).

Multi-label files are one binary problem per label (``core.confident_learning``): the same sums
with a leading label axis (``ThresholdSums((L, 2))``, ``LabelJointSums``: (L, 2, 2) pairs from
(n, L) blocks), one ``CellTop`` per label (``LabelCellTops``), and ``LabelIssuePass``, which
flags a row when any of its labels is flagged.

``Scopes`` holds one pass's accumulator of all rows and (``--group-by``) one per group, each
made with its own group's parameters (thresholds, quotas); ``OVERALL`` keys the first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ce_cli.core import confident_learning as cl
from ce_cli.core.errors import CEError
from ce_cli.core.topk import TopK
from ce_cli.engine.accumulate import MAX_GROUPS
from ce_cli.io.ids import IdColumn


class ThresholdSums:
    """Per class (``k``), or per label and side (``(L, 2)``): Σ p_y over the rows labelled y,
    and the row count."""

    def __init__(self, shape: int | tuple[int, int]) -> None:
        self.sums = np.zeros(shape)
        self.counts = np.zeros(shape, dtype=np.int64)
        self.n_rows = self.n_ignored = self.n_masked = 0

    def seen(self, n: int, n_ignored: int, n_masked: int) -> None:
        """Rows read (used or not), and those left out by --ignore-index / --mask-col."""
        self.n_rows += n
        self.n_ignored += n_ignored
        self.n_masked += n_masked

    def update(self, probs: np.ndarray, given: np.ndarray) -> None:
        multilabel = given.ndim == 2
        sums, counts = (cl.label_threshold_sums if multilabel else cl.threshold_sums)(probs, given)
        self.sums += sums
        self.counts += counts

    def merge(self, other: ThresholdSums) -> ThresholdSums:
        merged = ThresholdSums(self.sums.shape)
        merged.sums, merged.counts = self.sums + other.sums, self.counts + other.counts
        merged.n_rows = self.n_rows + other.n_rows
        merged.n_ignored = self.n_ignored + other.n_ignored
        merged.n_masked = self.n_masked + other.n_masked
        return merged


class JointSums:
    """Pair counts of the confident joint, and the rows each threshold-only rule flags."""

    def __init__(self, t: np.ndarray) -> None:
        k = t.size
        self.t = t
        self.pairs = np.zeros((k, k), dtype=np.int64)
        self.n_off_diagonal = 0  # confident true ≠ given, and the given label not the argmax
        self.n_neq = 0  # argmax ≠ given (and not within 1e-6)
        self.n_rows = 0

    def update(self, probs: np.ndarray, given: np.ndarray) -> None:
        self.add(cl.row_facts(probs, given, self.t), given)

    def add(self, facts: cl.RowFacts, given: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Count one block's facts; its (off-diagonal, argmax ≠ given) masks."""
        self.pairs += cl.joint_counts(given, facts.true_guess, self.t.size)
        off, neq = cl.issue_masks(facts, given)
        self.n_off_diagonal += int(off.sum())
        self.n_neq += int(neq.sum())
        self.n_rows += given.size
        return off, neq

    def merge(self, other: JointSums) -> JointSums:
        merged = JointSums(self.t)
        merged.pairs = self.pairs + other.pairs
        merged.n_off_diagonal = self.n_off_diagonal + other.n_off_diagonal
        merged.n_neq = self.n_neq + other.n_neq
        merged.n_rows = self.n_rows + other.n_rows
        return merged


class LabelJointSums:
    """Multi-label: the pair counts of every label's binary problem (``t``: (L, 2)); a row
    counts in ``n_off_diagonal`` / ``n_neq`` once, when any of its labels does."""

    def __init__(self, t: np.ndarray) -> None:
        self.t = t
        self.pairs = np.zeros((t.shape[0], 2, 2), dtype=np.int64)  # [label][given][true]
        self.n_off_diagonal = self.n_neq = self.n_rows = 0

    def update(self, probs: np.ndarray, given: np.ndarray) -> None:
        self.add_all(probs, given)

    def add_all(self, probs: np.ndarray, given: np.ndarray) -> cl.LabelFacts:
        """Count one block (probs and given labels (n, L)); its facts."""
        facts = cl.label_row_facts(probs, given, self.t)
        self.pairs += cl.label_joint_counts(given, facts.true_guess)
        off, neq = cl.label_issue_masks(facts, given)
        self.n_off_diagonal += int(off.any(axis=1).sum())
        self.n_neq += int(neq.any(axis=1).sum())
        self.n_rows += given.shape[0]
        return facts

    def merge(self, other: LabelJointSums) -> LabelJointSums:
        merged = LabelJointSums(self.t)
        merged.pairs = self.pairs + other.pairs
        merged.n_off_diagonal = self.n_off_diagonal + other.n_off_diagonal
        merged.n_neq = self.n_neq + other.n_neq
        merged.n_rows = self.n_rows + other.n_rows
        return merged


class CellTop:
    """Per cell (given y, class j) the ``quota[y, j]`` rows with the largest prune score.

    Candidates are buffered and cut back to the quotas when the buffer outgrows the kept size
    (Σ quota, at least 65,536); a full cell's cut (its lowest kept score) filters later rows
    before they are buffered. At most about 2·Σ quota + one block of entries are held.
    """

    def __init__(self, quota: np.ndarray) -> None:
        self.quota = quota.reshape(-1).astype(np.int64)
        self.k = quota.shape[0]
        self.cut = np.full(self.quota.size, -np.inf)
        self.cells = np.empty(0, dtype=np.int64)
        self.scores = np.empty(0)
        self.rows = np.empty(0, dtype=np.int64)
        self.pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.n_pending = 0
        self.limit = max(int(self.quota.sum()), 1 << 16)

    def update(self, probs: np.ndarray, given: np.ndarray, rows: np.ndarray) -> None:
        """Offer the rows block by block, so the cuts rise before the next block is scored
        (the first blocks of an empty heap would otherwise buffer every (row, class) pair)."""
        step = max(1, cl.BLOCK_ELEMENTS // (4 * self.k))
        for start in range(0, given.size, step):
            block = slice(start, start + step)
            self._offer(probs[block], given[block], rows[block])

    def _offer(self, probs: np.ndarray, given: np.ndarray, rows: np.ndarray) -> None:
        scores = cl.prune_scores(probs, given)
        cut = self.cut.reshape(self.k, self.k)[given]  # row gathers: -inf cut when not full
        cut[self.quota.reshape(self.k, self.k)[given] == 0] = np.inf
        r, j = np.nonzero(scores >= cut)
        self._add(given[r] * self.k + j, scores[r, j], rows[r])

    def _add(self, cells: np.ndarray, scores: np.ndarray, rows: np.ndarray) -> None:
        """Buffer candidates (appended in chunks: no copy per block); cut back when the
        buffer outgrows the kept entries."""
        self.pending.append((cells, scores, rows))
        self.n_pending += cells.size
        if self.n_pending > self.limit:
            self._shrink()

    def _shrink(self) -> None:
        """Keep the quota's best of every cell (score descending, then row ascending)."""
        parts = [(self.cells, self.scores, self.rows), *self.pending]
        cells, scores, rows = (np.concatenate([p[i] for p in parts]) for i in range(3))
        self.pending, self.n_pending = [], 0
        order = np.lexsort((rows, -scores, cells))
        cells = cells[order]
        rank = np.arange(cells.size) - np.searchsorted(cells, cells, side="left")
        kept = rank < self.quota[cells]
        keep = order[kept]
        self.cells, self.scores, self.rows = cells[kept], scores[keep], rows[keep]
        if self.cells.size == 0:
            return
        # the last kept entry of a cell is its lowest score: the cut once the cell is full
        last = np.flatnonzero(np.append(np.diff(self.cells) != 0, True))
        counts = np.bincount(self.cells, minlength=self.quota.size)
        full = counts[self.cells[last]] >= self.quota[self.cells[last]]
        self.cut[self.cells[last][full]] = self.scores[last][full]

    def merge(self, other: CellTop) -> CellTop:
        merged = CellTop(self.quota.reshape(self.k, self.k))
        for part in (self, other):
            for cells, scores, rows in [(part.cells, part.scores, part.rows), *part.pending]:
                merged._add(cells, scores, rows)
        return merged

    def chosen(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows taken by ``prune_by_noise_rate``, rows taken by ``prune_by_class``), sorted."""
        self._shrink()
        diagonal = self.cells // self.k == self.cells % self.k
        return np.unique(self.rows[~diagonal]), np.unique(self.rows[diagonal])


class LabelCellTops:
    """Multi-label: one ``CellTop`` per label's binary problem (``quota``: (L, 2, 2))."""

    def __init__(self, quota: np.ndarray) -> None:
        self.labels = [CellTop(q) for q in quota]

    def update(self, probs: np.ndarray, given: np.ndarray, rows: np.ndarray) -> None:
        for j, cells in enumerate(self.labels):
            cells.update(cl.binary_columns(probs[:, j]), given[:, j], rows)

    def merge(self, other: LabelCellTops) -> LabelCellTops:
        merged = LabelCellTops(np.zeros((0, 2, 2), dtype=np.int64))
        merged.labels = [a.merge(b) for a, b in zip(self.labels, other.labels, strict=True)]
        return merged

    def chosen(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every label's (rows taken by noise rate, rows taken by class)."""
        return [cells.chosen() for cells in self.labels]


Sink = Callable[[dict[str, np.ndarray], IdColumn | None, np.ndarray], None]


class FlaggedRows:
    """The flagged rows: counts per given and per suggested class, the ``top`` with the lowest
    quality score, and (``sink``) every one of them, in input order (one thread).

    Multi-label (``given`` (n, L)): per label j the flagged rows whose label j is given
    (``by_given``), predicted (``by_suggested``) and itself flagged (``by_label``)."""

    def __init__(self, k: int, top: int, sink: Sink | None = None) -> None:
        self.k = k
        self.n_flagged = 0
        self.by_given = np.zeros(k, dtype=np.int64)
        self.by_suggested = np.zeros(k, dtype=np.int64)
        self.by_label = np.zeros(k, dtype=np.int64)
        self.top = TopK(top)
        self.top_ids: dict[int, Any] = {}
        self.sink = sink

    def update(self, rows: dict[str, np.ndarray], ids: IdColumn | None) -> None:
        """``rows``: the flagged rows' ``row``, ``position`` (in the batch), ``given``,
        ``suggested``, ``quality``, and ``p_suggested`` (single-label) or ``issue`` (multi-label:
        (n, L) booleans, as ``given`` and ``suggested``)."""
        self._count(rows)
        if self.sink is not None:
            self.sink(rows, ids, rows["position"])
        pick = self.top.candidates(-rows["quality"])
        if pick.size == 0:
            return
        names = [n for n in ("given", "suggested", "p_suggested", "issue") if n in rows]
        self.top.update(
            -rows["quality"][pick], rows["row"][pick], **{n: rows[n][pick] for n in names}
        )
        if ids is not None:
            values = ids.values(rows["position"][pick]).tolist()
            self.top_ids.update(zip(rows["row"][pick].tolist(), values, strict=True))
            kept = set(self.top.rows.tolist())
            self.top_ids = {r: v for r, v in self.top_ids.items() if r in kept}

    def _count(self, rows: dict[str, np.ndarray]) -> None:
        self.n_flagged += rows["row"].size
        if rows["given"].ndim == 2:
            issue = rows["issue"]
            self.by_given += (issue & rows["given"]).sum(axis=0)
            self.by_suggested += (issue & rows["suggested"]).sum(axis=0)
            self.by_label += issue.sum(axis=0)
            return
        self.by_given += np.bincount(rows["given"], minlength=self.k)
        self.by_suggested += np.bincount(rows["suggested"], minlength=self.k)

    def merge(self, other: FlaggedRows) -> FlaggedRows:
        merged = FlaggedRows(self.k, self.top.k, self.sink)
        merged.n_flagged = self.n_flagged + other.n_flagged
        merged.by_given = self.by_given + other.by_given
        merged.by_suggested = self.by_suggested + other.by_suggested
        merged.by_label = self.by_label + other.by_label
        merged.top = self.top.merge(other.top)
        kept = set(merged.top.rows.tolist())
        both = {**self.top_ids, **other.top_ids}
        merged.top_ids = {r: v for r, v in both.items() if r in kept}
        return merged


Flag = Callable[[cl.RowFacts, np.ndarray, np.ndarray], np.ndarray]


class IssuePass:
    """The pass that lists the flagged rows: ``flag(facts, given, rows)`` says which; the
    joint's counts are summed again on the way (the same numbers as pass 2)."""

    def __init__(self, t: np.ndarray, flag: Flag, rank_by: str, top: int, sink: Sink | None):
        self.joint = JointSums(t)
        self.flagged = FlaggedRows(t.size, top, sink)
        self.flag = flag
        self.rank_by = rank_by

    def update(
        self,
        probs: np.ndarray,
        given: np.ndarray,
        rows: np.ndarray,
        positions: np.ndarray,
        ids: IdColumn | None,
    ) -> None:
        facts = cl.row_facts(probs, given, self.joint.t)
        self.joint.add(facts, given)
        pick = np.flatnonzero(self.flag(facts, given, rows))
        if pick.size == 0:
            return
        found = {
            "row": rows[pick],
            "position": positions[pick],
            "given": given[pick],
            "suggested": facts.suggested[pick],
            "p_suggested": facts.p_suggested[pick],
            "quality": cl.quality_scores(probs[pick], given[pick], self.rank_by),
        }
        self.flagged.update(found, ids)

    def merge(self, other: IssuePass) -> IssuePass:
        merged = IssuePass(self.joint.t, self.flag, self.rank_by, self.flagged.top.k, None)
        merged.joint = self.joint.merge(other.joint)
        merged.flagged = self.flagged.merge(other.flagged)
        return merged


LabelFlag = Callable[[cl.LabelFacts, np.ndarray, np.ndarray], np.ndarray]


class LabelIssuePass:
    """Multi-label: the pass that lists the flagged rows; ``flag(facts, given, rows)`` says
    which labels of which rows are flagged ((n, L)), and a row is flagged when any of its labels
    is (cleanlab: ``per-label mask.sum(1) >= 1``). Its quality is cleanlab's multi-label score
    (per-label scores, EMA-aggregated)."""

    def __init__(
        self, t: np.ndarray, flag: LabelFlag, rank_by: str, top: int, sink: Sink | None
    ) -> None:
        self.joint = LabelJointSums(t)
        self.flagged = FlaggedRows(t.shape[0], top, sink)
        self.flag = flag
        self.rank_by = rank_by

    def update(
        self,
        probs: np.ndarray,
        given: np.ndarray,
        rows: np.ndarray,
        positions: np.ndarray,
        ids: IdColumn | None,
    ) -> None:
        facts = self.joint.add_all(probs, given)
        issue = self.flag(facts, given, rows)
        pick = np.flatnonzero(issue.any(axis=1))
        if pick.size == 0:
            return
        found = {
            "row": rows[pick],
            "position": positions[pick],
            "given": given[pick] == 1,
            "suggested": facts.suggested[pick],
            "issue": issue[pick],
            "quality": cl.multilabel_quality_scores(probs[pick], given[pick], self.rank_by),
        }
        self.flagged.update(found, ids)

    def merge(self, other: LabelIssuePass) -> LabelIssuePass:
        merged = LabelIssuePass(self.joint.t, self.flag, self.rank_by, self.flagged.top.k, None)
        merged.joint = self.joint.merge(other.joint)
        merged.flagged = self.flagged.merge(other.flagged)
        return merged


# ---------------------------------------------------------------------- --group-by
class _Overall:
    """The key of every row's scope; one value, also across pickling (Dask workers)."""

    def __repr__(self) -> str:
        return "OVERALL"

    def __reduce__(self) -> str:
        return "OVERALL"  # unpickled as this module's OVERALL

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Overall)

    def __hash__(self) -> int:
        return hash(_Overall)


OVERALL: Any = _Overall()  # the scope of every row (a group key may be None: a null value)


class Tee(NamedTuple):
    """What a batch's piece updates: the overall accumulator and its group's (None: a group
    left out, e.g. one whose every row was left out in pass 1)."""

    overall: Any
    part: Any | None


class Scopes:
    """One pass's accumulators: the overall one (``make(OVERALL)``) and, with ``--group-by``,
    one per value of ``column`` (``make(key)``, made when the key is first seen; ``make`` may
    return None to leave a group out). Merged key by key."""

    def __init__(self, make: Callable[[Any], Any], column: str | None = None) -> None:
        self.make = make
        self.column = column
        self.overall = make(OVERALL)
        self.parts: dict[Any, Any] = {}

    def part(self, key: Any) -> Tee:
        if key not in self.parts:
            self._check_room(1)
            self.parts[key] = self.make(key)
        return Tee(self.overall, self.parts[key])

    def merge(self, other: Scopes) -> Scopes:
        merged = Scopes.__new__(Scopes)
        merged.make, merged.column = self.make, self.column
        merged.overall = self.overall.merge(other.overall)
        merged.parts = dict(self.parts)
        merged._check_room(len(other.parts.keys() - self.parts.keys()))
        for key, acc in other.parts.items():
            mine = merged.parts.get(key)
            merged.parts[key] = acc if mine is None else mine if acc is None else mine.merge(acc)
        return merged

    def _check_room(self, new: int) -> None:
        if len(self.parts) + new > MAX_GROUPS:
            raise CEError(
                f"--group-by {self.column}: more than {MAX_GROUPS} distinct values; group by a "
                "column with a few values (a country, a model version), or pick some with --where"
            )
