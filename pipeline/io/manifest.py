"""A job's manifest: OUT/_jobs/<job>.json (OUT a local folder or an s3:// URL), written once every
batch is committed: the last thing a job writes."""

from __future__ import annotations

import json
import platform
from importlib.metadata import PackageNotFoundError, version

from pipeline import __version__
from pipeline.io import storage
from pipeline.jobs import JobMeta
from pipeline.schemas import SCHEMA_VERSION
from pipeline.shipped import tier_of


def manifest_path(out: str, job_id: str) -> str:
    return storage.join(out, "_jobs", f"{job_id}.json")


def _versions() -> dict[str, str]:
    found = {"pipeline": __version__, "python": platform.python_version(), "schema": SCHEMA_VERSION}
    for package in ("celery", "redis", "spacy", "transformers", "torch", "pyarrow", "trafilatura"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


def write_manifest(job: JobMeta, stats: dict[int, dict], finished_at: str, files: dict[str, list[str]]) -> str:
    """Writes OUT/_jobs/<job>.json as one whole file or object and returns its location.

    The model ids are the first batch's: every batch of a job runs the same configuration.
    """
    rows: dict[str, int] = {}
    stage_seconds: dict[str, float] = {}
    for s in stats.values():
        for name, n in s["rows"].items():
            rows[name] = rows.get(name, 0) + n
        for name, sec in s["seconds"].items():
            stage_seconds[name] = round(stage_seconds.get(name, 0.0) + sec, 3)
    manifest = {
        "job_id": job.job_id,
        "inputs": job.inputs,
        "out": job.out,
        "batches": len(stats),
        "records": sum(s["records"] for s in stats.values()),
        # Documents a model stage left alone (a language its model does not read; documents.unscored_reason).
        "unscored_documents": sum(s.get("unscored", 0) for s in stats.values()),
        "rows": rows,
        "characters": sum(s["chars"] for s in stats.values()),
        "created_at": job.created_at,
        "finished_at": finished_at,
        "worker_seconds": stage_seconds,
        "versions": _versions(),
        "models": stats[min(stats)]["models"],
        # Which tier scored each model stage: "builtin" (small), "accurate", or "own" (a folder or hub id).
        "tiers": {task: tier_of(getattr(job.config, task).model) for task in ("sentiment", "stance")},
        "config": job.config.to_dict(),
        "files": files,  # each table's files of this job, relative to OUT
    }
    path = manifest_path(job.out, job.job_id)
    storage.write_whole(path, lambda fh: fh.write(json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")))
    return path
