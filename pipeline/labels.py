"""The label sets of the two tasks, and how another model's labels map onto them.

No torch here: the stages import the label order from this module without loading a model.
"""

from __future__ import annotations

import re

SENTIMENT_LABELS = ("negative", "neutral", "positive")
STANCE_LABELS = ("against", "neutral", "favor")
TASK_LABELS = {"sentiment": SENTIMENT_LABELS, "stance": STANCE_LABELS}

# Zero-shot with an NLI model: one hypothesis per label, in our label order, against the text as
# premise. Stance names the configured target (e.g. "NATO"), not the mention's words.
NLI_HYPOTHESES = {
    "sentiment": ("This text is negative.", "This text is neutral.", "This text is positive."),
    "stance": ("This text is against {target}.", "This text is neutral about {target}.", "This text is in favor of {target}."),
}

_SYNONYMS = {
    "sentiment": {
        "negative": {"negative", "neg", "label_neg"},
        "neutral": {"neutral", "neu", "none", "mixed"},
        "positive": {"positive", "pos", "label_pos"},
    },
    "stance": {
        "against": {"against", "negative", "neg", "con", "oppose", "opposed"},
        "neutral": {"neutral", "neu", "none", "neither", "unrelated"},
        "favor": {"favor", "favour", "positive", "pos", "pro", "support", "in favor", "in favour"},
    },
}


def map_labels(id2label: dict, task: str) -> list[int]:
    """Map a classifier's id2label onto our label order: for each of our labels, the model's
    output index (or -1 when the model has no such class, e.g. a binary sentiment model's neutral).

    Generic names LABEL_0.. are read positionally: with 2 classes as (negative, positive) like
    SST-2, with 3 classes in our label order. Raises ValueError naming the labels it cannot map.
    """
    ours = TASK_LABELS[task]
    names = {int(i): str(n).strip().lower() for i, n in id2label.items()}
    generic = [re.fullmatch(r"label_(\d+)", n) for n in names.values()]
    index = [-1] * len(ours)
    if all(generic):
        if len(names) == 3:
            index = [0, 1, 2]
        elif len(names) == 2:
            index = [0, -1, 1]
        else:
            raise ValueError(f"cannot map {len(names)} generic labels {sorted(names.values())} to {ours}")
        return index
    unmapped = []
    for i, name in names.items():
        hits = [k for k, label in enumerate(ours) if name in _SYNONYMS[task][label]]
        if not hits:
            unmapped.append(id2label[i] if i in id2label else name)
            continue
        index[hits[0]] = i
    if unmapped or (index[0] < 0 and index[2] < 0):
        raise ValueError(
            f"cannot map the model's labels {[str(n) for n in id2label.values()]} to {ours} "
            f"(unmapped: {unmapped}); expected names like {sorted(_SYNONYMS[task][ours[0]])} / "
            f"{sorted(_SYNONYMS[task][ours[1]])} / {sorted(_SYNONYMS[task][ours[2]])}"
        )
    return index


def nli_entailment_index(id2label: dict) -> int | None:
    """The output index of an NLI model's "entailment" label, or None for any other classifier."""
    return next((int(i) for i, name in id2label.items() if str(name).strip().lower() == "entailment"), None)
