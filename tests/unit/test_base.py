"""run_stages: a document that makes a stage raise fails alone; the rest of the batch goes on."""

from __future__ import annotations

import pytest

from pipeline.documents import Document, Failure
from pipeline.errors import MAX_ERROR_MESSAGE
from pipeline.stages.base import run_stages


def make(*ids: str) -> list[Document]:
    return [Document(doc_id=i, source="s", line=n, raw=i) for n, i in enumerate(ids, start=1)]


class Recorder:
    """Appends its name to every document it sees; raises for the ids in `poison`."""

    def __init__(self, name: str, poison=(), exc=ValueError, message: str | None = None):
        self.name = name
        self.poison = set(poison)
        self.exc = exc
        self.message = message
        self.calls: list[list[str]] = []

    def process(self, docs):
        self.calls.append([d.doc_id for d in docs])
        for d in docs:
            if d.doc_id in self.poison:
                raise self.exc(self.message if self.message is not None else f"cannot handle {d.doc_id}")
        for d in docs:
            d.text = (d.text or "") + f"[{self.name}]"
        return docs


def test_all_good_runs_every_stage_once_on_the_whole_batch():
    docs = make("a", "b")
    first, second = Recorder("one"), Recorder("two")
    seconds = run_stages([first, second], docs)
    assert list(seconds) == ["one", "two"] and all(s >= 0 for s in seconds.values())
    assert first.calls == [["a", "b"]] and second.calls == [["a", "b"]]
    assert [d.text for d in docs] == ["[one][two]", "[one][two]"]
    assert all(d.failure is None for d in docs)


def test_failing_document_is_isolated_and_skipped_later():
    docs = make("a", "bad", "c")
    first, second = Recorder("one", poison={"bad"}), Recorder("two")
    run_stages([first, second], docs)
    # The batch call, then one call per document.
    assert first.calls == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]
    assert second.calls == [["a", "c"]]
    assert docs[1].failure == Failure(stage="one", error_type="ValueError", message="cannot handle bad")
    assert [d.text for d in docs] == ["[one][two]", None, "[one][two]"]
    assert docs[0].failure is None and docs[2].failure is None


def test_failures_in_two_stages():
    docs = make("a", "b", "c")
    run_stages([Recorder("one", poison={"a"}, exc=KeyError), Recorder("two", poison={"c"}, exc=RuntimeError)], docs)
    assert [(d.failure.stage, d.failure.error_type) if d.failure else None for d in docs] == [
        ("one", "KeyError"), None, ("two", "RuntimeError")]
    assert docs[1].text == "[one][two]"


def test_already_failed_documents_are_not_processed():
    docs = make("a", "b")
    docs[0].failure = Failure("read", "X", "earlier")
    stage = Recorder("one")
    run_stages([stage], docs)
    assert stage.calls == [["b"]]
    assert docs[0].failure == Failure("read", "X", "earlier")


def test_no_active_documents_still_reports_the_stage():
    docs = make("a")
    docs[0].failure = Failure("clean", "EmptyText", "empty")
    stage = Recorder("one")
    assert list(run_stages([stage], docs)) == ["one"]
    assert stage.calls == []


def test_all_documents_failing():
    docs = make("a", "b")
    run_stages([Recorder("one", poison={"a", "b"})], docs)
    assert [d.failure.message for d in docs] == ["cannot handle a", "cannot handle b"]


def test_batch_only_error_fails_nobody():
    """A stage that fails on the batch but works per document (e.g. a batch-size problem)."""

    class BatchShy:
        name = "shy"

        def process(self, docs):
            if len(docs) > 1:
                raise RuntimeError("batch too large")
            docs[0].text = "ok"
            return docs

    docs = make("a", "b")
    run_stages([BatchShy()], docs)
    assert [(d.text, d.failure) for d in docs] == [("ok", None), ("ok", None)]


def test_long_and_empty_messages():
    docs = make("long", "empty")

    class Stage:
        name = "s"

        def process(self, docs):
            for d in docs:
                if d.doc_id == "long":
                    raise ValueError("x" * 2000)
                raise ValueError()
            return docs

    run_stages([Stage()], docs)
    assert docs[0].failure.message == "x" * MAX_ERROR_MESSAGE
    assert docs[1].failure.message == "ValueError()"


def test_base_exceptions_are_not_swallowed():
    class Interrupt:
        name = "i"

        def process(self, docs):
            raise KeyboardInterrupt

    docs = make("a")
    with pytest.raises(KeyboardInterrupt):
        run_stages([Interrupt()], docs)
    assert docs[0].failure is None
