"""Every output table's Arrow schema, declared once.

Files never infer a schema from their rows: the sink builds each table with
`pa.Table.from_pylist(rows, schema=...)`, so a drifting type fails loudly. The
partition column `job_id` lives in the directory name (Hive style), not in the files.
Bump SCHEMA_VERSION whenever a column changes; it is stored in every file's metadata.
"""

import pyarrow as pa

SCHEMA_VERSION = "2"

_label = pa.dictionary(pa.int32(), pa.string())
_utc = pa.timestamp("us", tz="UTC")

DOCUMENTS = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("line", pa.int64()),
        pa.field("url", pa.string()),
        pa.field("title", pa.string()),
        pa.field("outlet", pa.string()),
        pa.field("published_at", _utc),
        pa.field("language", _label),
        pa.field("text", pa.string(), nullable=False),
        pa.field("n_chars", pa.int32(), nullable=False),
        pa.field("n_words", pa.int32(), nullable=False),
        pa.field("n_sentences", pa.int32(), nullable=False),
        pa.field("n_entities", pa.int32(), nullable=False),
        pa.field("duplicate_of", pa.string()),
        pa.field("sentiment_label", _label),
        pa.field("sentiment_score", pa.float32()),
        pa.field("sentiment_confidence", pa.float32()),
        pa.field("sentiment_model", _label),
        # Why a model stage left the document alone ("stance: language de; the stance model reads en"); null if scored.
        pa.field("unscored_reason", pa.string()),
        pa.field("batch", pa.int32(), nullable=False),
        pa.field("processed_at", _utc, nullable=False),
        pa.field("pipeline_version", _label, nullable=False),
    ]
)

ENTITIES = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("sentence", pa.int32(), nullable=False),
        pa.field("start", pa.int32(), nullable=False),
        pa.field("end", pa.int32(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("label", _label, nullable=False),
        pa.field("target", _label),
    ]
)

STANCES = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("target", _label, nullable=False),
        pa.field("stance", _label, nullable=False),
        pa.field("score", pa.float32()),
        pa.field("confidence", pa.float32()),
        pa.field("mentions", pa.int32(), nullable=False),
        pa.field("evidence", pa.list_(pa.string())),
        pa.field("stance_model", _label),
    ]
)

STANCE_SENTENCES = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("target", _label, nullable=False),
        # Index into the document's sentences; null when the unit is the whole (short) text.
        pa.field("sentence", pa.int32()),
        pa.field("start", pa.int32(), nullable=False),
        pa.field("end", pa.int32(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("stance", _label, nullable=False),
        pa.field("p_against", pa.float32(), nullable=False),
        pa.field("p_neutral", pa.float32(), nullable=False),
        pa.field("p_favor", pa.float32(), nullable=False),
        # "text" (the document's own statement), "quoted", or the party whose view the unit reports.
        pa.field("holder", pa.string(), nullable=False),
    ]
)

FAILURES = pa.schema(
    [
        pa.field("doc_id", pa.string()),
        pa.field("source", pa.string(), nullable=False),
        pa.field("line", pa.int64()),
        pa.field("stage", _label, nullable=False),
        pa.field("error_type", _label, nullable=False),
        pa.field("message", pa.string(), nullable=False),
        pa.field("batch", pa.int32(), nullable=False),
        pa.field("failed_at", _utc, nullable=False),
    ]
)

TABLES = {
    "documents": DOCUMENTS,
    "entities": ENTITIES,
    "stances": STANCES,
    "stance_sentences": STANCE_SENTENCES,
    "failures": FAILURES,
}
