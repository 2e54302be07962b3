"""The sentiment stage with the shipped model: documents whose tone is not in doubt."""

from __future__ import annotations

import pytest

from pipeline.config import load_config
from pipeline.stages.ner import NerStage
from pipeline.stages.sentiment import SentimentStage
from tests.conftest import annotate


@pytest.fixture(scope="module")
def stages():
    config = load_config()
    return NerStage(config.ner, config.targets), SentimentStage(config.sentiment)



def test_document_sentiment(stages):
    good, bad, flat = annotate(
        stages,
        "The rescue was a wonderful success. Families celebrated joyfully as every child came home safe.",
        "The attack was a horrific massacre. Dozens of innocent people were brutally killed.",
        "The committee will meet on Tuesday to discuss the budget. The meeting starts at ten.",
    )
    assert good.sentiment.label == "positive" and good.sentiment.score > 0.3
    assert bad.sentiment.label == "negative" and bad.sentiment.score < -0.3
    assert flat.sentiment.label == "neutral" and abs(flat.sentiment.score) < 0.5
    for doc in (good, bad, flat):
        assert -1 <= doc.sentiment.score <= 1 and 0 < doc.sentiment.confidence <= 1
    assert stages[1].model_id.split()[0]  # name version hash, recorded in the output
