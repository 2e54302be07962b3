"""A deterministic synthetic news-like corpus of any size, for the load scripts and the tests."""

from __future__ import annotations

import json
from pathlib import Path

SUBJECTS = ["NATO", "Russia", "Ukraine", "The Kremlin", "Kyiv", "The Alliance", "Moscow", "Zelensky", "Berlin", "Warsaw"]
VERBS = ["welcomed", "criticised", "discussed", "rejected", "praised", "questioned", "condemned"]
OBJECTS = ["the new sanctions package", "the ceasefire proposal", "the grain export deal", "the summit in Madrid",
           "the prisoner exchange", "the energy agreement", "the arms shipment", "the peace talks"]


def synthetic_id(i: int) -> str:
    return f"d{i:07d}"


def synthetic_record(i: int) -> dict:
    """Article number i: three sentences, distinct from every other number's."""
    s, v, o = SUBJECTS[i % 10], VERBS[(i // 10) % 7], OBJECTS[(i // 70) % 8]
    text = (f"{s} {v} {o} on day {i % 365} of the talks, officials said on Monday. "
            f"Diplomats in Brussels and Geneva said report {i} would be published next week. "
            f"Analysts expect markets to react calmly.")
    return {"id": synthetic_id(i), "text": text}


def write_synthetic_corpus(path: Path, n: int) -> Path:
    """n articles as JSONL, ids d0000000..."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps(synthetic_record(i)) + "\n")
    return path
