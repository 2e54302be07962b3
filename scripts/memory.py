"""Worker memory over a long job: RSS of each worker pool process as the job progresses.

    python scripts/memory.py [--docs 10000] [--workers 2] [--json out.json]

Runs a synthetic corpus through an embedded broker and local workers, samples every pool
process's RSS every 0.5 s, and reports it at 10%, 25%, 50%, 75% and 100% of the committed
batches. Flat after warm-up means no growth from the 10% mark on.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import psutil

from pipeline.config import load_config
from pipeline.io.readers import read_corpus
from pipeline.local import LocalDeployment
from pipeline.producer import make_batches
from pipeline.synthetic import write_synthetic_corpus

MARKS = (0.10, 0.25, 0.50, 0.75, 1.00)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    config = load_config()
    rss: dict[str, list[float]] = {}
    work = Path(tempfile.mkdtemp(prefix="memory-"))
    corpus = write_synthetic_corpus(work / "corpus.jsonl", args.docs)
    with LocalDeployment(work / "broker", [(args.workers, "batches")]) as local:
        local.submit("mem", [str(corpus)], work / "out", config)
        workers = local.workers[0]
        # The producer only learns the total at the end (it is throttled by backpressure); count it here.
        total = sum(1 for _ in make_batches(read_corpus([corpus], config.input), config.batching))
        state = local.state
        started = time.monotonic()
        marks = list(MARKS)
        while marks:
            time.sleep(0.5)
            done = state.done_count("mem") / total if state.exists("mem") else 0.0
            if done >= marks[0]:
                mark = marks.pop(0)
                for i, child in enumerate(sorted(psutil.Process(workers.proc.pid).children(), key=lambda p: p.pid)):
                    rss.setdefault(f"pool process {i + 1}", []).append(round(child.memory_info().rss / 2**20, 1))
                print(f"{time.monotonic() - started:7.1f}s {mark:.0%} committed", flush=True)
    report = {"documents": args.docs, "batches": total, "seconds": round(time.monotonic() - started, 1),
              "marks": list(MARKS), "rss_mib": rss,
              "growth_after_10pct_mib": {k: round(v[-1] - v[0], 1) for k, v in rss.items()}}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
