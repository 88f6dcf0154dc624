"""JSON tables written by pandas ``DataFrame.to_json``: every orient read as rows, malformed ones named.

Kumar 2024 (arXiv 2409.19476) publishes its knowledge-drift results with pandas' default orient
("columns"): one object of columns, each mapping a row label ("0", "1", …) to a value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tunesafe.data.tables import TableError, pandas_json_rows, read_table

ROWS: list[dict[str, Any]] = [
    {"id": 0, "answer": "Canberra", "ok": True, "nested": {"h": [0.25]}},
    {"id": 1, "answer": "Venus", "ok": False, "nested": {"h": [0.5]}},
    {"id": 2, "answer": None, "ok": True, "nested": {"h": [1.0]}},
]


def _write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("orient", [None, "columns", "index", "split", "records"])
def test_pandas_orients_read_back_as_the_rows(tmp_path: Path, orient: str | None) -> None:
    pd = pytest.importorskip("pandas")
    path = tmp_path / "frame.json"
    frame = pd.DataFrame(ROWS)
    frame.to_json(path) if orient is None else frame.to_json(path, orient=orient)
    assert read_table(path) == ROWS


def test_hand_written_column_orient(tmp_path: Path) -> None:
    """The published shape without pandas: row labels as strings, in the file's order, booleans kept."""
    literal = (
        '{"id":{"0":0,"1":1},"model_baseprompt_answer":{"0":"Mars","1":"Marlowe"},'
        '"correct_gen_ans":{"0":true,"1":false},'
        '"uncertainty":{"0":{"avg_entropy":[0.2]},"1":{"avg_entropy":[1.0]}}}'
    )
    path = tmp_path / "b.json"
    path.write_text(literal, encoding="utf-8")
    assert read_table(path) == [
        {"id": 0, "model_baseprompt_answer": "Mars", "correct_gen_ans": True, "uncertainty": {"avg_entropy": [0.2]}},
        {
            "id": 1,
            "model_baseprompt_answer": "Marlowe",
            "correct_gen_ans": False,
            "uncertainty": {"avg_entropy": [1.0]},
        },
    ]


def test_index_orient_is_told_from_its_row_labels() -> None:
    data = {"0": {"a": 1, "b": "x"}, "1": {"a": 2, "b": "y"}}
    assert pandas_json_rows(data, "f.json") == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]


def test_columns_orient_with_a_text_index_and_an_empty_frame() -> None:
    assert pandas_json_rows({"a": {"r1": 1, "r2": 2}}, "f.json") == [{"a": 1}, {"a": 2}]
    assert pandas_json_rows({}, "f.json") == []
    assert pandas_json_rows({"a": {}, "b": {}}, "f.json") == []


@pytest.mark.parametrize(
    "data, message",
    [
        ({"a": {"0": 1, "1": 2}, "b": {"0": 3}}, r"orient 'columns'\): column 'b' lacks rows \['1'\]"),
        ({"a": {"0": 1}, "b": {"0": 3, "7": 4}}, r"column 'b' has rows \['7'\] that column 'a' lacks"),
        ({"0": {"a": 1, "b": 2}, "1": {"a": 3}}, r"orient 'index'\): row '1' lacks columns \['b'\]"),
        ({"a": {"0": 1}, "b": [1]}, r"expected a JSON list of objects, got dict .*'b' holds a list"),
        ({"prompt": "a"}, r"expected a JSON list of objects, got dict .*'prompt' holds a str"),
        ({"columns": ["a", "b"], "data": [[1, 2], [3]]}, r"orient 'split'\): data\[1\] has 1 values for 2 columns"),
    ],
)
def test_malformed_pandas_json_is_one_clear_line_naming_the_file(tmp_path: Path, data: Any, message: str) -> None:
    path = _write(tmp_path / "bad.json", data)
    with pytest.raises(TableError, match=message) as info:
        read_table(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)
