"""Property-based tests (hypothesis) of the readers a user's table bytes reach (issue 15).

``tunesafe.data.tables.read_table`` (CSV, TSV, JSONL, JSON with pandas' orients, Parquet),
``tunesafe.data.formats`` (TRL conversational JSONL and its table form) and
``tunesafe.data.user_data.load_mapped_rows``. Properties: any bytes either read or raise the module's
own ``InputError`` (``TableError`` / ``DataFormatError``) naming the file, never a bare Python error;
what the writers (or ``json`` / ``csv``) write reads back as the same rows, whatever the text holds
(unicode, newlines, quotes, commas, empty strings).

Each example writes into its own ``tempfile.TemporaryDirectory()``: pytest's ``tmp_path`` is one folder
for all of a test's examples.
"""

from __future__ import annotations

import csv
import json
import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tunesafe.data.formats import DataFormatError, read_messages_jsonl, write_messages_jsonl
from tunesafe.data.tables import TableError, pandas_json_rows, read_table, require_columns, write_table
from tunesafe.data.user_data import load_mapped_rows
from tunesafe.errors import InputError

SETTINGS = settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# text as users write it: any code point UTF-8 can carry (no lone surrogates), with the characters that
# break naive writers (separators, quotes, line breaks of every kind, a BOM) made likely
TRICKY = ",;\t\"'\n\r\\ \u2028\u2029\x85\x0b\x0c\x1c\ufeff{}[]:#"
TEXT = st.text(st.one_of(st.characters(codec="utf-8"), st.sampled_from(TRICKY)), max_size=20)
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=8,
)
SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet")


@contextmanager
def scratch() -> Iterator[Path]:
    """A fresh folder per hypothesis example."""
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def json_text_lines(values: list[Any]) -> bytes:
    return "".join(json.dumps(v, ensure_ascii=False) + "\n" for v in values).encode("utf-8")


# JSON Python reads but cannot keep as text or int: lone surrogates (``"\\ud800"``), integers near and past
# CPython's 4300-digit limit for int() (written as text: Python cannot even print them)
ODD_JSON = st.one_of(
    st.text(st.characters(categories=["Cs"]) | st.sampled_from("a\U0001f600"), min_size=1, max_size=4).map(json.dumps),
    st.builds(lambda digit, n: "1" + digit * n, st.sampled_from("09"), st.integers(4290, 4310)),
)
ODD_ROW = st.builds(lambda key, value: f"{{{json.dumps(key)}: {value}}}", TEXT, ODD_JSON)

# bytes a table file may hold: random bytes, text made of separators and quotes, JSON of any shape
FILE_BYTES = st.one_of(
    st.binary(max_size=200),
    st.lists(ODD_ROW, min_size=1, max_size=2).map(lambda rows: ("[" + ", ".join(rows) + "]").encode("utf-8")),
    st.lists(ODD_ROW, min_size=1, max_size=2).map(lambda rows: "".join(r + "\n" for r in rows).encode("utf-8")),
    st.text(st.sampled_from(TRICKY + 'ab1é"'), max_size=60).map(lambda t: t.encode("utf-8")),
    st.lists(JSON_VALUES, max_size=4).map(json_text_lines),
    JSON_VALUES.map(lambda v: json.dumps(v).encode("utf-8")),
    st.fixed_dictionaries(
        {"columns": st.lists(JSON_VALUES, max_size=3), "data": st.lists(JSON_VALUES, max_size=3)}
    ).map(lambda v: json.dumps(v).encode("utf-8")),
)


def assert_rows(rows: Any) -> None:
    assert isinstance(rows, list)
    assert all(isinstance(row, dict) for row in rows)
    assert all(isinstance(key, str) for row in rows for key in row)


@SETTINGS
@given(content=FILE_BYTES, suffix=st.sampled_from(SUFFIXES))
@example(content=b'{"columns": [[1]], "data": [[1]]}', suffix=".json")  # found: TypeError (unhashable column)
@example(content=b'{"columns": [0], "data": [[1]]}', suffix=".json")  # integer column names
@example(content=b"[" + b"1" * 5000 + b"]", suffix=".json")  # found: ValueError (int over 4300 digits)
@example(content=b'{"a": ' + b"9" * 5000 + b"}\n", suffix=".jsonl")
@example(content=b'{"a": "\\ud800"}\n', suffix=".jsonl")  # found: a lone surrogate crashed importers later
@example(content=b'[{"a": "\\udfff"}]', suffix=".json")
def test_any_bytes_read_or_raise_a_table_error_naming_the_file(content: bytes, suffix: str) -> None:
    with scratch() as folder:
        path = folder / f"table{suffix}"
        path.write_bytes(content)
        try:
            rows = read_table(path)
        except TableError as err:
            assert str(path) in str(err)
            return
        assert_rows(rows)
        # every string read is valid Unicode text (importers hash and write it as UTF-8)
        json.dumps(rows, ensure_ascii=False, default=str).encode("utf-8")
        if rows:
            require_columns(rows, list(rows[0]), path)


def test_regression_split_orient_with_a_list_as_column_name(tmp_path: Path) -> None:
    path = tmp_path / "split.json"
    path.write_text('{"columns": [[1]], "data": [[1]]}', encoding="utf-8")
    with pytest.raises(TableError, match=r"split\.json: malformed pandas JSON \(orient 'split'\).*column name"):
        read_table(path)


def test_regression_split_orient_with_integer_column_names(tmp_path: Path) -> None:
    # pandas writes a RangeIndex of columns as numbers; the other orients make them JSON keys ("0")
    path = tmp_path / "split.json"
    path.write_text('{"columns": [0, 1], "data": [["a", "b"]]}', encoding="utf-8")
    rows = read_table(path)
    assert rows == [{"0": "a", "1": "b"}]
    with pytest.raises(TableError, match="missing column"):
        require_columns(rows, ["prompt"], path)


def test_split_orient_with_a_repeated_column_name_is_refused(tmp_path: Path) -> None:
    # dict(zip(...)) kept only the last value of a repeated name; a CSV header with one is refused too
    path = tmp_path / "split.json"
    path.write_text('{"columns": ["a", "a"], "data": [[1, 2]]}', encoding="utf-8")
    with pytest.raises(TableError, match=r"split\.json: .*duplicated column name\(s\) a"):
        read_table(path)


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_regression_huge_integer_is_a_table_error(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"big{suffix}"
    path.write_text('[{"a": ' + "1" * 5000 + "}]" if suffix == ".json" else '{"a": ' + "1" * 5000 + "}\n")
    with pytest.raises(TableError, match=rf"big\{suffix}(:1)?: unreadable JSON .*4300 digits"):
        read_table(path)


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_regression_lone_surrogate_is_a_table_error(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"surrogate{suffix}"
    row = '{"prompt": "a\\ud800b"}'
    path.write_text(f"[{row}]" if suffix == ".json" else row + "\n", encoding="utf-8")
    with pytest.raises(TableError, match=rf"surrogate\{suffix}(:1)?: a lone surrogate \\ud800"):
        read_table(path)


def test_a_surrogate_pair_escape_is_one_character(tmp_path: Path) -> None:
    path = tmp_path / "pair.jsonl"
    path.write_text('{"prompt": "\\ud83d\\ude00"}\n', encoding="utf-8")
    assert read_table(path) == [{"prompt": "\U0001f600"}]


# --------------------------------------------------------------------------- round trips

# a column name that starts with U+FEFF would lose it: the readers drop a leading byte order mark
COLUMN = TEXT.filter(lambda name: not name.startswith("\ufeff"))


@st.composite
def text_tables(draw: st.DrawFn, cells: st.SearchStrategy[Any] = TEXT) -> list[dict[str, Any]]:
    """At least one row, every row with the same (unique) columns."""
    columns = draw(st.lists(COLUMN, min_size=1, max_size=4, unique=True))
    n_rows = draw(st.integers(min_value=1, max_value=4))
    return [{c: draw(cells) for c in columns} for _ in range(n_rows)]


@SETTINGS
@given(rows=text_tables(), suffix=st.sampled_from([".csv", ".jsonl"]))
@example(rows=[{"": ""}], suffix=".csv")  # one empty cell: a row that must not vanish as a blank line
@example(rows=[{"a,b": 'say "hi"\r\nbye', "c": "\u2028"}], suffix=".csv")
def test_write_table_then_read_table_gives_the_same_text_rows(rows: list[dict[str, Any]], suffix: str) -> None:
    with scratch() as folder:
        path = write_table(rows, folder / f"t{suffix}")
        assert read_table(path) == rows


def test_regression_bare_carriage_return_in_a_csv_cell(tmp_path: Path) -> None:
    # found: csv quotes only its line terminator's characters ("\n"), so a lone "\r" was written bare and
    # read back as a line end (rows=[{'': '\r'}] read back as no rows)
    rows = [{"progress": "50%\r100%", "col\r": ""}, {"progress": "\r", "col\r": "x"}]
    path = write_table(rows, tmp_path / "t.csv")
    assert read_table(path) == rows
    plain = write_table([{"a": "x,y", "b": 1}], tmp_path / "plain.csv")
    assert plain.read_bytes() == b'a,b\n"x,y",1\n'  # no "\r": minimal quoting, "\n" line ends as before


@SETTINGS
@given(rows=text_tables(cells=JSON_SCALARS))
def test_jsonl_keeps_json_scalars(rows: list[dict[str, Any]]) -> None:
    with scratch() as folder:
        assert read_table(write_table(rows, folder / "t.jsonl")) == rows


@SETTINGS
@given(rows=text_tables(), delimiter=st.sampled_from([",", "\t"]))
def test_csv_module_output_reads_back(rows: list[dict[str, Any]], delimiter: str) -> None:
    """What Python's csv module (Excel dialect) writes, as CSV or TSV, with or without a BOM."""
    with scratch() as folder:
        path = folder / ("t.csv" if delimiter == "," else "t.tsv")
        with path.open("w", newline="", encoding="utf-8-sig") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter=delimiter)
            writer.writeheader()
            writer.writerows(rows)
        assert read_table(path) == rows


@SETTINGS
@given(rows=text_tables(cells=JSON_VALUES), ensure_ascii=st.booleans())
def test_json_list_of_objects_reads_back(rows: list[dict[str, Any]], ensure_ascii: bool) -> None:
    with scratch() as folder:
        path = folder / "t.json"
        path.write_text(json.dumps(rows, ensure_ascii=ensure_ascii), encoding="utf-8")
        assert read_table(path) == rows


def _is_row_label(key: str) -> bool:
    return key.lstrip("-").isdigit()


@SETTINGS
@given(rows=text_tables(cells=JSON_SCALARS), orient=st.sampled_from(["columns", "index", "split"]))
def test_pandas_orients_read_back_as_the_rows(rows: list[dict[str, Any]], orient: str) -> None:
    """The three dict orients of pandas' ``to_json`` (built by hand, as pandas writes them)."""
    columns = list(rows[0])
    labels = [str(i) for i in range(len(rows))]
    if orient == "columns":
        data: dict[str, Any] = {c: {label: row[c] for label, row in zip(labels, rows, strict=True)} for c in columns}
    elif orient == "index":
        # column names that look like row labels make the levels ambiguous: read as "columns" (documented)
        if all(_is_row_label(c) for c in columns):
            return
        data = {label: dict(row) for label, row in zip(labels, rows, strict=True)}
    else:
        data = {"columns": columns, "index": labels, "data": [[row[c] for c in columns] for row in rows]}
    assert pandas_json_rows(json.loads(json.dumps(data)), "t.json") == rows


@SETTINGS
@given(
    rows=st.integers(min_value=1, max_value=4).flatmap(
        lambda n: st.fixed_dictionaries(
            {
                "text": st.lists(TEXT | st.none(), min_size=n, max_size=n),
                "count": st.lists(st.integers(-(2**63), 2**63 - 1) | st.none(), min_size=n, max_size=n),
                "score": st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=n, max_size=n),
                "flag": st.lists(st.booleans(), min_size=n, max_size=n),
            }
        )
    )
)
def test_parquet_round_trip_keeps_typed_columns(rows: dict[str, list[Any]]) -> None:
    pytest.importorskip("pyarrow")
    table = [dict(zip(rows, values, strict=True)) for values in zip(*rows.values(), strict=True)]
    with scratch() as folder:
        back = read_table(write_table(table, folder / "t.parquet"))
    assert back == table
    assert all(type(a["flag"]) is bool and (a["count"] is None or type(a["count"]) is int) for a in back)


@SETTINGS
@given(value=JSON_VALUES)
def test_nested_values_are_json_text_in_csv(value: Any) -> None:
    """write_table's promise: dicts and lists become JSON text; NaN-free scalars their text."""
    with scratch() as folder:
        back = read_table(write_table([{"cell": value}], folder / "t.csv"))
    if isinstance(value, (dict, list)):
        assert json.loads(back[0]["cell"]) == value
    elif value is None:
        assert back == [{"cell": ""}]
    else:
        assert back == [{"cell": str(value)}]


# --------------------------------------------------------------------------- TRL conversational JSONL


@st.composite
def conversations(draw: st.DrawFn) -> dict[str, Any]:
    """A valid TRL row: an optional system turn, user (and assistant) turns, a final assistant turn."""
    messages = [{"role": "system", "content": draw(TEXT)}] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        messages.append({"role": "user", "content": draw(TEXT)})
        if draw(st.booleans()):
            messages.append({"role": "assistant", "content": draw(TEXT)})
    if messages[-1]["role"] != "assistant":
        messages.append({"role": "assistant", "content": draw(TEXT)})
    extra = draw(st.dictionaries(st.sampled_from(["label", "prompt_id", "open_ended"]), st.booleans(), max_size=2))
    return {"messages": messages, **extra}


CONVERSATIONS = conversations()


@SETTINGS
@given(rows=st.lists(CONVERSATIONS, min_size=1, max_size=3))
@example(rows=[{"messages": [{"role": "user", "content": "a\u2028b"}, {"role": "assistant", "content": "c\x85d"}]}])
def test_messages_jsonl_round_trip(rows: list[dict[str, Any]]) -> None:
    with scratch() as folder:
        path = folder / "train.jsonl"
        write_messages_jsonl(path, rows)
        assert read_messages_jsonl(path) == rows


def test_regression_unicode_line_separator_inside_a_message(tmp_path: Path) -> None:
    # found: str.splitlines() cut the line at U+2028 / U+2029 / U+0085, which JSON keeps raw in strings
    rows = [{"messages": [{"role": "user", "content": "a\u2028b\u2029c\x85d"}, {"role": "assistant", "content": "e"}]}]
    path = tmp_path / "train.jsonl"
    write_messages_jsonl(path, rows)
    assert read_messages_jsonl(path) == rows


def test_crlf_and_cr_line_endings_still_split_lines(tmp_path: Path) -> None:
    row = json.dumps({"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]})
    path = tmp_path / "train.jsonl"
    path.write_bytes(f"{row}\r\n{row}\r{row}\n".encode())
    assert len(read_messages_jsonl(path)) == 3
    path.write_bytes(f"{row}\r\n{{bad\r\n".encode())
    with pytest.raises(DataFormatError, match=r"train\.jsonl:2: not valid JSON"):
        read_messages_jsonl(path)


@SETTINGS
@given(rows=st.lists(CONVERSATIONS, min_size=1, max_size=3), suffix=st.sampled_from([".csv", ".tsv", ".parquet"]))
def test_messages_table_round_trip(rows: list[dict[str, Any]], suffix: str) -> None:
    """A table with a ``messages`` column of JSON text (what write_table makes of the lists) reads back."""
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    table = [{"messages": r["messages"]} for r in rows]
    with scratch() as folder:
        path = folder / f"train{suffix}"
        if suffix == ".tsv":
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle, delimiter="\t")
                writer.writerow(["messages"])
                writer.writerows([[json.dumps(r["messages"], ensure_ascii=False)] for r in table])
        else:
            write_table(table, path)
        assert read_messages_jsonl(path) == table


@SETTINGS
@given(content=FILE_BYTES, suffix=st.sampled_from([".jsonl", ".json", ".txt", ".csv", ".tsv", ".parquet"]))
@example(content=b'{"messages": ' + b"1" * 5000 + b"}\n", suffix=".jsonl")  # found: ValueError (4300 digits)
@example(content=b'{"messages": [{"role": "user", "content": "\\udc00"}]}\n', suffix=".jsonl")
@example(content=b'messages\n"[{""role"": ""user"", ""content"": 1' + b"0" * 5000 + b'}]"\n', suffix=".csv")
def test_any_bytes_as_training_data_read_or_raise_naming_the_file(content: bytes, suffix: str) -> None:
    with scratch() as folder:
        path = folder / f"train{suffix}"
        path.write_bytes(content)
        try:
            rows = read_messages_jsonl(path)
        except InputError as err:
            assert isinstance(err, (DataFormatError, TableError))
            assert str(path) in str(err)
            return
        assert rows and all(r["messages"][-1]["role"] == "assistant" for r in rows)
        json.dumps(rows, ensure_ascii=False).encode("utf-8")


def test_regression_training_data_with_a_lone_surrogate(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    good = {"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]}
    path.write_text(json.dumps(good) + "\n" + json.dumps(good).replace('"a"', '"\\ud800"') + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"train\.jsonl:2: .*lone surrogate"):
        read_messages_jsonl(path)


# --------------------------------------------------------------------------- a user's mapped table


@SETTINGS
@given(
    table=st.lists(
        st.fixed_dictionaries({"q": TEXT | JSON_SCALARS, "a": TEXT | JSON_SCALARS, "sys": TEXT, "cat": TEXT}),
        min_size=1,
        max_size=5,
    ),
    suffix=st.sampled_from([".jsonl", ".csv"]),
)
def test_mapped_rows_keep_every_filled_row(table: list[dict[str, Any]], suffix: str) -> None:
    """Rows with a prompt and a response become conversations of exactly those texts; the rest are counted."""
    with scratch() as folder:
        path = write_table(table, folder / f"data{suffix}")
        written = read_table(path)  # CSV makes every cell text
        columns = {"prompt": "q", "response": "a", "system": "sys", "category": "cat"}

        def text(value: Any) -> str:
            return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value).strip()

        filled = [r for r in written if text(r["q"]) and text(r["a"])]
        try:
            rows, record = load_mapped_rows(str(path), columns, "safe", system_prompt="S")
        except TableError as err:
            assert not filled and str(path) in str(err)
            return
    assert record["rows_read"] == len(written)
    assert record["rows_skipped_empty"] == len(written) - len(filled)
    assert [r["messages"][-2:] for r in rows] == [
        [{"role": "user", "content": text(r["q"])}, {"role": "assistant", "content": text(r["a"])}] for r in filled
    ]
    assert all(
        r["messages"][0] == {"role": "system", "content": text(f["sys"]) or "S"}
        for r, f in zip(rows, filled, strict=True)
    )
    assert all(r["label"] == "user-safe" for r in rows)
