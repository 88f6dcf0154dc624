"""Load on the OpenAI-compatible backend: a 5,000-prompt harmful audit against a fast fake server.

The server is ``tests/fault_server.py`` (``tests.openai_server``'s fake, stdlib ``ThreadingHTTPServer``)
in its own process on 127.0.0.1, answering every chat request at once (``--latency`` makes it wait,
like a model). The audit is a real ``run_audit``: ``backend: openai`` pointing at it, the keyword
judge, records appended to the run directory chunk by chunk, the generation cache on (a fresh file
per phase). Two phases in one process, each in a fresh run directory: ``--small`` prompts, then
``--prompts``; the peak RSS after each shows whether memory grows with the number of prompts.

    python benchmarks/bench_openai_load.py                       # 1,000 then 5,000 prompts, concurrency 8
    python benchmarks/bench_openai_load.py --latency 0.02 --concurrency 16

Prints one JSON line per phase (prompts, wall s, prompts/s, peak RSS, records written, server
requests and the most requests it had in flight at once) and a line for the server process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests/: the fake server and the placeholder prompts

from tests.fakes import behaviors  # noqa: E402

from tunesafe.config import AuditConfig  # noqa: E402
from tunesafe.runner import run_audit  # noqa: E402

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # localhost: no proxy


@contextmanager
def fake_server(latency: float) -> Iterator[tuple[str, int]]:
    """``python -m tests.fault_server --no-record`` in a subprocess: its URL and pid."""
    command = [sys.executable, "-m", "tests.fault_server", "--no-record", "--latency", str(latency)]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"the fake server did not start (it printed {url!r})")
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def server_stats(url: str) -> dict[str, int]:
    with _DIRECT.open(f"{url}/_stats", timeout=10) as response:
        stats: dict[str, int] = json.loads(response.read())
    return stats


def peak_rss_mb(pid: int | None = None) -> float:
    """Peak resident memory in MiB: this process (``getrusage``) or another one (``VmHWM``)."""
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def audit_config(url: str, name: str, concurrency: int, chunk_size: int, cache: Path) -> AuditConfig:
    endpoint = {"base_url": url, "model": "m", "max_concurrency": concurrency, "timeout_s": 30}
    return AuditConfig.model_validate(
        {
            "name": name,
            "model": {"backend": "openai", "endpoint": endpoint},
            "audits": {"harmful": {"judges": ["keyword-extended"]}, "overrefusal": None},
            "generation": {"max_new_tokens": 32},
            "cache": {"path": str(cache)},
            "chunk_size": chunk_size,
        }
    )


def phase(url: str, work: Path, n: int, concurrency: int, chunk_size: int) -> dict[str, Any]:
    config = audit_config(url, f"load-{n}", concurrency, chunk_size, work / f"cache-{n}.sqlite")
    rows = behaviors(n)
    before = server_stats(url)["requests"]
    start = time.perf_counter()
    run = run_audit(config, work / f"run-{n}", behaviors=rows)
    wall = time.perf_counter() - start
    stats = server_stats(url)
    ids = [r.sample_id for r in run.records("harmful")]
    return {
        "prompts": n,
        "wall_s": round(wall, 2),
        "prompts_per_s": round(n / wall, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "records": len(ids),
        "unique_records": len(set(ids)),
        "status": run.manifest().status,
        "server_requests": stats["requests"] - before,
        "max_in_flight": stats["max_in_flight"],
        "max_concurrency": concurrency,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=5000)
    parser.add_argument("--small", type=int, default=1000, help="the first phase's prompts (0: skip it)")
    parser.add_argument("--concurrency", type=int, default=8, help="endpoint.max_concurrency")
    parser.add_argument("--chunk-size", type=int, default=32, help="the audit's chunk_size (its default)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds the server waits before each answer")
    args = parser.parse_args()
    print(json.dumps({"cpus": os.cpu_count(), "python": sys.version.split()[0], **vars(args)}))
    with tempfile.TemporaryDirectory() as tmp, fake_server(args.latency) as (url, pid):
        results = []
        for n in [args.small, args.prompts] if args.small else [args.prompts]:
            results.append(phase(url, Path(tmp), n, args.concurrency, args.chunk_size))
            print(json.dumps(results[-1]), flush=True)
        print(json.dumps({"server_peak_rss_mb": round(peak_rss_mb(pid), 1), **server_stats(url)}))
    for result in results:
        assert result["status"] == "success" and result["records"] == result["unique_records"] == result["prompts"]
        assert result["max_in_flight"] <= args.concurrency


if __name__ == "__main__":
    main()
