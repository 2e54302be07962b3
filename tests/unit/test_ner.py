"""The NER stage with the real spaCy model (loaded once for the module)."""

from __future__ import annotations

import pytest

from pipeline.config import NerConfig, Target, load_config
from pipeline.documents import Document
from pipeline.errors import ConfigError
from pipeline.stages.base import run_stages
from pipeline.stages.ner import NerStage
from tests.conftest import annotate


@pytest.fixture(scope="module")
def stage() -> NerStage:
    return NerStage(NerConfig(), load_config().targets)


def cleaned(doc_id: str, text: str) -> Document:
    doc = Document(doc_id=doc_id, source="s", line=1, raw=text)
    doc.text = text
    return doc


TEXT_A = "NATO leaders met in Brussels on Monday. Russia condemned the meeting, the Kremlin said."
TEXT_B = "Volodymyr Zelensky visited Washington. The Alliance promised more help to Ukraine's army."


def test_sentences_entities_and_mentions(stage):
    (doc,) = stage.process([cleaned("a", TEXT_A)])
    assert doc.sentences == [(0, 39), (40, 87)]
    assert doc.sentence_text(1) == "Russia condemned the meeting, the Kremlin said."
    by_text = {e.text: e for e in doc.entities}
    assert (by_text["NATO"].label, by_text["NATO"].start, by_text["NATO"].end, by_text["NATO"].sentence) == ("ORG", 0, 4, 0)
    assert (by_text["Russia"].label, by_text["Russia"].sentence, by_text["Russia"].target) == ("GPE", 1, "Russia")
    assert by_text["NATO"].target == "NATO"
    assert by_text["Brussels"].target is None
    for e in doc.entities:
        assert doc.text[e.start:e.end] == e.text
    assert [(m.target, m.text, m.start, m.end, m.sentence, m.via) for m in doc.mentions] == [
        ("NATO", "NATO", 0, 4, 0, "alias"),
        ("Russia", "Russia", 40, 46, 1, "alias"),
        ("Russia", "the Kremlin", 70, 81, 1, "alias"),
    ]


def test_batch_keeps_each_documents_own_annotations(stage):
    docs = [cleaned("a", TEXT_A), cleaned("b", TEXT_B), cleaned("c", "Nothing to see here today.")]
    out = stage.process(docs)
    assert out is docs
    assert [d.doc_id for d in out] == ["a", "b", "c"]
    b = docs[1]
    assert len(b.sentences) == 2
    assert [(m.target, m.text, m.sentence) for m in b.mentions] == [
        ("Ukraine", "Volodymyr Zelensky", 0), ("NATO", "The Alliance", 1), ("Ukraine", "Ukraine", 1)]
    assert docs[2].mentions == [] and all(e.target is None for e in docs[2].entities)
    # Processing alone gives the same result as in a batch.
    (alone,) = stage.process([cleaned("b", TEXT_B)])
    assert alone.entities == b.entities and alone.mentions == b.mentions


def test_every_character_offset_is_in_its_sentence(stage):
    text = "Kyiv asked for help.\n\nNATO agreed on Tuesday. Moscow objected; Putin spoke."
    (doc,) = stage.process([cleaned("x", text)])
    for e in doc.entities:
        start, end = doc.sentences[e.sentence]
        assert start <= e.start < end
    for m in doc.mentions:
        start, end = doc.sentences[m.sentence]
        assert start <= m.start and m.end <= end
    assert {m.target for m in doc.mentions} == {"Ukraine", "NATO", "Russia"}


def test_ner_via_run_stages(stage):
    docs = [cleaned("a", TEXT_A)]
    seconds = run_stages([stage], docs)
    assert set(seconds) == {"ner"} and docs[0].failure is None and docs[0].mentions


def test_new_words_do_not_stay_in_the_vocabulary(stage):
    # A worker sees new strings (names, numbers) in every batch; keeping them all grows it without bound.
    stage.process([cleaned("warm", TEXT_A)])
    strings = len(stage.nlp.vocab.strings)
    docs = stage.process([cleaned(f"n{i}", f"Zorblaxian envoy Qwertova{i} met Flimbart{i} in Gdansk on day {i}317.") for i in range(20)])
    assert len(stage.nlp.vocab.strings) == strings
    # ... while what the stage extracted outlives spaCy's documents.
    assert any(e.text.startswith("Qwertova") for d in docs for e in d.entities)


def test_unknown_model_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot load spaCy model 'no_such_model_xyz'"):
        NerStage(NerConfig(model="no_such_model_xyz"), ())


def test_non_ascii_aliases_in_any_case_do_not_break_documents():
    # An alias İstanbul made every text containing "istanbul" fail here with AttributeError.
    targets = load_config().targets + (Target("Turkey", ("Türkiye", "İstanbul", "Ankara"), ("GPE",)), Target("Street", ("Große Straße",), ("FAC", "LOC")))
    stage = NerStage(NerConfig(), targets)
    text = "Delegations met in istanbul on Monday. ISTANBUL and TÜRKIYE hosted them; NATO watched from the GROSSE STRASSE."
    docs = [cleaned("t", text)]
    seconds = run_stages([stage], docs)
    assert set(seconds) == {"ner"} and docs[0].failure is None
    found = [(m.target, m.text) for m in docs[0].mentions if m.via == "alias"]
    assert found == [("Turkey", "istanbul"), ("Turkey", "ISTANBUL"), ("Turkey", "TÜRKIYE"), ("NATO", "NATO"), ("Street", "GROSSE STRASSE")]
    for m in docs[0].mentions:
        assert text[m.start:m.end] == m.text


def test_paragraph_bounded_cuts_sentences_at_blank_lines():
    from pipeline.stages.ner import paragraph_bounded

    text = "Kyiv, a former Soviet republic\n\nRussia has blamed NATO.\n \nEnd"
    spans = paragraph_bounded(text, [(0, len(text))])
    assert [text[a:b] for a, b in spans] == ["Kyiv, a former Soviet republic", "Russia has blamed NATO.", "End"]


def test_no_sentence_crosses_a_paragraph_break(stage):
    text = ("Ukraine was once a part of the Soviet Union and is now an independent former Soviet republic\n\n"
            "Russia has blamed NATO and the West for the tensions. Diplomats met on Monday.")
    (doc,) = annotate([stage], text)
    sentences = [doc.sentence_text(i) for i in range(len(doc.sentences))]
    assert all("\n\n" not in s for s in sentences)
    assert sentences[1].startswith("Russia has blamed NATO")
    nato = [m for m in doc.mentions if m.target == "NATO"]
    assert nato and all(m.sentence == 1 for m in nato)
