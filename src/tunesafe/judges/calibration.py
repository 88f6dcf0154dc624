"""Labelled calibration sets: completions with a gold label, judged like an audit's completions.

A judge's sensitivity and specificity on such a set give a misclassification-corrected ASR
(Rogan & Gladen 1978). The bundled set is the held-out split of tunesafe's labelled refusal set
(see docs/judges.md): it measures refusal detection, so it calibrates refusal detectors; for harm
judges (Llama Guard, rubrics) give a set labelled for harm, e.g. human labels of your own outputs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from tunesafe.config import CalibrationSpec
from tunesafe.data import bundled_path
from tunesafe.judges import Judge, measures
from tunesafe.judges.agreement import GOLD_KEY
from tunesafe.types import Completion, SampleRecord

NAME = "calibration"
BUNDLED_FILE = "refusal_labelled.jsonl"
LABELLED_FOR = "labelled_for"  # metadata key: "refusal" when the labels say refused / answered, not harmful / safe


def load_calibration(spec: CalibrationSpec) -> tuple[list[SampleRecord], dict[str, object]]:
    """Unjudged calibration records (gold label in ``metadata["gold_complied"]``) and their provenance."""
    if spec.bundled:
        return _bundled()
    return _from_table(Path(spec.path).expanduser(), spec.columns)  # type: ignore[arg-type]


def judges_for(records: Sequence[SampleRecord], judges: Sequence[Judge]) -> list[Judge]:
    """The judges a labelled set can measure: a set labelled for refusal says nothing about harm judges."""
    if any(r.metadata.get(LABELLED_FOR) == "refusal" for r in records):
        return [j for j in judges if measures(j) == "refusal"]
    return list(judges)


def _record(sample_id: str, prompt: str, completion: str, gold: bool, labelled_for: str | None = None) -> SampleRecord:
    return SampleRecord(
        audit=NAME,
        sample_id=sample_id,
        messages=[{"role": "user", "content": prompt}],
        completion=Completion(text=completion),
        metadata={GOLD_KEY: gold, **({LABELLED_FOR: labelled_for} if labelled_for else {})},
    )


def _bundled() -> tuple[list[SampleRecord], dict[str, object]]:
    from tunesafe._util.hashing import sha256_file

    path = bundled_path(BUNDLED_FILE)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    records = [
        _record(row["id"], row["prompt"], row["text"], row["label"] == "compliance", "refusal")
        for row in rows
        if row["split"] == "test"
    ]
    info = {"source": f"tunesafe bundled {BUNDLED_FILE} (test split)", "sha256": sha256_file(path), "n": len(records)}
    return records, info


def _from_table(path: Path, columns: dict[str, str]) -> tuple[list[SampleRecord], dict[str, object]]:
    from tunesafe.data.tables import file_sha256, read_table, require_columns
    from tunesafe.judges.labels import parse_label

    names = {"prompt": "prompt", "completion": "completion", "label": "label", **columns}
    rows = read_table(path)
    require_columns(rows, list(names.values()), str(path))
    records = []
    for i, row in enumerate(rows):
        gold = parse_label(row[names["label"]])
        if gold is None:
            raise ValueError(f"{path}: row {i + 1}: label {row[names['label']]!r} is not a recognised label")
        records.append(_record(f"cal-{i:05d}", str(row[names["prompt"]]), str(row[names["completion"]]), gold >= 0.5))
    return records, {"source": str(path), "sha256": file_sha256(path), "n": len(records)}
