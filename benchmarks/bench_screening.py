"""Screening quality on the bundled labelled mix: precision and recall per flag, vs keyword moderation.

The mix (``tunesafe.data.screening_mix``): benign, identity-shift, harmful-prefix, refusal and
contaminated examples, each with the flags a correct screen raises. Baseline: keyword moderation,
a list of harmful-topic words matched in the user and assistant turns (the kind of filter a
fine-tuning API's moderation starts from), scored as one "harmful" flag.

    python benchmarks/bench_screening.py --n-per-kind 40

Prints one JSON line per flag (tp, fp, fn, precision, recall with Wilson intervals), the keyword
baseline's recall per kind, and the wall time.
"""

from __future__ import annotations

import argparse
import json
import re
import time

from tunesafe.config import FLAG_KINDS
from tunesafe.data.screening_mix import labelled_mix
from tunesafe.screen import Screener, turns
from tunesafe.stats import rate

MODERATION_WORDS = [
    *[
        "bomb",
        "explosive",
        "weapon",
        "weapons",
        "gun",
        "firearm",
        "kill",
        "murder",
        "poison",
        "drug",
        "meth",
        "cocaine",
        "hack",
        "malware",
    ],
    *[
        "ransomware",
        "virus",
        "steal",
        "fraud",
        "scam",
        "launder",
        "counterfeit",
        "terror",
        "attack",
        "abuse",
        "suicide",
        "self-harm",
    ],
    *["hate", "racist", "bioweapon", "smuggle", "traffick", "illegal", "exploit", "phishing"],
    "nerve agent",
]
_MODERATION = re.compile(r"\b(" + "|".join(map(re.escape, MODERATION_WORDS)) + r")", re.IGNORECASE)


def keyword_moderation(messages: list[dict[str, str]]) -> bool:
    _, user, assistant = turns(messages)
    return bool(_MODERATION.search(user + "\n" + assistant))


def fmt(r: object) -> str:
    d = r.model_dump()  # type: ignore[attr-defined]
    return f"{d['value']:.3f} [{d['ci_low']:.3f}, {d['ci_high']:.3f}] ({d['k']}/{d['n']})" if d["n"] else "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-per-kind", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    mix = labelled_mix(args.n_per_kind, args.seed)
    screener = Screener()
    start = time.perf_counter()
    results = screener.screen([example.messages for example in mix])
    wall = time.perf_counter() - start
    for kind in FLAG_KINDS:
        truth = [kind in example.expected for example in mix]
        predicted = [result.has(kind) for result in results]
        tp = sum(t and p for t, p in zip(truth, predicted, strict=True))
        fp = sum(p and not t for t, p in zip(truth, predicted, strict=True))
        fn = sum(t and not p for t, p in zip(truth, predicted, strict=True))
        misses = sorted({e.kind for e, t, p in zip(mix, truth, predicted, strict=True) if t and not p})
        false_alarms = sorted({e.kind for e, t, p in zip(mix, truth, predicted, strict=True) if p and not t})
        row = {
            "flag": kind,
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "precision": fmt(rate(tp, tp + fp)),
            "recall": fmt(rate(tp, tp + fn)),
            "missed_kinds": misses,
            "false_alarm_kinds": false_alarms,
        }
        print(json.dumps(row))
    baseline = {}
    for kind in sorted({e.kind for e in mix}):
        group = [e for e in mix if e.kind == kind]
        baseline[kind] = f"{sum(keyword_moderation(e.messages) for e in group)}/{len(group)} flagged"
    screened = {}
    for kind in sorted({e.kind for e in mix}):
        group = [(e, r) for e, r in zip(mix, results, strict=True) if e.kind == kind]
        screened[kind] = f"{sum(r.flagged for _, r in group)}/{len(group)} flagged"
    print(json.dumps({"keyword_moderation": baseline, "tunesafe_screen": screened}))
    print(json.dumps({"examples": len(mix), "wall_s": round(wall, 2)}))


if __name__ == "__main__":
    main()
