"""Worker-process hooks: thread settings and model warm-up, once per process; freed memory
handed back to the OS after every task."""

from __future__ import annotations

import ctypes
import logging
import os

from celery.signals import celeryd_after_setup, task_postrun, worker_process_init

from workers.app import current_setup

log = logging.getLogger(__name__)

# Filled in the main process before the pool forks, so that every pool process inherits them.
_pool: dict = {"queues": frozenset({"batches"}), "processes": os.cpu_count() or 1}


@celeryd_after_setup.connect
def _remember_worker_setup(sender, instance, **_):
    # The children learn which queues they serve and how many siblings share the machine's cores.
    _pool["queues"] = frozenset(instance.app.amqp.queues.consume_from)
    _pool["processes"] = instance.concurrency


def preloaded_groups(preload: str, queues: frozenset[str]) -> tuple[str, ...]:
    """Which stage groups ("text", "models") a worker process loads at start."""
    if preload == "auto":
        return ("text", "models") if "batches" in queues else ("models",)
    return {"all": ("text", "models"), "text": ("text",), "models": ("models",), "none": ()}[preload]


@worker_process_init.connect
def _init_process(**_):
    import torch

    from pipeline.processing import processor_for

    setup = current_setup()
    threads = setup.settings.torch_threads(_pool["processes"])
    torch.set_num_threads(threads)
    # Load the models this worker will need now, rather than in its first batch.
    processor = processor_for(setup.preload)
    groups = preloaded_groups(setup.settings.preload, _pool["queues"])
    if "text" in groups:
        processor.text_stages
    if "models" in groups:
        processor.model_stages
    log.info("worker process %d ready (%d torch threads, queues %s)", os.getpid(), threads, ",".join(sorted(_pool["queues"])))


def _libc_malloc_trim():
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc (macOS, musl): nothing to hand back this way


_malloc_trim = _libc_malloc_trim()


@task_postrun.connect
def release_freed_memory(**_):
    """glibc keeps the pages a batch freed for later use, so without this a worker's RSS stays at
    the size of the largest batch it has seen (one 176,000-character release lifts it by ~1 GiB)
    and looks like growth. Trimming costs milliseconds per batch."""
    if _malloc_trim is not None:
        _malloc_trim(0)
