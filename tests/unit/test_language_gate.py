"""Model stages score only documents in a language their model reads."""

from __future__ import annotations

from pipeline.documents import Document
from pipeline.stages.base import LanguageGate


def doc(language):
    d = Document(doc_id=str(language), source="s", line=None, raw="x")
    d.language = language
    return d


def test_other_languages_are_left_unscored_with_the_reason():
    docs = [doc("en"), doc("de"), doc(None), doc("pt")]
    admitted = LanguageGate("stance", "en").admit(docs)
    assert [d.language for d in admitted] == ["en", None]
    assert docs[1].unscored == {"stance": "language de; the stance model reads en"}
    assert docs[0].unscored == {} and docs[2].unscored == {}


def test_an_empty_list_admits_every_language():
    docs = [doc("de"), doc("ru")]
    assert LanguageGate("sentiment", "").admit(docs) == docs and docs[0].unscored == {}


def test_several_languages():
    docs = [doc("en"), doc("de"), doc("ru")]
    assert [d.language for d in LanguageGate("sentiment", "en,de").admit(docs)] == ["en", "de"]
