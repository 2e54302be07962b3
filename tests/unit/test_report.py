"""The report's numbers are the ones plain pandas gets from the Parquet tables.

Every figure the report embeds (the `report-data` JSON its charts are drawn from) is computed here
again with pandas over the tables as `pd.read_parquet` returns them, and compared: counts and
shares exactly, mean scores to float precision (DuckDB and pandas add in different orders).
"""

from __future__ import annotations

import html
import json
import re
from datetime import datetime, timezone

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import report
from pipeline.errors import InputError
from pipeline.schemas import TABLES
from scripts.report_scale import write_synthetic_output

MENTIONED = ["favor", "neutral", "against"]
SENTIMENT = ["negative", "neutral", "positive"]
FREQ = {"day": "D", "week": "W", "month": "M", "quarter": "Q", "year": "Y"}


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    """Two jobs of one corpus (the same document ids in both), as `run` would leave them."""
    path = tmp_path_factory.mktemp("out")
    write_synthetic_output(path, 1500, job="first", docs_per_file=400)
    write_synthetic_output(path, 900, job="second", seed=1, docs_per_file=400)
    return path


def load(out, jobs=None) -> dict[str, pd.DataFrame]:
    filters = [("job_id", "in", jobs)] if jobs else None
    tables = {}
    for name in ("documents", "entities", "stances", "failures"):
        df = pd.read_parquet(out / name, filters=filters)
        for column in df.select_dtypes("category"):  # dictionary-encoded labels, and job_id
            df[column] = df[column].astype(df[column].cat.categories.dtype)
        tables[name] = df
    return tables


def period_of(published: pd.Series, period: str) -> pd.Series:
    return published.dt.tz_localize(None).dt.to_period(FREQ[period]).dt.start_time.dt.strftime("%Y-%m-%d")


def with_shares(row: dict, labels: list[str]) -> dict:
    return {**row, "share": {label: row[label] / row["n"] for label in labels}}


def label_counts(group: pd.DataFrame, column: str, labels: list[str]) -> dict:
    counts = group[column].value_counts()
    return {label: int(counts.get(label, 0)) for label in labels}


def expected(t: dict[str, pd.DataFrame], period: str | None) -> dict:
    docs, stances, ents, fails = t["documents"], t["stances"], t["entities"], t["failures"]
    keys = ["job_id", "doc_id"]
    mentioned = stances[stances["stance"] != "not_mentioned"]
    e = {"overview": {"documents": len(docs), "dated": int(docs["published_at"].notna().sum()),
                      "unscored": int(docs["unscored_reason"].notna().sum()),
                      "first": docs["published_at"].min().isoformat() if docs["published_at"].notna().any() else None,
                      "last": docs["published_at"].max().isoformat() if docs["published_at"].notna().any() else None}}
    e["jobs"] = sorted(set(docs["job_id"]) | set(fails["job_id"]))
    e["stance_totals"] = {target: label_counts(g, "stance", MENTIONED + ["not_mentioned"])
                          for target, g in stances.groupby("target")}

    e["stance_over_time"] = {}
    if period:
        dated = mentioned.merge(docs[keys + ["published_at"]], on=keys).dropna(subset=["published_at"])
        dated = dated.assign(period=period_of(dated["published_at"], period))
        e["stance_over_time"] = {
            target: [with_shares({"period": p, **label_counts(pg, "stance", MENTIONED), "n": len(pg)}, MENTIONED)
                     for p, pg in g.groupby("period")]
            for target, g in dated.groupby("target")}

    outlets = docs["outlet"].value_counts().rename("documents").reset_index()
    outlets = outlets.sort_values(["documents", "outlet"], ascending=[False, True]).head(report.TOP_OUTLETS)
    e["top_outlets"] = [{"outlet": o, "documents": int(n)} for o, n in zip(outlets["outlet"], outlets["documents"])]
    e["stance_by_outlet"] = {}
    if len(outlets):
        by_outlet = mentioned.merge(docs[keys + ["outlet"]], on=keys)
        by_outlet = by_outlet[by_outlet["outlet"].isin(outlets["outlet"])]
        order = list(outlets["outlet"])
        e["stance_by_outlet"] = {
            target: sorted([with_shares({"outlet": o, **label_counts(og, "stance", MENTIONED), "n": len(og)}, MENTIONED)
                            for o, og in g.groupby("outlet")], key=lambda r: order.index(r["outlet"]))
            for target, g in by_outlet.groupby("target")}

    def sentiment(group: pd.DataFrame) -> dict:
        return {"n": len(group), "mean_score": pytest.approx(float(group["sentiment_score"].astype("float64").mean()), rel=1e-9),
                **label_counts(group, "sentiment_label", SENTIMENT)}

    scored = docs.dropna(subset=["sentiment_label"])
    e["sentiment_totals"] = sentiment(scored)
    e["sentiment_over_time"] = []
    if period:
        dated = scored.dropna(subset=["published_at"])
        e["sentiment_over_time"] = [with_shares({"period": p, **sentiment(g)}, SENTIMENT)
                                    for p, g in dated.groupby(period_of(dated["published_at"], period))]

    named = ents[~ents["label"].isin(report.UNNAMED_LABELS)]
    top = named.groupby(["text", "label"]).size().rename("mentions").reset_index()
    top = top.sort_values(["mentions", "text", "label"], ascending=[False, True, True]).head(report.TOP_ENTITIES)
    e["entities"] = []
    for text, label, mentions in top.itertuples(index=False):
        with_entity = named[(named["text"] == text) & (named["label"] == label)][keys].drop_duplicates()
        both = with_entity.merge(mentioned[keys + ["target"]], on=keys)
        e["entities"].append({"text": text, "label": label, "mentions": int(mentions), "documents": len(with_entity),
                              "with_target": {k: int(v) for k, v in both["target"].value_counts().sort_index().items()}})

    e["evidence"] = {}
    strongest = mentioned[mentioned["stance"].isin(["favor", "against"])].dropna(subset=["score"])
    strongest = strongest.assign(strength=strongest["score"].abs()).merge(
        docs[keys + ["title", "url", "outlet", "published_at"]], on=keys)
    for (target, stance), g in strongest.groupby(["target", "stance"]):
        g = g.sort_values(["strength", "job_id", "doc_id"], ascending=[False, True, True]).head(report.EVIDENCE_ROWS)
        e["evidence"].setdefault(target, {"favor": [], "against": []})[stance] = [{
            "job_id": r.job_id, "doc_id": r.doc_id, "score": float(r.score), "confidence": float(r.confidence),
            "evidence": list(r.evidence), "title": None if pd.isna(r.title) else r.title,
            "url": None if pd.isna(r.url) else r.url, "outlet": None if pd.isna(r.outlet) else r.outlet,
            "published_at": None if pd.isna(r.published_at) else r.published_at.isoformat(),
        } for r in g.itertuples()]

    failures = fails.groupby(["stage", "error_type"]).size().rename("n").reset_index()
    failures = failures.sort_values(["n", "stage", "error_type"], ascending=[False, True, True])
    e["failures"] = [{"stage": s, "error_type": t, "n": int(n)} for s, t, n in failures.itertuples(index=False)]
    return e


def assert_same(data: dict, want: dict):
    for key, value in want.items():
        assert data[key] == value, key


def test_the_figures_are_those_of_pandas(out):
    data = report.collect(str(out))
    assert data["period"] == "month"  # two years of news
    assert_same(data, expected(load(out), "month"))
    # The synthetic tables have what the figures must cope with: undated documents, documents
    # without an outlet or unscored, the same ids in two jobs, failures.
    assert 0 < data["overview"]["dated"] < data["overview"]["documents"] == 2400 and data["overview"]["unscored"] > 0
    assert data["sentiment_totals"]["n"] == 2400 - data["overview"]["unscored"]
    assert data["jobs"] == ["first", "second"] and len(data["stance_by_outlet"]) == 3 and data["failures"]


def test_one_job(out):
    data = report.collect(str(out), ["second"])
    assert_same(data, expected(load(out, ["second"]), data["period"]))
    assert data["overview"]["documents"] == 900
    assert [m["job_id"] for m in data["manifests"]] == ["second"] and data["manifests"][0]["records"] == 900


def test_without_dates_or_outlets_everything_else_still_counts(tmp_path):
    write_synthetic_output(tmp_path, 300, job="bare", dated=0.0, with_outlet=0.0)
    data = report.collect(str(tmp_path))
    assert data["period"] is None and data["overview"]["dated"] == 0
    assert data["stance_over_time"] == {} and data["sentiment_over_time"] == [] and data["top_outlets"] == []
    assert_same(data, expected(load(tmp_path), None))
    scored = 300 - data["overview"]["unscored"]
    assert sum(data["stance_totals"]["NATO"].values()) == scored and data["sentiment_totals"]["n"] == scored
    assert data["entities"] and data["evidence"]
    page = report.render(data)
    assert "No document has a date." in page and "The documents name no outlet." in page


@pytest.mark.parametrize("days, period", [(0, "day"), (30, "day"), (100, "week"), (700, "month"), (2000, "quarter"), (20000, "year")])
def test_the_period_follows_the_date_span(days, period):
    first = datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert report.choose_period(first, first + pd.Timedelta(days=days)) == period


def test_only_the_needed_columns_are_read(out, monkeypatch):
    reads = []
    scan = report.scan

    def recording(out, table, columns, jobs, where=None):
        reads.append((table, tuple(columns), where is not None))
        return scan(out, table, columns, jobs, where)

    monkeypatch.setattr(report, "scan", recording)
    report.collect(str(out))
    assert not [r for r in reads if r[0] == "documents" and "text" in r[1]]
    # The wide columns are read only for the few rows the page shows.
    assert {r[2] for r in reads if "evidence" in r[1] or "title" in r[1]} == {True}


def page_data(page: str) -> dict:
    block = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S).group(1)
    return json.loads(block)


def test_the_page_embeds_the_figures_and_escapes_the_data(tmp_path):
    write_synthetic_output(tmp_path, 200, job="hostile")
    # Titles and URLs come from the input: make the strongest evidence documents' hostile.
    title = "</script><script>alert(1)</script> & <b>"
    path = tmp_path / "documents" / "job_id=hostile" / "part-000000.parquet"
    docs = pq.read_table(path)
    docs = docs.set_column(docs.schema.get_field_index("title"), TABLES["documents"].field("title"), pa.array([title] * len(docs)))
    docs = docs.set_column(docs.schema.get_field_index("url"), TABLES["documents"].field("url"),
                           pa.array(["javascript:alert(1)"] * len(docs)))
    pq.write_table(docs, path)
    data = report.collect(str(tmp_path))
    page = report.render(data)
    assert page_data(page) == json.loads(json.dumps(data))
    assert page_data(page)["evidence"]["NATO"]["favor"][0]["title"] == title
    assert "<script>alert(1)" not in page and 'href="javascript:' not in page
    assert html.escape(title) in page


def test_an_unknown_job_is_named(out):
    with pytest.raises(InputError, match="no job third under"):
        report.collect(str(out), ["first", "third"])
