"""Builds the Celery app and applies the broker URL and the worker's settings to it.

Tasks live in workers.tasks, the static Celery settings in workers.celeryconfig. A process
started as `celery -A workers worker` is configured from the environment at import;
`nlp-pipeline worker` and the producer call `configure` with what they were given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from celery import Celery

from pipeline.config import BROKER_ENV, PRELOAD_ENV, WORKER_CONFIG_ENV, Config, WorkerSettings, load_config, load_worker_settings

app = Celery("workers", include=["workers.tasks", "workers.signals"])
app.config_from_object("workers.celeryconfig")


@dataclass(frozen=True)
class WorkerSetup:
    settings: WorkerSettings
    # The job configuration whose models a worker process loads at start.
    preload: Config


# What this process runs with; set by `configure` only.
_setup: list[WorkerSetup] = []


def current_setup() -> WorkerSetup:
    return _setup[-1]


def configure(broker_url: str, settings: WorkerSettings | None = None, preload: Config | None = None) -> None:
    """Points the app at `broker_url` and gives this process its worker settings."""
    _setup[:] = [WorkerSetup(settings or WorkerSettings(), preload or load_config())]
    if app.conf.broker_url != broker_url:
        # Connections already pooled point at the old broker (a benchmark runs one deployment after
        # another in one process): drop them, as Celery does in a forked child.
        app._after_fork()
    app.conf.broker_url = broker_url
    app.conf.broker_transport_options = {
        # An unacknowledged batch (its worker died) is redelivered after this many seconds.
        # It must exceed the slowest batch, or a healthy batch would run twice.
        "visibility_timeout": current_setup().settings.visibility_timeout,
        # Look for such abandoned batches every 5 s (kombu's default is every 100 s): a batch lost
        # with its worker is back in the queue within visibility_timeout + 5 s.
        "unacked_restore_interval": 5,
        "unacked_restore_throttle": 1,
        "socket_timeout": 30,
        "socket_connect_timeout": 10,
        "retry_on_timeout": True,
        "health_check_interval": 30,
    }


configure(
    os.environ.get(BROKER_ENV, "redis://127.0.0.1:6379/0"),
    load_worker_settings(os.environ.get(WORKER_CONFIG_ENV)),
    load_config(os.environ.get(PRELOAD_ENV)) if os.environ.get(PRELOAD_ENV) else None,
)
