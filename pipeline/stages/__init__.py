"""The processing stages. Each is a plain object with `name` and `process(docs) -> docs`."""

from pipeline.stages.base import Stage, run_stages

__all__ = ["Stage", "run_stages"]
