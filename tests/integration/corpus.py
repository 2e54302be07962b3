"""A mixed-format test corpus whose every record has a known fate."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from tests.conftest import write_jsonl

GOOD_JSONL = [
    {"id": "j1", "title": "Sanctions", "published_at": "2022-03-01T10:00:00+02:00", "outlet": "Wire",
     "text": "NATO allies condemned Russia's invasion of Ukraine on Tuesday. The Kremlin said Vladimir Putin would answer the new sanctions."},
    {"id": "j2", "title": "Aid", "published_at": "2022-04-02",
     "text": "Volodymyr Zelensky thanked the allies for the air defence systems delivered to Kyiv. Ukrainian forces pushed Russian troops back near Kharkiv."},
    {"id": "j3", "text": "The weather in Lisbon was sunny and warm all weekend, and the beaches along the coast were crowded with families."},
    {"id": 4, "text": "Jens Stoltenberg said NATO would hold a summit in Madrid in June to discuss the Alliance's eastern flank."},
    {"text": "An article without an id gets one derived from its content, and this one mentions Moscow once."},
    {"id": "j6", "text": "Die Regierung in Berlin hat am Montag neue Hilfen für die Landwirtschaft beschlossen, teilte das Ministerium mit."},
    {"id": "j7", "text": "NATO allies condemned Russia's invasion of Ukraine on Tuesday. The Kremlin said Vladimir Putin would answer the new sanctions."},
]
BROKEN_JSONL = [
    ('{"id": "bad-json", "text": "unterminated', "InvalidJSON"),
    ('{"id": "no-text", "title": "Missing"}', "MissingText"),
    ('{"id": "empty-text", "text": "   "}', "EmptyText"),
    ('{"id": "wrong-type", "text": 42}', "WrongType"),
    ('{"id": "j1", "text": "A second record reusing the id j1 must be rejected."}', "DuplicateId"),
    ('{"id": "bad-date", "text": "Some text about Ukraine that is long enough.", "published_at": "next Tuesday-ish"}', "InvalidDate"),
    ('{"id": "too-long", "text": "' + "word " * 5000 + '"}', "TooLong"),
    ('{"id": "nav-only", "text": "<html><body><nav><a href=\\"/\\">Home</a></nav></body></html>"}', "EmptyText"),
]
GOOD_CSV = [
    {"id": "c1", "title": "Talks", "text": "Russian and Ukrainian delegations met in Istanbul for talks, the Turkish foreign ministry said."},
    {"id": "c2", "title": "Budget", "text": "The city council in Leeds approved its budget for the coming year after a long debate."},
]
HTML_PAGE = """<html><head><title>{title}</title></head><body>
<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a> <a href="/login">Log in</a></nav>
<div class="cookie">We use cookies to improve your experience. Accept all cookies.</div>
<article><h1>{title}</h1>
<p>{body}</p>
<p>Officials said further talks were planned for next week, and that the statement had been agreed with partners.</p>
<p>Analysts said the decision would be watched closely in European capitals over the coming months.</p>
</article>
<footer>Copyright 2022 Example News. All rights reserved. Privacy policy. Terms of use.</footer>
</body></html>"""
GOOD_HTML = {
    "h1.html": ("NATO boosts eastern flank", "NATO will send more troops to Poland and the Baltic states, Secretary General Jens Stoltenberg said on Wednesday."),
    "sub/h2.html": ("Kyiv prepares for winter", "Engineers in Kyiv are repairing power lines damaged by Russian missile strikes, Ukraine's energy ministry said."),
}


def build(root: Path) -> dict:
    """Writes the corpus under `root`; returns the inputs and the expected fate of every record."""
    jsonl = write_jsonl(root / "docs.jsonl", GOOD_JSONL + [line for line, _ in BROKEN_JSONL])
    with jsonl.open("ab") as fh:
        fh.write(b'{"id": "bad-bytes", "text": "caf\xe9 \xff\xfe"}\n')
    csv_path = root / "docs.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "title", "text"])
        for row in GOOD_CSV:
            writer.writerow([row["id"], row["title"], row["text"]])
        fh.write("c3,only two fields\n")
    html_dir = root / "html"
    for name, (title, body) in GOOD_HTML.items():
        (html_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (html_dir / name).write_text(HTML_PAGE.format(title=title, body=body), encoding="utf-8")
    (html_dir / "empty.html").write_bytes(b"")
    (html_dir / "notes.pdf").write_bytes(b"%PDF-1.4")
    # (doc_id or None when the record has no readable id, stage, error_type)
    failures = [(_id(line), _stage(kind, line), kind) for line, kind in BROKEN_JSONL]
    failures += [(None, "read", "UndecodableBytes"), (None, "read", "InvalidCSVRow"),
                 ("empty.html", "read", "EmptyText"), (None, "read", "UnsupportedFile")]
    return {
        "inputs": [str(jsonl), str(csv_path), str(html_dir)],
        "good_ids": ["j1", "j2", "j3", "4", "j6", "j7", "c1", "c2", "h1.html", "sub/h2.html"],
        "content_id_text": GOOD_JSONL[4]["text"],
        "failures": sorted(failures, key=str),
    }

def _id(line: str) -> str | None:
    return None if line.startswith('{"id": "bad-json"') else re.search(r'"id": "([^"]+)"', line).group(1)


def _stage(kind: str, line: str) -> str:
    if kind == "InvalidJSON":
        return "read"
    # The text cap applies to the cleaned text.
    return "clean" if "nav-only" in line or kind == "TooLong" else "validate"
