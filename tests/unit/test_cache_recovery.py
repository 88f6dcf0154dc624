"""The generation cache under bad paths and damage (issue 15): a clear error for a path that cannot hold
it, and a corrupt file moved aside (nothing lost) while the audit goes on with a fresh cache."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from tunesafe.assets import cache_dir
from tunesafe.cache import CacheError, GenerationCache
from tunesafe.errors import InputError
from tunesafe.types import Completion


def _filled(path: Path, n: int = 400) -> None:
    cache = GenerationCache(path)
    cache.put_many({f"key-{i}": Completion(text="x" * 200, finish_reason="stop") for i in range(n)})
    cache.close()


def _moved_aside(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.corrupt-*"))


def test_a_folder_or_a_path_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(CacheError, match="is a folder; set cache.path to a file, or use --no-cache"):
        GenerationCache(tmp_path / "dir.sqlite")
    (tmp_path / "file").write_text("x")
    with pytest.raises(CacheError, match="which is a file"):
        GenerationCache(tmp_path / "file" / "cache.sqlite")
    assert issubclass(CacheError, InputError)


def test_cache_dir_env_pointing_at_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "f").write_text("x")
    monkeypatch.setenv("TUNESAFE_CACHE_DIR", str(tmp_path / "f"))
    with pytest.raises(InputError, match=r"TUNESAFE_CACHE_DIR=.* is a file; point it at a folder"):
        cache_dir()
    monkeypatch.setenv("TUNESAFE_CACHE_DIR", str(tmp_path / "f" / "sub"))
    with pytest.raises(InputError, match="under the file"):
        cache_dir()


@pytest.mark.parametrize(
    "damage",
    ["truncated", "overwritten", "middle page"],
)
def test_a_corrupt_cache_is_moved_aside_and_a_fresh_one_used(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "generations.sqlite"
    _filled(path)
    raw = path.read_bytes()
    assert len(raw) > 16 * 4096
    if damage == "truncated":
        path.write_bytes(raw[: len(raw) // 3 + 100])
    elif damage == "overwritten":
        path.write_bytes(b"not a database at all " * 500)
    else:  # garbage over pages in the middle, header intact
        middle = len(raw) // 2
        path.write_bytes(raw[:middle] + bytes(range(256)) * 32 + raw[middle + 8192 :])
    damaged = path.read_bytes()
    with caplog.at_level(logging.WARNING, logger="tunesafe.cache"):
        cache = GenerationCache(path)
        cache.put_many({"new": Completion(text="fresh", finish_reason="stop")})
        assert cache.get_many(["new"])["new"].text == "fresh"
        cache.close()
    aside = _moved_aside(path)
    assert len(aside) == 1 and aside[0].read_bytes() == damaged  # nothing lost
    assert "was corrupt" in caplog.text and str(aside[0]) in caplog.text


def test_damage_found_during_use_is_recovered(tmp_path: Path) -> None:
    """A page damaged while the cache is open (another process, a disk) is met on a read: moved aside, the
    read answers from the fresh cache (a miss), and writing goes on."""
    path = tmp_path / "generations.sqlite"
    _filled(path)
    cache = GenerationCache(path)
    raw = path.read_bytes()
    with path.open("r+b") as handle:  # damage every page after the first two, under the open connection
        handle.seek(8192)
        handle.write(b"\xff" * (len(raw) - 8192))
    cache._db.execute("PRAGMA shrink_memory")  # drop the pages SQLite holds in memory: the next read is from disk
    found = cache.get_many([f"key-{i}" for i in range(400)])
    assert found == {}
    cache.put_many({"after": Completion(text="ok", finish_reason="stop")})
    assert cache.get_many(["after"])["after"].text == "ok"
    cache.close()
    assert len(_moved_aside(path)) == 1


def test_a_locked_cache_is_not_taken_for_a_corrupt_one(tmp_path: Path) -> None:
    path = tmp_path / "generations.sqlite"
    _filled(path, 10)
    assert isinstance(sqlite3.OperationalError("database is locked"), sqlite3.DatabaseError)
    from tunesafe.cache import _is_corruption

    assert not _is_corruption(sqlite3.OperationalError("database is locked"))
    assert _is_corruption(sqlite3.DatabaseError("database disk image is malformed"))
    assert _is_corruption(sqlite3.DatabaseError("file is not a database"))
