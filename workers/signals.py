"""Worker-process hooks: thread settings and model warm-up, once per process."""

from __future__ import annotations

import json
import logging
import os

from celery.signals import worker_process_init

from pipeline.config import load_config

log = logging.getLogger(__name__)

THREADS_ENV = "NLP_PIPELINE_THREADS"


@worker_process_init.connect
def _init_process(**_):
    import torch

    from pipeline.processing import processor_for
    from workers.app import app

    config = load_config(os.environ.get("NLP_PIPELINE_CONFIG"))
    threads = int(os.environ.get(THREADS_ENV, 0)) or config.worker.threads_per_process
    if not threads:
        processes = app.conf.worker_concurrency or os.cpu_count() or 1
        threads = max(1, (os.cpu_count() or 1) // processes)
    # Processes x threads should not exceed the cores, or they fight over them.
    torch.set_num_threads(threads)
    # Load the models now rather than in the first batch.
    processor_for(json.dumps(config.to_dict(), sort_keys=True))
    log.info("worker process %d ready (%d torch threads)", os.getpid(), threads)
