"""``tunesafe import`` of lm-evaluation-harness ``--log_samples`` output that lm_eval itself wrote.

lm_eval runs in-process (``simple_evaluate`` and its ``EvaluationTracker``, as the ``lm_eval`` command
does) on local tasks defined by YAML files over a local JSONL file, offline: once with the tiny random
Hugging Face model of ``tests/conftest.py`` (a real model: noise text, a chat template, a model name),
and twice with a scripted ``lm_eval`` model answering each placeholder prompt with an ordinary refusal or
an affirmative opening only, for content assertions and a compare. Nothing here is harmful.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("lm_eval")

from tests.log_imports import by_id, import_fails, run_import  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from tunesafe.cli import app  # noqa: E402
from tunesafe.config import ConfigError  # noqa: E402
from tunesafe.importers.completions import ImportColumns  # noqa: E402
from tunesafe.importers.detect import detect_format  # noqa: E402
from tunesafe.report import write_report  # noqa: E402
from tunesafe.results import RunDir  # noqa: E402

REFUSAL = "I'm sorry, but I can't help with that."
COMPLIANCE = "Sure, here is an overview of the placeholder topic:"
DOCS = [  # id, category, prompt
    ("ph-01", "cat-a", "Placeholder request one."),
    ("ph-02", "cat-a", "Placeholder request two."),
    ("ph-03", "cat-b", "Placeholder request three."),
    ("ph-04", "cat-b", "Placeholder request four."),
]
BASE_REFUSES = {"one", "two", "three"}
TUNED_REFUSES = {"one"}

GEN_TASK = """\
task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "{{{{prompt}}}}"
doc_to_target: "{{{{target}}}}"
repeats: {repeats}
generation_kwargs:
  until: ["<|im_end|>"]
  max_gen_toks: 4
  do_sample: false
metric_list:
  - metric: exact_match
"""
MC_TASK = """\
task: tsafe_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{prompt}}}}"
doc_to_choice: ["yes", "no"]
doc_to_target: 0
metric_list:
  - metric: acc
"""


def write_tasks(folder: Path) -> Path:
    """A local JSONL data file and three tasks over it: generate_until, the same with 2 repeats, multiple choice."""
    folder.mkdir(parents=True)
    data = folder / "data.jsonl"
    rows = [{"id": sid, "category": cat, "prompt": prompt, "target": COMPLIANCE} for sid, cat, prompt in DOCS]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (folder / "tsafe_gen.yaml").write_text(GEN_TASK.format(name="tsafe_gen", data=data, repeats=1), encoding="utf-8")
    (folder / "tsafe_rep.yaml").write_text(GEN_TASK.format(name="tsafe_rep", data=data, repeats=2), encoding="utf-8")
    (folder / "tsafe_mc.yaml").write_text(MC_TASK.format(data=data), encoding="utf-8")
    return folder


def scripted_lm(refuses: set[str]) -> Any:
    """An lm_eval model refusing the prompts whose last word is in ``refuses`` and complying with the rest."""
    from lm_eval.api.model import LM

    class Scripted(LM):  # type: ignore[misc]
        def generate_until(self, requests: Any, disable_tqdm: bool = False) -> list[str]:
            words = [r.arguments[0].rstrip(".").split()[-1] for r in requests]
            return [REFUSAL if word in refuses else COMPLIANCE for word in words]

        def loglikelihood(self, requests: Any, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
            return [(-1.0, False) for _ in requests]

        def loglikelihood_rolling(self, requests: Any, disable_tqdm: bool = False) -> list[float]:
            return [-1.0 for _ in requests]

    return Scripted()


def lm_eval_run(output: Path, tasks: list[str], task_dir: Path, model: Any, **kwargs: Any) -> Path:
    """``lm_eval --output_path output --log_samples --include_path task_dir``, in-process (``simple_evaluate``
    and the tracker's two writes, as lm_eval's command does); returns ``output``."""
    import lm_eval
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    tracker = EvaluationTracker(output_path=str(output))
    results = lm_eval.simple_evaluate(
        model=model,
        tasks=tasks,
        task_manager=TaskManager(include_path=str(task_dir), include_defaults=False),  # skip indexing ~14k YAMLs
        log_samples=True,
        evaluation_tracker=tracker,
        **kwargs,
    )
    assert results is not None
    samples = results.pop("samples")
    tracker.save_results_aggregated(results=results, samples=samples)
    for task in results["configs"]:
        tracker.save_results_samples(task_name=task, samples=samples[task])
    return output


@pytest.fixture(scope="module")
def lm_eval_outputs(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[dict[str, Path]]:
    """lm_eval output folders: the tiny HF model (chat template; generate_until and multiple choice), and the
    scripted base and tuned models (generate_until, and generate_until with 2 repeats)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_DATASETS_OFFLINE", "1")
        patch.setenv("HF_HUB_OFFLINE", "1")
        root = tmp_path_factory.mktemp("lm_eval")
        tasks = write_tasks(root / "tasks")
        hf = lm_eval_run(
            root / "hf",
            ["tsafe_gen", "tsafe_mc"],
            tasks,
            "hf",
            model_args=f"pretrained={tiny_model_dir},dtype=float32",
            device="cpu",
            batch_size=4,
            apply_chat_template=True,
        )
        base = lm_eval_run(root / "base", ["tsafe_gen", "tsafe_rep"], tasks, scripted_lm(BASE_REFUSES))
        tuned = lm_eval_run(root / "tuned", ["tsafe_gen", "tsafe_rep"], tasks, scripted_lm(TUNED_REFUSES))
        yield {"hf": hf, "base": base, "tuned": tuned, "tiny_model": tiny_model_dir}


def one(folder: Path, pattern: str) -> Path:
    [path] = sorted(folder.rglob(pattern))
    return path


def file_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# --------------------------------------------------------------------------- mapping


def test_formats_are_told_from_the_files(lm_eval_outputs: dict[str, Path]) -> None:
    hf = lm_eval_outputs["hf"]
    assert detect_format(str(one(hf, "samples_tsafe_gen_*.jsonl"))) == "lm-eval"
    assert detect_format(str(one(hf, "results_*.json"))) == "lm-eval"
    assert detect_format(str(hf)) == "lm-eval"
    assert detect_format(str(one(hf.parent / "tasks", "data.jsonl"))) == "table"


def test_hf_model_samples_file_imports_prompts_as_sent_and_the_model(
    lm_eval_outputs: dict[str, Path], tmp_path: Path
) -> None:
    samples = one(lm_eval_outputs["hf"], "samples_tsafe_gen_*.jsonl")
    run = run_import(samples, tmp_path / "run")
    records = by_id(run)
    lines = file_lines(samples)
    assert sorted(records) == [f"tsafe_gen-{i}" for i in range(len(DOCS))]
    for line in lines:
        record = records[f"tsafe_gen-{line['doc_id']}"]
        prompt = DOCS[line["doc_id"]][2]
        # the chat template's markup is part of the prompt as sent
        assert record.messages == [
            {"role": "user", "content": f"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"}
        ]
        assert record.completion.text == line["resps"][0][0] and isinstance(record.completion.text, str)
        assert record.subset == "tsafe_gen" and record.category == DOCS[line["doc_id"]][1]
        assert record.metadata["target"] == COMPLIANCE and record.metadata["doc"]["id"] == DOCS[line["doc_id"]][0]
        assert record.metadata["metrics"] == {"none": {"exact_match": line["exact_match"]}}
    manifest = run.manifest()
    assert manifest.info["format"] == "lm-eval" and manifest.info["model"] == str(lm_eval_outputs["tiny_model"])
    assert manifest.name == "model"  # the model folder's name
    info = manifest.info["lm-eval"]
    assert info["tasks"] == ["tsafe_gen"] and info["chat_template_applied"] is True
    assert info["results_file"] == str(one(lm_eval_outputs["hf"], "results_*.json"))

    # the user turn from the doc instead, and ids from a doc field
    clean = run_import(samples, tmp_path / "clean", columns=ImportColumns(prompt="doc.prompt", id="id"))
    record = by_id(clean)["ph-02"]
    assert record.messages == [{"role": "user", "content": "Placeholder request two."}]


def test_loglikelihood_tasks_are_refused_clearly(lm_eval_outputs: dict[str, Path], tmp_path: Path) -> None:
    message = (
        r"samples_tsafe_mc_.*\.jsonl: task 'tsafe_mc' is a multiple_choice task: its samples hold log-likelihoods"
        r" of given answers, not generated text; tunesafe imports generate_until tasks \(completions\) only"
    )
    import_fails(tmp_path, lm_eval_outputs["hf"], message)  # the folder holds both tasks
    import_fails(tmp_path, one(lm_eval_outputs["hf"], "samples_tsafe_mc_*.jsonl"), message)


def test_scripted_run_folder_imports_every_task_and_repeat(lm_eval_outputs: dict[str, Path], tmp_path: Path) -> None:
    run = run_import(lm_eval_outputs["base"], tmp_path / "run", columns=ImportColumns(label="exact_match"))
    records = by_id(run)
    gen = [f"tsafe_gen-{i}" for i in range(4)]
    rep = [f"tsafe_rep-{i}" for i in range(4)] + [f"tsafe_rep-{i}-r2" for i in range(4)]
    assert sorted(records) == sorted(gen + rep)
    for sid, (_, category, prompt) in zip(gen, DOCS, strict=True):
        record = records[sid]
        assert record.messages == [{"role": "user", "content": prompt}]
        refused = prompt.rstrip(".").split()[-1] in BASE_REFUSES
        assert record.completion.text == (REFUSAL if refused else COMPLIANCE)
        assert record.category == category and record.subset == "tsafe_gen"
    assert records["tsafe_rep-3-r2"].metadata["repeat"] == 2 and records["tsafe_rep-3-r2"].subset == "tsafe_rep"
    # exact_match against the affirmative target: 1 = complied, in tunesafe's polarity
    asr = run.metrics()["harmful"]["judges"]["imported-label"]["asr"]
    assert (asr["k"], asr["n"]) == (3, 12)
    assert run.manifest().info["lm-eval"]["tasks"] == ["tsafe_gen", "tsafe_rep"]

    from_results = run_import(one(lm_eval_outputs["base"], "results_*.json"), tmp_path / "results")
    assert sorted(by_id(from_results)) == sorted(records)


def test_imported_runs_are_judged_and_compared(
    lm_eval_outputs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNESAFE_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("base", "tuned"):
        source = one(lm_eval_outputs[name], "samples_tsafe_gen_*.jsonl")
        args = ["import", str(source), "-o", str(tmp_path / name), "--name", name, "--judge", "keyword-extended"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    base, tuned = RunDir(tmp_path / "base"), RunDir(tmp_path / "tuned")
    verdicts = {r.sample_id: r.verdict("keyword-extended") for r in base.records("harmful")}
    assert [v.score if v else None for v in verdicts.values()] == [0.0, 0.0, 0.0, 1.0]

    files = write_report([base.path, tuned.path], tmp_path / "report")
    data = json.loads(files.json_path.read_text())
    section = next(s for s in data["judges"] if s["judge"] == "keyword-extended")
    before, after = section["models"]
    assert (before["asr"]["k"], before["asr"]["n"], after["asr"]["k"]) == (1, 4, 3)
    assert (after["change"]["b"], after["change"]["c"]) == (0, 2)


# --------------------------------------------------------------------------- errors leave nothing


def test_malformed_and_foreign_files_are_refused(lm_eval_outputs: dict[str, Path], tmp_path: Path) -> None:
    samples = one(lm_eval_outputs["base"], "samples_tsafe_gen_*.jsonl")
    broken = tmp_path / samples.name
    broken.write_text(samples.read_text(encoding="utf-8") + '{"doc_id": 9, "doc": \n', encoding="utf-8")
    import_fails(tmp_path, broken, rf"{broken.name}:5: not valid JSON")
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text('{"prompt": "p", "completion": "c"}\n', encoding="utf-8")
    import_fails(
        tmp_path,
        foreign,
        r"foreign\.jsonl:1: not an lm-eval samples line \(no doc_id, doc, arguments, resps\)",
        format="lm-eval",
    )
    empty = tmp_path / "empty_folder"
    empty.mkdir()
    import_fails(tmp_path, empty, "holds no lm-eval samples_<task>_<time>.jsonl files; run lm_eval with --log_samples")
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    results = shutil.copy(one(lm_eval_outputs["base"], "results_*.json"), lonely)
    import_fails(tmp_path, Path(results), "no samples_<task>_<time>.jsonl files of this run beside it")


def test_a_folder_of_several_runs_is_refused(lm_eval_outputs: dict[str, Path], tmp_path: Path) -> None:
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for name in ("base", "tuned"):
        shutil.copy(one(lm_eval_outputs[name], "samples_tsafe_gen_*.jsonl"), mixed)
    import_fails(tmp_path, mixed, "holds 2 lm-eval runs .*; give one run's results_<time>.json or samples file")


def test_unknown_metric_field_and_misplaced_options_are_refused(
    lm_eval_outputs: dict[str, Path], tmp_path: Path
) -> None:
    samples = one(lm_eval_outputs["base"], "samples_tsafe_gen_*.jsonl")
    import_fails(
        tmp_path,
        samples,
        "no per-sample metric 'acc' in the samples; metrics: exact_match",
        columns=ImportColumns(label="acc"),
    )
    import_fails(
        tmp_path,
        samples,
        "doc_id 0: --id-col 'nope': the doc has no such field; doc fields: id, category",
        columns=ImportColumns(id="nope"),
    )
    import_fails(
        tmp_path,
        samples,
        "--completion-col, --context-col: not for lm-eval logs",
        ConfigError,
        columns=ImportColumns(completion="reply", context="ctx"),
    )
