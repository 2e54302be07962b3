"""`nlp-pipeline report OUT -o report.html`: one self-contained HTML page to look at a job.

The figures are computed by DuckDB over Arrow record batches that `scan` streams out of the Parquet
datasets, reading only the columns a figure needs. DuckDB keeps a narrow copy of the document and
stance columns that several figures share in its buffer pool, which MEMORY_LIMIT caps: past it,
DuckDB spills to a temporary folder. What stays in Python is the report itself (aggregates of a few
hundred rows), so memory follows the report, not the corpus.

The charts are Plotly figures, with plotly.js inlined once and a Content-Security-Policy that lets
the page load nothing from anywhere: the file opens offline and requests nothing from any host.
Every figure's numbers are also embedded as JSON (`<script type="application/json"
id="report-data">`), the single source the charts and tables are drawn from and what the tests
compare with pandas.
"""

from __future__ import annotations

import html
import json
import tempfile
from datetime import datetime
from pathlib import Path

import duckdb
import plotly.graph_objects as go
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from pipeline import __version__
from pipeline.errors import InputError, PipelineError
from pipeline.io import storage
from pipeline.labels import SENTIMENT_LABELS
from pipeline.schemas import TABLES

# The stances of a document that mentions a target, in the order the charts stack them.
MENTIONED = ("favor", "neutral", "against")
NOT_MENTIONED = "not_mentioned"
# Candidate periods with their length in days: the finest one that gives at most MAX_PERIODS
# points over the date span, so that a month of news is read by day and two years by month.
PERIODS = (("day", 1.0), ("week", 7.0), ("month", 30.44), ("quarter", 91.31), ("year", 365.25))
MAX_PERIODS = 32
TOP_OUTLETS = 10
TOP_ENTITIES = 20
# spaCy's numeric and temporal labels: "Friday" or "two" would crowd out the actors of the news.
UNNAMED_LABELS = ("DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL")
EVIDENCE_ROWS = 5
# DuckDB's buffer pool (its copies of the narrow columns, hash tables, sorts); it spills to a
# temporary folder beyond this. Leaves room under 1 GB for Python, plotly and pyarrow's reading.
MEMORY_LIMIT = "256MB"
# Part files read per pyarrow dataset. A Parquet fragment keeps the footer it has read, so one
# dataset over thousands of small files (one per table and batch, as the sink writes them) holds
# every footer until the scan ends: 900 MB for a million documents in batches of 64.
FILES_PER_SCAN = 256

JOB_FIELD = pa.field("job_id", pa.string())
MANIFEST_KEYS = ("job_id", "records", "batches", "rows", "created_at", "finished_at", "models", "versions")
COLORS = {"favor": "#1a9850", "neutral": "#9e9e9e", "against": "#d73027",
          "positive": "#1a9850", "negative": "#d73027"}


def _location(out: str) -> tuple[pafs.FileSystem, str]:
    """OUT (a local folder or an s3:// prefix) as a pyarrow filesystem and the path within it."""
    return storage.arrow_filesystem(storage.normalize(out))


def scan(out: str, table: str, columns: list[str], jobs: list[str] | None,
         where: ds.Expression | None = None) -> pa.RecordBatchReader:
    """The one place the report reads the output: `columns` of OUT/<table>, rows of `jobs` (every
    job when None) that match `where`, as a stream of record batches.

    The schema is the declared one (job_id a string even when an id looks like a number; a column
    that an older file lacks reads as null), the jobs are chosen by their partition folders, and
    projection and filter are applied by pyarrow's scanner, so nothing else is decoded."""
    fs, root = _location(out)
    path = f"{root}/{table}"
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        raise InputError(f"no {table} dataset under {out}")
    schema = TABLES[table].append(JOB_FIELD)
    dataset = ds.dataset(path, schema=schema, format="parquet", filesystem=fs,
                         partitioning=ds.partitioning(pa.schema([JOB_FIELD]), flavor="hive"))
    fragments = list(dataset.get_fragments(filter=pc.field("job_id").isin(jobs) if jobs else None))

    def batches():
        for i in range(0, len(fragments), FILES_PER_SCAN):
            fresh = [dataset.format.make_fragment(f.path, fs, f.partition_expression) for f in fragments[i:i + FILES_PER_SCAN]]
            # One file and two batches ahead: the default reads four files at once, each a row
            # group at a time, and a compacted file's row groups are large.
            yield from ds.FileSystemDataset(fresh, schema, dataset.format, fs).to_batches(
                columns=columns, filter=where, fragment_readahead=1, batch_readahead=2)

    return pa.RecordBatchReader.from_batches(pa.schema([schema.field(c) for c in columns]), batches())


def read_manifest(out: str, job: str) -> dict | None:
    """The fields of OUT/_jobs/<job>.json that the report shows; None while the job is unfinished."""
    fs, root = _location(out)
    path = f"{root}/_jobs/{job}.json"
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        return None
    with fs.open_input_stream(path) as fh:
        manifest = json.loads(fh.read())
    return {key: manifest.get(key) for key in MANIFEST_KEYS}


def choose_period(first: datetime | None, last: datetime | None) -> str | None:
    if first is None:
        return None
    span = (last - first).total_seconds() / 86400
    for name, days in PERIODS:
        if span / days + 1 <= MAX_PERIODS:
            return name
    return PERIODS[-1][0]


def _counts(column: str, labels: tuple[str, ...]) -> str:
    """SQL columns counting the rows of each label, named after the label."""
    return ", ".join(f"count(*) FILTER (WHERE {column} = '{label}') AS \"{label}\"" for label in labels)


def _with_shares(row: dict, labels: tuple[str, ...]) -> dict:
    return {**row, "share": {label: row[label] / row["n"] for label in labels}}


class _Db:
    """A private DuckDB in a temporary folder. A query reads the output through streams from `scan`,
    registered under the names its SQL uses (a stream is read once), or the tables made from them."""

    def __init__(self, out: str, jobs: list[str] | None, tmp: str):
        self.out, self.jobs = out, jobs
        # A database file in the temporary folder: the tables made below live there, not in memory.
        self.con = duckdb.connect(f"{tmp}/report.duckdb")
        self.con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        self.con.execute("SET temp_directory = ?", [tmp])
        # Every query orders its result itself; keeping scan order would cost memory for nothing.
        self.con.execute("SET preserve_insertion_order = false")
        # The input is one Arrow stream at a time, so a second thread buys little, and with two a
        # large DISTINCT ran out of memory under the limit instead of spilling.
        self.con.execute("SET threads = 1")
        # Periods are cut in UTC, the zone every timestamp is stored in.
        self.con.execute("SET TimeZone = 'UTC'")

    def table(self, name: str, *columns: str, where: ds.Expression | None = None) -> pa.RecordBatchReader:
        return scan(self.out, name, list(columns), self.jobs, where)

    def rows(self, sql: str, **tables: pa.RecordBatchReader | pa.Table) -> list[dict]:
        for name, source in tables.items():
            self.con.register(name, source)
        try:
            cursor = self.con.execute(sql)
            if cursor.description is None:
                return []
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]
        finally:
            for name in tables:
                self.con.unregister(name)

    def close(self):
        self.con.close()


def collect(out: str, jobs: list[str] | None = None) -> dict:
    """Every number the report shows, as plain JSON-ready values."""
    with tempfile.TemporaryDirectory(prefix="nlp-report-") as tmp:
        db = _Db(out, jobs, tmp)
        try:
            return _collect(db, out, jobs)
        except (OSError, pa.ArrowException, duckdb.Error) as exc:
            # A damaged or foreign file in the output: one line that names it, not a traceback.
            raise InputError(f"cannot read the output under {out}: {exc}") from None
        finally:
            db.close()


def _collect(db: _Db, out: str, jobs: list[str] | None) -> dict:
    # The document and stance columns that most figures share, read once.
    db.rows("CREATE TABLE docs AS SELECT job_id, doc_id, published_at, outlet, sentiment_label, sentiment_score, "
            "unscored_reason IS NOT NULL AS unscored FROM documents",
            documents=db.table("documents", "job_id", "doc_id", "published_at", "outlet", "sentiment_label",
                               "sentiment_score", "unscored_reason"))
    db.rows("CREATE TABLE st AS SELECT * FROM stances",
            stances=db.table("stances", "job_id", "doc_id", "target", "stance", "score"))
    db.rows("CHECKPOINT")  # into the database file: from there the buffer pool can drop them at no cost
    overview = db.rows(
        "SELECT count(*) AS documents, count(published_at) AS dated, count(*) FILTER (WHERE unscored) AS unscored, "
        "min(published_at) AS first, max(published_at) AS last, list(DISTINCT job_id ORDER BY job_id) AS jobs FROM docs")[0]
    failure_jobs = [r["job_id"] for r in db.rows("SELECT DISTINCT job_id FROM failures ORDER BY job_id",
                                                 failures=db.table("failures", "job_id"))]
    found = sorted(set(overview.pop("jobs") or []) | set(failure_jobs))
    manifests = {job: read_manifest(out, job) for job in (jobs or found)}
    for job in jobs or []:
        if job not in found and manifests[job] is None:
            raise InputError(f"no job {job} under {out} (a job's rows appear there once it has finished)")
    if not found and not any(manifests.values()):
        raise InputError(f"no job output under {out}")

    period = choose_period(overview["first"], overview["last"])
    for key in ("first", "last"):
        overview[key] = overview[key] and overview[key].isoformat()
    data = {
        "generator": f"nlp-pipeline {__version__}",
        "out": out,
        "jobs": jobs or found,
        "period": period,
        "overview": overview,
        "manifests": [{"job_id": job, "missing": True} if m is None else m for job, m in manifests.items()],
    }
    data["stance_totals"] = _stance_totals(db)
    data["stance_over_time"] = _stance_over_time(db, period)
    data["top_outlets"], data["stance_by_outlet"] = _stance_by_outlet(db)
    data["sentiment_totals"], data["sentiment_over_time"] = _sentiment(db, period)
    data["entities"] = _entities(db)
    data["evidence"] = _evidence(db)
    data["failures"] = db.rows(
        "SELECT stage, error_type, count(*) AS n FROM failures GROUP BY ALL ORDER BY n DESC, stage, error_type",
        failures=db.table("failures", "stage", "error_type"))
    return data


def _stance_totals(db: _Db) -> dict:
    """Per target, documents by stance, not_mentioned included; dates play no part."""
    totals: dict[str, dict] = {}
    for r in db.rows("SELECT target, stance, count(*) AS n FROM st GROUP BY ALL ORDER BY target, stance"):
        totals.setdefault(r["target"], {label: 0 for label in (*MENTIONED, NOT_MENTIONED)})[r["stance"]] = r["n"]
    return totals


def _by_target(rows: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for r in rows:
        target = r.pop("target")
        grouped.setdefault(target, []).append(_with_shares(r, MENTIONED))
    return grouped


def _stance_over_time(db: _Db, period: str | None) -> dict:
    """Per target and period, the documents that mention the target, by stance (dated documents only)."""
    if period is None:
        return {}
    return _by_target(db.rows(
        f"SELECT s.target, strftime(date_trunc('{period}', d.published_at), '%Y-%m-%d') AS period, "
        f"{_counts('s.stance', MENTIONED)}, count(*) AS n FROM st s JOIN docs d USING (job_id, doc_id) "
        f"WHERE s.stance <> '{NOT_MENTIONED}' AND d.published_at IS NOT NULL GROUP BY ALL ORDER BY s.target, period"))


def _stance_by_outlet(db: _Db) -> tuple[list[dict], dict]:
    """The outlets with the most documents, and per target their mentioning documents by stance."""
    top = db.rows("SELECT outlet, count(*) AS documents FROM docs WHERE outlet IS NOT NULL "
                  f"GROUP BY outlet ORDER BY documents DESC, outlet LIMIT {TOP_OUTLETS}")
    rows = db.rows(
        f"SELECT s.target, d.outlet, {_counts('s.stance', MENTIONED)}, count(*) AS n "
        "FROM st s JOIN docs d USING (job_id, doc_id) JOIN top_outlets USING (outlet) "
        f"WHERE s.stance <> '{NOT_MENTIONED}' GROUP BY ALL ORDER BY s.target, any_value(top_outlets.documents) DESC, d.outlet",
        top_outlets=pa.Table.from_pylist(top, pa.schema([("outlet", pa.string()), ("documents", pa.int64())])))
    return top, _by_target(rows)


def _sentiment(db: _Db, period: str | None) -> tuple[dict, list[dict]]:
    """Sentiment of the documents the model scored: over all of them, and per period over dated ones."""
    columns = f"count(*) AS n, avg(sentiment_score) AS mean_score, {_counts('sentiment_label', SENTIMENT_LABELS)}"
    totals = db.rows(f"SELECT {columns} FROM docs WHERE sentiment_label IS NOT NULL")[0]
    if period is None:
        return totals, []
    over_time = db.rows(
        f"SELECT strftime(date_trunc('{period}', published_at), '%Y-%m-%d') AS period, {columns} FROM docs "
        "WHERE sentiment_label IS NOT NULL AND published_at IS NOT NULL GROUP BY ALL ORDER BY period")
    return totals, [_with_shares(r, SENTIMENT_LABELS) for r in over_time]


def _entities(db: _Db) -> list[dict]:
    """The most mentioned named entities (text and label), the documents they occur in, and how
    many of those documents mention each target."""
    top = db.rows("SELECT text, label, count(*) AS mentions FROM entities GROUP BY ALL "
                  f"ORDER BY mentions DESC, text, label LIMIT {TOP_ENTITIES}",
                  entities=db.table("entities", "text", "label", where=~pc.field("label").isin(UNNAMED_LABELS)))
    if not top:
        return []
    keys = pa.table({"rank": range(len(top)), "text": [t["text"] for t in top], "label": [t["label"] for t in top]})
    # One row per (entity, document), for the top entities only, by rank: read twice below.
    db.rows("CREATE TABLE pairs AS SELECT DISTINCT k.rank, e.job_id, e.doc_id "
            "FROM entities e JOIN top_keys k USING (text, label)",
            entities=db.table("entities", "job_id", "doc_id", "text", "label", where=pc.field("text").isin(keys["text"])),
            top_keys=keys)
    documents = {r["rank"]: r["n"] for r in db.rows("SELECT rank, count(*) AS n FROM pairs GROUP BY rank")}
    with_target: dict[int, dict] = {}
    for r in db.rows("SELECT p.rank, s.target, count(*) AS n FROM pairs p JOIN st s USING (job_id, doc_id) "
                     f"WHERE s.stance <> '{NOT_MENTIONED}' GROUP BY ALL ORDER BY s.target"):
        with_target.setdefault(r["rank"], {})[r["target"]] = r["n"]
    return [{**t, "documents": documents[rank], "with_target": with_target.get(rank, {})} for rank, t in enumerate(top)]


def _evidence(db: _Db) -> dict:
    """Per target, the EVIDENCE_ROWS favor and against documents with the largest |score|, with
    their evidence sentences and where to read them."""
    picked = db.rows(
        "SELECT target, stance, job_id, doc_id, score FROM st WHERE stance IN ('favor', 'against') AND score IS NOT NULL "
        "QUALIFY row_number() OVER (PARTITION BY target, stance ORDER BY abs(score) DESC, job_id, doc_id) "
        f"<= {EVIDENCE_ROWS} ORDER BY target, stance, abs(score) DESC, job_id, doc_id")
    if not picked:
        return {}
    # The wide columns, for the picked documents only.
    ids = pc.field("doc_id").isin(sorted({p["doc_id"] for p in picked}))
    details = {(r["job_id"], r["doc_id"], r["target"]): r for r in db.rows(
        "SELECT job_id, doc_id, target, confidence, evidence FROM stances",
        stances=db.table("stances", "job_id", "doc_id", "target", "confidence", "evidence", where=ids))}
    docs = {(r["job_id"], r["doc_id"]): r for r in db.rows(
        "SELECT job_id, doc_id, title, url, outlet, published_at FROM documents",
        documents=db.table("documents", "job_id", "doc_id", "title", "url", "outlet", "published_at", where=ids))}
    evidence: dict[str, dict] = {}
    for p in picked:
        detail = details[(p["job_id"], p["doc_id"], p["target"])]
        doc = docs[(p["job_id"], p["doc_id"])]
        evidence.setdefault(p["target"], {"favor": [], "against": []})[p["stance"]].append({
            "job_id": p["job_id"], "doc_id": p["doc_id"], "score": p["score"],
            "confidence": detail["confidence"], "evidence": detail["evidence"] or [],
            "title": doc["title"], "url": doc["url"], "outlet": doc["outlet"],
            "published_at": doc["published_at"] and doc["published_at"].isoformat(),
        })
    return evidence


# ---------------------------------------------------------------------------------------------
# The page: every chart and table below is drawn from `data`, the dict `collect` returns.

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:">
<title>{title}</title>
<style>
body {{ font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; margin: 0 auto; max-width: 1180px; padding: 0 24px 48px; }}
h1 {{ font-size: 24px; margin: 24px 0 4px; }} h2 {{ border-bottom: 1px solid #ddd; margin-top: 36px; padding-bottom: 4px; }}
h3 {{ margin: 20px 0 6px; }} .muted {{ color: #666; }} .grid {{ display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }}
table {{ border-collapse: collapse; margin: 8px 0; }} th, td {{ border-bottom: 1px solid #eee; padding: 3px 10px; text-align: left; vertical-align: top; }}
td.n, th.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
.evidence {{ margin: 0 0 12px; padding: 6px 10px; border-left: 4px solid #ccc; background: #fafafa; }}
.evidence.favor {{ border-color: {favor}; }} .evidence.against {{ border-color: {against}; }}
.evidence q {{ display: block; margin: 4px 0; quotes: none; font-style: italic; }}
code {{ font-size: 12px; }}
</style>
<script>{plotlyjs}</script>
</head>
<body>
{body}
<script type="application/json" id="report-data">{data}</script>
</body>
</html>
"""

PLOT_CONFIG = {"displaylogo": False, "responsive": True}


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _link(url: str | None, text: str) -> str:
    """A link only for http(s) URLs: a URL is input data and could say `javascript:`."""
    if url and url.lower().startswith(("http://", "https://")):
        return f'<a href="{_e(url)}" rel="noreferrer noopener">{_e(text)}</a>'
    return _e(text)


def _table(header: list[str], rows: list[list], numeric: int = 0) -> str:
    """An HTML table whose last `numeric` columns are right-aligned numbers."""
    def cell(tag: str, i: int, value) -> str:
        align = ' class="n"' if i >= len(header) - numeric else ""
        return f"<{tag}{align}>{_e(value)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(fig, div_id: str) -> str:
    # The legend sits above the plot on the left, clear of Plotly's toolbar on the right.
    fig.update_layout(template="plotly_white", margin={"l": 60, "r": 20, "t": 72, "b": 40}, font={"size": 12},
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0, "xanchor": "left",
                              "traceorder": "normal"})
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOT_CONFIG)


def _stance_over_time_figure(target: str, rows: list[dict], div_id: str) -> str:
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.06)
    periods = [r["period"] for r in rows]
    # Points grow with the documents behind them: a share of one document looks as slight as it is.
    most = max(r["n"] for r in rows)
    sizes = [4 + 10 * (r["n"] / most) ** 0.5 for r in rows]
    for label in MENTIONED:
        fig.add_trace(go.Scatter(
            x=periods, y=[r["share"][label] for r in rows], name=label, mode="lines+markers",
            line={"color": COLORS[label], "width": 1.5}, marker={"size": sizes}, customdata=[[r[label], r["n"]] for r in rows],
            hovertemplate=f"{label}: %{{y:.0%}} (%{{customdata[0]}} of %{{customdata[1]}} documents)<extra></extra>"),
            row=1, col=1)
    fig.add_trace(go.Bar(x=periods, y=[r["n"] for r in rows], name="documents", marker_color="#5b7fa6",
                         text=[r["n"] for r in rows], textposition="outside", showlegend=False,
                         hovertemplate="%{y} documents mention " + _e(target) + "<extra></extra>"), row=2, col=1)
    fig.update_yaxes(title_text="share", tickformat=".0%", range=[-0.03, 1.03], row=1, col=1)
    fig.update_yaxes(title_text="documents", rangemode="tozero", row=2, col=1)
    fig.update_layout(title=f"{target}: stance of the documents that mention it, per period", height=420)
    return _figure(fig, div_id)


def _shares_bar_figure(title: str, categories: list[str], rows: list[dict], labels: tuple[str, ...], div_id: str) -> str:
    """Horizontal 100 % bars, one per category, with each segment's count written in it."""
    fig = go.Figure()
    names = [f"{c} (n={r['n']})" for c, r in zip(categories, rows)]
    for label in labels:
        fig.add_trace(go.Bar(
            y=names, x=[r["share"][label] for r in rows], name=label, orientation="h", marker_color=COLORS[label],
            text=[r[label] or "" for r in rows], textposition="inside", customdata=[r[label] for r in rows],
            hovertemplate=f"{label}: %{{x:.0%}} (%{{customdata}} documents)<extra></extra>"))
    fig.update_layout(title=title, barmode="stack", height=120 + 28 * len(rows),
                      xaxis={"tickformat": ".0%", "range": [0, 1]}, yaxis={"autorange": "reversed"})
    return _figure(fig, div_id)


def _sentiment_figure(rows: list[dict], div_id: str) -> str:
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.55, 0.45], vertical_spacing=0.06)
    periods = [r["period"] for r in rows]
    fig.add_trace(go.Scatter(x=periods, y=[r["mean_score"] for r in rows], name="mean score", mode="lines+markers",
                             line={"color": "#333"}, customdata=[r["n"] for r in rows],
                             hovertemplate="mean score %{y:+.2f} over %{customdata} documents<extra></extra>"), row=1, col=1)
    for label in SENTIMENT_LABELS:
        fig.add_trace(go.Bar(x=periods, y=[r[label] for r in rows], name=label, marker_color=COLORS[label],
                             hovertemplate=f"{label}: %{{y}} documents<extra></extra>"), row=2, col=1)
    fig.update_yaxes(title_text="mean score", range=[-1.05, 1.05], zeroline=True, row=1, col=1)
    fig.update_yaxes(title_text="documents", row=2, col=1)
    fig.update_layout(title="Document sentiment per period (score −1..1; labels counted below)", barmode="stack",
                      height=440)
    return _figure(fig, div_id)


def _entities_figure(entities: list[dict], targets: list[str], div_id: str) -> str:
    names = [f"{e['text']} ({e['label']})" for e in entities]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.45, 0.55], horizontal_spacing=0.02)
    fig.add_trace(go.Bar(y=names, x=[e["mentions"] for e in entities], orientation="h", marker_color="#5b7fa6",
                         showlegend=False, customdata=[e["documents"] for e in entities],
                         hovertemplate="%{x} mentions in %{customdata} documents<extra></extra>"), row=1, col=1)
    z = [[e["with_target"].get(t, 0) for t in targets] for e in entities]
    fig.add_trace(go.Heatmap(z=z, x=targets, y=names, colorscale="Blues", showscale=False, texttemplate="%{z}",
                             customdata=[[e["documents"]] * len(targets) for e in entities],
                             hovertemplate="%{z} of %{customdata} documents with %{y} mention %{x}<extra></extra>"),
                  row=1, col=2)
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text="mentions", row=1, col=1)
    fig.update_xaxes(title_text="documents with the entity that mention the target", side="top", row=1, col=2)
    fig.update_layout(title="Top entities and their co-occurrence with each target", height=160 + 24 * len(entities))
    return _figure(fig, div_id)


def _failures_figure(failures: list[dict], div_id: str) -> str:
    fig = go.Figure(go.Bar(y=[f"{f['stage']} · {f['error_type']}" for f in failures], x=[f["n"] for f in failures],
                           orientation="h", marker_color="#b35806", text=[f["n"] for f in failures],
                           hovertemplate="%{x} records<extra></extra>"))
    fig.update_layout(title="Failures by stage and type", height=120 + 26 * len(failures), yaxis={"autorange": "reversed"})
    return _figure(fig, div_id)


def _evidence_html(rows: list[dict], stance: str) -> str:
    if not rows:
        return f'<p class="muted">No document reads as {stance}.</p>'
    items = []
    for r in rows:
        date = r["published_at"][:10] if r["published_at"] else "no date"
        quotes = "".join(f"<q>{_e(s)}</q>" for s in r["evidence"])
        items.append(
            f'<div class="evidence {stance}"><b>{r["score"]:+.2f}</b> · {_link(r["url"], r["title"] or "(no title)")}'
            f'<br><span class="muted">{_e(r["outlet"] or "no outlet")} · {_e(date)} · <code>{_e(r["doc_id"])}</code>'
            f' · job <code>{_e(r["job_id"])}</code></span>{quotes}</div>')
    return "".join(items)


def render(data: dict) -> str:
    """The HTML page for `data`."""
    overview, targets = data["overview"], sorted(data["stance_totals"])
    period = data["period"]
    out = []
    out.append(f"<h1>Stance and sentiment report</h1><p class=\"muted\">{_e(data['out'])} · "
               f"job{'s' if len(data['jobs']) > 1 else ''} {_e(', '.join(data['jobs']))} · {_e(data['generator'])}</p>")

    dated = f"{overview['dated']} of {overview['documents']} documents have a date"
    if overview["first"]:
        dated += f" ({overview['first'][:10]} to {overview['last'][:10]}; charts over time are per {period})"
    unscored = (f" {overview['unscored']} were left unscored by a model (a language it does not read; "
                "<code>documents.unscored_reason</code> says why)." if overview["unscored"] else "")
    out.append(f"<h2>Overview</h2><p>{dated}. Documents without a date count in every part that needs no date.{unscored}</p>")
    out.append(_table(["target", *MENTIONED, NOT_MENTIONED],
                      [[t, *(data["stance_totals"][t][label] for label in (*MENTIONED, NOT_MENTIONED))] for t in targets],
                      numeric=4))
    sentiment = data["sentiment_totals"]
    mean = "n/a" if sentiment["mean_score"] is None else f"{sentiment['mean_score']:+.2f}"
    out.append(f"<p>Sentiment of the {sentiment['n']} scored documents: "
               f"{', '.join(f'{label} {sentiment[label]}' for label in SENTIMENT_LABELS)}; mean score {mean}.</p>")

    out.append("<h2>Stance over time</h2>"
               "<p class=\"muted\">Share of the documents that mention the target, per stance; the bars below "
               "each chart count those documents, so that a thin period is seen for what it is.</p>")
    for i, target in enumerate(targets):
        rows = data["stance_over_time"].get(target, [])
        out.append(_stance_over_time_figure(target, rows, f"stance-time-{i}") if rows
                   else f"<h3>{_e(target)}</h3><p class=\"muted\">No dated document mentions {_e(target)}.</p>")

    out.append("<h2>Stance by outlet</h2>")
    if not data["top_outlets"]:
        out.append("<p class=\"muted\">The documents name no outlet.</p>")
    else:
        out.append(f"<p class=\"muted\">The {len(data['top_outlets'])} outlets with the most documents; "
                   "n is the number of their documents that mention the target.</p><div class=\"grid\">")
        for i, target in enumerate(targets):
            rows = data["stance_by_outlet"].get(target, [])
            out.append("<div>" + (_shares_bar_figure(f"{target} by outlet", [r["outlet"] for r in rows], rows, MENTIONED,
                                                     f"stance-outlet-{i}") if rows
                                  else f"<h3>{_e(target)}</h3><p class=\"muted\">Not mentioned by these outlets.</p>") + "</div>")
        out.append("</div>")

    out.append("<h2>Sentiment over time</h2>")
    out.append(_sentiment_figure(data["sentiment_over_time"], "sentiment-time") if data["sentiment_over_time"]
               else "<p class=\"muted\">No document has a date.</p>")

    out.append("<h2>Entities</h2>")
    out.append(_entities_figure(data["entities"], targets, "entities") if data["entities"]
               else "<p class=\"muted\">No entities.</p>")

    out.append("<h2>Evidence</h2><p class=\"muted\">Per target, the documents read most strongly as favor and as "
               "against (largest |score|), with the sentences that carried the reading.</p>")
    for target in targets:
        ev = data["evidence"].get(target, {"favor": [], "against": []})
        out.append(f"<h3>{_e(target)}</h3><div class=\"grid\"><div><h4>favor</h4>{_evidence_html(ev['favor'], 'favor')}</div>"
                   f"<div><h4>against</h4>{_evidence_html(ev['against'], 'against')}</div></div>")

    out.append("<h2>The job</h2>")
    if data["failures"]:
        out.append(_failures_figure(data["failures"], "failures"))
    else:
        out.append("<p>No failures.</p>")
    for m in data["manifests"]:
        if m.get("missing"):
            out.append(f"<h3>{_e(m['job_id'])}</h3><p class=\"muted\">No manifest: the job has not finished.</p>")
            continue
        rows = ", ".join(f"{k} {v}" for k, v in sorted((m["rows"] or {}).items()))
        out.append(f"<h3>{_e(m['job_id'])}</h3><p>{m['records']} records in {m['batches']} batches → {_e(rows)}; "
                   f"{_e(m['created_at'])} to {_e(m['finished_at'])}.</p>")
        out.append(_table(["model", "id"], sorted((m["models"] or {}).items())))
        out.append(_table(["package", "version"], sorted((m["versions"] or {}).items())))

    # "<" escaped so that no string in the data can close the script element.
    payload = json.dumps(data, ensure_ascii=False, allow_nan=False).replace("<", "\\u003c")
    return PAGE.format(title=_e(f"Report: {', '.join(data['jobs'])}"), favor=COLORS["favor"], against=COLORS["against"],
                       plotlyjs=get_plotlyjs(), body="\n".join(out), data=payload)


def write_report(out: str, path: Path, jobs: list[str] | None = None) -> Path:
    """Collects the figures of OUT (or of `jobs` in it) and writes the page to `path`."""
    page = render(collect(out, jobs))
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise PipelineError(f"cannot write the report to {path}: {exc.strerror or exc}") from None
    return path
