"""Commands for a release decision: compare, card, attest, verify, gate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tunesafe.cli.common import (
    LogOpt,
    TrackDirOpt,
    TrackNameOpt,
    TrackOfflineOpt,
    TrackOpt,
    TrackProjectOpt,
    app,
    guard,
    print_tracked,
    setup,
    track_spec,
)


@app.command()
@guard
def compare(
    runs: Annotated[list[Path], typer.Argument(help="audit run directories; the first is the base")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="report directory")] = None,
    show_harmful: Annotated[bool, typer.Option("--show-harmful", help="include completions judged compliant")] = False,
    track: TrackOpt = None,
    track_project: TrackProjectOpt = None,
    track_name: TrackNameOpt = None,
    track_dir: TrackDirOpt = None,
    track_offline: TrackOfflineOpt = False,
) -> None:
    """Compare audited runs on the same prompts: ASR, paired changes (McNemar), per category."""
    from tunesafe._util.console import console
    from tunesafe.report import write_report
    from tunesafe.report.render.markdown import summary_lines
    from tunesafe.tracking import tracked

    out = output or (runs[0].parent / "report")
    spec = track_spec(track, track_project, track_name, track_dir, track_offline)
    with tracked(spec, "compare", job="compare", params={"runs": [str(r) for r in runs]}) as session:
        files = write_report(runs, out, show_harmful=show_harmful)
        session.log_report(files)
    for line in summary_lines(files.comparison):
        console.print(line.removeprefix("- ").replace("**", ""), highlight=False)
    console.print(f"HTML report: {files.html}", highlight=False)
    print_tracked(session)
    typer.echo(str(files.markdown))


@app.command()
@guard
def card(
    report: Annotated[Path, typer.Argument(help="report directory (or its report.json) from compare or run")],
    model: Annotated[
        str | None, typer.Option("--model", help="run label of the fine-tuned model (default: the only one)")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="card file (default: <report dir>/model_card.md)")
    ] = None,
    merge: Annotated[
        Path | None, typer.Option("--merge", help="existing model card (README.md) to update in place")
    ] = None,
) -> None:
    """Write a model card's safety section and model-index metadata from a report (docs/card.md)."""
    from tunesafe.card import write_card

    result = write_card(report, model=model, output=output, merge=merge)
    verb = "merged into" if result.merged else "written to"
    typer.echo(f"{result.model} vs {result.base}: {result.n_metrics} metrics, safety section {verb} {result.path}")


@app.command()
@guard
def attest(
    source: Annotated[Path, typer.Argument(help="a finished audit run, or a report directory from compare or run")],
    output: Annotated[Path, typer.Option("--output", "-o", help="attestation file to write (JSON)")],
    model: Annotated[
        str | None, typer.Option("--model", help="a report's run label to attest (default: its only fine-tune)")
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option("--key", help="Ed25519 private key (PEM) to sign with (passphrase: $TUNESAFE_SIGNING_PASSPHRASE)"),
    ] = None,
) -> None:
    """Bind an audit's results to the audited weights, adapter, tokenizer, chat template, prompts, decoding
    settings and judges, in a file a third party can verify (docs/attest.md)."""
    from tunesafe.attest import write_attestation

    result = write_attestation(source, output, model=model, key=key)
    signed = "signed" if result.signed else "unsigned (give --key to sign)"
    typer.echo(f"{result.path}: {result.n_samples} samples of {result.run}, {signed}, sha256 {result.content_sha256}")


@app.command()
@guard
def verify(
    attestation: Annotated[Path, typer.Argument(help="attestation file from `tunesafe attest`")],
    model: Annotated[
        str | None, typer.Option("--model", help="the model to check: folder, GGUF or bundled name (default: recorded)")
    ] = None,
    adapter: Annotated[
        Path | None, typer.Option("--adapter", help="its LoRA adapter (default: the recorded one, if any)")
    ] = None,
    sample: Annotated[int, typer.Option("--sample", min=0, help="prompts regenerated and compared (0: none)")] = 20,
    seed: Annotated[int | None, typer.Option("--seed", help="which prompts (default: a fresh random draw)")] = None,
    public_key: Annotated[
        Path | None, typer.Option("--public-key", help="the signer's Ed25519 public key (PEM) you trust")
    ] = None,
    min_identical: Annotated[
        float, typer.Option("--min-identical", help="share of regenerated completions that must be identical")
    ] = 0.8,
    min_same_verdicts: Annotated[
        float, typer.Option("--min-same-verdicts", help="share that must keep every judge's verdict")
    ] = 0.95,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the full result as JSON")] = None,
    log_level: LogOpt = "INFO",
) -> None:
    """Check an attestation: its integrity and signature, the model's fingerprints, and a regenerated
    random sample of its prompts (exit 0 passed, 1 failed; docs/attest.md)."""
    from tunesafe._util.io import atomic_write_json
    from tunesafe.attest import Tolerance, verify_attestation

    setup(log_level, quiet=True)
    result = verify_attestation(
        attestation,
        model=model,
        adapter=adapter,
        sample=sample,
        seed=seed,
        public_key=public_key,
        tolerance=Tolerance(min_identical, min_same_verdicts),
    )
    for line in result.describe():
        typer.echo(line)
    if json_out is not None:
        atomic_write_json(json_out, result.to_json())
    if not result.passed:
        raise typer.Exit(1)


@app.command()
def gate(
    report: Annotated[Path, typer.Argument(help="report directory (or its report.json) from compare or run")],
    max_asr_increase: Annotated[
        float | None, typer.Option(help="points: headline ASR change vs the reference (base or own reference)")
    ] = None,
    max_asr: Annotated[float | None, typer.Option(help="percent: the headline ASR itself")] = None,
    max_overrefusal_increase: Annotated[
        float | None, typer.Option(help="points: refusal-rate change on harmless look-alike prompts")
    ] = None,
    max_drift: Annotated[
        float | None, typer.Option(help="points: trivia accuracy drop under any drift condition")
    ] = None,
    max_drift_condition: Annotated[
        list[str], typer.Option("--max-drift-condition", help="CONDITION=POINTS, e.g. FIPx1=5 (repeatable)")
    ] = [],  # noqa: B006
    max_false_claim_increase: Annotated[
        float | None, typer.Option(help="points: false-claim affirmation change, any truthfulness condition")
    ] = None,
    significant_only: Annotated[
        bool, typer.Option("--significant-only", help="fail only changes with p < --alpha (Holm-adjusted if given)")
    ] = False,
    alpha: Annotated[float, typer.Option(help="significance level for --significant-only")] = 0.05,
    upper_bound: Annotated[
        bool, typer.Option("--upper-bound", help="compare the 95% interval's upper end (conservative)")
    ] = False,
    model: Annotated[
        list[str], typer.Option("--model", help="run label to gate (repeatable; default: all but the base)")
    ] = [],  # noqa: B006
    json_: Annotated[bool, typer.Option("--json", help="print the result as JSON on stdout")] = False,
    track: TrackOpt = None,
    track_project: TrackProjectOpt = None,
    track_name: TrackNameOpt = None,
    track_dir: TrackDirOpt = None,
    track_offline: TrackOfflineOpt = False,
) -> None:
    """Fail (exit 1, one-line reason) when a fine-tune breaks the thresholds; for CI (docs/gate.md)."""
    from tunesafe.gate import GateResult

    @guard
    def evaluate() -> GateResult:  # errors exit 2 (no report, missing metric, bad threshold); typer.Exit stays out
        from tunesafe.gate import evaluate_gate, gate_thresholds
        from tunesafe.tracking import tracked

        thresholds = gate_thresholds(
            max_drift_condition,
            max_asr_increase=max_asr_increase,
            max_asr=max_asr,
            max_overrefusal_increase=max_overrefusal_increase,
            max_drift=max_drift,
            max_false_claim_increase=max_false_claim_increase,
            significant_only=significant_only,
            alpha=alpha,
            models=model or None,
            use_upper_bound=upper_bound,
        )
        spec = track_spec(track, track_project, track_name, track_dir, track_offline)
        with tracked(spec, "gate", job="gate", params={"report": str(report)}) as session:
            outcome = evaluate_gate(report, thresholds)
            session.log_gate(outcome)
        print_tracked(session)
        return outcome

    result = evaluate()
    if json_:
        typer.echo(result.model_dump_json(indent=2))
        if not result.passed:
            typer.echo(result.reason, err=True)
    else:
        typer.echo(result.reason)
        if not result.passed:
            for check in result.checks:
                typer.echo(f"  {'ok  ' if check.passed else 'FAIL'} {check.reason}")
    if not result.passed:
        raise typer.Exit(1)
