"""Celery settings. The broker URL comes from the environment (NLP_PIPELINE_BROKER_URL);
the tunables come from the pipeline configuration (configs/default.yaml, overlaid by the
file named in NLP_PIPELINE_CONFIG)."""

import os

from pipeline.config import BROKER_ENV, load_config

_worker = load_config(os.environ.get("NLP_PIPELINE_CONFIG")).worker

broker_url = os.environ.get(BROKER_ENV, "redis://127.0.0.1:6379/0")
broker_connection_retry_on_startup = True
broker_connection_max_retries = None  # keep reconnecting while Redis restarts
broker_transport_options = {
    # An unacknowledged batch (its worker died) is redelivered after this many seconds.
    # It must exceed the slowest batch, or a healthy batch would run twice.
    "visibility_timeout": _worker.visibility_timeout,
    # Look for such abandoned batches every 5 s (kombu's default is every 100 s): a batch lost
    # with its worker is back in the queue within visibility_timeout + 5 s.
    "unacked_restore_interval": 5,
    "unacked_restore_throttle": 1,
    "socket_timeout": 30,
    "socket_connect_timeout": 10,
    "retry_on_timeout": True,
    "health_check_interval": 30,
}

# Publishing (the producer, the finalize request) waits out a Redis restart instead of failing.
task_publish_retry = True
task_publish_retry_policy = {"max_retries": 60, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 2}
# A task running while the connection drops keeps going; if its ack is lost with the
# connection, the batch is redelivered after the visibility timeout and rewrites the same files.
worker_cancel_long_running_tasks_on_connection_loss = False

# JSON only: a message can never make a worker unpickle anything.
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
event_serializer = "json"
task_compression = "zlib"

# No result backend: progress and counts live in the job state, not in task results.
task_ignore_result = True

# A batch is acknowledged only after its Parquet files are committed, and requeued if
# the process running it dies. Safe because a batch's output files are overwritten, not appended.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1

# Loading spaCy and two transformers takes several seconds in a fresh worker process.
worker_proc_alive_timeout = 120

task_default_queue = "batches"
# nlp.score_batch is sent to the job's worker.models_queue explicitly when the job asks for it.
task_routes = {"nlp.process_batch": {"queue": "batches"}, "nlp.finalize_job": {"queue": "batches"}}

worker_hijack_root_logger = False
