"""Model loaders, cached per process: a worker process loads each model once, on first use.

Heavy imports happen inside the loaders so that the CLI and the producer start fast.
"""

from __future__ import annotations

from functools import lru_cache

from pipeline.errors import ConfigError

# spaCy components the NER stage does not use. The sentence recogniser ("senter") is much
# cheaper than the dependency parser and is all we need for sentence boundaries.
SPACY_EXCLUDE = ["parser", "tagger", "lemmatizer", "attribute_ruler", "morphologizer"]


@lru_cache(maxsize=None)
def load_spacy(name: str):
    import spacy

    try:
        nlp = spacy.load(name, exclude=SPACY_EXCLUDE)
    except OSError as exc:
        raise ConfigError(f"cannot load spaCy model {name!r}: {exc}") from None
    if "senter" in nlp.disabled:
        nlp.enable_pipe("senter")
    if not nlp.has_pipe("senter") and not nlp.has_pipe("parser"):
        nlp.add_pipe("sentencizer", first=True)
    nlp.max_length = 2_000_000
    return nlp


@lru_cache(maxsize=None)
def load_sentiment(spec: str, batch_size: int, max_length: int, quantize: str):
    from pipeline.classifiers import load_sentiment as load

    return load(spec, batch_size=batch_size, max_length=max_length, quantize=quantize)


@lru_cache(maxsize=None)
def load_stance(spec: str, batch_size: int, max_length: int, quantize: str):
    from pipeline.classifiers import load_stance as load

    return load(spec, batch_size=batch_size, max_length=max_length, quantize=quantize)
