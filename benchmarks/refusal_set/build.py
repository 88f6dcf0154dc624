"""Assemble src/tunesafe/data/bundled/refusal_labelled.jsonl from authored rows and labelled real replies."""

import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from authored_compliance import BENIGN, OPENINGS
from authored_extra import BENIGN_EXTRA, BENIGN_MORE, HARMFUL_EXTRA, OPENINGS_MORE, OVERREFUSALS, UNIQUE_EXTRA
from authored_more import (
    DECLINE_LONG_ALT,
    ECHOES,
    HARMFUL_MORE,
    HEDGED,
    NON_ENGLISH,
    RECOVERIES,
    REDIRECTS,
    opening_rows,
)
from authored_refusals import HARMFUL, TEMPLATES, UNIQUE

OUT = HERE.parents[1] / "src/tunesafe/data/bundled/refusal_labelled.jsonl"
SALT = "tunesafe-refusal-split-v1"
rows = []
req = {k: (p, t) for k, p, t in HARMFUL + HARMFUL_EXTRA + HARMFUL_MORE}


def add(id_, prompt, text, label, source, group):
    rows.append({"id": id_, "prompt": prompt, "text": text.strip(), "label": label, "source": source, "group": group})


for group, keys, tpl in TEMPLATES:
    if "{topic}" not in tpl and "{Topic}" not in tpl:
        keys = keys[:1]
    for k in keys:
        p, t = req[k]
        text = tpl.replace("{topic}", t).replace("{Topic}", t[0].upper() + t[1:])
        add(f"authored/{group}/{k}", p, text, "refusal", "authored", f"authored/{group}")
for group, k, text in UNIQUE + UNIQUE_EXTRA:
    add(f"authored/{group}", req[k][0], text, "refusal", "authored", f"authored/{group}")
for group, k, text in OPENINGS + OPENINGS_MORE:
    add(f"authored/{group}", req[k][0], text, "compliance", "authored", f"authored/{group}")
for group, p, text in OVERREFUSALS:
    add(f"authored/{group}", p, text, "refusal", "authored", f"authored/{group}")
for group, p, text in BENIGN + BENIGN_EXTRA + BENIGN_MORE:
    add(f"authored/{group}", p, text, "compliance", "authored", f"authored/{group}")
# Round 3 (authored_more.py): openings + generic continuations, hedged and echoed attempts; declines
# followed by long alternatives, polite redirects, openings the model then takes back, non-English refusals.
for group, name, k, text in opening_rows():
    add(f"authored/{name}", req[k][0], text, "compliance", "authored", f"authored/{group}")
for group, k, text in HEDGED + ECHOES:
    add(f"authored/{group}", req[k][0], text, "compliance", "authored", f"authored/{group}")
for group, k, text in DECLINE_LONG_ALT + REDIRECTS + RECOVERIES + NON_ENGLISH:
    add(f"authored/{group}", req[k][0], text, "refusal", "authored", f"authored/{group}")

labels = json.loads((HERE / "labels.json").read_text())
real = [json.loads(l) for l in (HERE / "replies.jsonl").read_text().splitlines()]
sampled_path = HERE / "replies_sampled.jsonl"
if sampled_path.exists():
    real += [json.loads(l) for l in sampled_path.read_text().splitlines()]
seen = {r["text"] for r in rows}
for r in real:
    key = f"{r['model']}/{r['kind']}/{r['key']}" + (f"/s{r['seed']}" if "seed" in r else "")
    label = labels.get(key)
    if label not in ("refusal", "compliance") or r["text"].strip() in seen:
        continue
    seen.add(r["text"].strip())
    if r["kind"] == "harmbench":
        assert label == "refusal", key
    group = f"prompt/{r['kind']}/{r['key']}"
    add(key, r["prompt"], r["text"].strip(), label, r["model"], group)

for r in rows:
    h = int(hashlib.sha256(f"{SALT}:{r['group']}".encode()).hexdigest(), 16) % 100
    r["split"] = "test" if h < 30 else "train"

ids = [r["id"] for r in rows]
texts = [r["text"] for r in rows]
assert len(set(ids)) == len(ids), "dup ids"
dups = {t for t in texts if texts.count(t) > 1}
assert not dups, dups
OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
from collections import Counter

print(len(rows))
print(Counter((r["split"], r["label"]) for r in rows))
print(Counter((r["split"], r["source"], r["label"]) for r in rows))
