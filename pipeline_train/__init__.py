"""Training, evaluation, distillation and baselines of the sentiment and stance models
(docs/models.md), and the evaluation of HTML cleaning (docs/cleaning.md).

Not part of the runtime: its dependencies come with the `train` extra, the worker image leaves
this package out, and nothing in pipeline/ or workers/ imports it.
"""
