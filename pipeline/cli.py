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
from pathlib import Path

import redis

from pipeline import __version__
from pipeline.config import BROKER_ENV, Config, broker_url, load_config, redact_url
from pipeline.errors import PipelineError

INPUT_FIELDS = ("text", "title", "id", "url", "date", "outlet")


def _add_input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="JSONL, CSV or Parquet files, or folders of .txt/.html files; or s3:// objects and prefixes")
    p.add_argument("--out", required=True, help="output folder or s3://bucket/prefix for the Parquet datasets")
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


def _checked_job(args, config: Config) -> tuple[str, list, str]:
    """What `run` and `submit` check before anything is queued or started: the job id, the
    inputs, the output (writable: a probe file is written and removed), the configured models.
    Returns the job id, the inputs resolved, and the output location normalized."""
    from pipeline.checks import check_models
    from pipeline.io.readers import check_inputs
    from pipeline.io.storage import check_writable
    from pipeline.jobs import new_job_id, validate_job_id

    job_id = validate_job_id(args.job) if args.job else new_job_id()
    inputs = check_inputs(args.inputs)
    out = check_writable(args.out)
    check_models(config)
    return job_id, inputs, out


def cmd_submit(args) -> int:
    from pipeline.jobs import JobState
    from pipeline.producer import submit_job
    from workers.app import configure
    from workers import tasks

    url = broker_url(args.broker)
    config = _config(args)
    state = JobState.from_url(url)
    state.check_reachable()
    job_id, _, out = _checked_job(args, config)
    configure(url)
    sub = submit_job(job_id, args.inputs, out, config, state, tasks.send_batch, tasks.send_finalize)
    verb = "resumed" if sub.resumed else "submitted"
    print(f"{sub.job_id}")
    print(f"{verb}: {sub.enqueued_batches} batches enqueued, {sub.skipped_batches} already committed, {sub.total_batches} in all", file=sys.stderr)
    return 0


def cmd_status(args) -> int:
    from pipeline.jobs import JobState

    state = JobState.from_url(broker_url(args.broker))
    state.check_reachable()
    print(json.dumps(state.summary(args.job), indent=2))
    return 0


def cmd_worker(args) -> int:
    from pipeline.config import load_worker_settings
    from workers.app import app, configure

    url = broker_url(args.broker)
    settings = load_worker_settings(args.config)
    preload = load_config(args.preload) if args.preload else None
    configure(url, settings, preload)
    argv = ["worker", "--concurrency", str(args.concurrency), "--queues", args.queues, "--loglevel", args.loglevel]
    logging.getLogger().info("worker on %s", redact_url(url))
    app.worker_main(argv)
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _count_records(inputs: list, config: Config) -> int:
    """Counts the input's records up front, so that the progress bar can show an ETA."""
    from pipeline.io.readers import read_corpus

    return sum(1 for _ in read_corpus(inputs, config.input))


def cmd_run(args) -> int:
    from tqdm import tqdm

    from pipeline.config import load_worker_settings
    from pipeline.io.manifest import manifest_path
    from pipeline.io.storage import is_url, local_state_dir
    from pipeline.local import LocalDeployment

    config = _config(args)
    load_worker_settings(args.worker_config)  # a bad settings file fails here, not in every worker
    job_id, inputs, out = _checked_job(args, config)
    total_records = _count_records(inputs, config)
    queues = ",".join(q for q in ("batches", config.routing.models_queue) if q)
    # SIGTERM (a supervisor) and SIGHUP (the terminal closed) stop everything the way Ctrl-C does.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    # The broker's append-only file (what `--job` resumes from) and the logs stay on this machine:
    # beside a local output, or in a local state folder of the output URL's own.
    local_dir = local_state_dir(out) if is_url(out) else Path(out)
    local = LocalDeployment(local_dir / "_broker", [(args.workers, queues)], log_dir=local_dir / "_logs",
                            worker_config=args.worker_config, preload=args.config)
    try:
        with local:
            print(f"job {job_id}: {total_records} records, {args.workers} worker processes, broker {local.broker.url}", file=sys.stderr)
            local.submit(job_id, args.inputs, out, config)
            with tqdm(total=total_records, unit="doc", desc=job_id, disable=args.quiet, dynamic_ncols=True) as bar:
                summary = local.wait(job_id, on_poll=lambda s: s and bar.update(s["records_done"] - bar.n))
    except KeyboardInterrupt:
        print(f"\ninterrupted: committed batches are kept; resume with --job {job_id}", file=sys.stderr)
        return 130
    return _report(summary, manifest_path(out, job_id))


def _report(summary: dict, manifest: str) -> int:
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


def cmd_report(args) -> int:
    from pipeline.report import write_report

    print(f"report: {write_report(args.out, args.output, jobs=args.job)}")
    return 0


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


# Subcommands with parsers of their own: everything after the name goes to them, --help included.
# They live in pipeline_train, whose dependencies come with the `train` extra (not in the worker image).
DELEGATED = {
    "train": ("pipeline_train.train", "train the sentiment or stance model"),
    "evaluate": ("pipeline_train.evaluate", "score a model or a baseline on labelled files"),
    "distill": ("pipeline_train.distill", "label a transfer set with a larger stance teacher"),
    "eval-cleaning": ("pipeline_train.cleaning_eval", "measure HTML extraction on the trafilatura evaluation set"),
    "install-accurate-base": ("pipeline.accurate_base", "download and check the accurate tier's base encoder (all-mpnet-base-v2)"),
}


def _delegate(name: str, argv: list[str]) -> int:
    import importlib

    try:
        module = importlib.import_module(DELEGATED[name][0])
    except ModuleNotFoundError as exc:
        raise PipelineError(f"{name} needs {exc.name!r}: install the train extra: pip install -e '.[train]'") from None
    return module.main(argv)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nlp-pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="process a corpus with an embedded broker and local workers, and wait")
    _add_input_options(p)
    p.add_argument("--workers", type=positive_int, default=2, help="worker processes (default 2)")
    p.add_argument("--worker-config", help="YAML file overlaying configs/worker.yaml (retries, visibility timeout, threads)")
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
    p.add_argument("--concurrency", type=positive_int, default=os.cpu_count() or 1, help="worker processes (default: cores)")
    p.add_argument("--queues", default="batches", help="comma-separated queues to consume (default batches)")
    p.add_argument("--config", help="worker settings: YAML file overlaying configs/worker.yaml")
    p.add_argument("--preload", help="job configuration file whose models to load at start (default: configs/default.yaml's)")
    p.add_argument("--loglevel", default="INFO")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("summary", help="counts, top entities and per-target stance of an output folder")
    p.add_argument("dir", help="output folder or s3://bucket/prefix")
    p.add_argument("--job", help="only this job")
    p.add_argument("--top", type=positive_int, default=10, help="entities to list (default 10)")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("report", help="a self-contained HTML report with plots of an output folder")
    p.add_argument("out", metavar="OUT", help="output folder or s3://bucket/prefix")
    p.add_argument("--job", nargs="+", action="extend", metavar="JOB", help="only these jobs (default: every job in OUT)")
    p.add_argument("-o", "--output", type=Path, default=Path("report.html"), help="HTML file to write (default report.html)")
    p.set_defaults(func=cmd_report)

    for name, (_, text) in DELEGATED.items():
        sub.add_parser(name, help=f"{text} (see `nlp-pipeline {name} --help`)")
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv and argv[0] in DELEGATED:
            return _delegate(argv[0], argv[1:])
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
