"""The producer: deterministic batches (submit_job against Redis: tests/integration/test_submit.py)."""

from __future__ import annotations

import json

from pipeline.config import BatchingConfig
from pipeline.documents import Document, Failure, Rejected
from pipeline.producer import make_batches


def doc(doc_id: str, chars: int) -> Document:
    return Document(doc_id=doc_id, source="s.jsonl", line=1, raw="x" * chars)


def rej(line: int) -> Rejected:
    return Rejected("s.jsonl", line, None, Failure("read", "InvalidJSON", "bad"))


def summary(batches) -> list[tuple[int, list[str], list[int]]]:
    return [(n, [d["doc_id"] for d in p["docs"]], [r["line"] for r in p["rejected"]]) for n, p in batches]


def test_batches_close_on_record_count():
    items = [doc(str(i), 1) for i in range(5)]
    assert summary(make_batches(items, BatchingConfig(max_chars=1000, max_docs=2))) == [
        (0, ["0", "1"], []), (1, ["2", "3"], []), (2, ["4"], [])]


def test_batches_close_on_character_budget():
    items = [doc("a", 40), doc("b", 60), doc("c", 99), doc("d", 1), doc("e", 250), doc("f", 5)]
    # a+b = 100 reaches the budget; c+d = 100 too; e alone is over it; f is the remainder.
    assert summary(make_batches(items, BatchingConfig(max_chars=100, max_docs=50))) == [
        (0, ["a", "b"], []), (1, ["c", "d"], []), (2, ["e"], []), (3, ["f"], [])]


def test_rejected_records_count_toward_max_docs_but_not_chars():
    items = [rej(1), doc("a", 10), rej(3), doc("b", 10), rej(5)]
    assert summary(make_batches(items, BatchingConfig(max_chars=15, max_docs=3))) == [
        (0, ["a"], [1, 3]), (1, ["b"], [5])]


def test_batch_payload_is_plain_json_messages():
    d = Document(doc_id="a", source="s", line=2, raw="<p>x</p>", is_html=True, title="T", published_at="2024-01-01T00:00:00+00:00")
    d.text = "annotation not sent"
    ((number, payload),) = list(make_batches([d, rej(3)], BatchingConfig()))
    assert number == 0
    assert json.loads(json.dumps(payload)) == payload
    assert payload["docs"] == [{"doc_id": "a", "source": "s", "line": 2, "raw": "<p>x</p>", "is_html": True, "title": "T",
                                "url": None, "published_at": "2024-01-01T00:00:00+00:00", "outlet": None, "duplicate_of": None}]
    assert payload["rejected"] == [{"source": "s.jsonl", "line": 3, "doc_id": None, "stage": "read",
                                    "error_type": "InvalidJSON", "message": "bad"}]
    assert Rejected.from_message(payload["rejected"][0]) == rej(3)
    assert Document.from_message(payload["docs"][0]).raw == "<p>x</p>"


def test_no_items_no_batches():
    assert list(make_batches([], BatchingConfig())) == []


def test_batches_are_deterministic():
    def items():
        return [doc(str(i), (i * 37) % 90 + 1) if i % 7 else rej(i) for i in range(200)]

    cfg = BatchingConfig(max_chars=300, max_docs=9)
    first, second = list(make_batches(items(), cfg)), list(make_batches(items(), cfg))
    assert first == second
    assert [n for n, _ in first] == list(range(len(first)))
    assert sum(len(p["docs"]) + len(p["rejected"]) for _, p in first) == 200
