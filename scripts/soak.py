"""Soak: a 20,000-document job on two workers while a worker is SIGKILLed every minute and Redis
is restarted once; then every record is counted.

    python scripts/soak.py [--docs 20000] [--kill-every 60] [--visibility-timeout 60] [--json out.json]

Exits non-zero when a record is missing or duplicated.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from pipeline.config import load_config
from pipeline.local import EmbeddedRedis, LocalDeployment, LocalWorkers
from pipeline.synthetic import write_synthetic_corpus


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--kill-every", type=float, default=60)
    ap.add_argument("--visibility-timeout", type=int, default=60)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    corpus = write_synthetic_corpus(work / "corpus.jsonl", args.docs)
    settings = work / "soak-worker.yaml"
    settings.write_text(f"worker:\n  visibility_timeout: {args.visibility_timeout}\n")
    out = work / "out"
    local = LocalDeployment(work / "broker", [(1, "batches"), (1, "batches")], worker_config=str(settings)).start()
    workers, broker, state = local.workers, local.broker, local.state
    started = time.monotonic()
    local.submit("soak", [str(corpus)], out, load_config())
    kills, redis_restarted, next_kill = 0, False, started + args.kill_every
    try:
        while not (state.exists("soak") and state.finished_at("soak")):
            time.sleep(1)
            now = time.monotonic()
            if now >= next_kill:
                victim = kills % 2
                os.killpg(workers[victim].proc.pid, signal.SIGKILL)
                workers[victim].proc.wait()
                kills += 1
                workers[victim] = LocalWorkers(broker.url, 1, work / f"worker{victim}-{kills}.log", worker_config=str(settings)).start()
                next_kill = now + args.kill_every
                print(f"{now - started:7.1f}s killed worker {victim} ({kills} kills), "
                      f"{state.done_count('soak')} batches committed", flush=True)
            if not redis_restarted and state.exists("soak") and state.done_count("soak") >= 20:
                broker.stop()
                time.sleep(2)
                broker = local.broker = EmbeddedRedis(work / "broker", port=broker.port).start()
                redis_restarted = True
                print(f"{time.monotonic() - started:7.1f}s restarted redis", flush=True)
        duration = time.monotonic() - started
        summary = state.summary("soak")
    finally:
        local.stop()
    docs = pd.read_parquet(out / "documents")
    fails = pd.read_parquet(out / "failures")
    received = sum(len(re.findall(r"Task nlp\.process_batch\[.*\] received", p.read_text())) for p in work.rglob("worker*.log"))
    report = {
        "documents_in_corpus": args.docs,
        "duration_s": round(duration, 1),
        "worker_kills": kills,
        "redis_restarts": int(redis_restarted),
        "visibility_timeout_s": args.visibility_timeout,
        "batches": summary["batches_total"],
        "batch_deliveries": received,
        "redeliveries": received - summary["batches_total"],
        "documents_rows": len(docs),
        "failures_rows": len(fails),
        "unique_doc_ids": int(docs["doc_id"].nunique()),
        "exact": len(docs) + len(fails) == args.docs and docs["doc_id"].is_unique,
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0 if report["exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
