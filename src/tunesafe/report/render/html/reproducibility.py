"""The HTML page's "Reproducibility" section: per run the ids, settings, fingerprints, judges, data and versions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tunesafe.report.build.compare import Comparison
from tunesafe.report.render.html.markup import Section, esc, markdown_to_html, short_hash
from tunesafe.report.render.markdown.document import runs_table

__all__ = ["reproducibility"]


def reproducibility(comp: Comparison) -> Section:
    labels = [r["label"] for r in comp.runs]
    provenance = [r.get("provenance") or {} for r in comp.runs]
    rows: list[tuple[str, list[str]]] = [
        ("run id", [esc(r.get("run_id")) for r in comp.runs]),
        ("created", [esc(p.get("created")) for p in provenance]),
        ("model", [esc(r.get("model")) for r in comp.runs]),
        *_keyed_rows("model", [p.get("model") or {} for p in provenance], skip=("source", "adapter")),
        ("seed", [esc(p.get("seed")) for p in provenance]),
        ("decoding", [esc(", ".join(f"{k}={v}" for k, v in (p.get("generation") or {}).items())) for p in provenance]),
        ("config hash", [short_hash(p.get("config_hash")) for p in provenance]),
        *_keyed_rows("fingerprint", [p.get("fingerprints") or {} for p in provenance], short_hash),
        ("chat template", [_template_note(p) for p in provenance]),
        *_judge_rows(provenance),
        *_dataset_rows(provenance),
        *_keyed_rows("version", [p.get("versions") or {} for p in provenance]),
    ]
    head = "".join(f"<th>{esc(label)}</th>" for label in labels)
    body = "".join(f"<tr><th>{esc(name)}</th>{''.join(f'<td>{c}</td>' for c in cells)}</tr>" for name, cells in rows)
    table = f'<div class="table-wrap"><table class="repro"><thead><tr><th></th>{head}</tr></thead>{body}</table></div>'
    note = (
        "<p>Hashes are shortened to 12 characters (hover for the full value; report.json and each run's "
        "manifest.json hold them in full). – : not recorded.</p>"
    )
    return Section("reproducibility", "Reproducibility", markdown_to_html(runs_table(comp)) + note + table)


def _template_note(provenance: dict[str, Any]) -> str:
    """The hf backend's model fingerprint hashes the tokenizer files, the chat template among them."""
    if (provenance.get("model") or {}).get("backend") == "hf":
        return "in the model fingerprint (tokenizer files hashed)"
    return "–"


def _keyed_rows(
    prefix: str, maps: Sequence[dict[str, Any]], cell: Any = None, skip: Sequence[str] = ()
) -> list[tuple[str, list[str]]]:
    """One row per key found in any run's map (``prefix key``), each run's value in its column."""
    cell = cell or esc
    keys = [k for k in dict.fromkeys(k for m in maps for k in m) if k not in skip]
    return [(f"{prefix} {k}", [cell(m.get(k)) for m in maps]) for k in keys]


def _judge_rows(provenance: Sequence[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """Per audit and judge: what it measures and, for LLM judges, the prompt file's sha256."""
    keys = list(dict.fromkeys((a, j) for p in provenance for a, js in (p.get("judges") or {}).items() for j in js))
    rows = []
    for audit, judge in keys:
        cells = []
        for p in provenance:
            entry = (p.get("judges") or {}).get(audit, {}).get(judge)
            if not entry:
                cells.append("–")
                continue
            text = esc(entry.get("measures", "?"))
            if entry.get("prompt_sha256"):
                name = entry.get("prompt_name") or "prompt"
                text += f"; {esc(name)} {short_hash(entry['prompt_sha256'])}"
            cells.append(text)
        rows.append((f"judge {judge} ({audit})", cells))
    return rows


def _dataset_rows(provenance: Sequence[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    audits = list(dict.fromkeys(a for p in provenance for a in p.get("datasets") or {}))
    rows = []
    for audit in audits:
        cells = []
        for p in provenance:
            info = (p.get("datasets") or {}).get(audit)
            if not info:
                cells.append("–")
                continue
            text = esc(info.get("name", "?"))
            if info.get("n_rows") is not None:
                text += f" ({esc(info['n_rows'])} rows)"
            if info.get("sha256"):
                text += f" sha256 {short_hash(info['sha256'])}"
            cells.append(text)
        rows.append((f"data {audit}", cells))
    return rows
