"""Submits a large synthetic corpus (default 200,000 documents) to an embedded broker with two
workers for a fixed time, sampling the queue and Redis memory, and reports the peaks.

    python scripts/backpressure.py [--docs 200000] [--seconds 120] [--json out.json]

The producer may never have more than batching.max_in_flight batches queued or running, so the
peaks stay flat however large the corpus is. The run stops after --seconds (it does not process
the whole corpus): the point is the bound, not the throughput.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import redis

from pipeline.config import load_config
from pipeline.local import LocalDeployment
from pipeline.synthetic import write_synthetic_corpus


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=200_000)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    config = load_config()
    peak_queued = peak_in_flight = peak_memory = 0
    work = Path(tempfile.mkdtemp(prefix="backpressure-"))
    corpus = write_synthetic_corpus(work / "corpus.jsonl", args.docs)
    with LocalDeployment(work / "broker", [(2, "batches")]) as local:
        producer = local.submit("bp", [str(corpus)], work / "out", config)
        client = redis.Redis.from_url(local.broker.url)
        baseline = client.info("memory")["used_memory"]
        started = time.monotonic()
        while time.monotonic() - started < args.seconds and producer.is_alive():
            queued, unacked = client.llen("batches"), client.hlen("unacked")
            peak_queued = max(peak_queued, queued)
            peak_in_flight = max(peak_in_flight, queued + unacked)
            peak_memory = max(peak_memory, client.info("memory")["used_memory"])
            time.sleep(0.25)
        done = client.hlen("nlp-pipeline:job:bp:done")
    report = {
        "documents_in_corpus": args.docs,
        "corpus_bytes": corpus.stat().st_size,
        "seconds_observed": round(time.monotonic() - started, 1),
        "batches_committed": done,
        "max_in_flight_setting": config.batching.max_in_flight,
        "peak_batches_queued": peak_queued,
        "peak_batches_queued_or_running": peak_in_flight,
        "redis_used_memory_baseline_bytes": baseline,
        "redis_used_memory_peak_bytes": peak_memory,
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
