"""`nlp-pipeline`: run, submit, status, worker, summary, and the model and cleaning tools.

Every error a user can cause ends as one line on stderr and a non-zero exit, not a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import redis

from pipeline import __version__
from pipeline.config import BROKER_ENV, Config, broker_url, load_config, redact_url
from pipeline.errors import PipelineError

INPUT_FIELDS = ("text", "title", "id", "url", "date", "outlet")


def _add_input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="JSONL, CSV or Parquet files, or folders of .txt/.html files")
    p.add_argument("--out", required=True, type=Path, help="output folder for the Parquet datasets")
    p.add_argument("--job", help="job id (default: a new one); an existing id resumes that job")
    p.add_argument("--config", help="YAML file overlaying configs/default.yaml")
    for name in INPUT_FIELDS:
        p.add_argument(f"--{name}-field", help=f"record field holding the {name} (default from the configuration)")


def _config(args) -> Config:
    config = load_config(args.config)
    overrides = {f"{n}_field": getattr(args, f"{n}_field") for n in INPUT_FIELDS if getattr(args, f"{n}_field", None)}
    if overrides:
        config = dataclasses.replace(config, input=dataclasses.replace(config.input, **overrides))
    return config


def _celery(url: str):
    os.environ[BROKER_ENV] = url
    from workers import app
    from workers import tasks

    app.conf.broker_url = url
    return tasks


def _submit(args, url: str, config: Config, job_id: str):
    from pipeline.jobs import JobState
    from pipeline.producer import submit_job

    tasks = _celery(url)
    state = JobState.from_url(url)
    return submit_job(job_id, args.inputs, args.out, config, state, tasks.send_batch, tasks.send_finalize)


def cmd_submit(args) -> int:
    from pipeline.jobs import new_job_id

    url = broker_url(args.broker)
    sub = _submit(args, url, _config(args), args.job or new_job_id())
    verb = "resumed" if sub.resumed else "submitted"
    print(f"{sub.job_id}")
    print(f"{verb}: {sub.enqueued_batches} batches enqueued, {sub.skipped_batches} already committed, {sub.total_batches} in all", file=sys.stderr)
    return 0


def cmd_status(args) -> int:
    from pipeline.jobs import JobState

    summary = JobState.from_url(broker_url(args.broker)).summary(args.job)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_worker(args) -> int:
    url = broker_url(args.broker)
    if args.config:
        os.environ["NLP_PIPELINE_CONFIG"] = args.config
    _celery(url)
    from workers import app

    argv = ["worker", "--concurrency", str(args.concurrency), "--queues", args.queues, "--loglevel", args.loglevel]
    logging.getLogger().info("worker on %s", redact_url(url))
    app.worker_main(argv)
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _count_records(args, config: Config) -> int:
    """Counts the input's records up front, so that the progress bar can show an ETA."""
    from pipeline.io.readers import check_inputs, read_corpus

    return sum(1 for _ in read_corpus(check_inputs(args.inputs), config.input))


def cmd_run(args) -> int:
    from tqdm import tqdm

    from pipeline.jobs import JobState, new_job_id, validate_job_id
    from pipeline.local import EmbeddedRedis, LocalWorkers

    config = _config(args)
    job_id = validate_job_id(args.job) if args.job else new_job_id()
    out = args.out.resolve()
    total_records = _count_records(args, config)
    broker = EmbeddedRedis(out / "_broker").start()
    queues = ",".join(q for q in ("batches", config.worker.models_queue) if q)
    workers = LocalWorkers(broker.url, args.workers, out / "_logs" / "worker.log", queues=queues, config=args.config).start()
    print(f"job {job_id}: {total_records} records, {args.workers} worker processes, broker {broker.url}", file=sys.stderr)
    producer_error: list[BaseException] = []

    def produce():
        try:
            _submit(args, broker.url, config, job_id)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            producer_error.append(exc)

    # SIGTERM (e.g. from a supervisor) stops everything the same way Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        producer = threading.Thread(target=produce, daemon=True, name="producer")
        producer.start()
        state = JobState.from_url(broker.url)
        with tqdm(total=total_records, unit="doc", desc=job_id, disable=args.quiet, dynamic_ncols=True) as bar:
            while True:
                time.sleep(0.5)
                if producer_error:
                    raise producer_error[0]
                if not workers.alive():
                    raise PipelineError(f"the worker exited; see {workers.log_file}")
                if not state.exists(job_id):
                    continue
                summary = state.summary(job_id)
                bar.update(summary["records_done"] - bar.n)
                if summary["finished_at"]:
                    break
                failed = summary["batches_failed"]
                if failed and summary["batches_total"] == summary["batches_done"] + len(failed):
                    raise PipelineError(
                        f"{len(failed)} batch(es) failed after retries (first: {next(iter(failed.values()))}); "
                        f"see {workers.log_file}, then rerun with --job {job_id} to retry them"
                    )
    except KeyboardInterrupt:
        print(f"\ninterrupted: committed batches are kept; resume with --job {job_id}", file=sys.stderr)
        return 130
    finally:
        workers.stop()
        broker.stop()
    return _report(summary, out / "_jobs" / f"{job_id}.json")


def _report(summary: dict, manifest: Path) -> int:
    rows = summary["rows"]
    print(
        f"done: {summary['records_done']} records -> {rows.get('documents', 0)} documents, "
        f"{rows.get('failures', 0)} failures, {rows.get('entities', 0)} entities, {rows.get('stances', 0)} stance rows"
    )
    print(f"output: {summary['out']}  (manifest {manifest})")
    if not rows.get("documents"):
        print("error: no document could be processed; see the failures table", file=sys.stderr)
        return 1
    return 0


def cmd_summary(args) -> int:
    from pipeline.summary import summarize

    print(summarize(args.dir, job=args.job, top=args.top))
    return 0


# Subcommands with parsers of their own: everything after the name goes to them, --help included.
DELEGATED = {
    "train": ("pipeline.training.train", "train the sentiment or stance model"),
    "evaluate": ("pipeline.training.evaluate", "score a model or a baseline on labelled files"),
    "distill": ("pipeline.training.distill", "label a transfer set with a larger stance teacher"),
    "eval-cleaning": ("pipeline.cleaning_eval", "measure HTML extraction on the trafilatura evaluation set"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nlp-pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="process a corpus with an embedded broker and local workers, and wait")
    _add_input_options(p)
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("submit", help="submit a corpus to a running broker; prints the job id")
    _add_input_options(p)
    p.add_argument("--broker", help=f"broker URL (default ${BROKER_ENV})")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("status", help="progress and counts of a job")
    p.add_argument("job")
    p.add_argument("--broker", help=f"broker URL (default ${BROKER_ENV})")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("worker", help="start a Celery worker (sane defaults over `celery worker`)")
    p.add_argument("--broker", help=f"broker URL (default ${BROKER_ENV})")
    p.add_argument("--concurrency", type=int, default=os.cpu_count() or 1, help="worker processes (default: cores)")
    p.add_argument("--queues", default="batches", help="comma-separated queues to consume (default batches)")
    p.add_argument("--config", help="YAML file overlaying configs/default.yaml")
    p.add_argument("--loglevel", default="INFO")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("summary", help="counts, top entities and per-target stance of an output folder")
    p.add_argument("dir", type=Path)
    p.add_argument("--job", help="only this job")
    p.add_argument("--top", type=int, default=10, help="entities to list (default 10)")
    p.set_defaults(func=cmd_summary)

    for name, (_, text) in DELEGATED.items():
        sub.add_parser(name, help=f"{text} (see `nlp-pipeline {name} --help`)")
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv and argv[0] in DELEGATED:
            import importlib

            return importlib.import_module(DELEGATED[argv[0]][0]).main(argv[1:])
        args = build_parser().parse_args(argv)
        return args.func(args)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except redis.RedisError as exc:
        print(f"error: broker: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
