"""A synthetic news-like corpus of any size, for the load scripts (deterministic)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from pipeline.local import EmbeddedRedis, LocalWorkers

ROOT = Path(__file__).resolve().parent.parent

SUBJECTS = ["NATO", "Russia", "Ukraine", "The Kremlin", "Kyiv", "The Alliance", "Moscow", "Zelensky", "Berlin", "Warsaw"]
VERBS = ["welcomed", "criticised", "discussed", "rejected", "praised", "questioned", "condemned"]
OBJECTS = ["the new sanctions package", "the ceasefire proposal", "the grain export deal", "the summit in Madrid",
           "the prisoner exchange", "the energy agreement", "the arms shipment", "the peace talks"]


def write_corpus(path: Path, n: int) -> Path:
    """n distinct articles of two to three sentences, ids s0000000..."""
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            s, v, o = SUBJECTS[i % 10], VERBS[(i // 10) % 7], OBJECTS[(i // 70) % 8]
            text = (f"{s} {v} {o} on day {i % 365} of the talks, officials said on Monday. "
                    f"Diplomats in Brussels and Geneva said report {i} would be published next week. "
                    f"Analysts expect markets to react calmly.")
            fh.write(json.dumps({"id": f"s{i:07d}", "text": text}) + "\n")
    return path


@contextmanager
def local_job(prefix: str, docs: int, job: str, workers: int = 2):
    """A synthetic corpus being submitted as `job` to an embedded broker served by local workers.

    Yields (corpus, broker, workers, producer); the producer runs in the background, and
    everything is stopped on exit, whether or not the job finished.
    """
    work = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    corpus = write_corpus(work / "corpus.jsonl", docs)
    broker = EmbeddedRedis(work / "broker").start()
    local = LocalWorkers(broker.url, workers, work / "worker.log").start()
    producer = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "submit", str(corpus), "--out", str(work / "out"), "--job", job,
         "--broker", broker.url], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        yield corpus, broker, local, producer
    finally:
        producer.kill()
        local.stop()
        broker.stop()
