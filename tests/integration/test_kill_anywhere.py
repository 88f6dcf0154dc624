"""Kill anywhere (issue 15): an audit, a fine-tune and an experiment killed with SIGKILL in the middle of a
write, then re-run, finish with the same samples, metrics, adapter and report as a run never killed.

Each killed process is ``python -m tests.kill_harness <site> <n> -- <tunesafe args>`` (see that module): the
``n``-th call of one write site leaves its write half done and SIGKILLs the process. ``n`` is drawn from
``random.Random(f"{seed}:{site}")`` over the calls the site gets in the run, for a few fixed seeds. Every case
asserts the process really died by SIGKILL (returncode -9) and left the torn state behind, then re-runs the
plain CLI into the same directory until it exits 0 (at most :data:`RERUNS` times) and compares with the
uninterrupted run. Audits use the fake OpenAI-compatible endpoint (deterministic answers); fine-tunes and
the experiment use the tiny local model.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.openai_server import FakeServer, serve

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
RERUNS = 3
TIMEOUT = 300


def pick(seed: int, site: str, low: int, high: int) -> int:
    """The seeded call number at which ``site`` is killed (str seeds hash the same in every process)."""
    return random.Random(f"{seed}:{site}").randint(low, high)


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "NO_COLOR": "1"}


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=TIMEOUT)


def _tail(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout[-2000:]}\n--- stderr ---\n{proc.stderr[-3000:]}"


def cli(args: list[str]) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "tunesafe", *args])


def killed(site: str, n: int, args: list[str]) -> str:
    """Run ``tunesafe args`` under the harness; assert it died by SIGKILL at the site; the harness's line."""
    proc = _run([sys.executable, "-m", "tests.kill_harness", site, str(n), "--", *args])
    assert proc.returncode == -signal.SIGKILL, f"the {site} kill (call {n}) never fired: {_tail(proc)}"
    said = [line for line in proc.stderr.splitlines() if line.startswith("kill_harness: SIGKILL")]
    assert said, _tail(proc)
    return said[-1]


def rerun_until_done(args: list[str]) -> int:
    """Re-run the plain CLI until it exits 0; the number of runs it took (fails after :data:`RERUNS`)."""
    failures = []
    for attempt in range(1, RERUNS + 1):
        proc = cli(args)
        if proc.returncode == 0:
            return attempt
        failures.append(f"re-run {attempt}: {_tail(proc)}")
    pytest.fail("the killed run never finished when re-run:\n" + "\n".join(failures), pytrace=False)


def remove(folder: Path, cache: Path) -> None:
    """Remove a run folder and a cache file with its ``-wal`` / ``-shm`` companions."""
    shutil.rmtree(folder, ignore_errors=True)
    for path in cache.parent.glob(f"{cache.name}*"):
        path.unlink()


def manifest(run: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    return data


def unfinished(run: Path) -> bool:
    """The killed run is not recorded as finished (no manifest yet, or not ``success``)."""
    return not (run / "manifest.json").exists() or manifest(run)["status"] != "success"


# --- audit ------------------------------------------------------------------------------------------

N_PROMPTS, CHUNK = 40, 4
AUDIT_CALLS = {  # calls each site gets in one uninterrupted audit of 40 prompts in chunks of 4
    "samples": N_PROMPTS // CHUNK,  # one append per chunk
    "samples-partial": N_PROMPTS // CHUNK,
    "cache": 2 * N_PROMPTS // CHUNK,  # per chunk: its generations, then its verdicts
    "manifest": 6,  # manifest: created, model fingerprint, dataset, judges; metrics.json; manifest: success
}
AUDIT_SEEDS = (0, 1, 2, 3)
EVERY_CALL = {"manifest"}  # six calls only: each one is killed (metrics.json's write included)


def _audit_cases() -> Iterator[Any]:
    for site, calls in AUDIT_CALLS.items():
        picks = range(1, calls + 1) if site in EVERY_CALL else [pick(seed, site, 1, calls) for seed in AUDIT_SEEDS]
        for i, n in enumerate(picks):
            # the cache site needs a cache; elsewhere every other case runs without one, the rest with a
            # fresh one, so generation really happens again after the kill either way
            cache = "fresh" if site == "cache" or i % 2 == 0 else "off"
            yield pytest.param(site, n, cache, id=f"{site}-call{n}-{cache}-cache")


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeServer]:
    with serve() as fake:
        fake.record = False
        yield fake


@pytest.fixture(scope="module")
def prompts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kill_prompts") / "prompts.jsonl"
    rows = [{"prompt": f"placeholder request number {i}"} for i in range(N_PROMPTS)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def audit_args(server: FakeServer, prompts: Path, out: Path, cache: Path | None) -> list[str]:
    args = ["audit", "--model", "openai:served", "--base-url", server.url, "--dataset", str(prompts)]
    args += ["--no-overrefusal", "--judge", "keyword-extended", "--set", f"chunk_size={CHUNK}", "-q", "-o", str(out)]
    return args + (["--set", f"cache.path={cache}"] if cache is not None else ["--no-cache"])


@pytest.fixture(scope="module")
def audit_a(fake_server: FakeServer, prompts: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The audit never killed."""
    work = tmp_path_factory.mktemp("kill_audit_a")
    out = work / "A"
    proc = cli(audit_args(fake_server, prompts, out, work / "cache.sqlite"))
    assert proc.returncode == 0, _tail(proc)
    assert manifest(out)["status"] == "success"
    return out


@pytest.mark.parametrize(("site", "n", "cache"), list(_audit_cases()))
def test_a_killed_audit_finishes_as_if_never_killed(
    site: str, n: int, cache: str, audit_a: Path, fake_server: FakeServer, prompts: Path, tmp_path: Path
) -> None:
    out = tmp_path / "B"
    args = audit_args(fake_server, prompts, out, tmp_path / "cache.sqlite" if cache == "fresh" else None)
    where = killed(site, n, args)

    assert unfinished(out), where
    if site.startswith("samples"):  # a torn last line is on disk
        assert not (out / "samples" / "harmful.jsonl").read_bytes().endswith(b"\n"), where
    if site == "manifest":  # half a manifest or metrics file in its temp file, the final name untouched
        assert list(out.glob(".manifest.json.*.tmp")) + list(out.glob(".metrics.json.*.tmp")), where

    rerun_until_done(args)
    assert manifest(out)["status"] == "success"
    samples_a = sorted(p.name for p in (audit_a / "samples").glob("*.jsonl"))
    assert samples_a == sorted(p.name for p in (out / "samples").glob("*.jsonl")) == ["harmful.jsonl"]
    for name in samples_a:
        assert (out / "samples" / name).read_bytes() == (audit_a / "samples" / name).read_bytes(), (where, name)
    assert (out / "metrics.json").read_bytes() == (audit_a / "metrics.json").read_bytes(), where


# --- fine-tune --------------------------------------------------------------------------------------

FINETUNE_SETTINGS = {
    "max_steps": 6,
    "save_steps": 2,  # checkpoints after steps 2, 4 and 6
    "data.n_examples": 8,
    "per_device_batch_size": 2,
    "gradient_accumulation_steps": 1,
    "max_length": 128,
    "warmup_steps": 0,
    "learning_rate": 1e-2,
    "lora.r": 4,
    "lora.alpha": 8,
    "lora.target_modules": "[q_proj,v_proj]",
    "model.threads": 1,
    "seed": 1,
}
FINETUNE_SEEDS = (0, 1)


def _finetune_cases() -> Iterator[Any]:
    for seed in FINETUNE_SEEDS:
        n = pick(seed, "checkpoint", 1, 2)
        yield pytest.param("checkpoint", n, id=f"after-checkpoint{n}-seed{seed}")
    yield pytest.param(
        "checkpoint",
        3,
        id="after-the-final-checkpoint",
    )
    for seed in FINETUNE_SEEDS:
        n = pick(seed, "checkpoint-mid", 1, 3)
        yield pytest.param(
            "checkpoint-mid",
            n,
            id=f"inside-checkpoint{n}-seed{seed}",
        )


def finetune_args(model: Path, out: Path) -> list[str]:
    settings = [part for key, value in FINETUNE_SETTINGS.items() for part in ("--set", f"{key}={value}")]
    return ["finetune", "--model", str(model), "--recipe", "benign", *settings, "-q", "-o", str(out)]


def loss_history(run: Path) -> list[tuple[int, float]]:
    state = json.loads((run / "train" / "trainer_state.json").read_text(encoding="utf-8"))
    return [(entry["step"], entry["loss"]) for entry in state["log_history"] if "loss" in entry]


@pytest.fixture(scope="module")
def finetune_a(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fine-tune never killed."""
    pytest.importorskip("trl")
    out = tmp_path_factory.mktemp("kill_finetune_a") / "A"
    proc = cli(finetune_args(tiny_model_dir, out))
    assert proc.returncode == 0, _tail(proc)
    assert [step for step, _ in loss_history(out)] == [1, 2, 3, 4, 5, 6]
    return out


@pytest.mark.parametrize(("site", "n"), list(_finetune_cases()))
def test_a_killed_finetune_resumes_to_the_same_adapter(
    site: str, n: int, finetune_a: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "B"
    args = finetune_args(tiny_model_dir, out)
    where = killed(site, n, args)
    assert unfinished(out) and not (out / "train" / "model").exists(), where
    assert (out / "train" / "checkpoints" / f"checkpoint-{2 * n}").is_dir(), where

    rerun_until_done(args)
    ours, theirs = manifest(out), manifest(finetune_a)
    assert ours["status"] == "success"
    assert (out / "train" / "data.jsonl").read_bytes() == (finetune_a / "train" / "data.jsonl").read_bytes()
    assert loss_history(out) == loss_history(finetune_a), where
    for key in ("steps", "first_loss", "final_loss", "n_examples", "data_sha256"):
        assert ours["info"]["result"][key] == theirs["info"]["result"][key], (where, key)
    adapter = Path("train") / "model" / "adapter_model.safetensors"
    assert (out / adapter).read_bytes() == (finetune_a / adapter).read_bytes(), where  # bit-identical


# --- experiment -------------------------------------------------------------------------------------

EXPERIMENT_PROMPTS = 12
EXPERIMENT_CALLS = {
    "report": 3,  # report.json, report.md, report.html
    "samples": 3 * EXPERIMENT_PROMPTS // CHUNK,  # three audits (base, brief, benign) of three chunks each
}
EXPERIMENT_SEEDS = (0, 1)
VOLATILE = {"created", "seconds"}  # report.json: each run's provenance.created, adapter_probe.seconds
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")  # report.html: the runs' "created" row


def _experiment_cases() -> Iterator[Any]:
    for site, calls in EXPERIMENT_CALLS.items():
        for seed in EXPERIMENT_SEEDS:
            n = pick(seed, f"experiment-{site}", 1, calls)
            yield pytest.param(site, n, id=f"{site}-call{n}")


class Experiment:
    """One experiment file, always run into the same directory (``root``) with the same cache path, so the
    paths inside the report (run directories, the adapter, config hashes that include it) are equal."""

    def __init__(self, work: Path, model: Path) -> None:
        import yaml

        prompts = work / "prompts.jsonl"
        rows = [{"prompt": f"placeholder request number {i}"} for i in range(EXPERIMENT_PROMPTS)]
        prompts.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        self.root, self.cache, self.file = work / "exp", work / "cache.sqlite", work / "exp.yaml"
        train = {key: value for key, value in FINETUNE_SETTINGS.items() if "." not in key}
        train.update(max_steps=2, save_steps=1, lora={"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]})
        experiment = {
            "name": "kill-anywhere",
            "base": {"source": str(model), "threads": 1, "batch_size": 4},
            "generation": {"max_new_tokens": 6},
            "audits": {"harmful": {"dataset": str(prompts), "judges": ["keyword-extended"]}, "overrefusal": None},
            "cache": {"path": str(self.cache)},
            "chunk_size": CHUNK,
            "train": train,
            "variants": [
                {"name": "brief", "system_prompt": "Answer briefly."},
                {"name": "benign", "data": {"recipe": "benign", "n_examples": 4}},
            ],
        }
        self.file.write_text(yaml.safe_dump(experiment), encoding="utf-8")
        self.args = ["run", str(self.file), "-o", str(self.root), "-q"]

    def clear(self) -> None:
        remove(self.root, self.cache)

    def outputs(self) -> dict[str, Any]:
        """What must not change: report.md, report.json without its volatile fields, report.html without
        its timestamps, every audit's samples."""
        report = self.root / "report"
        data = json.loads((report / "report.json").read_text(encoding="utf-8"))
        dropped: set[str] = set()
        outputs: dict[str, Any] = {
            "report.md": (report / "report.md").read_text(encoding="utf-8"),
            "report.json": _without(data, VOLATILE, dropped),
            "report.html": TIMESTAMP.sub("<created>", (report / "report.html").read_text(encoding="utf-8")),
        }
        assert dropped == VOLATILE  # exactly these fields differ between two runs, and they are there
        for path in sorted(self.root.glob("audit-*/samples/*.jsonl")):
            outputs[str(path.relative_to(self.root))] = path.read_bytes()
        return outputs


def _without(value: Any, keys: set[str], dropped: set[str]) -> Any:
    if isinstance(value, dict):
        dropped.update(k for k in value if k in keys)
        return {k: _without(v, keys, dropped) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_without(v, keys, dropped) for v in value]
    return value


@pytest.fixture(scope="module")
def experiment(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Experiment:
    pytest.importorskip("trl")
    return Experiment(tmp_path_factory.mktemp("kill_experiment"), tiny_model_dir)


@pytest.fixture(scope="module")
def experiment_a(experiment: Experiment) -> dict[str, Any]:
    """The outputs of the experiment never killed (its directory and cache are cleared afterwards)."""
    experiment.clear()
    proc = cli(experiment.args)
    assert proc.returncode == 0, _tail(proc)
    outputs = experiment.outputs()
    assert len([k for k in outputs if k.endswith(".jsonl")]) == 3
    experiment.clear()
    return outputs


@pytest.mark.parametrize(("site", "n"), list(_experiment_cases()))
def test_a_killed_experiment_writes_the_same_report(
    site: str, n: int, experiment: Experiment, experiment_a: dict[str, Any]
) -> None:
    experiment.clear()
    try:
        where = killed(site, n, experiment.args)
        if site == "report":  # half a report file in its temp file
            assert list((experiment.root / "report").glob(".report.*.tmp")), where
        else:
            torn = [p for p in experiment.root.glob("audit-*/samples/*.jsonl") if not p.read_bytes().endswith(b"\n")]
            assert len(torn) == 1 and unfinished(torn[0].parent.parent), where

        rerun_until_done(experiment.args)
        for run in experiment.root.glob("*-*/manifest.json"):
            assert json.loads(run.read_text(encoding="utf-8"))["status"] == "success", run
        outputs = experiment.outputs()
        assert outputs.keys() == experiment_a.keys()
        for name, expected in experiment_a.items():
            assert outputs[name] == expected, (where, name)
    finally:
        experiment.clear()
