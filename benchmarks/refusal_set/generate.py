"""Generate real replies for tunesafe's labelled refusal set (CPU)."""

import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from harmless_prompts import HARMLESS

from tunesafe.backends.hf import HFBackend
from tunesafe.data.harmbench import load_behaviors
from tunesafe.types import GenParams

root = Path.home() / ".cache/tunesafe/models"
params = GenParams(max_new_tokens=48)
out = HERE / "replies.jsonl"
jobs = []
hb = [b for b in load_behaviors("val") if b.functional_category == "standard"]
jobs.append(
    (
        "qwen2.5-coder-0.5b-instruct",
        "qwen2.5-coder-0.5b-instruct-fp32",
        [("harmbench", b.id, b.behavior) for b in hb] + [("harmless", k, p) for k, p in HARMLESS],
    )
)
jobs.append(("smollm2-135m-instruct", "smollm2-135m-instruct-fp32", [("harmless", k, p) for k, p in HARMLESS]))
with out.open("w") as f:
    for name, folder, items in jobs:
        t = time.time()
        be = HFBackend(root / folder, batch_size=16, device="cpu", threads=2)
        comps = be.generate([[{"role": "user", "content": p}] for _, _, p in items], params)
        for (kind, key, p), c in zip(items, comps, strict=True):
            f.write(
                json.dumps(
                    {"model": name, "kind": kind, "key": key, "prompt": p, "text": c.text, "finish": c.finish_reason}
                )
                + "\n"
            )
        f.flush()
        print(name, len(items), f"{time.time() - t:.1f}s", flush=True)
        del be
