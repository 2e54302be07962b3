"""Job identity and job state in Redis: what the producer, the workers and `status` share.

Keys (all under `nlp-pipeline:job:<id>:`):
- `meta`     hash: output location (an absolute path or an s3:// URL), configuration, inputs,
             created time, total batches once known;
- `done`     hash: batch number -> JSON stats of its committed output. Writing a field twice
             (a redelivered batch) leaves one field, so counts summed over it are exact;
- `totals`   hash: running sums of the committed batches' records and rows, kept with `done`
             (see mark_done), so that progress polls read a few fields, not every batch's stats;
- `failed`   hash: batch number -> the error that exhausted its retries (resubmitting retries it);
- `digests`  hash: batch number -> digest of the batch's records as first cut, so that a resume
             whose input changed is refused instead of mixing old and new records;
- `finalize` string: set once, by whoever first sees every batch committed.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from pipeline.config import Config, config_from_dict, redact_url
from pipeline.errors import MAX_ERROR_MESSAGE, JobError, PipelineError

_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
PREFIX = "nlp-pipeline:job:"


def validate_job_id(job_id: str) -> str:
    """Job ids become folder names: they must not be able to escape the output folder."""
    if not _JOB_ID.fullmatch(job_id) or ".." in job_id:
        raise JobError(f"invalid job id {job_id[:80]!r}: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return job_id


def new_job_id() -> str:
    return datetime.now(timezone.utc).strftime("job-%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class JobMeta:
    job_id: str
    out: str  # an absolute local path or an s3:// URL (pipeline.io.storage)
    config: Config
    inputs: list[str]
    created_at: str
    fingerprint: str
    total_batches: int | None


def fingerprint(config: Config, inputs: list[str], out: str) -> str:
    """What must not change when a job is resumed: same inputs, same output, same configuration."""
    blob = json.dumps({"config": config.to_dict(), "inputs": inputs, "out": str(out)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class _RetryWhileUnreachable(Retry):
    """Retries while Redis is unreachable, not when it refuses us: a wrong password does not heal
    with time, and redis-py's AuthenticationError is a kind of ConnectionError."""

    def call_with_retry(self, do, fail, is_retryable=None, with_failure_count=False):
        def retryable(error: Exception) -> bool:
            refused = isinstance(error, redis.AuthenticationError)
            return not refused and (is_retryable is None or is_retryable(error))

        return super().call_with_retry(do, fail, retryable, with_failure_count)


# Stores a batch's stats and, only when the batch was not stored before, adds its counts to the
# job's totals, in one atomic step: a redelivered batch, or a retry after a lost reply, adds nothing.
# KEYS: done, totals, failed. ARGV: batch, stats JSON, then (field, increment) pairs.
_MARK_DONE = """
if redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  for i = 3, #ARGV, 2 do redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1]) end
end
redis.call('HDEL', KEYS[3], ARGV[1])
"""


class JobState:
    def __init__(self, client: redis.Redis):
        self.r = client
        self._mark_done = client.register_script(_MARK_DONE)

    @classmethod
    def from_url(cls, url: str) -> JobState:
        # Rides out a Redis restart of up to about a minute instead of failing the producer or a batch.
        retry = _RetryWhileUnreachable(ExponentialBackoff(cap=5, base=0.1), retries=20)
        return cls(redis.Redis.from_url(
            url, socket_timeout=30, socket_connect_timeout=5, health_check_interval=30, retry=retry,
            retry_on_error=[redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError],
        ))

    def check_reachable(self) -> None:
        """Fails at once when the broker does not answer, instead of after a minute of retries."""
        kwargs = self.r.connection_pool.connection_kwargs
        probe = redis.Redis(connection_pool=redis.ConnectionPool(
            connection_class=self.r.connection_pool.connection_class,
            **{**kwargs, "socket_connect_timeout": 3, "socket_timeout": 5, "retry": None, "retry_on_error": []},
        ))
        try:
            probe.ping()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if isinstance(exc, redis.AuthenticationError):
                raise
            where = redact_url(f"redis://{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}")
            raise PipelineError(f"broker: cannot reach {where}: {exc}") from None
        finally:
            probe.close()

    def _key(self, job_id: str, name: str) -> str:
        return f"{PREFIX}{job_id}:{name}"

    def create_or_resume(self, job_id: str, out: str, config: Config, inputs: list[str]) -> bool:
        """Registers the job; returns True when it already existed (a resume). Refuses a changed job."""
        fp = fingerprint(config, inputs, out)
        key = self._key(job_id, "meta")
        created = self.r.hsetnx(key, "fingerprint", fp)
        if not created:
            existing = self.r.hget(key, "fingerprint").decode()
            if existing != fp:
                raise JobError(
                    f"job {job_id!r} already exists with other inputs, output folder or configuration; use a new job id"
                )
            return True
        self.r.hset(key, mapping={
            "job_id": job_id, "out": str(out), "config": json.dumps(config.to_dict()),
            "inputs": json.dumps(inputs), "created_at": utc_now().isoformat(),
        })
        return False

    def meta(self, job_id: str) -> JobMeta:
        raw = {k.decode(): v.decode() for k, v in self.r.hgetall(self._key(job_id, "meta")).items()}
        if "config" not in raw:
            raise JobError(f"unknown job {job_id!r} on this broker")
        total = raw.get("total_batches")
        return JobMeta(
            job_id=job_id, out=raw["out"], config=config_from_dict(json.loads(raw["config"])),
            inputs=json.loads(raw["inputs"]), created_at=raw["created_at"], fingerprint=raw["fingerprint"],
            total_batches=int(total) if total is not None else None,
        )

    def exists(self, job_id: str) -> bool:
        return bool(self.r.exists(self._key(job_id, "meta")))

    def check_batch_digest(self, job_id: str, batch: int, digest: str) -> None:
        """Records the digest of a batch's records; refuses one that differs from what was recorded
        when the job first cut this batch (its input changed)."""
        key = self._key(job_id, "digests")
        if self.r.hsetnx(key, str(batch), digest):
            return
        if self.r.hget(key, str(batch)).decode() != digest:
            raise JobError(
                f"job {job_id!r}: the input changed since the job was first submitted (batch {batch} holds other "
                "records now); resume a job only with the same input, or give the new input a new job id"
            )

    def set_total(self, job_id: str, total: int) -> None:
        self.r.hset(self._key(job_id, "meta"), mapping={"total_batches": total, "submitted_at": utc_now().isoformat()})

    def mark_done(self, job_id: str, batch: int, stats: dict) -> None:
        counts = [("records", stats["records"])] + [(f"rows:{name}", n) for name, n in stats["rows"].items()]
        keys = [self._key(job_id, name) for name in ("done", "totals", "failed")]
        self._mark_done(keys=keys, args=[str(batch), json.dumps(stats), *(x for pair in counts for x in pair)])

    def mark_failed(self, job_id: str, batch: int, error: str) -> None:
        self.r.hset(self._key(job_id, "failed"), str(batch), error[:MAX_ERROR_MESSAGE])

    def failed_batches(self, job_id: str) -> dict[int, str]:
        return {int(k): v.decode() for k, v in self.r.hgetall(self._key(job_id, "failed")).items()}

    def done_batches(self, job_id: str) -> set[int]:
        return {int(b) for b in self.r.hkeys(self._key(job_id, "done"))}

    def done_count(self, job_id: str) -> int:
        return self.r.hlen(self._key(job_id, "done"))

    def done_stats(self, job_id: str) -> dict[int, dict]:
        return {int(k): json.loads(v) for k, v in self.r.hgetall(self._key(job_id, "done")).items()}

    def is_complete(self, job_id: str) -> bool:
        total = self.r.hget(self._key(job_id, "meta"), "total_batches")
        return total is not None and self.done_count(job_id) >= int(total)

    def claim_finalize(self, job_id: str) -> bool:
        """True for exactly one caller once the job is complete."""
        return self.is_complete(job_id) and bool(self.r.set(self._key(job_id, "finalize"), "claimed", nx=True))

    def release_finalize(self, job_id: str) -> None:
        """Lets a later commit or resume claim the finalize step again (it failed)."""
        self.r.delete(self._key(job_id, "finalize"))

    def mark_finalized(self, job_id: str, manifest_path: str) -> None:
        self.r.hset(self._key(job_id, "meta"), mapping={"finished_at": utc_now().isoformat(), "manifest": str(manifest_path)})

    def finished_at(self, job_id: str) -> str | None:
        value = self.r.hget(self._key(job_id, "meta"), "finished_at")
        return value.decode() if value else None

    def summary(self, job_id: str) -> dict:
        """Progress and counts so far, for `status` and the progress bar."""
        meta = self.meta(job_id)
        done = self.done_count(job_id)
        totals = {k.decode(): int(v) for k, v in self.r.hgetall(self._key(job_id, "totals")).items()}
        finished_at = self.finished_at(job_id)
        return {
            "job_id": job_id,
            "state": "finished" if finished_at else ("running" if meta.total_batches is None or done < meta.total_batches else "finalizing"),
            "batches_done": done,
            "batches_total": meta.total_batches,
            "batches_failed": self.failed_batches(job_id),
            "records_done": totals.get("records", 0),
            "rows": {k.removeprefix("rows:"): n for k, n in totals.items() if k.startswith("rows:")},
            "out": meta.out,
            "created_at": meta.created_at,
            "finished_at": finished_at,
        }
