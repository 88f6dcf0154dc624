"""Read a user's table into rows: CSV, TSV, JSONL, JSON (a list of objects), Parquet, or ``hf:<name>[:<config>]``.

Every problem is a :class:`TableError` (a ``ValueError``) that names the file and, where there is
one, the line. pyarrow (Parquet) and ``datasets`` (``hf:``) are imported only when used.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tunesafe._util.hashing import sha256_file, sha256_obj

Row = dict[str, Any]
SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet")
HF_PREFIX = "hf:"


class TableError(ValueError):
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


def _read_jsonl(path: Path) -> list[Row]:
    rows = []
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise TableError(f"{path}:{number}: not valid JSON ({err.msg})") from err
            if not isinstance(row, dict):
                raise TableError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            rows.append(row)
    return rows


def _read_json(path: Path) -> list[Row]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as err:
        raise TableError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from err
    if not isinstance(data, list):
        raise TableError(f"{path}: expected a JSON list of objects, got {type(data).__name__}")
    for index, row in enumerate(data):
        if not isinstance(row, dict):
            raise TableError(f"{path}: item {index} is a {type(row).__name__}, not an object")
    return data


# --------------------------------------------------------------------------- binary and hub formats


def _read_parquet(path: Path) -> list[Row]:
    try:
        import pyarrow.parquet as pq
    except ImportError as err:
        raise TableError(f"{path}: reading Parquet needs pyarrow: pip install pyarrow") from err
    try:
        return pq.read_table(path).to_pylist()
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
