"""Training, evaluation and baselines for the sentiment and stance models (see docs/models.md)."""
