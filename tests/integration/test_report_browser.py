"""report.html in a real headless Chromium with the network cut off: the page renders, every chart loads.

The browser runs behind a dead proxy and a host resolver that resolves nothing, so any external
request would fail and leave its image unloaded. A copy of the page gets a one-line script that
records, after the load event, which images decoded; ``--dump-dom`` returns the DOM with it.
"""

import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from tests.fakes import EFFECTS

from tunesafe.report import write_report

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs the `chromium` binary (Debian package chromium)")

OFFLINE = ["--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"]
PROBE = (
    "<script>addEventListener('load', () => document.body.setAttribute('data-images', "
    "[...document.images].map(i => i.complete && i.naturalWidth > 0 ? 'ok' : 'missing').join(',')));</script>"
)


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *OFFLINE, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)


def test_report_renders_offline_with_every_chart(runs: list[Path], tmp_path: Path) -> None:
    page = write_report(runs, tmp_path / "report", effects=EFFECTS).html
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")

    dom = _chromium("--virtual-time-budget=10000", "--dump-dom", probe.as_uri()).stdout
    for chart in ("asr", "categories", "safety-utility", "drift-accuracy", "judge-agreement"):
        assert f'<figure id="chart-{chart}">' in dom
    images = dom.split('data-images="', 1)[1].split('"', 1)[0].split(",")
    assert len(images) == 5 and set(images) == {"ok"}  # every chart decoded without the network

    shot = tmp_path / "screenshot.png"
    _chromium(f"--screenshot={shot}", "--window-size=1280,4000", page.as_uri())
    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1280, 4000)
