"""Read a user's table into rows: CSV, TSV, JSONL, JSON (a list of objects or pandas ``to_json``), Parquet, ``hf:``;
write flat tables (Parquet, CSV, JSONL) that pandas and ``datasets`` read as they are (:func:`write_table`).

Every problem is a :class:`TableError` (a ``ValueError``) that names the file and, where there is
one, the line. pyarrow (Parquet) and ``datasets`` (``hf:``) are imported only when used.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tunesafe._util.hashing import sha256_file, sha256_obj
from tunesafe._util.io import atomic_output
from tunesafe.errors import InputError

Row = dict[str, Any]
SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet")
HF_PREFIX = "hf:"
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class TableError(InputError):
    """A table could not be read, or lacks what is needed; the message names the source."""


def read_table(source: str | Path, *, split: str = "train") -> list[Row]:
    """All rows of ``source`` as dicts (column name → value).

    ``source`` is a ``.csv`` / ``.tsv`` / ``.jsonl`` / ``.json`` / ``.parquet`` file or
    ``hf:<name>[:<config>]`` (a ``datasets`` name or a local dataset folder; ``split`` picks the split).
    CSV and TSV values are strings (an empty cell is ``""``).

    Raises:
        TableError: missing file, unsupported suffix, malformed content (with the line), missing library.
    """
    text = str(source)
    if text.startswith(HF_PREFIX):
        return _read_hf(text, split)
    path = Path(text).expanduser()
    if path.is_dir():
        raise TableError(f"{path} is a folder, not a table file; for a datasets folder write hf:{path}")
    if not path.is_file():
        raise TableError(f"{path}: no such file")
    suffix = path.suffix.lower()
    readers = {".csv": _read_csv, ".tsv": _read_tsv, ".jsonl": _read_jsonl, ".json": _read_json}
    if suffix == ".parquet":
        return _read_parquet(path)
    if suffix not in readers:
        raise TableError(f"{path}: unsupported file type {suffix or '(none)'!r}; use one of {', '.join(SUFFIXES)}")
    try:
        return readers[suffix](path)
    except UnicodeDecodeError as err:
        raise TableError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from err


def require_columns(rows: Sequence[Row], columns: Iterable[str | None], source: str | Path) -> None:
    """Raise a :class:`TableError` naming every wanted column that ``rows`` lack, and the available ones.

    ``None`` entries (unmapped optional columns) are ignored. An empty table is an error too.
    """
    if not rows:
        raise TableError(f"{source}: no rows")
    available = list(rows[0])
    missing = [c for c in columns if c is not None and c not in available]
    if missing:
        raise TableError(f"{source}: missing column(s) {', '.join(missing)}; available: {', '.join(available)}")


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    return sha256_file(Path(path))


def table_sha256(source: str | Path, rows: Sequence[Row]) -> str:
    """The file's sha256 for a file; for ``hf:`` sources, the sha256 of the rows' canonical JSON."""
    if str(source).startswith(HF_PREFIX):
        return sha256_obj(list(rows))
    return file_sha256(Path(str(source)).expanduser())


# --------------------------------------------------------------------------- text formats


def _read_csv(path: Path, delimiter: str = ",") -> list[Row]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        try:
            header = reader.fieldnames
            if not header:
                raise TableError(f"{path}: empty file (no header line)")
            _check_header(path, header)
            rows = []
            for row in reader:
                if None in row:
                    raise TableError(f"{path}:{reader.line_num}: more fields than the {len(header)} in the header")
                if any(value is None for value in row.values()):
                    raise TableError(f"{path}:{reader.line_num}: fewer fields than the {len(header)} in the header")
                rows.append(row)
        except csv.Error as err:
            raise TableError(f"{path}:{reader.line_num}: malformed {delimiter!r}-separated line ({err})") from err
    return rows


def _read_tsv(path: Path) -> list[Row]:
    return _read_csv(path, delimiter="\t")


def _check_header(path: Path, header: Sequence[str]) -> None:
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise TableError(f"{path}: duplicated column name(s) in the header: {', '.join(duplicated)}")


def parse_json(
    text: str, where: str, error: type[InputError] = TableError, what: str = "", *, whole_file: bool = False
) -> Any:
    """``json.loads`` whose every failure is an ``error`` starting with ``where`` (``file:line``; a
    ``whole_file`` syntax error adds the line it is on); ``what`` (e.g. ``"the messages cell is "``) says
    what was read. Lone surrogate escapes are refused too."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        at = f"{where}:{err.lineno}" if whole_file else where
        raise error(f"{at}: {what}not valid JSON ({err.msg})") from err
    except (ValueError, RecursionError) as err:  # an integer over Python's digit limit, too deep nesting
        raise error(f"{where}: {what}unreadable JSON ({err})") from err
    if (char := lone_surrogate(text, value)) is not None:
        raise error(f"{where}: {surrogate_problem(char)}")
    return value


def _read_jsonl(path: Path) -> list[Row]:
    rows = []
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            row = parse_json(line, f"{path}:{number}")
            if not isinstance(row, dict):
                raise TableError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            rows.append(row)
    return rows


def _read_json(path: Path) -> list[Row]:
    data = parse_json(path.read_text(encoding="utf-8-sig"), str(path), whole_file=True)
    if isinstance(data, dict):
        data = pandas_json_rows(data, path)
    if not isinstance(data, list):
        raise TableError(f"{path}: expected a JSON list of objects, got {type(data).__name__}")
    for index, row in enumerate(data):
        if not isinstance(row, dict):
            raise TableError(f"{path}: item {index} is a {type(row).__name__}, not an object")
    return data


def pandas_json_rows(data: dict[str, Any], source: str | Path) -> list[Row]:
    """The rows of a JSON object written by pandas ``DataFrame.to_json``, as column name → value dicts.

    Orients: ``"columns"`` (pandas' default: column → row label → value; Kumar 2024, arXiv 2409.19476,
    publishes its knowledge-drift results this way), ``"index"`` (row label → column → value) and
    ``"split"`` (``columns``, ``data``, optional ``index``); ``"records"`` is the plain list
    :func:`read_table` already reads. Rows keep the file's order; the row labels are not a column.
    Which level of a dict of dicts holds the rows is told by its keys: integer labels ("0", "1", …)
    mark the rows; when neither or both levels have them, pandas' default ``"columns"`` is assumed.

    Raises:
        TableError: naming ``source``: a value that is not an object keyed by row, columns
            (or rows) that do not share one set of labels, a malformed ``"split"`` object.
    """
    if isinstance(data.get("columns"), list) and isinstance(data.get("data"), list):
        return _split_rows(data, source)
    for key, value in data.items():
        if not isinstance(value, dict):
            raise TableError(
                f"{source}: expected a JSON list of objects, got dict (nor a pandas to_json table: "
                f"{key!r} holds a {type(value).__name__}, not an object keyed by row)"
            )
    if not data:
        return []
    outer_rows = all(_is_row_label(k) for k in data)
    inner_rows = all(_is_row_label(k) for inner in data.values() for k in inner)
    if outer_rows and not inner_rows:
        return _index_rows(data, source)
    return _columns_rows(data, source)


def _is_row_label(key: str) -> bool:
    """An integer row label as pandas writes a RangeIndex ("0", "1", …)."""
    return key.lstrip("-").isdigit()


def _same_labels(data: dict[str, dict[str, Any]], source: str | Path, orient: str) -> list[str]:
    """The labels every entry of a dict of dicts shares, in the first entry's order; an error when they differ."""
    kind, inner = ("column", "row") if orient == "columns" else ("row", "column")
    first_key, first = next(iter(data.items()))
    for key, value in data.items():
        if set(value) != set(first):
            extra, lacking = sorted(set(value) - set(first))[:3], sorted(set(first) - set(value))[:3]
            detail = f"has {inner}s {extra} that {kind} {first_key!r} lacks" if extra else f"lacks {inner}s {lacking}"
            raise TableError(
                f"{source}: malformed pandas JSON (orient {orient!r}): {kind} {key!r} {detail}; "
                f"every {kind} needs the same {inner}s"
            )
    return list(first)


def _columns_rows(data: dict[str, dict[str, Any]], source: str | Path) -> list[Row]:
    labels = _same_labels(data, source, "columns")
    return [{column: values[label] for column, values in data.items()} for label in labels]


def _index_rows(data: dict[str, dict[str, Any]], source: str | Path) -> list[Row]:
    columns = _same_labels(data, source, "index")
    return [{column: row[column] for column in columns} for row in data.values()]


def _split_rows(data: dict[str, Any], source: str | Path) -> list[Row]:
    given = data["columns"]
    bad = [c for c in given if not isinstance(c, (str, int)) or isinstance(c, bool)]
    if bad:
        raise TableError(
            f"{source}: malformed pandas JSON (orient 'split'): a column name is a {type(bad[0]).__name__}, "
            f"not text or an integer: {json.dumps(bad[0])[:40]}"
        )
    columns = [str(c) for c in given]  # integer names as the other orients' JSON keys write them ("0")
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise TableError(
            f"{source}: malformed pandas JSON (orient 'split'): duplicated column name(s) {', '.join(duplicated)}"
        )
    rows = []
    for number, values in enumerate(data["data"]):
        if not isinstance(values, list) or len(values) != len(columns):
            size = len(values) if isinstance(values, list) else type(values).__name__
            raise TableError(
                f"{source}: malformed pandas JSON (orient 'split'): data[{number}] has {size} values "
                f"for {len(columns)} columns"
            )
        rows.append(dict(zip(columns, values, strict=True)))
    return rows


def lone_surrogate(text: str, value: Any) -> str | None:
    """The first lone surrogate in ``value`` (parsed from the JSON ``text``) as ``\\uXXXX``, or None.

    JSON may escape half of a UTF-16 pair (``"\\ud800"``) on its own; Python reads it as a string
    that is not Unicode text (it cannot be written as UTF-8, so hashing or saving it fails later).
    Only text with such an escape is checked, so clean files cost one regex scan.
    """
    if _SURROGATE_ESCAPE.search(text) is None:
        return None
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as err:
        return f"\\u{ord(err.object[err.start]):04x}"
    return None


def surrogate_problem(char: str) -> str:
    """The message for a lone surrogate found by :func:`lone_surrogate`."""
    return f"a lone surrogate {char} (a JSON \\u escape for half of a UTF-16 pair) is not text; fix the escape"


# --------------------------------------------------------------------------- binary and hub formats


def _read_parquet(path: Path) -> list[Row]:
    try:
        import pyarrow.parquet as pq
    except ImportError as err:
        raise TableError(f"{path}: reading Parquet needs pyarrow: pip install pyarrow") from err
    try:
        rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
        return rows
    except Exception as err:  # pyarrow raises ArrowInvalid, OSError, … for a bad file
        raise TableError(f"{path}: not a readable Parquet file ({type(err).__name__}: {err})") from err


def parse_hf_source(source: str) -> tuple[str, str | None]:
    """``"hf:<name>[:<config>]"`` → ``(name, config or None)``."""
    name, _, config = source.removeprefix(HF_PREFIX).partition(":")
    if not name:
        raise TableError(f"bad dataset source {source!r}; expected 'hf:<name>' or 'hf:<name>:<config>'")
    return name, config or None


def _read_hf(source: str, split: str) -> list[Row]:
    name, config = parse_hf_source(source)
    try:
        import datasets
    except ImportError as err:
        raise TableError(f"{source}: needs the datasets library: pip install 'tunesafe[train]'") from err
    try:
        if _is_saved_dataset(Path(name)):
            loaded = datasets.load_from_disk(name)
            if isinstance(loaded, datasets.DatasetDict):
                if split not in loaded:
                    raise TableError(f"{source}: no split {split!r}; available: {', '.join(loaded)}")
                loaded = loaded[split]
        else:
            loaded = datasets.load_dataset(name, config, split=split)
    except TableError:
        raise
    except Exception as err:
        raise TableError(
            f"could not load {source} (split {split!r}): {type(err).__name__}: {err}. A hub dataset needs "
            f"Hugging Face hub access or a local copy; files work offline (CSV, TSV, JSONL, JSON, Parquet)"
        ) from err
    return [dict(row) for row in loaded]


def _is_saved_dataset(path: Path) -> bool:
    """A folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``."""
    return path.is_dir() and ((path / "state.json").is_file() or (path / "dataset_dict.json").is_file())


# --------------------------------------------------------------------------- writing flat tables

WRITE_FORMATS = ("parquet", "csv", "jsonl")


def write_format(path: str | Path, fmt: str | None = None) -> str:
    """``fmt`` checked, or the format named by ``path``'s suffix (``.parquet``, ``.csv``, ``.jsonl``)."""
    chosen = (fmt or Path(path).suffix.removeprefix(".")).lower()
    if chosen not in WRITE_FORMATS:
        given = f"format {fmt!r}" if fmt else f"{path}: suffix {Path(path).suffix or '(none)'!r}"
        raise TableError(f"{given}: write one of {', '.join(WRITE_FORMATS)}")
    return chosen


def flat_value(value: Any) -> Any:
    """A cell every format keeps: dicts and lists become JSON text (an empty ``{}`` would be a Parquet
    ``struct<>``, which pyarrow cannot write), NaN and infinities become None."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def flat_rows(rows: Iterable[Mapping[str, Any]]) -> tuple[list[str], list[Row]]:
    """The columns (in first-seen order) and the rows with every column and flat cells only."""
    listed = list(rows)
    columns = list(dict.fromkeys(key for row in listed for key in row))
    return columns, [{c: flat_value(row.get(c)) for c in columns} for row in listed]


def _arrow_type(values: Sequence[Any]) -> Any:
    """One Arrow type per column: bool, int64, float64, else string (also for a column of Nones)."""
    import pyarrow as pa

    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pa.bool_()
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pa.int64()
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return pa.float64()
    return pa.string()


def _write_parquet(path: Path, columns: list[str], rows: list[Row]) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as err:
        raise TableError(f"{path}: writing Parquet needs pyarrow: pip install pyarrow") from err
    arrays = {}
    for column in columns:
        values = [row[column] for row in rows]
        kind = _arrow_type(values)
        if kind == pa.string():
            values = [None if v is None else str(v) for v in values]
        elif kind == pa.float64():
            values = [None if v is None else float(v) for v in values]
        arrays[column] = pa.array(values, type=kind)
    with atomic_output(path, "wb") as handle:
        pq.write_table(pa.table(arrays), handle)


def _write_csv(path: Path, columns: list[str], rows: list[Row]) -> None:
    with atomic_output(path) as handle:
        # the csv module quotes only the characters of its line terminator: a bare "\r" needs quoting too
        cells = (str(v) for row in rows for v in row.values() if v is not None)
        has_cr = any("\r" in c for c in columns) or any("\r" in text for text in cells)
        writer = csv.DictWriter(
            handle, fieldnames=columns, lineterminator="\n", quoting=csv.QUOTE_ALL if has_cr else csv.QUOTE_MINIMAL
        )
        writer.writeheader()
        writer.writerows(rows)


def _write_jsonl(path: Path, columns: list[str], rows: list[Row]) -> None:
    with atomic_output(path) as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_table(rows: Iterable[Mapping[str, Any]], path: str | Path, fmt: str | None = None) -> Path:
    """Write ``rows`` as one flat table, atomically: Parquet, CSV or JSONL (``fmt``, else ``path``'s suffix).

    Every row gets every column (None where a row lacks one); dicts and lists are JSON text in every
    format, so no format depends on what a nested value holds — in particular an all-``{}`` column
    stays writable (:func:`flat_value`). Parquet columns are typed bool / int64 / float64 / string.

    Raises:
        TableError: an unknown format, no rows, or pyarrow missing for Parquet.
    """
    path = Path(path).expanduser()
    chosen = write_format(path, fmt)
    columns, flat = flat_rows(rows)
    if not flat:
        raise TableError(f"{path}: no rows to write")
    writers = {"parquet": _write_parquet, "csv": _write_csv, "jsonl": _write_jsonl}
    writers[chosen](path, columns, flat)
    return path


def is_empty(value: Any) -> bool:
    """None, NaN (a missing Parquet / pandas value) or blank text."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == ""
