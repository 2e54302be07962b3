"""The models that ship with the package, and how a job's config names them.

`sentiment.model` / `stance.model` take a tier name, a model folder, or a Hugging Face model id:
  builtin   the small tier: a fine-tuned all-MiniLM-L6-v2, whole, in pipeline/models/<task>
  accurate  the accurate tier: a delta (low-rank adapters and heads) in pipeline/models/<task>_accurate
            over all-mpnet-base-v2, which each machine installs once (pipeline.accurate_base)
"""

from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent / "models"
TIERS = {"builtin": "{task}", "accurate": "{task}_accurate"}


def model_folder(spec: str, task: str) -> Path:
    """The folder a model spec names: a tier's shipped folder, else the spec read as a path."""
    return MODELS_DIR / TIERS[spec].format(task=task) if spec in TIERS else Path(spec)


def tier_of(spec: str) -> str:
    return spec if spec in TIERS else "own"
