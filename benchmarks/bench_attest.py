"""Attest and verify: what a licensor's check costs, next to re-auditing the model from scratch.

Attests one run of a report (or a run directory), then verifies the attestation with ``--sample`` prompts
regenerated (default 20) and again with fingerprints only. Baseline: the audit itself, as the run manifest
recorded it (its generate and judge seconds, per prompt and in all), the only other way to check the numbers.

    python benchmarks/bench_attest.py runs/demo/report --model harmful-prefix --sample 20

Prints one JSON line per step (wall seconds, peak RSS), then one line with the baseline.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from tunesafe.attest import verify_attestation, write_attestation
from tunesafe.results import RunDir


def peak_rss_gb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path, help="a report directory or an audit run directory")
    parser.add_argument("--model", help="the report's run label")
    parser.add_argument("--sample", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    out = Path(tempfile.mkdtemp()) / "attestation.json"
    start = time.perf_counter()
    made = write_attestation(args.source, out, model=args.model)
    attest_s = time.perf_counter() - start
    print(
        json.dumps(
            {
                "step": "attest",
                "wall_s": round(attest_s, 2),
                "samples": made.n_samples,
                "file_kb": round(out.stat().st_size / 1024),
                "peak_rss_gb": peak_rss_gb(),
            }
        )
    )
    for n in (0, args.sample):
        start = time.perf_counter()
        result = verify_attestation(out, sample=n, seed=args.seed)
        wall = time.perf_counter() - start
        print(
            json.dumps(
                {
                    "step": f"verify --sample {n}",
                    "wall_s": round(wall, 2),
                    "passed": result.passed,
                    "identical": f"{result.identical}/{result.sampled}",
                    "stages_s": result.seconds,
                    "peak_rss_gb": peak_rss_gb(),
                }
            )
        )
    timings = RunDir(made.run).manifest().timings
    audited = sum(timings.get(k, 0.0) for k in ("generate", "judge"))
    print(
        json.dumps(
            {
                "baseline": "the audit itself (manifest timings)",
                "samples": made.n_samples,
                "generate_judge_s": round(audited, 1),
                "per_prompt_s": round(audited / max(made.n_samples, 1), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
