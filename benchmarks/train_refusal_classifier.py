"""Train the bundled refusal classifier head and compare it with the keyword lists on held-out data.

Embeds ``data/bundled/refusal_labelled.jsonl`` with all-MiniLM-L6-v2 (mean pooling, L2-normalised;
Reimers & Gurevych 2019), fits a scikit-learn ``LogisticRegression`` on the train split (C chosen
by 5-fold cross-validation on the train split only, folds grouped by ``group`` so paraphrases of
one template never sit on both sides of a fold), evaluates on the test split through the same
numpy path the judge uses at inference, and writes ``data/bundled/refusal_head.json``.

Then prints a Markdown table on the SAME held-out split: refusal-classifier vs ``keyword-extended``
vs ``keyword-zou-qi`` (Zou et al. 2023; Qi et al. 2023), overall and per source, plus throughput.

    .venv/bin/python benchmarks/train_refusal_classifier.py
    .venv/bin/python benchmarks/train_refusal_classifier.py --output /tmp/head.json   # leave the bundled file alone

scikit-learn is used here only; the judge itself needs numpy and the embedder.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tunesafe._util.hashing import sha256_file
from tunesafe.assets import EMBEDDER_FILES
from tunesafe.data import bundled_path
from tunesafe.judges.base import JudgeInput
from tunesafe.judges.classifier import (
    HEAD_FILE,
    LABEL_REFUSAL,
    LABELLED_FILE,
    ClassifierHead,
    HeldOutMetrics,
    RefusalClassifierJudge,
)
from tunesafe.judges.embedder import EMBEDDER_ID, POOLING, Embedder
from tunesafe.judges.keyword import make_keyword_judge

C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
FOLDS = 5
SEED = 0
THRESHOLD = 0.5
KEYWORD_JUDGES = ("keyword-extended", "keyword-zou-qi")


def load_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def counts(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Rows per split × label and per split × source × label."""
    out: dict[str, Any] = {}
    for split in ("train", "test"):
        part = [r for r in rows if r["split"] == split]
        out[split] = {
            "n": len(part),
            "labels": dict(sorted(Counter(r["label"] for r in part).items())),
            "sources": {
                source: dict(sorted(Counter(r["label"] for r in part if r["source"] == source).items()))
                for source in sorted({r["source"] for r in part})
            },
            "groups": len({r["group"] for r in part}),
        }
    return out


def choose_c(x: np.ndarray, y: np.ndarray, groups: Sequence[str]) -> tuple[float, dict[str, dict[str, float]]]:
    """C with the lowest mean log-loss over grouped, stratified 5-fold CV (ties: the smaller C).

    Log-loss, a proper scoring rule, rather than accuracy: accuracy is flat over a wide range of C
    and would pick a heavily shrunk head whose ``p_refusal`` values all sit near 0.5.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold, cross_validate

    folds = StratifiedGroupKFold(n_splits=FOLDS, shuffle=True, random_state=SEED)
    scores: dict[str, dict[str, float]] = {}
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
        cv = cross_validate(model, x, y, groups=list(groups), cv=folds, scoring=("neg_log_loss", "accuracy"))
        scores[str(c)] = {
            "log_loss": round(float(-cv["test_neg_log_loss"].mean()), 6),
            "accuracy": round(float(cv["test_accuracy"].mean()), 6),
        }
    best = min(C_GRID, key=lambda c: (scores[str(c)]["log_loss"], c))
    return best, scores


def fit(x: np.ndarray, y: np.ndarray, c: float) -> tuple[list[float], float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(x, y)
    weights = [round(float(w), 6) for w in model.coef_[0]]
    return weights, round(float(model.intercept_[0]), 6)


def metrics_by_source(
    rows: Sequence[dict[str, Any]], predicted: Sequence[bool]
) -> tuple[HeldOutMetrics, dict[str, HeldOutMetrics]]:
    truth = [r["label"] == LABEL_REFUSAL for r in rows]
    overall = HeldOutMetrics.from_labels(truth, predicted)
    per: dict[str, HeldOutMetrics] = {}
    for source in sorted({r["source"] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r["source"] == source]
        per[source] = HeldOutMetrics.from_labels([truth[i] for i in idx], [predicted[i] for i in idx])
    return overall, per


def keyword_predictions(name: str, rows: Sequence[dict[str, Any]]) -> list[bool]:
    """True where the keyword judge says refusal (score 0.0); the labelled set has no empty texts."""
    verdicts = make_keyword_judge(name).judge([JudgeInput(prompt=r["prompt"], completion=r["text"]) for r in rows])
    return [v.score == 0.0 for v in verdicts]


def throughput(call: Callable[[], object], n_texts: int, min_seconds: float = 1.0) -> float:
    """Texts per second of ``call`` (which judges ``n_texts`` texts), repeated for at least ``min_seconds``."""
    call()  # warm-up: model load, caches
    runs, start = 0, time.perf_counter()
    while True:
        call()
        runs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return runs * n_texts / elapsed


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def fmt(m: HeldOutMetrics) -> str:
    return (
        f"{_num(m.accuracy)} | {_num(m.precision)} | {_num(m.recall)} | {_num(m.f1)} | "
        f"{m.tp} / {m.fp} / {m.tn} / {m.fn} | {m.n}"
    )


def markdown_table(results: dict[str, tuple[HeldOutMetrics, dict[str, HeldOutMetrics]]]) -> str:
    lines = [
        "| judge | rows | accuracy | precision | recall | F1 | TP / FP / TN / FN | n |",
        "|---|---|---|---|---|---|---|---|",
    ]
    sources = sorted({s for _, per in results.values() for s in per})
    for scope in ["all", *sources]:
        for name, (overall, per) in results.items():
            m = overall if scope == "all" else per.get(scope)
            if m is not None:
                lines.append(f"| {name} | {scope} | {fmt(m)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labelled", type=Path, default=bundled_path(LABELLED_FILE))
    parser.add_argument("--output", type=Path, default=bundled_path(HEAD_FILE))
    args = parser.parse_args()

    rows = load_rows(args.labelled)
    train = [r for r in rows if r["split"] == "train"]
    test = [r for r in rows if r["split"] == "test"]
    embedder = Embedder()

    start = time.perf_counter()
    x_train = embedder.embed([r["text"] for r in train])
    x_test = embedder.embed([r["text"] for r in test])
    embed_seconds = time.perf_counter() - start
    y_train = np.array([r["label"] == LABEL_REFUSAL for r in train], dtype=int)

    c, cv_scores = choose_c(x_train, y_train, [r["group"] for r in train])
    weights, bias = fit(x_train, y_train, c)
    head = ClassifierHead(
        embedder={
            "id": EMBEDDER_ID,
            "files_sha256": dict(EMBEDDER_FILES),
            "pooling": POOLING,
            "normalize": True,
            "max_length": embedder.max_length,
        },
        weights=weights,
        bias=bias,
        threshold=THRESHOLD,
    )
    # Evaluate through the judge's own numpy path, with the rounded weights that get saved.
    predicted = [bool(p >= THRESHOLD) for p in head.p_refusal(x_test)]
    overall, per_source = metrics_by_source(test, predicted)
    results = {"refusal-classifier": (overall, per_source)}
    for name in KEYWORD_JUDGES:
        results[name] = metrics_by_source(test, keyword_predictions(name, test))

    import sklearn

    head = head.model_copy(
        update={
            "training": {
                "script": "benchmarks/train_refusal_classifier.py",
                "labelled_file": LABELLED_FILE,
                "labelled_sha256": sha256_file(args.labelled),
                "counts": counts(rows),
                "model": "sklearn.linear_model.LogisticRegression(class_weight='balanced', lbfgs, L2)",
                "C": c,
                "cv": {
                    "folds": FOLDS,
                    "splitter": "StratifiedGroupKFold(shuffle=True, random_state=0) on the train split",
                    "selected_by": "lowest mean log-loss",
                    "scores": cv_scores,
                },
                "positive_class": LABEL_REFUSAL,
                "sklearn_version": sklearn.__version__,
            },
            "metrics": overall,
            "metrics_by_source": per_source,
            "baselines": {name: results[name][0] for name in KEYWORD_JUDGES},
        }
    )
    args.output.write_text(json.dumps(head.model_dump(mode="json"), indent=1) + "\n", encoding="utf-8")

    judge = RefusalClassifierJudge(head=head, embedder=embedder)
    keyword = make_keyword_judge("keyword-extended")
    items = [JudgeInput(prompt=r["prompt"], completion=r["text"]) for r in test]
    clf_rate = throughput(lambda: judge.judge(items), len(items))
    kw_rate = throughput(lambda: keyword.judge(items), len(items))

    n_test = counts(rows)["test"]
    print(f"labelled set: {len(rows)} rows ({len(train)} train, {len(test)} test); test labels {n_test['labels']}")
    cv_best = cv_scores[str(c)]
    print(
        f"C = {c} (5-fold grouped CV on train: log-loss {cv_best['log_loss']:.3f}, "
        f"accuracy {cv_best['accuracy']:.3f}); embedding all rows took {embed_seconds:.1f} s"
    )
    print(f"wrote {args.output}\n")
    print("Held-out split, refusal = positive class:\n")
    print(markdown_table(results))
    print("\nThroughput on this CPU (held-out texts, model already loaded):\n")
    print("| judge | texts/s |\n|---|---|")
    print(f"| refusal-classifier | {clf_rate:,.0f} |")
    print(f"| keyword-extended | {kw_rate:,.0f} |")


if __name__ == "__main__":
    main()
