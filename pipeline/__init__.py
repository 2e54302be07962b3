"""Batch NLP for news: the library. It never imports Celery; `workers/` wraps it."""

__version__ = "0.1.0"
