"""Report writing time and size: compare + report.md + report.json vs the same plus report.html (charts).

    python benchmarks/bench_report.py runs/demo/audit-base runs/demo/audit-harmful-prefix runs/demo/audit-refusal

Writes the report three times into a temporary directory and prints one JSON line: the median wall
time with and without the HTML page, and each file's size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from unittest import mock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import tunesafe.report as report

    def timed(with_html: bool) -> tuple[float, dict[str, int]]:
        times, sizes = [], {}
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                patch = mock.patch.object(report, "render_html", lambda comp: "") if not with_html else mock.MagicMock()
                with patch:
                    start = time.perf_counter()
                    files = report.write_report(args.runs, Path(tmp))
                    times.append(time.perf_counter() - start)
                sizes = {p.name: p.stat().st_size for p in Path(tmp).iterdir()}
        del files
        return statistics.median(times), sizes

    with_html, sizes = timed(True)
    without_html, _ = timed(False)
    print(
        json.dumps(
            {
                "runs": len(args.runs),
                "seconds_with_html": round(with_html, 2),
                "seconds_without_html": round(without_html, 2),
                "bytes": sizes,
            }
        )
    )


if __name__ == "__main__":
    main()
