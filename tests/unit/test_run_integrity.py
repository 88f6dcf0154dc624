"""Run directories under concurrency and change (issue 15): one writer at a time, a changed prompt file
refused on resume, output paths checked before any work, SIGTERM recorded as an interruption."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.fakes import rule_backend

from tunesafe.config import AuditConfig, load_config
from tunesafe.errors import InputError
from tunesafe.results import RunDir, RunError, check_output_dir, run_lock
from tunesafe.runner import run_audit


def _prompts(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"prompt": t}) + "\n" for t in texts), encoding="utf-8")
    return path


def _config(data: Path, tmp: Path) -> AuditConfig:
    return load_config(
        AuditConfig,
        None,
        [
            f"audits.harmful.dataset={data}",
            "audits.harmful.judges=[keyword-extended]",
            "audits.overrefusal=null",
            f"cache.path={tmp / 'cache.sqlite'}",
        ],
    )


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_second_writer_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    data = _prompts(tmp_path / "p.jsonl", [f"request {i}" for i in range(8)])
    config, out = _config(data, tmp_path), tmp_path / "run"
    run_audit(config, out, backend=rule_backend({1}))
    before = _snapshot(out)
    with run_lock(out), pytest.raises(RunError, match=r"in use by another tunesafe process \(pid \d+\)"):
        run_audit(config, out, backend=rule_backend({1}))
    assert {k: v for k, v in _snapshot(out).items() if k != ".lock"} == {
        k: v for k, v in before.items() if k != ".lock"
    }
    assert len(list(RunDir(out).records("harmful"))) == 8


def test_lock_held_by_another_process_names_its_pid(tmp_path: Path) -> None:
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from tunesafe.results import run_lock\n"
            "with run_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)",
            str(out),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(RunError, match=rf"pid {holder.pid}\)"), run_lock(out):
            pass
    finally:
        holder.kill()
        holder.wait()
    with run_lock(out):  # the OS released it with the process
        pass


def test_an_edited_prompt_file_is_refused_on_resume(tmp_path: Path) -> None:
    data = _prompts(tmp_path / "p.jsonl", [f"request {i}" for i in range(5)])
    config, out = _config(data, tmp_path), tmp_path / "run"
    run_audit(config, out, backend=rule_backend(set()))
    before = _snapshot(out)
    _prompts(data, [f"request {i}" for i in range(4)] + ["an edited request"])
    with pytest.raises(RunError, match=r"the harmful prompts changed since this run recorded them") as caught:
        run_audit(config, out, backend=rule_backend(set()))
    assert str(data) in str(caught.value) and "new output directory" in str(caught.value)
    after = _snapshot(out)
    assert after["samples/harmful.jsonl"] == before["samples/harmful.jsonl"]
    assert len(list(RunDir(out).records("harmful"))) == 5


def test_the_same_file_resumes(tmp_path: Path) -> None:
    data = _prompts(tmp_path / "p.jsonl", [f"request {i}" for i in range(5)])
    config, out = _config(data, tmp_path), tmp_path / "run"
    run_audit(config, out, backend=rule_backend(set()))
    run_audit(config, out, backend=rule_backend(set()))
    assert len(list(RunDir(out).records("harmful"))) == 5


def test_output_checks(tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(RunError, match="is a file"):
        check_output_dir(a_file)
    with pytest.raises(RunError, match="which is a file"):
        check_output_dir(a_file / "run")
    screened = tmp_path / "screened"
    screened.mkdir()
    (screened / "clean.jsonl").write_text("")
    with pytest.raises(RunError, match=r"holds other files \(clean.jsonl\)"):
        check_output_dir(screened)
    half_made = tmp_path / "half"  # killed before its manifest was written
    half_made.mkdir()
    (half_made / "config.yaml").write_text("name: x\n")
    check_output_dir(half_made)
    check_output_dir(tmp_path / "new" / "run")
    assert isinstance(RunError("x"), InputError)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(RunError, match="is not writable"):
            check_output_dir(folder / "run")
    finally:
        folder.chmod(0o755)


def test_sigterm_records_interrupted(tmp_path: Path) -> None:
    """A CLI audit killed with SIGTERM (a scheduler, ``kill``) records ``interrupted`` and exits 143."""
    from tests.openai_server import serve

    data = _prompts(tmp_path / "p.jsonl", [f"request {i}" for i in range(400)])
    out = tmp_path / "run"
    with serve() as server:
        answer = server.reply
        server.reply = lambda body: (time.sleep(0.05), answer(body))[1]  # type: ignore[method-assign]
        command = [
            sys.executable,
            "-m",
            "tunesafe",
            "audit",
            "--model",
            "openai:served",
            "--base-url",
            server.url,
            "--dataset",
            str(data),
            "--no-overrefusal",
            "--judge",
            "keyword-extended",
            "--no-cache",
            "-q",
            "-o",
            str(out),
            "--set",
            "chunk_size=4",
        ]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while not (out / "samples" / "harmful.jsonl").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "terminated (SIGTERM)" in err
    manifest = RunDir(out).manifest()
    assert manifest.status == "interrupted"


def test_an_unwritable_folder_is_refused_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """(As root every folder is writable, so the permission check is shown with os.access answering no.)"""
    import tunesafe.results

    monkeypatch.setattr(tunesafe.results.os, "access", lambda path, mode: False)
    with pytest.raises(RunError, match=f"{tmp_path} is not writable"):
        check_output_dir(tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_temp_files_a_killed_writer_left_are_cleared_by_the_next_lock_holder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "report").mkdir(parents=True)
    stale = [run / ".manifest.json.abc123.tmp", run / "report" / ".report.html.x9.tmp"]
    for path in stale:
        path.write_text("half")
    kept = run / "report" / "report.md"
    kept.write_text("whole")
    with run_lock(run):
        pass
    assert not any(path.exists() for path in stale) and kept.read_text() == "whole"
