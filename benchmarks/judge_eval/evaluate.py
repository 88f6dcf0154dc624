"""Every refusal judge on the realistic evaluation set: accuracy, precision and recall.

Reads the hand labels (``labels.jsonl`` beside this file) and the regenerated completions
(``generate.py``; their sha256 must match the labels'), sends each completion through the same
hygiene as an audit (empty / degenerate unscored, loops judged up to the loop) and each judge, and
prints one JSON line per judge and slice plus a Markdown table for ``docs/judges.md``. Refusal is
the positive class (as in the classifier's held-out metrics); an unscored verdict on a labelled
reply counts as an error in accuracy and is shown apart.

    python benchmarks/judge_eval/evaluate.py
    python benchmarks/judge_eval/evaluate.py --judges keyword-extended refusal-classifier
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tunesafe.judges import make_judge
from tunesafe.judges.base import JudgeInput
from tunesafe.judges.classifier import HeldOutMetrics
from tunesafe.judges.hygiene import apply_judges

HERE = Path(__file__).resolve().parent
DEFAULT_COMPLETIONS = Path("~/.cache/tunesafe/judge-eval/completions.jsonl").expanduser()
DEFAULT_JUDGES = ("refusal-structure", "keyword-extended", "keyword-zou-qi", "refusal-classifier")


def load(completions: Path) -> list[dict]:
    """Labelled rows joined with their regenerated completions; stale hashes are an error."""
    labels = [json.loads(x) for x in (HERE / "labels.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    texts = {r["id"]: r for r in map(json.loads, completions.read_text(encoding="utf-8").splitlines())}
    rows, stale = [], []
    for label in labels:
        made = texts.get(label["id"])
        if made is None or made["completion_sha256"] != label["completion_sha256"]:
            stale.append(label["id"])
            continue
        rows.append({**label, "prompt": made["prompt"], "completion": made["completion"]})
    if stale:
        print(json.dumps({"warning": "completions differ from the labelled ones; skipped", "n": len(stale)}))
    return rows


def metrics(rows: list[dict], verdicts: list) -> dict:
    """Accuracy over all rows (unscored = wrong), precision/recall with refusal positive, unscored count."""
    truth = [r["label"] == "refusal" for r in rows]
    scored = [(t, v.score == 0.0) for t, v in zip(truth, verdicts, strict=True) if v.score is not None]
    m = HeldOutMetrics.from_labels([t for t, _ in scored], [p for _, p in scored])
    correct = m.tp + m.tn
    return {
        "n": len(rows),
        "unscored": len(rows) - len(scored),
        "accuracy": round(correct / len(rows), 4) if rows else None,
        "precision": m.precision,
        "recall": m.recall,
        "fp": m.fp,
        "fn": m.fn,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--completions", type=Path, default=DEFAULT_COMPLETIONS)
    parser.add_argument("--judges", nargs="+", default=list(DEFAULT_JUDGES))
    parser.add_argument("--errors", action="store_true", help="print the ids each judge gets wrong")
    args = parser.parse_args()
    everything = load(args.completions)
    rows = [r for r in everything if r["label"] in ("refusal", "compliance")]
    evasions = [r for r in everything if r["label"] == "evasion"]
    inputs = [JudgeInput(prompt=r["prompt"], completion=r["completion"]) for r in rows]
    slices = {
        "all": lambda r: True,
        "harmful": lambda r: r["kind"] in ("harmful", "strongreject"),
        "overrefusal+benign": lambda r: r["kind"] in ("overrefusal", "benign"),
        "200+ words": lambda r: len(r["completion"].split()) >= 200,
        "held-out 1": lambda r: r["batch"] == "held-out",
        "held-out 2": lambda r: r["batch"] == "held-out-2",
    }
    table = []
    for name in args.judges:
        judge = make_judge(name)
        start = time.perf_counter()
        verdicts = [v[0] for v in apply_judges([judge], inputs)]
        wall = time.perf_counter() - start
        row = {"judge": name, "wall_s": round(wall, 2)}
        for slice_name, keep in slices.items():
            idx = [i for i, r in enumerate(rows) if keep(r)]
            row[slice_name] = metrics([rows[i] for i in idx], [verdicts[i] for i in idx])
        evasion_verdicts = [
            v[0]
            for v in apply_judges(
                [judge], [JudgeInput(prompt=r["prompt"], completion=r["completion"]) for r in evasions]
            )
        ]
        row["evasions_called_compliance"] = f"{sum(v.score == 1.0 for v in evasion_verdicts)}/{len(evasions)}"
        print(json.dumps(row))
        table.append(row)
        if args.errors:
            wrong = [
                (r["id"], r["label"], v.label)
                for r, v in zip(rows, verdicts, strict=True)
                if v.score is None or (v.score == 0.0) != (r["label"] == "refusal")
            ]
            print(json.dumps({"judge": name, "wrong": wrong}))
    print(
        "\n| judge | accuracy | precision (refusal) | recall (refusal) | unscored | harmful prompts | "
        "over-refusal + benign | replies of 200+ words | held-out 1 | held-out 2 | evasions called compliance |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in table:
        a = row["all"]
        print(
            f"| `{row['judge']}` | {a['accuracy']:.1%} | {a['precision']:.1%} | {a['recall']:.1%} | {a['unscored']} | "
            f"{row['harmful']['accuracy']:.1%} | {row['overrefusal+benign']['accuracy']:.1%} | "
            f"{row['200+ words']['accuracy']:.1%} | {row['held-out 1']['accuracy']:.1%} | "
            f"{row['held-out 2']['accuracy']:.1%} | {row['evasions_called_compliance']} |"
        )


if __name__ == "__main__":
    main()
