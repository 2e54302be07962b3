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
    # A short text is one unit, read whole.
    assert russia.mentions == 2 and russia.evidence == [doc.text] and -1 <= russia.score <= 1
    assert russia.stance in ("against", "neutral", "favor") and nato.stance in ("against", "neutral", "favor")
    assert ukraine.stance == "not_mentioned"  # Russia's "invasion" names no Ukraine alias


def units_of(doc, target):
    return [u for u in doc.stance_units if u.target == target]


def test_a_short_text_is_read_whole_and_a_long_one_sentence_by_sentence(stages):
    ner, stance = stages
    short = "NATO allies condemned Russia's invasion. Moscow denied everything."
    long = " ".join(["Diplomats met in Geneva on Monday to discuss the grain corridor and shipping insurance."] * 12
                    + ["Moscow rejected the proposal outright.", "NATO said it would keep its troops in Poland."])
    assert stance.classifier.fits(short) and not stance.classifier.fits(long)
    short_doc, long_doc = annotate(stages, short, long)
    (unit,) = units_of(short_doc, "Russia")
    assert (unit.sentence, unit.start, unit.end, unit.text) == (None, 0, len(short), short)
    (nato,) = units_of(long_doc, "NATO")
    assert nato.sentence is not None and nato.text == "NATO said it would keep its troops in Poland."
    assert long_doc.text[nato.start : nato.end] == nato.text
    assert units_of(long_doc, "Ukraine") == []  # long, and never named: no unit, not_mentioned
    # Each head reads the unit it learned from: the whole short text goes to Russia's whole-text
    # head, a sentence of the long document to the mention head.
    (moscow,) = units_of(long_doc, "Russia")
    for u, whole in ((unit, True), (moscow, False)):
        spans = [(m.start - u.start, m.end - u.start) for m in (short_doc if whole else long_doc).mentions if m.target == "Russia"]
        expected = stance.classifier.predict([("Russia", u.text, spans)], [whole])[0]
        assert u.probs == pytest.approx(tuple(expected), abs=1e-5)
        assert u.probs != pytest.approx(tuple(stance.classifier.predict([("Russia", u.text, spans)], [not whole])[0]), abs=1e-3)


def test_a_short_text_gets_the_whole_text_heads_even_without_naming_the_target(stages):
    (doc,) = annotate(stages, "Slava Ukraini! Glory to the heroes defending our cities from the invaders.")
    assert {u.target for u in doc.stance_units} == {"Russia", "Ukraine"}  # the targets with whole-text heads
    russia = by_target(doc)["Russia"]
    assert russia.mentions == 0 and russia.stance in ("against", "not_mentioned")
    assert by_target(doc)["NATO"].stance == "not_mentioned"


def test_units_carry_their_holder(stages):
    ner, stance = stages
    long = " ".join(["Officials met in Geneva on Monday to discuss the grain corridor and shipping insurance."] * 12
                    + ["Russia views NATO's increasing influence in Ukraine as a major security threat."])
    (doc,) = annotate(stages, long)
    (nato,) = units_of(doc, "NATO")
    assert nato.holder == "Russia"
    # Only a reported view: it decides, as nothing else speaks of NATO.
    assert by_target(doc)["NATO"].evidence == [nato.text]
