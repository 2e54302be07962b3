"""Measures HTML article extraction on trafilatura's English evaluation pages.

Each page in `evaldata_en_subset.json` lists snippets the article text must contain
("with") and snippets it must not contain ("without": navigation, footers, related
links...), and for most pages reader-comment snippets ("comments"), which the pipeline
also leaves out. Every page goes through `clean_document_text`, the function the clean
stage runs (extraction + unicode repair + whitespace), and the snippets are normalised
with the same `clean_text` before they are looked for.

Figures, per setting:
  keep share     with-snippets found / all with-snippets            (recall-like)
  remove share   without-snippets absent / all without-snippets
  precision      with found / (with found + without found)        (trafilatura's own eval)
  f1             harmonic mean of precision and keep share
  comments out   comment snippets absent / all comment snippets
  ms/page        wall time of the extraction and cleaning of one page

Usage: nlp-pipeline eval-cleaning [--data DIR] [--setting NAME|all] [--json OUT] [--per-page]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

from trafilatura.utils import decode_file

from pipeline.stages.clean import DEFAULT_EXTRACTION, EXTRACTION_SETTINGS, clean_document_text, clean_text

DEFAULT_DATA = Path("../shared/data/cleaning/trafilatura_en")
EVAL_FILE = "evaldata_en_subset.json"


def load_pages(data: Path) -> list[dict]:
    """The evaluation pages, each with its decoded HTML under "html", sorted by file name."""
    entries = json.loads((data / EVAL_FILE).read_text(encoding="utf-8"))
    pages = []
    for url, entry in sorted(entries.items(), key=lambda item: item[1]["file"]):
        raw = gzip.decompress((data / entry["html_gz"]).read_bytes())
        pages.append(
            {
                "file": entry["file"],
                "url": entry.get("url", url),
                # The reader hands the stage a str; decode the way trafilatura would.
                "html": decode_file(raw),
                "with": entry.get("with") or [],
                "without": entry.get("without") or [],
                "comments": entry.get("comments") or [],
            }
        )
    return pages


def _found(snippets: list[str], text: str) -> list[bool]:
    return [clean_text(s) in text for s in snippets]


def evaluate(pages: list[dict], setting: str = DEFAULT_EXTRACTION) -> dict:
    """Runs one extraction setting over the pages; returns the totals and the per-page counts."""
    per_page = []
    seconds = 0.0
    for page in pages:
        started = time.perf_counter()
        text = clean_document_text(page["html"], True, setting)
        seconds += time.perf_counter() - started
        kept = _found(page["with"], text)
        leaked = _found(page["without"], text)
        comments = _found(page["comments"], text)
        per_page.append(
            {
                "file": page["file"],
                "chars": len(text),
                "with": len(kept),
                "with_found": sum(kept),
                "without": len(leaked),
                "without_found": sum(leaked),
                "comments": len(comments),
                "comments_found": sum(comments),
                "missed": [s for s, ok in zip(page["with"], kept) if not ok],
                "leaked": [s for s, bad in zip(page["without"], leaked) if bad],
            }
        )
    n_with = sum(p["with"] for p in per_page)
    n_without = sum(p["without"] for p in per_page)
    n_comments = sum(p["comments"] for p in per_page)
    tp = sum(p["with_found"] for p in per_page)
    fp = sum(p["without_found"] for p in per_page)
    keep = tp / n_with if n_with else 0.0
    precision = tp / (tp + fp) if tp + fp else 0.0
    return {
        "setting": setting,
        "pages": len(per_page),
        "with": n_with,
        "with_found": tp,
        "without": n_without,
        "without_found": fp,
        "keep_share": keep,
        "remove_share": (n_without - fp) / n_without if n_without else 0.0,
        "precision": precision,
        "f1": 2 * precision * keep / (precision + keep) if precision + keep else 0.0,
        "comments": n_comments,
        "comments_removed_share": 1 - sum(p["comments_found"] for p in per_page) / n_comments if n_comments else 1.0,
        "empty_pages": sum(1 for p in per_page if p["chars"] == 0),
        "ms_per_page": 1000 * seconds / len(per_page) if per_page else 0.0,
        "per_page": per_page,
    }


def _table(results: list[dict]) -> str:
    header = f"{'setting':<10} {'pages':>5} {'keep':>7} {'remove':>7} {'precision':>9} {'f1':>6} {'comments out':>12} {'empty':>5} {'ms/page':>8}"
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(
            f"{r['setting']:<10} {r['pages']:>5} {r['keep_share']:>7.1%} {r['remove_share']:>7.1%} "
            f"{r['precision']:>9.1%} {r['f1']:>6.3f} {r['comments_removed_share']:>12.1%} "
            f"{r['empty_pages']:>5} {r['ms_per_page']:>8.1f}"
        )
    return "\n".join(lines)


def _per_page_table(result: dict) -> str:
    lines = [f"per page ({result['setting']}): with found/total, without found/total, chars"]
    for p in result["per_page"]:
        flag = "" if p["with_found"] == p["with"] and p["without_found"] == 0 else "  <-"
        lines.append(
            f"  {p['file']:<55} {p['with_found']}/{p['with']}  {p['without_found']}/{p['without']}  {p['chars']:>7}{flag}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="nlp-pipeline eval-cleaning",
        description="Evaluate HTML article extraction (the clean stage) on trafilatura's English test pages.",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"evaluation folder (default: {DEFAULT_DATA})")
    parser.add_argument(
        "--setting",
        default=DEFAULT_EXTRACTION,
        choices=[*EXTRACTION_SETTINGS, "all"],
        help=f"extraction setting to measure, or 'all' to compare them (default: {DEFAULT_EXTRACTION})",
    )
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write the figures as JSON here")
    parser.add_argument("--per-page", action="store_true", help="print the counts of every page")
    args = parser.parse_args(argv)

    if not (args.data / EVAL_FILE).is_file() or not (args.data / "html").is_dir():
        print(f"eval-cleaning: no evaluation data in {args.data} (expected {EVAL_FILE} and html/)", file=sys.stderr)
        return 2

    pages = load_pages(args.data)
    clean_document_text(pages[0]["html"], True)  # warm-up (imports, caches), so the first setting is not timed cold
    settings = list(EXTRACTION_SETTINGS) if args.setting == "all" else [args.setting]
    results = [evaluate(pages, s) for s in settings]

    print(f"{len(pages)} pages, {results[0]['with']} keep and {results[0]['without']} remove snippets, {args.data}")
    print(_table(results))
    for r in results:
        if args.per_page:
            print(_per_page_table(r))
        else:
            worst = [p for p in r["per_page"] if p["with_found"] < p["with"] or p["without_found"]]
            print(f"{r['setting']}: {len(worst)} pages with a missed or leaked snippet (--per-page lists all)")
    if args.json:
        args.json.write_text(json.dumps({"data": str(args.data), "results": results}, indent=2, ensure_ascii=False))
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
