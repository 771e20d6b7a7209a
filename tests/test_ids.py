"""``io.ids.IdColumn``: a batch's id column decoded to numpy at the positions asked for; the
paired-row hashes of ``ce check`` stay those of the arrow-array version (integers by value,
anything else by its text)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from conftest import run, run_json

from ce_cli.core.bootstrap import key_hashes
from ce_cli.io.ids import IdColumn
from ce_cli.report.check import id_hashes

AT = np.array([2, 0, 2])


def test_integer_ids_are_int64_by_value() -> None:
    ids = IdColumn(pa.array([10, 11, 12], pa.int32()))
    assert ids.type_name == "int32"
    values = ids.values(AT)
    assert values.dtype == np.int64 and values.tolist() == [12, 10, 12]
    codes, distinct = ids.codes(AT)
    assert distinct[codes].tolist() == [12, 10, 12]
    np.testing.assert_array_equal(id_hashes(ids, AT), key_hashes(np.array([12, 10, 12])))


def test_text_ids_are_distinct_once_and_hash_by_text() -> None:
    ids = IdColumn(pa.chunked_array([pa.array(["a", "b"]), pa.array(["a"])]))
    assert ids.values(AT).tolist() == ["a", "a", "a"]
    codes, distinct = ids.codes(np.array([0, 1, 2]))
    assert distinct.dtype == object and sorted(distinct.tolist()) == ["a", "b"]
    assert distinct[codes].tolist() == ["a", "b", "a"]
    np.testing.assert_array_equal(id_hashes(ids, AT), key_hashes(["a", "a", "a"]))


def test_nulls_make_objects_and_hash_by_text() -> None:
    """An integer id column with a null at the positions asked for: Python values, hashed by
    their text (``None`` as "None"), as the arrow version hashed ``to_pylist()``."""
    ids = IdColumn(pa.array([5, None, 7]))
    assert ids.values(np.array([1, 2])).tolist() == [None, 7]
    assert ids.values(np.array([0, 2])).dtype == np.int64  # no null among these positions
    np.testing.assert_array_equal(
        id_hashes(ids, np.array([1, 2])), key_hashes(np.array([None, 7], dtype=object))
    )
    assert key_hashes(["None"])[0] == id_hashes(ids, np.array([1]))[0]


def test_dictionary_ids_decode() -> None:
    ints = IdColumn(pa.array([3, 4, 3]).dictionary_encode())
    assert ints.values(AT).dtype == np.int64 and ints.values(AT).tolist() == [3, 3, 3]
    text = IdColumn(pa.array(["x", None, "x"]).dictionary_encode())
    assert text.values(np.array([1, 0])).tolist() == [None, "x"]
    assert text.arrow(np.array([0])).to_pylist() == ["x"]


def test_arrow_takes_positions_in_order() -> None:
    ids = IdColumn(pa.array(["a", "b", "c"]))
    assert ids.arrow(np.array([2, 1])).to_pylist() == ["c", "b"]
    assert ids.arrow(np.array([], dtype=np.int64)).to_pylist() == []


def test_list_ids_one_code_a_row() -> None:
    ids = IdColumn(pa.array([[1, 2], [3]]))
    codes, distinct = ids.codes(np.array([1, 0]))
    assert [distinct[c] for c in codes] == [[3], [1, 2]]


def test_decoding_ids_does_not_import_pandas() -> None:
    code = (
        "import io, sys, numpy as np, pyarrow.csv as csv\n"
        "from ce_cli.io.ids import IdColumn\n"
        "table = csv.read_csv(io.BytesIO(b'id,n\\na,1\\n,2\\nc,3\\n'))\n"
        "p = np.array([2, 1])\n"
        "for column in table.columns:\n"
        "    ids = IdColumn(column); ids.values(p); ids.codes(p); ids.arrow(p)\n"
        "print('pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(("ids", "want"), [(("r1", "r2", "r3"), ["r3", "r2"]), ((7, 8, 9), [9, 8])])
def test_top_rows_and_row_output_carry_ids(tmp_path: Path, ids: tuple, want: list) -> None:
    """--top names each worst row's id (text or integer, as in the file); --reduction none
    writes the id of every row."""
    path = tmp_path / "d.csv"
    rows = zip(ids, (1, 0, 1), (0.9, 0.8, 0.1), strict=True)
    path.write_text("id,label,prob\n" + "".join(f"{i},{y},{p}\n" for i, y, p in rows))
    top = run_json("score", str(path), "--top", "2", "--batch-size", "2")["top"]
    assert [row["id"] for row in top] == want
    result = run("score", str(path), "--reduction", "none", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    written = [line.split(",")[1].strip('"') for line in result.stdout.splitlines()[1:]]
    assert written == [str(i) for i in ids]
