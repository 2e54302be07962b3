"""Deployment files: docker-compose.yml is valid and wired as docs/deploy.md says, and the
Dockerfile installs exactly as the Makefile and README do (torch pin first, then the lock).

The `docker-compose config` test needs Debian's docker-compose (1.29) on PATH and is skipped
otherwise; the static checks below read the files directly and always run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
LOCK = ROOT / "requirements.lock"

# `pip install [options] torch==X` (the Makefile adds --quiet) on one logical line.
TORCH_PIN = re.compile(r"\bpip install\b[^\n]*?\storch==(?P<version>[0-9][\w.+!-]*)")


# --------------------------------------------------------------------------- helpers


def _command_text(command) -> str:
    """A compose `command` (string or list) as one string."""
    if isinstance(command, list):
        return " ".join(str(part) for part in command)
    return str(command or "")


def _mount_targets(service: dict) -> list[str]:
    """Container paths of a service's volumes, for both short ("src:dst[:mode]") and long syntax."""
    targets = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            targets.append(str(volume.get("target", "")))
        else:
            parts = str(volume).split(":")
            targets.append(parts[1] if len(parts) > 1 else parts[0])
    return targets


def _dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with comments dropped and continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    current: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # Docker drops comment lines, also inside a continued instruction
        continued = line.endswith("\\")
        current.append(line[:-1].strip() if continued else line)
        if not continued:
            joined = " ".join(current)
            keyword, _, args = joined.partition(" ")
            instructions.append((keyword.upper(), args.strip()))
            current = []
    if current:
        joined = " ".join(current)
        keyword, _, args = joined.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    return instructions


def _dockerfile_runs() -> list[str]:
    return [args for keyword, args in _dockerfile_instructions(DOCKERFILE.read_text()) if keyword == "RUN"]


def _dockerfile_torch_version() -> str:
    pins = [m["version"] for run in _dockerfile_runs() for m in TORCH_PIN.finditer(run)]
    assert len(pins) == 1, f"expected exactly one `pip install torch==X` in the Dockerfile, found {pins}"
    return pins[0]


def _raw_compose() -> dict:
    # SafeLoader resolves the x-app anchor and `<<` merge keys the way compose does.
    return yaml.safe_load(COMPOSE.read_text())


# --------------------------------------------------------------------------- docker-compose config


@pytest.fixture(scope="module")
def compose_config() -> dict:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose not on PATH (Debian: apt-get install docker-compose); static checks still run")
    result = subprocess.run(
        [exe, "config"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"docker-compose config failed ({result.returncode}):\n{result.stderr}"
    parsed = yaml.safe_load(result.stdout)
    assert isinstance(parsed, dict) and "services" in parsed, result.stdout
    return parsed


def test_compose_config_is_valid_and_has_core_services(compose_config):
    services = compose_config["services"]
    assert {"redis", "worker", "flower"} <= set(services), sorted(services)


def test_compose_config_redis_persists(compose_config):
    redis = compose_config["services"]["redis"]
    assert "appendonly" in _command_text(redis.get("command"))
    assert "/data" in _mount_targets(redis)
    assert "redis-cli" in _command_text(redis.get("healthcheck", {}).get("test"))


def test_compose_config_worker_is_scalable_and_mounts_data(compose_config):
    worker = compose_config["services"]["worker"]
    assert "container_name" not in worker, "a container_name prevents `--scale worker=N`"
    assert not worker.get("ports"), "published host ports on the worker prevent `--scale worker=N`"
    assert "/data" in _mount_targets(worker)
    assert compose_config["services"]["worker"]["environment"]["NLP_PIPELINE_BROKER_URL"].startswith("redis://redis:")
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"


def test_compose_config_optional_services(compose_config):
    services = compose_config["services"]
    assert services["gpu-worker"]["profiles"] == ["gpu"]
    assert services["producer"]["profiles"] == ["tools"]
    published = [str(p.get("published")) if isinstance(p, dict) else str(p) for p in services["flower"]["ports"]]
    assert any(p.startswith("5555") for p in published), published


# --------------------------------------------------------------------------- static compose checks


def test_compose_file_static_wiring():
    compose = _raw_compose()
    services = compose["services"]
    assert {"redis", "worker", "gpu-worker", "flower", "producer"} <= set(services)

    redis = services["redis"]
    assert str(redis["image"]).startswith("redis:7")
    assert "--appendonly" in _command_text(redis["command"]) and "yes" in _command_text(redis["command"])
    assert any(v.split(":")[0] in compose.get("volumes", {}) for v in redis["volumes"]), "redis /data must be a named volume"

    worker = services["worker"]
    assert _command_text(worker["command"]).startswith("nlp-pipeline worker")
    assert "container_name" not in worker and "ports" not in worker
    assert "/data" in _mount_targets(worker)

    gpu = services["gpu-worker"]
    assert gpu["profiles"] == ["gpu"]
    assert "--queues models" in _command_text(gpu["command"])
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices)

    assert "flower" in _command_text(services["flower"]["command"])
    assert services["producer"]["profiles"] == ["tools"]
    for name in ("worker", "gpu-worker", "flower", "producer"):
        assert services[name]["environment"]["NLP_PIPELINE_BROKER_URL"] == "redis://redis:6379/0", name


# --------------------------------------------------------------------------- Dockerfile vs Makefile / README


def test_dockerfile_installs_torch_first_then_the_lock():
    runs = _dockerfile_runs()
    torch_at = [i for i, run in enumerate(runs) if TORCH_PIN.search(run)]
    lock_at = [i for i, run in enumerate(runs) if re.search(r"\bpip install\b.*-c requirements\.lock", run)]
    assert torch_at, "Dockerfile has no `pip install torch==X` step"
    assert lock_at, "Dockerfile has no `pip install -c requirements.lock ...` step"
    assert torch_at[0] < lock_at[0], "torch must be installed before the locked project install"
    project_install = runs[lock_at[0]]
    assert re.search(r"-c requirements\.lock\s+\.(\s|$)", project_install), project_install
    assert " -e " not in f" {project_install} ", "the image installs the project non-editable"


def test_dockerfile_torch_pin_matches_the_lock():
    version = _dockerfile_torch_version()
    assert re.search(rf"^torch=={re.escape(version)}\s*$", LOCK.read_text(), re.M), (
        f"requirements.lock does not pin torch=={version}"
    )


def test_dockerfile_installs_flower_for_the_compose_service():
    assert any(re.search(r"\bpip install\b.*\bflower==", run) for run in _dockerfile_runs())


def test_dockerfile_copies_only_existing_sources_and_runs_unprivileged():
    instructions = _dockerfile_instructions(DOCKERFILE.read_text())
    for keyword, args in instructions:
        if keyword == "COPY":
            sources = [a for a in args.split()[:-1] if not a.startswith("--")]
            for source in sources:
                assert (ROOT / source).exists(), f"Dockerfile copies {source}, which is not in the repository"
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must run as a non-root user"
    env = " ".join(args for keyword, args in instructions if keyword == "ENV")
    assert "HF_HUB_OFFLINE" not in env, "HF_HUB_OFFLINE must stay unset by default"


@pytest.mark.parametrize("name", ["Makefile", "README.md"])
def test_install_steps_match_the_dockerfile(name):
    path = ROOT / name
    assert path.exists(), f"{name} is missing; it must document the same install as the Dockerfile"
    text = path.read_text()
    version = _dockerfile_torch_version()
    pins = {m["version"] for m in TORCH_PIN.finditer(text)}
    assert pins == {version}, (
        f"{name} has no `pip install torch=={version}` (the Dockerfile's pin)"
    )
    assert any(
        "pip install" in line and "-c requirements.lock" in line for line in text.splitlines()
    ), f"{name} has no `pip install -c requirements.lock ...` line"


def test_compose_s3_profile_workers_share_only_redis_and_the_bucket():
    services = _raw_compose()["services"]
    for name in ("minio", "minio-setup", "worker-s3", "producer-s3"):
        assert services[name]["profiles"] == ["s3"], name
    worker = services["worker-s3"]
    assert _mount_targets(worker) == [], "an s3 worker mounts no volume"
    assert _command_text(worker["command"]).startswith("nlp-pipeline worker")
    assert "container_name" not in worker and "ports" not in worker
    env = worker["environment"]
    assert env["AWS_ENDPOINT_URL"] == "http://minio:9000" and env["NLP_PIPELINE_OUTPUT_ROOT"].startswith("s3://")
    assert env["NLP_PIPELINE_BROKER_URL"] == "redis://redis:6379/0"
    assert _mount_targets(services["producer-s3"]) == ["/data/in"]
