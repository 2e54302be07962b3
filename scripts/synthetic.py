"""A synthetic news-like corpus of any size, for the load scripts (deterministic)."""

from __future__ import annotations

import json
from pathlib import Path

SUBJECTS = ["NATO", "Russia", "Ukraine", "The Kremlin", "Kyiv", "The Alliance", "Moscow", "Zelensky", "Berlin", "Warsaw"]
VERBS = ["welcomed", "criticised", "discussed", "rejected", "praised", "questioned", "condemned"]
OBJECTS = ["the new sanctions package", "the ceasefire proposal", "the grain export deal", "the summit in Madrid",
           "the prisoner exchange", "the energy agreement", "the arms shipment", "the peace talks"]


def write_corpus(path: Path, n: int) -> Path:
    """n distinct articles of two to three sentences, ids s0000000..."""
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            s, v, o = SUBJECTS[i % 10], VERBS[(i // 10) % 7], OBJECTS[(i // 70) % 8]
            text = (f"{s} {v} {o} on day {i % 365} of the talks, officials said on Monday. "
                    f"Diplomats in Brussels and Geneva said report {i} would be published next week. "
                    f"Analysts expect markets to react calmly.")
            fh.write(json.dumps({"id": f"s{i:07d}", "text": text}) + "\n")
    return path
