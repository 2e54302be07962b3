"""Texts to padded tensor batches and back, shared by inference and training.

Batches are made of length-sorted rows: padding is what costs on CPU.
"""

from __future__ import annotations

import numpy as np
import torch

# Markers put around target mentions in the "mention" head's input.
MARK_OPEN, MARK_CLOSE = "[[", "]]"


def resolve_device(device: str | None) -> str:
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def mark_mentions(text: str, spans) -> tuple[str, list[tuple[int, int]]]:
    """Wrap each span of `text` in [[ ]]; return the new text and the spans of the marked mentions."""
    marked, new_spans, pos = [], [], 0
    for start, end in sorted((int(s), int(e)) for s, e in spans):
        if start < pos or end <= start or end > len(text):
            continue  # overlapping or invalid span
        marked.append(text[pos:start])
        offset = sum(len(p) for p in marked)
        piece = f"{MARK_OPEN}{text[start:end]}{MARK_CLOSE}"
        marked.append(piece)
        new_spans.append((offset, offset + len(piece)))
        pos = end
    marked.append(text[pos:])
    return "".join(marked), new_spans


def encode_texts(tokenizer, texts: list[str], max_length: int, seconds: list[str] | None = None, truncation: bool | str = True) -> list[dict]:
    """Encode texts, or (text, second) pairs when `seconds` is given, as one row per input."""
    if not texts:
        return []  # fast tokenizers reject an empty batch
    enc = tokenizer(list(texts), seconds, truncation=truncation, max_length=max_length)
    return [{k: enc[k][i] for k in enc.keys()} for i in range(len(texts))]


def encode_pairs(tokenizer, items, max_length: int) -> list[dict]:
    """Encode (target, text, spans) items as (target, marked text) pairs with a mention mask."""
    if not items:
        return []  # fast tokenizers reject an empty batch
    firsts, seconds, marks = [], [], []
    for target, text, spans in items:
        marked, new_spans = mark_mentions(text, spans)
        firsts.append(target)
        seconds.append(marked)
        marks.append(new_spans)
    enc = tokenizer(firsts, seconds, truncation="only_second", max_length=max_length, return_offsets_mapping=True)
    out = []
    for i in range(len(firsts)):
        seq_ids = enc.sequence_ids(i)
        target_mask = [
            int(seq == 1 and any(s < e_tok and b_tok < e for s, e in marks[i]))
            for seq, (b_tok, e_tok) in zip(seq_ids, enc["offset_mapping"][i])
        ]
        row = {k: enc[k][i] for k in enc.keys() if k != "offset_mapping"}
        row["target_mask"] = target_mask
        out.append(row)
    return out


def collate(rows: list[dict], pad_id: int, device) -> dict[str, torch.Tensor]:
    """Pad a list of encoded rows to the longest one."""
    width = max(len(r["input_ids"]) for r in rows)
    batch = {}
    for key in rows[0]:
        fill = pad_id if key == "input_ids" else 0
        batch[key] = torch.tensor([r[key] + [fill] * (width - len(r[key])) for r in rows], device=device)
    return batch


def sorted_batches(rows: list[dict], batch_size: int):
    """Yield (indices, rows) batches of similar length; callers put results back by index."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["input_ids"]))
    for b in range(0, len(order), batch_size):
        idx = order[b : b + batch_size]
        yield idx, [rows[i] for i in idx]


def run_batches(rows: list[dict], forward, width: int, *, batch_size: int, pad_id: int, device) -> np.ndarray:
    """Run `forward(batch) -> (b, width) tensor` over length-sorted batches of `rows`, without
    gradients; return the (len(rows), width) results in input order."""
    out = np.zeros((len(rows), width), dtype=np.float32)
    with torch.inference_mode():
        for idx, chunk in sorted_batches(rows, batch_size):
            out[idx] = forward(collate(chunk, pad_id, device)).float().cpu().numpy()
    return out
