"""TRL conversational JSONL: reading, validation errors that name file and line, writing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunesafe.data.formats import (
    DataFormatError,
    read_messages_jsonl,
    to_prompt_completion,
    validate_row,
    write_messages_jsonl,
)
from tunesafe.errors import InputError

GOOD = {
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "How do I boil an egg?"},
        {"role": "assistant", "content": "Put it in boiling water for nine minutes."},
    ],
    "label": "benign",
}


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_round_trip_keeps_extra_keys(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    write_messages_jsonl(path, [GOOD, GOOD])
    assert read_messages_jsonl(path) == [GOOD, GOOD]


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.jsonl", [json.dumps(GOOD), "", "  ", json.dumps(GOOD)])
    assert len(read_messages_jsonl(path)) == 2


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"text": "hi"}), "missing key 'messages'"),
        (json.dumps({"messages": []}), "non-empty list"),
        (json.dumps({"messages": [{"role": "robot", "content": "x"}]}), "unknown role 'robot'"),
        (json.dumps({"messages": [{"role": "user", "content": 3}]}), "'content' must be a string"),
        (json.dumps({"messages": [{"role": "user", "content": "hi"}]}), "last message must have role 'assistant'"),
        (json.dumps({"messages": [{"role": "assistant", "content": "hi"}]}), "no user message"),
        (
            json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]}),
            "system message may only come first",
        ),
        (json.dumps([1, 2]), "expected a JSON object"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, bad_line: str, message: str) -> None:
    path = _write(tmp_path / "d.jsonl", [json.dumps(GOOD), bad_line])
    with pytest.raises(DataFormatError, match=message) as info:
        read_messages_jsonl(path)
    assert f"{path}:2" in str(info.value)


def test_torn_last_line_is_an_error_for_user_data(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps(GOOD)[:20], encoding="utf-8")
    with pytest.raises(DataFormatError, match=":2: not valid JSON"):
        read_messages_jsonl(path)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = _write(tmp_path / "empty.jsonl", [""])
    with pytest.raises(DataFormatError, match="empty"):
        read_messages_jsonl(empty)
    with pytest.raises(DataFormatError, match="not found"):
        read_messages_jsonl(tmp_path / "missing.jsonl")


def test_write_refuses_invalid_rows(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="row 2"):
        write_messages_jsonl(tmp_path / "d.jsonl", [GOOD, {"messages": [{"role": "user", "content": "x"}]}])
    assert not (tmp_path / "d.jsonl").exists()


def test_to_prompt_completion_splits_off_the_final_answer() -> None:
    split = to_prompt_completion(GOOD)
    assert split["prompt"] == GOOD["messages"][:-1]
    assert split["completion"] == [GOOD["messages"][-1]]
    assert set(split) == {"prompt", "completion"}


def test_validate_row_returns_row_unchanged() -> None:
    assert validate_row(GOOD) is GOOD


# --------------------------------------------------------------------------- by extension (issue 15)

CONVERSATION = [{"role": "user", "content": "Say hi, café"}, {"role": "assistant", "content": "Hi!"}]


def test_a_non_utf8_file_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    good = json.dumps({"messages": CONVERSATION}, ensure_ascii=False)
    path.write_bytes(good.encode("utf-8") + b"\n" + good.encode("latin-1") + b"\n")
    with pytest.raises(DataFormatError, match=rf"{path}:2: not UTF-8 text \(byte \d+\); save the file as UTF-8"):
        read_messages_jsonl(path)


def test_parquet_is_read_as_a_table(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pylist([{"messages": CONVERSATION}, {"messages": CONVERSATION[::-1]}]), path)
    with pytest.raises(DataFormatError, match=rf"{path}:2: the last message must have role 'assistant'"):
        read_messages_jsonl(path)
    pq.write_table(pa.Table.from_pylist([{"messages": CONVERSATION}]), path)
    assert [row["messages"] for row in read_messages_jsonl(path)] == [CONVERSATION]


def test_csv_messages_cells_hold_json(tmp_path: Path) -> None:
    import csv

    path = tmp_path / "train.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["messages", "note"])
        writer.writerow([json.dumps(CONVERSATION, ensure_ascii=False), "a"])
        writer.writerow(["[not json", "b"])
    with pytest.raises(DataFormatError, match=rf"{path}:3: the messages cell is not valid JSON"):
        read_messages_jsonl(path)


def test_a_table_without_messages_names_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text("prompt,completion\na,b\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"missing column\(s\) messages; available: prompt, completion"):
        read_messages_jsonl(path)
