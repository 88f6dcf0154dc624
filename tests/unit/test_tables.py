"""Reading user tables: every format round-trips; every malformed file names the file and line."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tunesafe.data.tables import TableError, file_sha256, read_table, require_columns, table_sha256

ROWS = [
    {"prompt": "How do I boil an egg?", "category": "cooking", "note": "comma, inside"},
    {"prompt": 'A "quoted" prompt\nwith a newline', "category": "misc", "note": ""},
]


def write_csv(path: Path, rows: list[dict[str, Any]], delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    "name, write",
    [
        ("t.csv", write_csv),
        ("t.tsv", lambda p, rows: write_csv(p, rows, "\t")),
        ("t.jsonl", write_jsonl),
        ("t.json", lambda p, rows: p.write_text(json.dumps(rows), encoding="utf-8") and p),
        ("t.parquet", write_parquet),
    ],
)
def test_every_format_round_trips(tmp_path: Path, name: str, write: Any) -> None:
    path = tmp_path / name
    write(path, ROWS)
    assert read_table(path) == ROWS
    assert read_table(str(path)) == ROWS


def test_csv_keeps_strings_and_reads_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffprompt,n\nhello,1\nworld,\n".encode())
    assert read_table(path) == [{"prompt": "hello", "n": "1"}, {"prompt": "world", "n": ""}]


def test_jsonl_skips_blank_lines_and_keeps_types(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"prompt": "a", "intents": ["x", "y"]}\n\n{"prompt": "b", "n": 3}\n', encoding="utf-8")
    assert read_table(path) == [{"prompt": "a", "intents": ["x", "y"]}, {"prompt": "b", "n": 3}]


# --------------------------------------------------------------------------- malformed files


def _error(path: Path) -> str:
    with pytest.raises(TableError) as info:
        read_table(path)
    assert isinstance(info.value, ValueError)
    return str(info.value)


def test_malformed_jsonl_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "ok"}\n{"prompt": "broken"\n{"prompt": "ok"}\n', encoding="utf-8")
    assert f"{path}:2: not valid JSON" in _error(path)


def test_jsonl_line_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "list.jsonl"
    path.write_text('{"prompt": "ok"}\n["a", "b"]\n', encoding="utf-8")
    assert f"{path}:2: expected a JSON object, got list" in _error(path)


def test_json_must_be_a_list_of_objects(tmp_path: Path) -> None:
    path = tmp_path / "obj.json"
    path.write_text('{"prompt": "a"}', encoding="utf-8")
    assert "expected a JSON list of objects, got dict" in _error(path)
    path.write_text('[{"prompt": "a"}, 3]', encoding="utf-8")
    assert "item 1 is a int" in _error(path)
    path.write_text('[{"prompt": "a"},\n oops]', encoding="utf-8")
    assert f"{path}:2: not valid JSON" in _error(path)


def test_csv_row_with_too_many_or_too_few_fields(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("prompt,category\na,b\nc,d,e\n", encoding="utf-8")
    assert f"{path}:3: more fields than the 2 in the header" in _error(path)
    path.write_text("prompt,category\na,b\nc\n", encoding="utf-8")
    assert f"{path}:3: fewer fields than the 2 in the header" in _error(path)


def test_csv_without_header_or_with_duplicated_names(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    assert "empty file (no header line)" in _error(path)
    path.write_text("prompt,prompt\na,b\n", encoding="utf-8")
    assert "duplicated column name(s) in the header: prompt" in _error(path)


def test_non_utf8_text_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("prompt\ncaf\xe9\n".encode("latin-1"))
    assert f"{path}: not UTF-8 text" in _error(path)


def test_missing_file_unknown_suffix_and_bad_parquet(tmp_path: Path) -> None:
    assert "no such file" in _error(tmp_path / "absent.csv")
    assert f"is a folder, not a table file; for a datasets folder write hf:{tmp_path}" in _error(tmp_path)
    (tmp_path / "data.xlsx").write_bytes(b"x")
    assert "unsupported file type '.xlsx'" in _error(tmp_path / "data.xlsx")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    assert "not a readable Parquet file" in _error(tmp_path / "bad.parquet")


def test_parquet_without_pyarrow_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_parquet(tmp_path / "t.parquet", ROWS)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    assert "needs pyarrow: pip install pyarrow" in _error(path)


# --------------------------------------------------------------------------- columns and hashes


def test_require_columns_lists_missing_and_available() -> None:
    require_columns(ROWS, ["prompt", None, "category"], "f.csv")  # optional None columns are ignored
    with pytest.raises(TableError, match=r"f\.csv: missing column\(s\) text, label; available: prompt, category, note"):
        require_columns(ROWS, ["text", "prompt", "label"], "f.csv")
    with pytest.raises(TableError, match="f.csv: no rows"):
        require_columns([], ["prompt"], "f.csv")


def test_file_sha256_is_the_sha256_of_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "abc.txt"
    path.write_bytes(b"abc")
    assert file_sha256(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert table_sha256(path, []) == file_sha256(path)


# --------------------------------------------------------------------------- hf: sources (no network)


@pytest.fixture
def offline_hf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf_cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


def test_hf_source_reads_a_saved_dataset_and_picks_the_split(tmp_path: Path, offline_hf: None) -> None:
    import datasets

    datasets.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "single"))
    assert read_table(f"hf:{tmp_path / 'single'}") == ROWS

    both = datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(ROWS[:1]), "test": datasets.Dataset.from_list(ROWS[1:])}
    )
    both.save_to_disk(str(tmp_path / "dict"))
    assert read_table(f"hf:{tmp_path / 'dict'}", split="test") == ROWS[1:]
    with pytest.raises(TableError, match=r"no split 'validation'; available: train, test"):
        read_table(f"hf:{tmp_path / 'dict'}", split="validation")


def test_hf_source_loads_a_local_data_folder_with_load_dataset(tmp_path: Path, offline_hf: None) -> None:
    folder = tmp_path / "local_set"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", ROWS)
    rows = read_table(f"hf:{folder}")
    assert rows == ROWS
    assert table_sha256(f"hf:{folder}", rows) == table_sha256(f"hf:{folder}", read_table(f"hf:{folder}"))


def test_hf_name_and_config_go_to_load_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    calls = []

    def fake_load_dataset(name: str, config: str | None, split: str) -> list[dict[str, Any]]:
        calls.append((name, config, split))
        return [{"prompt": "hello"}]

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    assert read_table("hf:org/set:subset", split="test") == [{"prompt": "hello"}]
    assert read_table("hf:org/set") == [{"prompt": "hello"}]
    assert calls == [("org/set", "subset", "test"), ("org/set", None, "train")]


def test_hf_failure_is_a_clear_table_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    def no_network(*args: object, **kwargs: object) -> None:
        raise ConnectionError("hub unreachable")

    monkeypatch.setattr(datasets, "load_dataset", no_network)
    with pytest.raises(TableError, match=r"could not load hf:org/set \(split 'train'\).*hub unreachable.*hub access"):
        read_table("hf:org/set")
    with pytest.raises(TableError, match="bad dataset source"):
        read_table("hf:")
