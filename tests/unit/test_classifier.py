"""Tests for the refusal classifier judge (fake embedder) and the bundled head and labelled set."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from tunesafe._util.hashing import sha256_file
from tunesafe.data import bundled_path
from tunesafe.judges.base import Judge, JudgeInput
from tunesafe.judges.classifier import (
    HEAD_FILE,
    LABELLED_FILE,
    ClassifierHead,
    HeldOutMetrics,
    RefusalClassifierJudge,
    load_head,
)

DIM = 4


class FakeEmbedder:
    """Maps a text to a fixed 4-d vector: axis 0 counts the word "no", axis 1 counts "yes"."""

    def __init__(self, tag: str = "fake-v1") -> None:
        self.tag = tag
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        words = [t.lower().split() for t in texts]
        return np.array([[w.count("no"), w.count("yes"), 0.0, 1.0] for w in words], dtype=np.float32)

    def fingerprint(self) -> str:
        return self.tag


def make_head(bias: float = 0.0, threshold: float = 0.5, weights: Sequence[float] = (3.0, -3.0, 0.0, 0.0)):
    return ClassifierHead(weights=list(weights), bias=bias, threshold=threshold)


def make_judge(**head_kwargs: float) -> RefusalClassifierJudge:
    return RefusalClassifierJudge(head=make_head(**head_kwargs), embedder=FakeEmbedder())


def judge_texts(judge: RefusalClassifierJudge, texts: Sequence[str]):
    return judge.judge([JudgeInput(prompt="any request", completion=t) for t in texts])


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


# --------------------------------------------------------------------------- the judge


def test_polarity_refusal_scores_zero_compliance_one() -> None:
    refusal, compliance = judge_texts(make_judge(), ["no no", "yes here it is"])
    assert (refusal.score, refusal.label, refusal.complied) == (0.0, "refusal", False)
    assert (compliance.score, compliance.label, compliance.complied) == (1.0, "compliance", True)
    assert refusal.judge == compliance.judge == "refusal-classifier"


def test_raw_and_details_carry_p_refusal() -> None:
    (verdict,) = judge_texts(make_judge(), ["no"])
    p = sigmoid(3.0)
    assert verdict.details["p_refusal"] == pytest.approx(p, abs=1e-6)
    assert verdict.raw == f"p_refusal={p:.3f}" == "p_refusal=0.953"


def test_threshold_is_inclusive_and_moves_the_decision() -> None:
    # "yes no" gives logit = bias exactly: p = sigmoid(bias).
    at_half = judge_texts(make_judge(bias=0.0, threshold=0.5), ["yes no"])[0]
    assert at_half.details["p_refusal"] == pytest.approx(0.5)
    assert at_half.label == "refusal"  # p >= threshold
    below = judge_texts(make_judge(bias=0.0, threshold=0.6), ["yes no"])[0]
    assert below.label == "compliance"
    lowered = judge_texts(make_judge(bias=-1.0, threshold=0.2), ["yes no"])[0]  # p = 0.269
    assert lowered.label == "refusal"


def test_empty_completion_is_unscored_and_not_embedded() -> None:
    embedder = FakeEmbedder()
    judge = RefusalClassifierJudge(head=make_head(), embedder=embedder)
    verdicts = judge.judge([JudgeInput(prompt="p", completion=c) for c in ["", "no", "  \n\t", "yes"]])
    assert [v.score for v in verdicts] == [None, 0.0, None, 1.0]
    assert [v.label for v in verdicts] == ["empty", "refusal", "empty", "compliance"]
    assert verdicts[0].raw is None and verdicts[0].details == {}
    assert verdicts[0].complied is None
    assert embedder.calls == [["no", "yes"]]


def test_all_empty_batch_and_empty_input_do_not_embed() -> None:
    embedder = FakeEmbedder()
    judge = RefusalClassifierJudge(head=make_head(), embedder=embedder)
    assert judge.judge([]) == []
    assert [v.label for v in judge.judge([JudgeInput(prompt="p", completion=" ")])] == ["empty"]
    assert embedder.calls == []


def test_prompt_is_not_used() -> None:
    judge = make_judge()
    a = judge.judge([JudgeInput(prompt="harmless question", completion="no")])[0]
    b = judge.judge([JudgeInput(prompt="something else entirely", completion="no")])[0]
    assert a == b


def test_judge_protocol_name_and_measures() -> None:
    judge = make_judge()
    assert isinstance(judge, Judge)
    assert judge.name == "refusal-classifier"
    assert judge.measures == "refusal"
    named = RefusalClassifierJudge(head=make_head(), embedder=FakeEmbedder(), name="clf-b")
    assert judge_texts(named, ["no"])[0].judge == "clf-b"


def test_fingerprint_changes_with_head_and_embedder_only() -> None:
    base = RefusalClassifierJudge(head=make_head(), embedder=FakeEmbedder()).fingerprint()
    assert RefusalClassifierJudge(head=make_head(), embedder=FakeEmbedder()).fingerprint() == base
    assert RefusalClassifierJudge(head=make_head(bias=0.1), embedder=FakeEmbedder()).fingerprint() != base
    assert RefusalClassifierJudge(head=make_head(threshold=0.6), embedder=FakeEmbedder()).fingerprint() != base
    other_w = make_head(weights=(3.0, -3.0, 0.0, 0.1))
    assert RefusalClassifierJudge(head=other_w, embedder=FakeEmbedder()).fingerprint() != base
    assert RefusalClassifierJudge(head=make_head(), embedder=FakeEmbedder("fake-v2")).fingerprint() != base
    # Metrics and provenance do not change what the judge decides, so they do not change its identity.
    annotated = make_head().model_copy(update={"training": {"C": 1.0}})
    assert RefusalClassifierJudge(head=annotated, embedder=FakeEmbedder()).fingerprint() == base


def test_dimension_mismatch_is_an_error() -> None:
    judge = RefusalClassifierJudge(head=make_head(weights=(1.0, 2.0)), embedder=FakeEmbedder())
    with pytest.raises(ValueError, match="shape"):
        judge_texts(judge, ["no"])


def test_head_validation() -> None:
    with pytest.raises(ValueError):
        ClassifierHead(weights=[], bias=0.0)
    with pytest.raises(ValueError):
        ClassifierHead(weights=[float("nan")], bias=0.0)
    with pytest.raises(ValueError):
        ClassifierHead(weights=[1.0], bias=0.0, threshold=1.0)
    with pytest.raises(ValueError):
        ClassifierHead(weights=[1.0], bias=0.0, unknown_field=1)


def test_metrics_from_counts() -> None:
    m = HeldOutMetrics.from_labels([True, True, False, False, True], [True, False, True, False, True])
    assert (m.tp, m.fp, m.tn, m.fn, m.n) == (2, 1, 1, 1, 5)
    assert m.accuracy == pytest.approx(0.6)
    assert m.precision == pytest.approx(2 / 3, abs=1e-6)
    assert m.recall == pytest.approx(2 / 3, abs=1e-6)
    assert m.f1 == pytest.approx(2 / 3, abs=1e-6)


def test_load_head_round_trips_through_json(tmp_path: Path) -> None:
    head = make_head(bias=-0.25).model_copy(update={"metrics": HeldOutMetrics.from_counts(3, 1, 4, 2)})
    path = tmp_path / "head.json"
    path.write_text(json.dumps(head.model_dump(mode="json")), encoding="utf-8")
    assert load_head(path) == head


# --------------------------------------------------------------------------- the bundled head


@pytest.fixture(scope="module")
def bundled_head() -> ClassifierHead:
    return load_head()


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    text = bundled_path(LABELLED_FILE).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_bundled_head_shape_and_provenance(bundled_head: ClassifierHead) -> None:
    from tunesafe.assets import EMBEDDER_FILES

    assert len(bundled_head.weights) == 384
    assert bundled_head.threshold == 0.5
    assert bundled_head.positive_label == "refusal"
    assert bundled_head.embedder["id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert bundled_head.embedder["files_sha256"] == EMBEDDER_FILES
    assert bundled_head.embedder["pooling"] == "mean"
    assert bundled_head.training["C"] > 0
    assert bundled_head.training["labelled_sha256"] == sha256_file(bundled_path(LABELLED_FILE))


def test_bundled_head_records_consistent_held_out_metrics(bundled_head: ClassifierHead, rows: list[dict]) -> None:
    m = bundled_head.metrics
    assert m is not None
    test_rows = [r for r in rows if r["split"] == "test"]
    assert m.n == len(test_rows)
    assert m.tp + m.fn == sum(r["label"] == "refusal" for r in test_rows)
    assert m.accuracy == pytest.approx((m.tp + m.tn) / m.n, abs=1e-6)
    assert m.precision == pytest.approx(m.tp / (m.tp + m.fp), abs=1e-6)
    assert m.recall == pytest.approx(m.tp / (m.tp + m.fn), abs=1e-6)
    assert sum(s.n for s in bundled_head.metrics_by_source.values()) == m.n
    for name in ("keyword-extended", "keyword-zou-qi"):
        assert bundled_head.baselines[name].n == m.n
        assert m.accuracy > bundled_head.baselines[name].accuracy


def test_bundled_head_file_is_package_data() -> None:
    assert bundled_path(HEAD_FILE).is_file()


# --------------------------------------------------------------------------- the labelled set

FIELDS = {"id", "prompt", "text", "label", "source", "group", "split"}
SOURCES = {"authored", "qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct"}


def test_labelled_set_schema(rows: list[dict]) -> None:
    assert len(rows) >= 500
    for row in rows:
        assert set(row) == FIELDS, row.get("id")
        assert all(isinstance(row[k], str) and row[k].strip() for k in FIELDS), row["id"]
        assert row["label"] in {"refusal", "compliance"}
        assert row["split"] in {"train", "test"}
        assert row["source"] in SOURCES
        assert row["text"] == row["text"].strip()


def test_labelled_set_ids_and_texts_unique(rows: list[dict]) -> None:
    ids = [r["id"] for r in rows]
    texts = [r["text"] for r in rows]
    assert len(set(ids)) == len(ids)
    assert len(set(texts)) == len(texts)
    train = {r["text"] for r in rows if r["split"] == "train"}
    test = {r["text"] for r in rows if r["split"] == "test"}
    assert not train & test


def test_labelled_set_groups_do_not_straddle_splits(rows: list[dict]) -> None:
    splits: dict[str, set[str]] = {}
    for row in rows:
        splits.setdefault(row["group"], set()).add(row["split"])
    straddling = [g for g, s in splits.items() if len(s) > 1]
    assert straddling == []


def test_labelled_set_balance_and_split(rows: list[dict]) -> None:
    by = Counter((r["split"], r["label"]) for r in rows)
    for split in ("train", "test"):
        assert by[(split, "refusal")] > 0 and by[(split, "compliance")] > 0
    labels = Counter(r["label"] for r in rows)
    assert 0.35 <= labels["refusal"] / len(rows) <= 0.65
    test_share = sum(r["split"] == "test" for r in rows) / len(rows)
    assert 0.2 <= test_share <= 0.4
    test_sources = {r["source"] for r in rows if r["split"] == "test"}
    assert "authored" in test_sources
    assert test_sources & (SOURCES - {"authored"})


def test_real_replies_to_harmful_prompts_are_refusals_only(rows: list[dict]) -> None:
    """Compliant real replies to HarmBench prompts are never kept in the set."""
    harmful = [r for r in rows if r["id"].split("/")[1:2] == ["harmbench"]]
    assert harmful
    assert {r["label"] for r in harmful} == {"refusal"}


# --------------------------------------------------------------------------- the embedder (no model load)


def test_embedder_fingerprint_and_empty_input_need_no_model() -> None:
    from tunesafe.judges import embedder as embedder_module
    from tunesafe.judges.embedder import Embedder

    loaded_before = dict(embedder_module._MODELS)
    default = Embedder()
    assert default.fingerprint() == Embedder(batch_size=8).fingerprint()  # batching does not change vectors
    assert default.fingerprint() != Embedder(max_length=128).fingerprint()
    empty = default.embed([])
    assert empty.shape == (0, 384) and empty.dtype == np.float32
    assert loaded_before == embedder_module._MODELS
    with pytest.raises(ValueError):
        Embedder(batch_size=0)
