"""The stance stage with the shipped model, after the real NER stage: sentences whose answer is not in doubt."""

from __future__ import annotations

import pytest

from pipeline.config import load_config
from pipeline.stages.ner import NerStage
from pipeline.stages.stance import StanceStage
from tests.conftest import annotate, tiny_hf_classifier


@pytest.fixture(scope="module")
def stages():
    config = load_config()
    return NerStage(config.ner, config.targets), StanceStage(config.stance, config.targets)



def by_target(doc):
    return {s.target: s for s in doc.stances}


def test_clear_stances_and_not_mentioned(stages):
    condemn, praise, weather = annotate(
        stages,
        "NATO allies condemned Russia's invasion of Ukraine. The Kremlin's brutal war has killed thousands of civilians.",
        "Ukraine's brave soldiers heroically defended their homeland. Kyiv won wide praise for its courage.",
        "The weather in Lisbon was sunny and warm all weekend.",
    )
    russia = by_target(condemn)["Russia"]
    assert russia.stance == "against" and russia.score < 0 and russia.mentions == 2
    assert 1 <= len(russia.evidence) <= 2 and all(s in condemn.text for s in russia.evidence)
    assert by_target(praise)["Ukraine"].stance == "favor" and by_target(praise)["Ukraine"].score > 0
    assert by_target(praise)["NATO"].stance == "not_mentioned" and by_target(praise)["NATO"].score is None
    assert [s.stance for s in weather.stances] == ["not_mentioned"] * 3
    assert [s.target for s in weather.stances] == ["Russia", "NATO", "Ukraine"]


def test_batch_equals_one_by_one(stages):
    texts = ["Moscow rejected the proposal outright.", "NATO praised Finland's decision to join the Alliance."]
    together = annotate(stages, *texts)
    alone = [annotate(stages, t)[0] for t in texts]
    for a, b in zip(together, alone):
        for x, y in zip(a.stances, b.stances):
            assert (x.target, x.stance, x.mentions) == (y.target, y.stance, y.mentions)
            assert x.score == pytest.approx(y.score, abs=1e-4) if x.score is not None else y.score is None


def test_an_nli_model_from_the_configuration_scores_zero_shot(tmp_path):
    # A user with the hub may set stance.model to an NLI model; here one is built on the fly.
    tiny_hf_classifier(tmp_path / "nli", ["contradiction", "neutral", "entailment"], initializer_range=1.0)
    overlay = tmp_path / "nli.yaml"
    overlay.write_text(f"stance:\n  model: {tmp_path / 'nli'}\n", encoding="utf-8")
    config = load_config(overlay)
    ner, stance = NerStage(config.ner, config.targets), StanceStage(config.stance, config.targets)
    assert stance.model_id.startswith(f"{tmp_path / 'nli'} local ")
    (doc,) = annotate((ner, stance), "NATO allies condemned Russia's invasion. Moscow denied everything.")
    russia, nato, ukraine = (by_target(doc)[t] for t in ("Russia", "NATO", "Ukraine"))
    assert russia.mentions == 2 and len(russia.evidence) == 2 and -1 <= russia.score <= 1
    assert russia.stance in ("against", "neutral", "favor") and nato.stance in ("against", "neutral", "favor")
    assert ukraine.stance == "not_mentioned"  # Russia's "invasion" names no Ukraine alias
