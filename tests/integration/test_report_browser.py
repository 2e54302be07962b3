"""`nlp-pipeline report` opened in a real browser, and run on an output in a bucket.

Headless Chromium (Debian's package) loads the file as a user would, and the test reads what the
page did through the Chrome DevTools protocol: console messages, uncaught exceptions, the browser's
own log (a Content-Security-Policy violation, a failed load), every request the page made, and the
charts Plotly drew. test_the_checks_catch_a_broken_page breaks a report on purpose and checks that
the same checks catch it.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import zlib
from pathlib import Path

import pytest
import websocket

from pipeline.io import storage
from pipeline.report import collect
from scripts.report_scale import write_synthetic_output
from tests.integration.conftest import cli

CHROMIUM = shutil.which("chromium")

# What a self-contained page may load: itself, and what it builds in memory.
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
CHARTS = """JSON.stringify(Array.from(document.querySelectorAll('.plotly-graph-div')).map(div => ({
    id: div.id,
    svg: div.querySelectorAll('.main-svg').length,
    marks: div.querySelectorAll('.scatterlayer .point, .barlayer .point, .heatmaplayer image').length})))"""


class Chromium:
    """One headless Chromium and a DevTools connection to it."""

    def __init__(self, profile: Path):
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=(profile.parent / "chromium.log").open("wb"))
        # With port 0 Chromium picks a free port and writes it, with the browser's path, to this file.
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and len(port_file.read_text().split()) == 2):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise AssertionError(f"chromium did not start: {(profile.parent / 'chromium.log').read_text()[-2000:]}")
            time.sleep(0.1)
        port, path = port_file.read_text().split()
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise AssertionError(f"no {method} within {timeout} s")
            self.events.append(json.loads(self.ws.recv()))

    def open(self, page: Path) -> dict:
        """Loads `page` in a fresh tab and returns what happened: errors, requests, charts, screenshot."""
        self.events.clear()
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.call(f"{domain}.enable", session=session)
        self.call("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
                  session=session)
        self.call("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
        self.wait_event("Page.loadEventFired")
        time.sleep(1.0)  # anything the page does after load (a late error, a late request) lands too
        charts = json.loads(self.call("Runtime.evaluate", {"expression": CHARTS, "returnByValue": True},
                                      session=session)["result"]["value"])
        data = self.call("Runtime.evaluate", {"expression": "JSON.parse(document.getElementById('report-data').textContent)",
                                              "returnByValue": True}, session=session)["result"].get("value")
        shot = self.call("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
        self.call("Target.closeTarget", {"targetId": target})
        return {"errors": page_errors(self.events), "requests": [e["params"]["request"]["url"] for e in self.events
                                                                if e.get("method") == "Network.requestWillBeSent"],
                "charts": charts, "data": data, "screenshot": base64.b64decode(shot)}

    def close(self):
        if getattr(self, "ws", None):
            self.ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def page_errors(events: list[dict]) -> list[str]:
    """Console errors, uncaught exceptions and the browser's error log entries, as text."""
    errors = []
    for e in events:
        method, params = e.get("method"), e.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            errors.append("exception: " + details.get("exception", {}).get("description", details.get("text", "")))
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            errors.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            errors.append(f"log ({params['entry']['source']}): {params['entry']['text']}")
    return errors


def distinct_pixel_bytes(png: bytes) -> int:
    """How many different byte values the image's pixel rows hold: 1 or 2 for a blank page."""
    chunks, pos = [], 8
    while pos < len(png):
        length = int.from_bytes(png[pos:pos + 4], "big")
        if png[pos + 4:pos + 8] == b"IDAT":
            chunks.append(png[pos + 8:pos + 8 + length])
        pos += 12 + length
    return len(set(zlib.decompress(b"".join(chunks))))


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("needs Debian's chromium (apt-get install chromium); .ci/run installs it")
    chromium = Chromium(tmp_path_factory.mktemp("chromium") / "profile")
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """The report of two synthetic jobs, written by the command a user runs."""
    tmp = tmp_path_factory.mktemp("report")
    write_synthetic_output(tmp / "out", 3000, job="first", docs_per_file=500)
    write_synthetic_output(tmp / "out", 2000, job="second", seed=1, docs_per_file=500)
    result = cli("report", str(tmp / "out"), "-o", str(tmp / "report.html"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"report: {tmp / 'report.html'}"
    return tmp / "report.html"


def test_the_report_renders_offline_without_errors(browser, report):
    seen = browser.open(report)
    assert seen["errors"] == []
    assert [url for url in seen["requests"] if not url.startswith(LOCAL_SCHEMES)] == []
    targets = sorted(seen["data"]["stance_totals"])
    expected = ([f"stance-time-{i}" for i in range(len(targets))] + [f"stance-outlet-{i}" for i in range(len(targets))]
                + ["sentiment-time", "entities", "failures"])
    assert [c["id"] for c in seen["charts"]] == expected
    assert [c["id"] for c in seen["charts"] if c["svg"] == 0 or c["marks"] == 0] == []
    assert distinct_pixel_bytes(seen["screenshot"]) > 50


def test_the_checks_catch_a_broken_page(browser, report, tmp_path):
    page = report.read_text(encoding="utf-8")
    start = page.index("<script>") + len("<script>")
    # Without plotly.js every chart's script throws; a console error and a load from another
    # host (refused by the page's Content-Security-Policy before any request) are reported too.
    broken = page[:start] + page[page.index("</script>", start):]
    broken = broken.replace("<body>", '<body><script>console.error("broken on purpose")</script>'
                                      '<img src="http://127.0.0.1:9/pixel.png" alt="">')
    (tmp_path / "broken.html").write_text(broken, encoding="utf-8")
    seen = browser.open(tmp_path / "broken.html")
    errors = "\n".join(seen["errors"])
    assert "Plotly is not defined" in errors
    assert "broken on purpose" in errors
    assert "Content Security Policy" in errors and "127.0.0.1:9" in errors
    assert [url for url in seen["requests"] if not url.startswith(LOCAL_SCHEMES)] == ["http://127.0.0.1:9/pixel.png"]
    assert seen["charts"] and all(c["svg"] == 0 for c in seen["charts"])


def page_data(page: Path) -> dict:
    text = page.read_text(encoding="utf-8")
    start = text.index('id="report-data">') + len('id="report-data">')
    return json.loads(text[start:text.index("</script>", start)])


def test_a_report_of_an_output_in_a_bucket(tmp_path, s3_env):
    local = tmp_path / "out"
    write_synthetic_output(local, 800, job="bucket", docs_per_file=300)
    out = s3_env.url("report", "out")
    for path in local.rglob("*"):
        if path.is_file():
            storage.write_whole(storage.join(out, *path.relative_to(local).parts), lambda fh, p=path: fh.write(p.read_bytes()))
    result = cli("report", out, "-o", str(tmp_path / "report.html"))
    assert result.returncode == 0, result.stderr
    assert page_data(tmp_path / "report.html") == json.loads(json.dumps({**collect(str(local)), "out": out}))


def test_report_of_a_missing_folder_is_one_line(tmp_path):
    result = cli("report", str(tmp_path / "nowhere"), "-o", str(tmp_path / "r.html"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: no documents dataset under {tmp_path / 'nowhere'}"
    assert not (tmp_path / "r.html").exists()
