"""Builds the Celery app; nothing else. Tasks live in workers.tasks, settings in workers.celeryconfig."""

from celery import Celery

app = Celery("workers", include=["workers.tasks", "workers.signals"])
app.config_from_object("workers.celeryconfig")
