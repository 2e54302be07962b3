"""Celery settings that are the same for every process. The broker URL and the worker's own
settings (the visibility timeout) are applied by `workers.app.configure`."""

broker_connection_retry_on_startup = True
broker_connection_max_retries = None  # keep reconnecting while Redis restarts

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
