"""Low-rank adapters (LoRA, Hu et al. 2021) for training a delta over a frozen base encoder.

Each Linear of the encoder's layers becomes a LoRALinear: the base weight stays frozen and the layer
learns W + (alpha / rank) * B @ A, with A (rank x in) and B (out x rank). Only A, B and the heads are
trained and saved; pipeline.heads.merge_low_rank folds B @ A into the base weight at load, so the
loaded model is a plain encoder and runs as fast as the base.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from pipeline.heads import HeadsModel


class LoRALinear(nn.Module):
    """The base's own frozen Linear (shared, not copied) plus a trained low-rank update.
    B starts at zero, so training starts from the base. The factors' attribute names are the
    ones pipeline.heads.merge_low_rank looks for (LORA_A, LORA_B); the unit test folds them."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.base = base.requires_grad_(False)
        self.scale = alpha / rank
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features, device=base.weight.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, device=base.weight.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # No dropout on the adapter's input: it cost 15 % of a training step on the CPU (a copy of
        # every Linear's input) and the encoder's own dropout still applies.
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scale


def add_lora(model: HeadsModel, rank: int, alpha: float) -> int:
    """Freeze the encoder and give every Linear of its layers a low-rank adapter; return how many."""
    for param in model.encoder.parameters():
        param.requires_grad = False
    targets = [(name, module) for name, module in model.encoder.named_modules()
               if isinstance(module, nn.Linear) and ".layer." in f".{name}"]
    for name, module in targets:
        parent_name, _, child = name.rpartition(".")
        setattr(model.encoder.get_submodule(parent_name), child, LoRALinear(module, rank, alpha))
    return len(targets)
