"""Worker-process hooks: thread settings and model warm-up, once per process; freed memory
handed back to the OS after every task."""

from __future__ import annotations

import ctypes
import logging
import os

from celery.signals import celeryd_after_setup, task_postrun, worker_process_init

from pipeline.config import load_config

log = logging.getLogger(__name__)

THREADS_ENV = "NLP_PIPELINE_THREADS"
QUEUES_ENV = "NLP_PIPELINE_CONSUMES"
PROCESSES_ENV = "NLP_PIPELINE_PROCESSES"


@celeryd_after_setup.connect
def _remember_worker_setup(sender, instance, **_):
    # Runs in the main process before the pool forks: the children learn which queues they
    # serve and how many siblings share the machine's cores.
    os.environ[QUEUES_ENV] = ",".join(sorted(instance.app.amqp.queues.consume_from))
    os.environ[PROCESSES_ENV] = str(instance.concurrency)


@worker_process_init.connect
def _init_process(**_):
    import torch

    from pipeline.processing import processor_for

    config = load_config(os.environ.get("NLP_PIPELINE_CONFIG"))
    threads = int(os.environ.get(THREADS_ENV, 0)) or config.worker.threads_per_process
    if not threads:
        processes = int(os.environ.get(PROCESSES_ENV, 0)) or os.cpu_count() or 1
        threads = max(1, (os.cpu_count() or 1) // processes)
    # Processes x threads should not exceed the cores, or they fight over them.
    torch.set_num_threads(threads)
    # Load the models this worker will need now, rather than in its first batch.
    queues = set(os.environ.get(QUEUES_ENV, "batches").split(","))
    processor = processor_for(config)
    if "batches" in queues:
        processor.text_stages
    if queues - {"batches"} or not config.worker.models_queue:
        processor.model_stages
    log.info("worker process %d ready (%d torch threads, queues %s)", os.getpid(), threads, ",".join(sorted(queues)))


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
