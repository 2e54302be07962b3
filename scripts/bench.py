"""Throughput benchmark: the whole `nlp-pipeline run` path against a plain in-process loop.

    python -m scripts.bench [--docs 5000] [--json bench.json] [--config FILE] [--worker-config FILE] [--workers 1,2] [--s3]

The corpus is the press releases in ../shared/data/news (kremlin_en.csv, zelenskyy_en.csv,
relative to the repository root), interleaved and repeated up to --docs documents. Repeats get
ids of their own (so they are not rejected as duplicate ids); the reader flags them as exact
duplicates, which changes nothing in how they are processed.

Reported in one run:
  * end to end, once per worker count: the local harness (embedded Redis + local Celery workers +
    submit_job, pipeline.local.LocalDeployment), each a separate job into a fresh output folder. The workers are started and warmed up (models loaded)
    first; the clock runs from the start of the submission until the job's manifest is written.
    Worker start-up is reported on its own, and a "cold" rate that includes it.
  * the reference: the same stages in one plain loop in this process (no Celery, no Redis):
    read_corpus -> make_batches -> BatchProcessor.process per batch, without Parquet; the
    Parquet writing (batch_rows + commit_batch) timed separately.
  * the share of each stage, peak RSS per worker pool process, and ratios.
  * with --s3: the first worker layout once more, writing to a local S3-compatible server
    (moto, scripts/s3_server.py) instead of a local folder, and its rate over the local run's.

A benchmark, not a test: nothing here judges the numbers. Other load on the machine (such as a
model training) changes them; it is recorded in the output.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import resource
import secrets
import shutil
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NEWS = ROOT.parent / "shared" / "data" / "news"
SOURCES = (("kremlin_en.csv", "kremlin.ru"), ("zelenskyy_en.csv", "president.gov.ua"))
STAGES = ("clean", "ner", "sentiment", "stance")
SAMPLE_EVERY = 0.5  # seconds between RSS samples
WARMUP_FRACTION = 0.2  # RSS "after warm-up" is taken at this fraction of the job
MiB = 1024 * 1024


class BenchError(Exception):
    """Ends the benchmark with a one-line message."""


# --------------------------------------------------------------------------- corpus


def read_news() -> list[tuple[str, dict]]:
    """(outlet, CSV row) of both press-release files, interleaved so any prefix holds both."""
    missing = [str(NEWS / name) for name, _ in SOURCES if not (NEWS / name).is_file()]
    if missing:
        raise BenchError(f"benchmark corpus not found: {', '.join(missing)} (expected ../shared/data/news beside the repository)")
    from pipeline_train.data import read_press_releases

    per_source = [[(outlet, row) for row in read_press_releases(NEWS / name)] for name, outlet in SOURCES]
    merged = []
    for i in range(max(len(rows) for rows in per_source)):
        merged.extend(rows[i] for rows in per_source if i < len(rows))
    return merged


def write_corpus(path: Path, n_docs: int, input_cfg) -> dict:
    """Writes n_docs records (the news repeated) as JSONL in the configured field names."""
    news = read_news()
    words = chars = 0
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n_docs):
            outlet, row = news[i % len(news)]
            repeat = i // len(news)
            body = row["body"]
            words += len(body.split())
            chars += len(body)
            record = {
                input_cfg.id_field: f"{outlet}-{i % len(news):05d}-r{repeat}",
                input_cfg.text_field: body,
                input_cfg.title_field: row.get("headline") or None,
                input_cfg.url_field: row.get("link") or None,
                input_cfg.date_field: row.get("date") or None,
                input_cfg.outlet_field: outlet,
            }
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return {
        "docs": n_docs, "words": words, "chars": chars, "distinct_docs": min(n_docs, len(news)),
        "repeats": -(-n_docs // len(news)), "source": str(NEWS),
    }


# --------------------------------------------------------------------------- machine and load


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def competing_processes():
    """Other heavy jobs known to share the machine: model trainings."""
    import psutil

    found = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if "pipeline_train" in cmd and p.pid != os.getpid():
            found.append(p)
    return found


class LoadProbe:
    """CPU used by competing processes (in cores) over a phase, sampled once a second in a thread,
    so that a training that ends or starts during the phase is still counted."""

    def __init__(self):
        self.started = time.monotonic()
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.seen = False
        self._stop = threading.Event()
        self._sample(initial=True)
        self._thread = threading.Thread(target=self._loop, daemon=True, name="load-probe")
        self._thread.start()

    def _sample(self, initial: bool = False) -> None:
        for p in competing_processes():
            try:
                t = p.cpu_times()
            except Exception:  # noqa: BLE001 - it just ended
                continue
            self.seen = True
            # A process that started during the phase counts from zero.
            self.first.setdefault(p.pid, t.user + t.system if initial else 0.0)
            self.last[p.pid] = t.user + t.system

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            self._sample()

    def result(self) -> dict:
        self._stop.set()
        self._thread.join()
        self._sample()
        wall = max(time.monotonic() - self.started, 1e-9)
        used = sum(self.last[pid] - self.first[pid] for pid in self.last)
        return {
            "training_running": self.seen,
            "training_cores_used": round(used / wall, 2),
            "load_avg_1m_end": round(os.getloadavg()[0], 2),
        }


def describe_competing() -> list[str]:
    out = []
    for p in competing_processes():
        try:
            out.append(f"pid {p.pid}: {' '.join(p.cmdline())[:160]}")
        except Exception:  # noqa: BLE001
            pass
    return out


# --------------------------------------------------------------------------- helpers


def stage_breakdown(seconds: dict[str, float], total: float, extra: dict[str, float] | None = None, rest: str = "other") -> dict:
    """Seconds and share of `total` per stage, plus `extra` parts and the unaccounted rest."""
    parts = {**(extra or {}), **{s: seconds.get(s, 0.0) for s in STAGES}}
    parts[rest] = max(total - sum(parts.values()), 0.0)
    return {
        name: {"seconds": round(sec, 3), "share": round(sec / total, 4) if total > 0 else None}
        for name, sec in parts.items()
    }


def rate(n: float, seconds: float) -> float | None:
    return round(n / seconds, 2) if seconds > 0 else None


# --------------------------------------------------------------------------- end to end


def pool_processes(groups):
    import psutil

    children = []
    for workers in groups:
        try:
            children += psutil.Process(workers.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            pass
    return children


READY = re.compile(r"worker process (\d+) ready \((\d+) torch threads")


def wait_ready(groups, timeout: float) -> dict[int, int]:
    """Until every pool process has loaded its models (workers/signals.py logs a line);
    returns the torch threads of each pool process, by pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = {}
        for workers in groups:
            if not workers.alive():
                raise BenchError(f"the worker exited at start; see {workers.log_file}")
            try:
                text = workers.log_file.read_text(encoding="utf-8", errors="replace")
            except FileNotFoundError:
                text = ""
            ready.update({int(pid): int(n) for pid, n in READY.findall(text)})
        if len(ready) >= sum(w.processes for w in groups):
            return ready
        time.sleep(0.1)
    raise BenchError(f"the workers were not ready within {timeout:.0f} s; see {', '.join(str(w.log_file) for w in groups)}")


def memory_report(samples: dict[int, list[tuple[float, int]]], duration: float) -> list[dict]:
    out = []
    for pid, series in sorted(samples.items()):
        if not series:
            continue
        after_warmup = next((rss for t, rss in series if t >= WARMUP_FRACTION * duration), series[-1][1])
        end = series[-1][1]
        grew = end - after_warmup
        out.append({
            "pid": pid,
            "samples": len(series),
            "peak_rss_mb": round(max(rss for _, rss in series) / MiB, 1),
            "rss_at_20pct_mb": round(after_warmup / MiB, 1),
            "rss_end_mb": round(end / MiB, 1),
            "growth_after_warmup_mb": round(grew / MiB, 1),
            # Growth of more than 5 % between 20 % of the job and its end.
            "grew_after_warmup": grew > 0.05 * after_warmup,
        })
    return out


def worker_groups(layout: tuple[int, ...], config) -> list[tuple[int, str]]:
    """(processes, queues) of each `celery worker` of a layout: (n,) is one worker on the queues
    `nlp-pipeline run` gives its workers; (t, m) is a text worker on `batches` beside a models
    worker on routing.models_queue, the split a GPU box would take part in."""
    if len(layout) == 1:
        return [(layout[0], ",".join(q for q in ("batches", config.routing.models_queue) if q))]
    if not config.routing.models_queue:
        raise BenchError("a split layout like 1+1 needs routing.models_queue in the --config file (e.g. models)")
    return [(layout[0], "batches"), (layout[1], config.routing.models_queue)]


def run_end_to_end(layout: tuple[int, ...], corpus: Path, config, config_file: str | None, worker_config: str | None,
                   settings, work: Path, timeout: float, out: str | None = None) -> dict:
    """One job; `out` is where it writes (default: a fresh folder under `work`)."""
    import psutil

    from pipeline.errors import PipelineError
    from pipeline.io import storage
    from pipeline.io.manifest import manifest_path
    from pipeline.local import LocalDeployment

    label = "+".join(map(str, layout))
    processes = sum(layout)
    tag = "-s3" if out else ""
    local = (work / f"e2e-{label}w{tag}").resolve()
    out = out or str(local)
    job_id = f"bench-{label.replace('+', 'x')}w-{secrets.token_hex(3)}"
    probe = LoadProbe()

    started = time.perf_counter()
    with LocalDeployment(work / f"broker-{label}{tag}", worker_groups(layout, config), log_dir=local / "_logs",
                         worker_config=worker_config, preload=config_file) as local:
        groups = local.workers
        threads = wait_ready(groups, timeout=300)
        startup = time.perf_counter() - started
        ready_rss = {p.pid: p.memory_info().rss for p in pool_processes(groups)}
        samples: dict[int, list[tuple[float, int]]] = {}
        peaks = {"main": 0, "first_batch": None, "last_sample": -SAMPLE_EVERY}
        t0 = time.perf_counter()

        def sample(summary: dict | None) -> None:
            now = time.perf_counter() - t0
            if peaks["first_batch"] is None and summary and summary["batches_done"]:
                peaks["first_batch"] = now
            if now - peaks["last_sample"] < SAMPLE_EVERY:
                return
            peaks["last_sample"] = now
            for workers in groups:
                try:
                    peaks["main"] = max(peaks["main"], psutil.Process(workers.proc.pid).memory_info().rss)
                except psutil.Error:
                    pass
            for p in pool_processes(groups):
                try:
                    samples.setdefault(p.pid, []).append((now, p.memory_info().rss))
                except Exception:  # noqa: BLE001 - a process that just ended
                    pass

        local.submit(job_id, [str(corpus)], out, config)
        try:
            local.wait(job_id, timeout=timeout, poll=0.05, on_poll=sample)
        except PipelineError as exc:
            raise BenchError(f"{exc}; see {local / '_logs'}") from None
        seconds = time.perf_counter() - t0
        first_batch = peaks["first_batch"] if peaks["first_batch"] is not None else seconds
        main_peak = peaks["main"]
        for p in pool_processes(groups):  # one last sample at the end
            try:
                samples.setdefault(p.pid, []).append((seconds, p.memory_info().rss))
            except Exception:  # noqa: BLE001
                pass
    load = probe.result()
    data = json.loads(storage.read_bytes(manifest_path(out, job_id)))
    worker_seconds = data["worker_seconds"]
    # With routing.models_queue set, a batch runs as two tasks: text_total + total (the model part).
    busy = worker_seconds.get("total", 0.0) + worker_seconds.get("text_total", 0.0)
    memory = memory_report(samples, seconds)
    for m in memory:
        m["rss_when_ready_mb"] = round(ready_rss.get(m["pid"], 0) / MiB, 1) or None
    return {
        "workers": label,
        "out": "s3" if tag else "local disk",
        "processes": processes,
        # As the pool processes logged them (workers/signals.py), and as configs/default.yaml documents them.
        "torch_threads_per_process": sorted(threads.values()),
        "torch_threads_documented": sorted({settings.torch_threads(n) for n in layout}),
        "job_id": job_id,
        "startup_seconds": round(startup, 2),
        "seconds": round(seconds, 2),
        "first_batch_seconds": round(first_batch, 2),
        "docs": data["records"],
        "batches": data["batches"],
        "rows": data["rows"],
        "worker_seconds": worker_seconds,
        # Worker-seconds spent in batches over the process-seconds available: the rest is idle or overhead.
        "worker_busy_fraction": round(busy / (seconds * processes), 3) if seconds > 0 else None,
        # The rest of a batch's time: turning it into rows and writing Parquet (and decoding the message).
        "stages": stage_breakdown(worker_seconds, busy, rest="rows+parquet"),
        "memory": {"pool_processes": memory, "worker_main_peak_rss_mb": round(main_peak / MiB, 1)},
        "load": load,
    }


def run_into_s3(layout: tuple[int, ...], corpus: Path, config, config_file: str | None, worker_config: str | None,
                settings, work: Path, timeout: float) -> dict:
    """The same job into a local S3-compatible server, reached the standard way (AWS_* variables)."""
    try:
        from scripts.s3_server import start_s3_server
    except ImportError as exc:
        raise BenchError(f"--s3 needs {exc.name!r}: run `python -m scripts.bench` from the repository root, "
                         "with the dev extra installed") from None

    print(f"end to end with {'+'.join(map(str, layout))} worker process(es) into a local S3 server ...", file=sys.stderr)
    server = start_s3_server(work / "s3-server.log")
    saved = {name: os.environ.get(name) for name in server.env()}
    os.environ.update(server.env())  # the workers inherit them
    try:
        return run_end_to_end(layout, corpus, config, config_file, worker_config, settings, work, timeout,
                              out=server.url("bench"))
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name)
            else:
                os.environ[name] = value
        server.stop()


# --------------------------------------------------------------------------- reference


def run_reference(corpus: Path, config, work: Path, threads: int) -> dict:
    import torch

    from pipeline import __version__
    from pipeline.documents import Document, Rejected
    from pipeline.io.parquet import batch_rows, commit_batch
    from pipeline.io.readers import read_corpus
    from pipeline.jobs import utc_now
    from pipeline.processing import BatchProcessor
    from pipeline.producer import make_batches

    torch.set_num_threads(threads)
    probe = LoadProbe()
    t = time.perf_counter()
    processor = BatchProcessor(config)
    processor.text_stages, processor.model_stages  # noqa: B018 - load the models now, as a warm worker has
    load_seconds = time.perf_counter() - t

    out = work / "reference"
    job_id = "bench-reference"
    metadata = {"job_id": job_id, "pipeline_version": __version__, "models": json.dumps(processor.models)}
    stage_seconds = {s: 0.0 for s in STAGES}
    read_batch = parquet = 0.0
    docs_n = batches = 0
    started = time.perf_counter()
    mark = started
    for number, payload in make_batches(read_corpus([corpus.resolve()], config.input), config.batching):
        read_batch += time.perf_counter() - mark
        docs = [Document.from_message(m) for m in payload["docs"]]
        rejected = [Rejected.from_message(m) for m in payload["rejected"]]
        for name, sec in processor.process(docs).items():
            stage_seconds[name] = stage_seconds.get(name, 0.0) + sec
        docs_n += len(docs) + len(rejected)
        batches += 1
        w = time.perf_counter()
        rows = batch_rows(docs, rejected, number, utc_now(), __version__, processor.models)
        commit_batch(out, job_id, number, rows, metadata)
        parquet += time.perf_counter() - w
        mark = time.perf_counter()
    wall = time.perf_counter() - started
    seconds = wall - parquet  # the reference proper: no Parquet
    return {
        "torch_threads": threads,
        "model_load_seconds": round(load_seconds, 2),
        "seconds": round(seconds, 2),
        "parquet_seconds": round(parquet, 2),
        "seconds_with_parquet": round(wall, 2),
        "docs": docs_n,
        "batches": batches,
        "stage_seconds": {k: round(v, 3) for k, v in stage_seconds.items()},
        "stages": stage_breakdown(stage_seconds, wall, extra={"read+batch": read_batch, "rows+parquet": parquet}),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "load": probe.result(),
    }


# --------------------------------------------------------------------------- report


def table(rows: list[list], header: list[str]) -> str:
    cells = [[str(c) for c in header]] + [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for k, r in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def pct(share) -> str:
    return "-" if share is None else f"{100 * share:.1f}%"


def render(result: dict) -> str:
    m, c = result["machine"], result["corpus"]
    ref, runs = result["reference"], result["end_to_end"]
    out = [
        f"nlp-pipeline benchmark, {result['date']}",
        f"machine: {m['cpu_count']} CPUs, {m['cpu_model']}; torch {m['torch']} ({m['torch_threads_default']} threads by default)",
        f"other load: {'model training running (' + '; '.join(m['competing']) + ')' if m['competing'] else 'no training running at start'}; load avg {m['load_avg_1m_start']}",
        f"corpus: {c['docs']} docs ({c['distinct_docs']} distinct, repeated up to {c['repeats']}x), {c['words']:,} words, {c['chars']:,} chars",
        f"models: {result['models']}",
        "",
    ]
    rows = []
    for r in runs:
        rows.append([
            f"end to end, {r['workers']} worker(s)", ",".join(map(str, sorted(set(r["torch_threads_per_process"])))), r["seconds"], r["docs_per_s"], r["words_per_s"], r["first_batch_seconds"],
            r["startup_seconds"], r["cold_docs_per_s"], r["load"]["training_cores_used"],
        ])
    rows.append(["plain loop (no Parquet)", ref["torch_threads"], ref["seconds"], ref["docs_per_s"], ref["words_per_s"], None, ref["model_load_seconds"], None, ref["load"]["training_cores_used"]])
    rows.append(["plain loop + Parquet", ref["torch_threads"], ref["seconds_with_parquet"], ref["docs_per_s_with_parquet"], ref["words_per_s_with_parquet"], None, None, None, None])
    out.append(table(rows, ["run", "torch threads", "seconds", "docs/s", "words/s", "1st batch s", "startup s", "cold docs/s", "training cores"]))
    out.append("")

    present = set(ref["stages"]).union(*(r["stages"] for r in runs))
    names = [n for n in ("read+batch", *STAGES, "rows+parquet", "other") if n in present]
    header = ["stage", "plain s", "plain %"] + [x for r in runs for x in (f"{r['workers']}w s", f"{r['workers']}w %")]
    rows = []
    for n in names:
        row = [n, ref["stages"].get(n, {}).get("seconds"), pct(ref["stages"].get(n, {}).get("share"))]
        for r in runs:
            s = r["stages"].get(n)
            row += [s["seconds"] if s else None, pct(s["share"]) if s else "-"]
        rows.append(row)
    out.append("time per stage (plain loop: its wall time incl. Parquet; workers: worker-seconds summed over batches, from the manifest)")
    out.append(table(rows, header))
    out.append("")

    rows = []
    for r in runs:
        for k, p in enumerate(r["memory"]["pool_processes"], 1):
            rows.append([f"{r['workers']}w pool process {k}", p["rss_when_ready_mb"], p["rss_at_20pct_mb"], p["rss_end_mb"], p["peak_rss_mb"],
                         f"{p['growth_after_warmup_mb']:+.1f}", "yes" if p["grew_after_warmup"] else "no"])
    rows.append(["plain loop (this process)", None, None, None, ref["peak_rss_mb"], None, None])
    out.append("memory, RSS in MiB (sampled every 0.5 s)")
    out.append(table(rows, ["process", "ready", "at 20%", "end", "peak", "growth", "grew >5%"]))
    out.append("")
    rt = result["ratios"]
    out.append(
        f"ratios: best end to end / plain loop = {rt['best_end_to_end_over_plain_loop']} "
        f"(vs plain loop + Parquet {rt['best_end_to_end_over_plain_loop_with_parquet']}); "
        + ", ".join(f"{k} = {v}" for k, v in rt.items() if k.startswith("workers_"))
    )
    busy = ", ".join(f"{r['workers']}w {r['worker_busy_fraction']}" for r in runs)
    out.append(f"worker busy fraction (worker-seconds in batches / (wall x processes)): {busy}")
    if result.get("s3"):
        s3 = result["s3"]
        out.append(f"into a local S3 server, {s3['run']['workers']} worker(s): {s3['run']['seconds']} s, {s3['run']['docs_per_s']} docs/s, "
                   f"{s3['over_local_disk']} x the same run on local disk")
    return "\n".join(out)


# --------------------------------------------------------------------------- main


def parse_workers(text: str) -> list[tuple[int, ...]]:
    """"1,2,1+1" -> [(1,), (2,), (1, 1)]: worker process counts, "t+m" for a text + models split."""
    try:
        layouts = [tuple(int(n) for n in x.split("+")) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated worker counts like 1,2,1+1, got {text!r}") from None
    if not layouts or any(len(lay) > 2 or min(lay) < 1 for lay in layouts):
        raise argparse.ArgumentTypeError(f"worker counts must be at least 1, at most one '+' each, got {text!r}")
    return layouts


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--docs", type=positive, default=5000, help="documents in the benchmark corpus (default 5000)")
    p.add_argument("--json", type=Path, help="write all figures to this JSON file")
    p.add_argument("--config", help="job configuration: YAML file overlaying configs/default.yaml (the workers preload its models)")
    p.add_argument("--worker-config", help="worker settings: YAML file overlaying configs/worker.yaml")
    p.add_argument("--workers", type=parse_workers, default="1,2", help="worker process counts, comma-separated; t+m = a text worker with t processes beside a models worker with m (needs routing.models_queue) (default 1,2)")
    p.add_argument("--threads", type=positive, help="torch threads for the plain loop (default: those of a 1-process worker)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds one job may take (default 3600)")
    p.add_argument("--keep", action="store_true", help="keep the temporary corpus and outputs (the path is printed)")
    p.add_argument("--s3", action="store_true", help="also run the first worker layout into a local S3-compatible server (moto, the dev extra)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    config_file = str(Path(args.config).resolve()) if args.config else None
    worker_config = str(Path(args.worker_config).resolve()) if args.worker_config else None

    from pipeline.config import load_config, load_worker_settings
    from pipeline.errors import PipelineError

    work = Path(tempfile.mkdtemp(prefix="nlp-bench-"))
    try:
        config = load_config(config_file)
        settings = load_worker_settings(worker_config)
        corpus = work / "corpus.jsonl"
        corpus_info = write_corpus(corpus, args.docs, config.input)
        import torch

        machine = {
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "torch_threads_default": torch.get_num_threads(),
            "cpu_model": cpu_model(),
            "python": platform.python_version(),
            "load_avg_1m_start": round(os.getloadavg()[0], 2),
            "competing": describe_competing(),
        }
        print(f"corpus: {corpus_info['docs']} docs, {corpus_info['words']:,} words in {corpus}", file=sys.stderr)

        runs = []
        for layout in args.workers:
            print(f"end to end with {'+'.join(map(str, layout))} worker process(es) ...", file=sys.stderr)
            runs.append(run_end_to_end(layout, corpus, config, config_file, worker_config, settings, work, args.timeout))
        s3_run = run_into_s3(args.workers[0], corpus, config, config_file, worker_config, settings, work, args.timeout) if args.s3 else None
        print("plain loop ...", file=sys.stderr)
        # The reference runs with the torch threads of a single worker process, unless told otherwise.
        single = next((r for r in runs if r["workers"] == "1"), None)
        threads = args.threads or (single["torch_threads_per_process"][0] if single else settings.torch_threads(1))
        reference = run_reference(corpus, config, work, threads)

        from pipeline.processing import processor_for

        models = processor_for(config).models
    except (BenchError, PipelineError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.keep:
            print(f"kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    words, docs = corpus_info["words"], corpus_info["docs"]
    for r in runs:
        r["docs_per_s"] = rate(docs, r["seconds"])
        r["words_per_s"] = rate(words, r["seconds"])
        r["cold_docs_per_s"] = rate(docs, r["seconds"] + r["startup_seconds"])
    s3 = None
    if s3_run:
        s3_run["docs_per_s"] = rate(docs, s3_run["seconds"])
        s3 = {"run": s3_run, "over_local_disk": round(s3_run["docs_per_s"] / runs[0]["docs_per_s"], 3)}
    reference["docs_per_s"] = rate(docs, reference["seconds"])
    reference["words_per_s"] = rate(words, reference["seconds"])
    reference["docs_per_s_with_parquet"] = rate(docs, reference["seconds_with_parquet"])
    reference["words_per_s_with_parquet"] = rate(words, reference["seconds_with_parquet"])
    best = max(runs, key=lambda r: r["docs_per_s"] or 0)
    ratios = {
        "best_end_to_end_workers": best["workers"],
        "best_end_to_end_over_plain_loop": round(best["docs_per_s"] / reference["docs_per_s"], 3),
        "best_end_to_end_over_plain_loop_with_parquet": round(best["docs_per_s"] / reference["docs_per_s_with_parquet"], 3),
        **{f"workers_{r['workers']}_over_plain_loop": round(r["docs_per_s"] / reference["docs_per_s"], 3) for r in runs},
    }
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *(sys.argv[1:] if argv is None else argv)]),
        "machine": machine,
        "config": {"file": config_file, "batching": config.to_dict()["batching"], "routing": config.to_dict()["routing"],
                   "worker_file": worker_config, "worker": dataclasses.asdict(settings)},
        "models": models,
        "corpus": corpus_info,
        "end_to_end": runs,
        "reference": reference,
        "ratios": ratios,
        "s3": s3,
    }
    print(render(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"figures written to {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
