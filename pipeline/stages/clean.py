"""The cleaning stage: HTML extraction, unicode repair, whitespace, language, empty-text check.

For each document:

1. HTML (`doc.is_html`) is reduced to the article text with trafilatura, boilerplate
   (navigation, footers, share bars, comments) removed; each extracted block becomes a
   paragraph, separated by a blank line. Nothing is fetched: trafilatura only parses the
   string it is given. The page's title fills `doc.title` when the reader found none.
2. The text is repaired with ftfy (mojibake such as "donâ€™t", HTML entities left in
   plain text, C1 controls, ligatures, full-width forms; curly quotes are kept as they
   are), control characters other than newlines are removed and whitespace is normalised.
3. The language is detected with py3langid (ISO 639-1 code) when configured.
4. A document left with fewer than `min_chars` characters, or with no letter at all,
   gets a `Failure(stage="clean")` and no text.

`extract_html` and `clean_text` are the functions the stage uses; the evaluation
(`pipeline_train.cleaning_eval`) calls them directly so that it measures exactly what runs here.
"""

from __future__ import annotations

import html as html_lib
import re
import threading
from typing import Any

import ftfy
import trafilatura

from pipeline.config import CleaningConfig
from pipeline.documents import Document, Failure

# trafilatura settings compared by `nlp-pipeline eval-cleaning` (see docs/cleaning.md).
# Common to all: no comments (reader comments are not the article and would skew
# sentiment and stance), tables kept, no images, links or markup, no metadata pass.
EXTRACTION_SETTINGS: dict[str, dict[str, Any]] = {
    "precision": {"favor_precision": True},
    "balanced": {},
    "recall": {"favor_recall": True},
    "fast": {"fast": True},  # trafilatura's own algorithm only, no readability/justext fallback
}
DEFAULT_EXTRACTION = "balanced"
_COMMON_OPTIONS: dict[str, Any] = {
    "include_comments": False,
    "include_tables": True,
    "include_images": False,
    "include_links": False,
    "include_formatting": False,
    "output_format": "txt",
    "with_metadata": False,
    "deduplicate": False,
}

# Characters to delete: C0 controls except \t and \n (\r is turned into \n by ftfy),
# DEL, C1 controls, soft hyphen, zero-width space, word joiner, byte-order mark.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u200b\u2060\ufeff]+")
# Any whitespace except the newline (tabs, no-break and other unicode spaces) -> one space.
_SPACES = re.compile(r"[^\S\n]+")
_LINE_EDGES = re.compile(r" ?\n ?")
_BLANK_LINES = re.compile(r"\n{3,}")
_LETTER = re.compile(r"[^\W\d_]")
_NEWLINE = re.compile(r"\n+")

_FTFY_CONFIG = ftfy.TextFixerConfig(uncurl_quotes=False, explain=False)

_CONTENT = r"""content=(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)')"""
_TITLE_PATTERNS = (
    re.compile(r"""<meta\s[^>]*?property=["']og:title["'][^>]*?""" + _CONTENT, re.I),
    re.compile(r"<meta\s[^>]*?" + _CONTENT + r"""[^>]*?property=["']og:title["']""", re.I),
    re.compile(r"<title[^>]*>(?P<dq>.*?)</title\s*>", re.I | re.S),
    re.compile(r"<h1[^>]*>(?P<dq>.*?)</h1\s*>", re.I | re.S),
)
_TAG = re.compile(r"<[^>]+>")
_TITLE_SEARCH_CHARS = 200_000
_MAX_TITLE_CHARS = 500

# How much text the language identifier reads: the start of a long article says enough.
_LANGID_CHARS = 3000


def clean_text(text: str) -> str:
    """Repairs unicode and normalises whitespace; paragraphs stay separated by one blank line."""
    text = ftfy.fix_text(text, _FTFY_CONFIG)
    text = _CONTROL.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _LINE_EDGES.sub("\n", text)
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def extract_html(raw: str, setting: str = DEFAULT_EXTRACTION) -> str:
    """The article text of an HTML page, one blank line between blocks; "" when nothing is found."""
    options = {**_COMMON_OPTIONS, **EXTRACTION_SETTINGS[setting]}
    extracted = trafilatura.extract(raw, **options)
    if not extracted:
        return ""
    # trafilatura's txt output puts one block (paragraph, heading, list item) per line.
    return _NEWLINE.sub("\n\n", extracted.strip())


def html_title(raw: str) -> str | None:
    """The page's title (og:title, <title> or the first <h1>), or None. Cheap: regular expressions only."""
    head = raw[:_TITLE_SEARCH_CHARS]
    for pattern in _TITLE_PATTERNS:
        match = pattern.search(head)
        if match:
            title = clean_text(html_lib.unescape(_TAG.sub(" ", match.group("dq") or match.group("sq") or "")))
            title = title.replace("\n", " ")
            if title and _LETTER.search(title):
                return title[:_MAX_TITLE_CHARS]
    return None


def clean_document_text(raw: str, is_html: bool, setting: str = DEFAULT_EXTRACTION) -> str:
    """What the stage makes of a document's raw content (before the length and letter checks)."""
    text = extract_html(raw, setting) if is_html else raw
    return clean_text(text)


# One language identifier per process, loaded on first use.
_langid_lock = threading.Lock()
_langid_identifier = None


def _identifier():
    global _langid_identifier
    if _langid_identifier is None:
        with _langid_lock:
            if _langid_identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                _langid_identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _langid_identifier


def detect_language(text: str, min_confidence: float = 0.0) -> str | None:
    """ISO 639-1 code of the text's language as py3langid sees it (639-3 where there is no 639-1
    code), or None when its probability is under `min_confidence` or the text has no linguistic content."""
    language, probability = _identifier().classify(text[:_LANGID_CHARS])
    # Short texts are where the identifier guesses: English tweets and headlines came out Crimean
    # Tatar, Hausa or Pidgin at probabilities of 0.06-0.55, while real German, Russian or French
    # sentences score above 0.95 (docs/cleaning.md).
    if language == "zxx" or probability < min_confidence:  # zxx: "no linguistic content"
        return None
    return language


class CleanStage:
    name = "clean"

    def __init__(self, cfg: CleaningConfig, max_chars: int):
        """`max_chars`: the longest cleaned text accepted (input.max_doc_chars)."""
        self.cfg = cfg
        self.max_chars = max_chars
        self.setting = cfg.extraction
        if self.setting not in EXTRACTION_SETTINGS:
            raise ValueError(
                f"cleaning.extraction: unknown setting {self.setting!r}; known: {', '.join(EXTRACTION_SETTINGS)}"
            )

    def process(self, docs: list[Document]) -> list[Document]:
        for doc in docs:
            self._clean(doc)
        return docs

    def _clean(self, doc: Document) -> None:
        raw = doc.raw or ""
        if doc.is_html and doc.title is None:
            doc.title = html_title(raw)
        text = clean_document_text(raw, doc.is_html, self.setting)
        if len(text) < self.cfg.min_chars:
            what = "no article text in the HTML" if doc.is_html and not text else "no article text"
            doc.failure = Failure(
                stage=self.name,
                error_type="EmptyText",
                message=f"{what} after cleaning ({len(text)} chars; minimum {self.cfg.min_chars})",
            )
            return
        if len(text) > self.max_chars:
            doc.failure = Failure(
                stage=self.name,
                error_type="TooLong",
                message=f"{len(text):,} characters after cleaning; the limit is {self.max_chars:,} (input.max_doc_chars)",
            )
            return
        if not _LETTER.search(text):
            doc.failure = Failure(
                stage=self.name,
                error_type="NoLetters",
                message=f"no letters in the text after cleaning ({len(text)} chars of symbols, digits or junk)",
            )
            return
        doc.text = text
        doc.language = detect_language(text, self.cfg.language_min_confidence) if self.cfg.detect_language else None
