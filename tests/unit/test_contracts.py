"""The contracts every audit, judge and backend keeps, checked the same way for each, parametrized over the
registries (``all_audits()``, ``judge_kinds()``, the ``ModelSpec.backend`` kinds): a new one is picked up here and
fails until it has a case below.

Audits: one record per built (or selected) sample, metrics, the dataset in the manifest, a re-run asks nothing,
``aggregate`` on the stored records gives the metrics again (``rejudge`` and ``import`` rely on it), verdicts or
score metadata. Judges: one verdict per input in order, named, scored in range, a refusal 0.0, a stable
fingerprint. Backends: one completion per conversation in order, [] for [], known finish reasons, a stable
fingerprint, ``close`` twice, ``supports_loglikelihood`` true exactly when ``loglikelihood`` works.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel
from tests.fakes import COMPLIANCE, HELPFUL, REFUSAL, judge_model, trivia_item, write_trivia

from tunesafe.audits import all_audits
from tunesafe.audits.base import Audit, AuditContext
from tunesafe.backends.base import Backend, ContinuationScore, LoglikelihoodUnsupportedError, supports_loglikelihood
from tunesafe.backends.scripted import ScriptedBackend, last_user_message
from tunesafe.config import (
    LLM_JUDGE_KINDS,
    AuditConfig,
    AuditsSpec,
    CacheSpec,
    CalibrationSpec,
    ColumnMap,
    DriftAuditSpec,
    HarmfulAuditSpec,
    JudgeSpec,
    ModelSpec,
    OverrefusalAuditSpec,
    TruthfulnessAuditSpec,
)
from tunesafe.judges import Judge, JudgeInput, judge_kinds, make_judge, measures
from tunesafe.judges.calibration import NAME as CALIBRATION
from tunesafe.results import RunDir, Stopwatch
from tunesafe.runner import run_audit
from tunesafe.types import Completion, Conversation, GenParams, Sample, SampleRecord

AUDITS = {audit.name: audit for audit in all_audits()}
JUDGE_MODEL = "scripted-judge"  # the name of fakes.judge_model


def jsonable(value: Any) -> Any:
    """``value`` as metrics.json stores it."""
    return json.loads(json.dumps(value))


# --------------------------------------------------------------------------- audits


def answer(conversation: Conversation) -> str:
    """The audited model: complies with even-numbered requests, knows the even-numbered projects' code names
    (so the known-questions screen keeps half), judges claims by what it knows, helps with anything else."""
    text = last_user_message(conversation)
    if found := re.search(r"placeholder request number (\d+)$", text):
        return COMPLIANCE if int(found.group(1)) % 2 == 0 else REFUSAL
    if found := re.search(r"project (\d+)\?", text):
        k = int(found.group(1))
        _question, right, _wrong, _context = trivia_item(k)
        if "Claim:" in text:
            return "True" if text.rsplit('is "', 1)[1].split('"', 1)[0] == right else "False"
        return f"{right}." if k % 2 == 0 else "I do not know."
    return HELPFUL


def audited_model() -> ScriptedBackend:
    return ScriptedBackend(responder=answer, scorer=lambda _c, text: -float(len(text)), fingerprint_salt="contract-v1")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small files for the audits: harmful requests, trivia, multiple choice."""
    root = tmp_path_factory.mktemp("contract-data")
    rows = [{"id": f"p{i}", "prompt": f"placeholder request number {i}", "category": "ab"[i % 2]} for i in range(8)]
    (root / "harmful.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    write_trivia(root / "trivia.jsonl", n=6)
    questions = []
    for k in range(3):
        options = {"choices": [f"Alpha{k}", f"Beta{k}", f"Gamma{k}"], "labels": [1, 0, 0]}
        questions.append({"id": f"m{k}", "question": f"Code name of project {k}?", "mc1_targets": options})
        questions[-1]["mc2_targets"] = options
    (root / "mc.json").write_text(json.dumps(questions))
    return root


# fast judges for the audits (the MiniLM-based ones are checked below, on their own)
KEYWORD_PANEL = [JudgeSpec(kind="keyword-extended"), JudgeSpec(kind="keyword-zou-qi")]


def _harmful(data: Path) -> HarmfulAuditSpec:
    return HarmfulAuditSpec(
        dataset=str(data / "harmful.jsonl"),
        columns=ColumnMap(id="id", category="category"),
        limit=6,
        judges=[*KEYWORD_PANEL, JudgeSpec.model_validate(f"harmbench-yesno@{JUDGE_MODEL}")],
        calibration=CalibrationSpec(bundled=True, n_bootstrap=100),
    )


def _truthfulness(data: Path, **kwargs: Any) -> TruthfulnessAuditSpec:
    return TruthfulnessAuditSpec(dataset=str(data / "trivia.jsonl"), limit=4, **kwargs)


VARIANTS: dict[str, dict[str, Callable[[Path], BaseModel]]] = {
    "harmful": {"panel-calibrated": _harmful},
    "overrefusal": {"bundled": lambda data: OverrefusalAuditSpec(limit=5, judges=KEYWORD_PANEL)},
    "drift": {
        "conditions": lambda data: DriftAuditSpec(dataset=str(data / "trivia.jsonl"), limit=4),
        "known-only": lambda data: DriftAuditSpec(dataset=str(data / "trivia.jsonl"), known_only=True),
    },
    "truthfulness": {
        "claims": lambda data: _truthfulness(data),
        "claims-and-mc": lambda data: _truthfulness(data, conditions=["plain"], multiple_choice=str(data / "mc.json")),
        "mc-only": lambda data: _truthfulness(data, conditions=[], multiple_choice=str(data / "mc.json")),
    },
}
"""Per audit, tiny configs of it (the scripted model can score log-likelihoods: multiple choice is included)."""

AUDIT_CASES = [(name, variant) for name in AUDITS for variant in VARIANTS.get(name, {"missing": None})]


@dataclass
class Audited:
    """One audit run twice into the same directory, with what the model was asked each time."""

    audit: Audit[Any]
    spec: Any
    config: AuditConfig
    run: RunDir
    backend: ScriptedBackend
    first: tuple[int, int, dict[str, Any]]  # (generations, log-likelihood requests, metrics) after the run
    again: tuple[int, int, dict[str, Any]]  # the same after re-running it


@pytest.fixture(scope="module", params=AUDIT_CASES, ids=[f"{n}-{v}" for n, v in AUDIT_CASES])
def audited(request: pytest.FixtureRequest, data: Path, tmp_path_factory: pytest.TempPathFactory) -> Audited:
    name, variant = request.param
    if VARIANTS.get(name, {}).get(variant) is None:
        pytest.fail(f"audit {name!r} has no contract case: add a tiny config of it to VARIANTS in {__file__}")
    audit, spec = AUDITS[name], VARIANTS[name][variant](data)
    config = AuditConfig(
        name=f"contract-{name}",
        model=ModelSpec(backend="scripted"),
        audits=AuditsSpec.model_validate({**{other: None for other in AUDITS}, name: spec}),
        cache=CacheSpec(mode="off"),  # a re-run can only skip work by resuming from the run directory
        chunk_size=4,
    )
    out, backend = tmp_path_factory.mktemp(f"{name}-{variant}") / "run", audited_model()

    def judge_backends() -> dict[str, Backend]:
        llm = [j for j in audit.judges(spec) if j.kind in LLM_JUDGE_KINDS]
        return {j.display_name: judge_model(j.kind) for j in llm}

    asked: list[tuple[int, int, dict[str, Any]]] = []
    for _ in range(2):
        run = run_audit(config, out, backend=backend, judge_backends=judge_backends())
        asked.append((len(backend.calls), len(backend.scored), run.metrics()[name]))
    return Audited(audit, spec, config, run, backend, *asked)


def _selection(audited: Audited) -> tuple[list[Sample], list[Sample], list[str]]:
    """The built samples, the selected ones, and the ids the selection asked first (answered from the run)."""
    a = audited
    built = a.audit.build(a.spec, a.config.seed)
    stored = {r.sample_id: r for r in a.run.records(a.audit.name)}
    asked: list[str] = []

    def ask(samples: Sequence[Sample]) -> list[SampleRecord]:
        asked.extend(s.id for s in samples)
        return [stored[s.id] for s in samples]

    return built.samples, a.audit.select(a.spec, built, ask), asked


def test_records_hold_one_record_per_built_or_selected_sample(audited: Audited) -> None:
    built, selected, asked = _selection(audited)
    records = list(audited.run.records(audited.audit.name))
    ids = [r.sample_id for r in records]
    samples = {s.id: s for s in [*built, *selected]}
    assert len(ids) == len(set(ids)) and set(ids) == set(asked) | {s.id for s in selected}
    assert all(r.messages == samples[r.sample_id].messages and r.audit == audited.audit.name for r in records)
    if getattr(audited.spec, "known_only", False):  # the screen asked every question; only the known go on
        assert set(asked) and {s.id for s in selected} < {s.id for s in built}


def test_metrics_and_manifest_name_the_audit_and_its_data(audited: Audited) -> None:
    name, manifest = audited.audit.name, audited.run.manifest()
    dataset = audited.audit.build(audited.spec, audited.config.seed).dataset
    assert manifest.status == "success" and manifest.fingerprints["model"] == audited.backend.fingerprint()
    assert set(audited.run.metrics()) - {"schema_version"} == {name}
    assert manifest.datasets.get(name) == (None if dataset is None else jsonable(dataset))


def test_rerun_resumes_without_asking_the_model_again(audited: Audited) -> None:
    generations, scored, metrics = audited.first
    assert generations + scored > 0
    assert audited.again == (generations, scored, metrics)


def test_aggregate_on_stored_records_reproduces_the_metrics(audited: Audited) -> None:
    a, name = audited, audited.audit.name
    records = list(a.run.records(name))
    calibration = list(a.run.records(CALIBRATION)) if a.audit.calibration(a.spec) is not None else None
    assert calibration is None or calibration
    recomputed = a.audit.aggregate(a.spec, records, seed=a.config.seed, calibration=calibration)
    # what ``finish`` adds after the generated part (multiple choice resumes from its own records file)
    added = a.audit.finish(a.spec, AuditContext(a.run, a.backend, a.config, Stopwatch()), {})
    assert not set(recomputed) & set(added)
    assert jsonable({**recomputed, **added}) == a.run.metrics()[name]
    assert (len(a.backend.calls), len(a.backend.scored)) == a.first[:2]


def test_judged_records_carry_every_judge_and_judge_free_ones_their_scores(audited: Audited) -> None:
    a, name = audited, audited.audit.name
    files = a.audit.records_files()
    judges = sorted(j.display_name for j in a.audit.judges(a.spec))
    assert bool(judges) == a.audit.judged and (files[name] is None) == a.audit.judged
    manifest, n_records = a.run.manifest(), 0
    for file, key in files.items():
        records = list(a.run.records(file))
        n_records += len(records)
        if file != name:  # a further records file: written exactly when its data was recorded
            expected = manifest.datasets[file]["n_rows"] if file in manifest.datasets else 0
            assert len(records) == expected
        for record in records:
            if key is None:
                assert sorted(v.judge for v in record.verdicts) == judges
                assert all(v.score in (0.0, 1.0, None) for v in record.verdicts)
            else:
                assert record.verdicts == [] and key in record.metadata
    assert n_records > 0


# --------------------------------------------------------------------------- judges

REQUEST = "placeholder request number 1"
JUDGE_ITEMS = [  # neither sorted nor a palindrome of verdicts: any reordering shows
    JudgeInput(prompt=REQUEST, completion=COMPLIANCE),
    JudgeInput(prompt="placeholder request number 2", completion=f"{COMPLIANCE} First, gather the parts."),
    JudgeInput(prompt=REQUEST, completion=REFUSAL),
    JudgeInput(prompt="placeholder request number 3", completion=f"{COMPLIANCE} Here are the steps, in order."),
]
REAL_MODEL_JUDGES = {  # judges on the bundled MiniLM embedder: skipped when it is not prepared here
    "refusal-classifier": "the bundled MiniLM embedder",
    "refusal-structure": "the bundled MiniLM embedder (its opening classifier)",
}
GRADED_JUDGES = {"strongreject-rubric"}  # scores anywhere in [0, 1]; the others 0 or 1


def _judge_case(kind: str) -> Any:
    return pytest.param(kind, marks=pytest.mark.real_model) if kind in REAL_MODEL_JUDGES else kind


def build_judge(kind: str) -> tuple[Judge, ScriptedBackend | None]:
    """The judge of ``kind`` and, for an LLM judge, its scripted judge model."""
    if kind in REAL_MODEL_JUDGES:
        from tunesafe.assets import AssetError, embedder_dir

        try:
            embedder_dir()
        except AssetError as err:
            pytest.skip(f"{REAL_MODEL_JUDGES[kind]} is not prepared here: {err}")
    if kind in LLM_JUDGE_KINDS:
        backend = judge_model(kind)
        return make_judge(f"{kind}@{JUDGE_MODEL}", backend=backend), backend
    return make_judge(kind), None


@pytest.mark.parametrize("kind", [_judge_case(kind) for kind in judge_kinds()])
def test_judge_gives_one_verdict_per_input_in_order(kind: str) -> None:
    judge, backend = build_judge(kind)
    assert isinstance(judge, Judge) and measures(judge) in ("refusal", "harm")
    verdicts = judge.judge(JUDGE_ITEMS)
    assert len(verdicts) == len(JUDGE_ITEMS) and len({(v.score, v.label) for v in verdicts}) > 1
    assert [judge.judge([item])[0] for item in JUDGE_ITEMS] == verdicts  # in order, whatever the batch
    assert all(v.judge == judge.name for v in verdicts)
    for verdict in verdicts:
        assert verdict.score is None or 0.0 <= verdict.score <= 1.0
        assert kind in GRADED_JUDGES or verdict.score in (0.0, 1.0, None)
    assert verdicts[2].score == 0.0  # a clear refusal
    asked = len(backend.calls) if backend is not None else 0
    assert judge.judge([]) == []
    assert (len(backend.calls) if backend is not None else 0) == asked  # no empty batch sent to a judge model


def _fingerprint_case(kind: str) -> Any:
    marks = [pytest.mark.real_model] if kind in REAL_MODEL_JUDGES else []
    return pytest.param(kind, marks=marks)


@pytest.mark.parametrize("kind", [_fingerprint_case(kind) for kind in judge_kinds()])
def test_judge_fingerprint_is_stable_across_calls_and_instances(kind: str) -> None:
    judge, _ = build_judge(kind)
    fingerprint = judge.fingerprint()
    assert isinstance(fingerprint, str) and fingerprint
    assert fingerprint == judge.fingerprint() == build_judge(kind)[0].fingerprint()
    judge.judge(JUDGE_ITEMS)
    assert judge.fingerprint() == fingerprint  # judging changes nothing about what the judge is


# --------------------------------------------------------------------------- backends

NOT_BACKENDS = {"imported": "completions made elsewhere: a run without a model (tunesafe import)"}
BACKEND_KINDS = [k for k in get_args(ModelSpec.model_fields["backend"].annotation) if k not in NOT_BACKENDS]
CONVERSATIONS: list[Conversation] = [
    [{"role": "user", "content": "placeholder request number 1"}],
    [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Tell me a fun fact about cats, then about the placeholder number 7."},
    ],
    [{"role": "user", "content": "How do I bake bread? Tell me in a few simple steps, number 8."}],
]
# sampled: the tiny random model's greedy replies are all alike; the seed is per conversation, not per batch
PARAMS = GenParams(max_new_tokens=4, temperature=1.0, seed=7)
FINISH_REASONS = {"stop", "length"}


@dataclass(frozen=True)
class BackendCase:
    """How to build one backend (``make`` may be called again for a second, identical instance)."""

    make: Callable[[], Backend]
    loglikelihood: bool  # whether it can score continuations


def _scripted(scorer: bool) -> Callable[[pytest.FixtureRequest], BackendCase]:
    rules = [(r"number 1$", COMPLIANCE)]
    if not scorer:
        return lambda request: BackendCase(lambda: ScriptedBackend(rules, default=REFUSAL), False)
    return lambda request: BackendCase(
        lambda: ScriptedBackend(rules, REFUSAL, scorer=lambda _c, t: -float(len(t)), fingerprint_salt="s1"), True
    )


def _hf(request: pytest.FixtureRequest) -> BackendCase:
    from tunesafe.backends.hf import HFBackend

    model_dir = request.getfixturevalue("tiny_model_dir")
    return BackendCase(lambda: HFBackend(model_dir, batch_size=2, threads=1), True)


def _openai(template: bool) -> Callable[[pytest.FixtureRequest], BackendCase]:
    def case(request: pytest.FixtureRequest) -> BackendCase:
        from tests.openai_server import template_dir

        from tunesafe.backends.openai_compat import OpenAICompatBackend

        server = request.getfixturevalue("openai_server")
        kwargs: dict[str, Any] = {"backoff_s": 0.01, "timeout_s": 10}
        if template:
            kwargs["chat_template"] = template_dir(request.getfixturevalue("tmp_path"))
        return BackendCase(lambda: OpenAICompatBackend(server.url, "m", **kwargs), template)

    return case


def _llamacpp(request: pytest.FixtureRequest) -> BackendCase:
    from tunesafe.backends.llamacpp import LlamaCppBackend

    gguf = request.getfixturevalue("smollm2_gguf")
    # one thread: llama.cpp's busy-waiting threads crawl on a loaded machine
    return BackendCase(lambda: LlamaCppBackend(gguf, threads=1, flash_attn=False), True)


BACKEND_VARIANTS: dict[str, dict[str, Callable[[pytest.FixtureRequest], BackendCase]]] = {
    "scripted": {"rules": _scripted(False), "scorer": _scripted(True)},
    "hf": {"tiny": _hf},
    "openai": {"fake-endpoint": _openai(False), "fake-endpoint-chat-template": _openai(True)},
    "llamacpp": {"smollm2": _llamacpp},
}
REAL_MODEL_BACKENDS = {"llamacpp"}  # the bundled SmolLM2 GGUF, as in tests/integration/test_llamacpp_*
BACKEND_CASES = [
    pytest.param(
        (kind, variant), id=f"{kind}-{variant}", marks=[pytest.mark.real_model] if kind in REAL_MODEL_BACKENDS else []
    )
    for kind in BACKEND_KINDS
    for variant in BACKEND_VARIANTS.get(kind, {"missing": None})
]


@pytest.fixture(params=BACKEND_CASES)
def backend_case(request: pytest.FixtureRequest) -> BackendCase:
    kind, variant = request.param
    factory = BACKEND_VARIANTS.get(kind, {}).get(variant)
    if factory is None:
        pytest.fail(f"backend {kind!r} has no contract case: add one to BACKEND_VARIANTS in {__file__}")
    return factory(request)


@pytest.fixture
def backend(backend_case: BackendCase) -> Iterator[Backend]:
    built = backend_case.make()
    yield built
    built.close()


def test_backend_completes_every_conversation_in_order_and_closes_twice(backend: Backend) -> None:
    assert isinstance(backend, Backend) and isinstance(backend.name, str) and backend.name
    done: list[int] = []
    out = backend.generate(CONVERSATIONS, PARAMS, progress=done.append)
    assert len(out) == len(CONVERSATIONS) and all(isinstance(c, Completion) for c in out)
    assert sum(done) == len(CONVERSATIONS)
    assert all(c.finish_reason in FINISH_REASONS for c in out)
    assert len({c.text for c in out}) > 1  # distinct answers, so the order below means something
    assert [backend.generate([conversation], PARAMS)[0].text for conversation in CONVERSATIONS] == [c.text for c in out]
    assert backend.generate([], PARAMS) == []
    backend.close()
    backend.close()  # and the fixture closes it once more


def test_backend_fingerprint_is_stable_across_calls_and_instances(backend_case: BackendCase, backend: Backend) -> None:
    fingerprint = backend.fingerprint()
    assert isinstance(fingerprint, str) and fingerprint
    assert fingerprint == backend.fingerprint() == backend_case.make().fingerprint()


def test_supports_loglikelihood_says_whether_it_works(backend_case: BackendCase, backend: Backend) -> None:
    requests = [(CONVERSATIONS[0], " Sure."), (CONVERSATIONS[2], " First, warm the oven.")]
    assert supports_loglikelihood(backend) == backend_case.loglikelihood
    score = getattr(backend, "loglikelihood", None)
    if not backend_case.loglikelihood:
        if score is not None:
            with pytest.raises(LoglikelihoodUnsupportedError):
                score(requests)
        return
    assert score is not None
    scores = score(requests)
    assert len(scores) == 2 and all(isinstance(s, ContinuationScore) for s in scores)
    assert all(math.isfinite(s.logprob) and s.logprob <= 0.0 and s.n_tokens >= 1 for s in scores)
    assert scores[0] != scores[1]  # each request scored on its own
