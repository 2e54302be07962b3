"""A local S3-compatible HTTP server for the tests and the benchmarks: moto's standalone server
(`python -m moto.server`, the dev extra), a subprocess on 127.0.0.1, spoken to over real HTTP by
s3fs, pyarrow, pandas, Polars and DuckDB.

    python -m scripts.s3_server     # prints the AWS_* variables that reach it; Ctrl-C stops it

moto because it installs from PyPI as a Python package (a MinIO server is a binary we could not
fetch here), starts in about a second, and checks request signatures against the IAM users it
knows once authentication is switched on: a wrong key or secret is refused as S3 would refuse it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from tempfile import mkdtemp

from pipeline.local import free_port

BUCKET = "pipeline-test"
REGION = "us-east-1"
# Allowed everything on S3, nothing else: what a pipeline's key needs at most.
POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


@dataclass
class S3Server:
    proc: subprocess.Popen
    endpoint: str
    access_key: str
    secret_key: str
    bucket: str = BUCKET

    def env(self, **overrides: str) -> dict[str, str]:
        """The standard AWS variables that point a process at this server with a valid key."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_ENDPOINT_URL": self.endpoint, "AWS_DEFAULT_REGION": REGION, **overrides}

    def url(self, *parts: str) -> str:
        return "/".join([f"s3://{self.bucket}", *parts])

    def client(self):
        """A botocore S3 client with the valid key, to look at what is in the bucket."""
        import botocore.session

        return botocore.session.get_session().create_client(
            "s3", region_name=REGION, endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key)

    def keys(self, prefix: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _post(url: str, body: bytes) -> None:
    urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST",
                                                  headers={"Content-Type": "text/plain"}), timeout=10).read()


def start_s3_server(log_file: Path, timeout: float = 30) -> S3Server:
    import botocore.session

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = log_file.open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=1).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"moto server did not start (see {log_file})") from None
            time.sleep(0.1)
    # Set up as an administrator would, while the server still takes any key: a user with an
    # access key allowed s3:*, and the bucket. Then authentication goes on, and every request
    # must be signed with that key.
    session = botocore.session.get_session()
    admin = {"region_name": REGION, "endpoint_url": endpoint, "aws_access_key_id": "admin", "aws_secret_access_key": "admin"}
    iam = session.create_client("iam", **admin)
    iam.create_user(UserName="pipeline")
    key = iam.create_access_key(UserName="pipeline")["AccessKey"]
    iam.put_user_policy(UserName="pipeline", PolicyName="s3", PolicyDocument=json.dumps(POLICY))
    session.create_client("s3", **admin).create_bucket(Bucket=BUCKET)
    _post(f"{endpoint}/moto-api/reset-auth", b"0")
    return S3Server(proc, endpoint, key["AccessKeyId"], key["SecretAccessKey"])


def main() -> int:
    server = start_s3_server(Path(mkdtemp(prefix="s3-server-")) / "moto.log")
    for name, value in server.env().items():
        print(f"export {name}={value}")
    print(f"# bucket: s3://{server.bucket}; Ctrl-C (or SIGTERM) stops the server", flush=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        server.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
