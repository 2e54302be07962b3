"""`nlp-pipeline summary OUT`: what an output folder or s3:// prefix holds, read back with pandas."""

from __future__ import annotations

import pandas as pd

from pipeline.errors import InputError
from pipeline.io import storage
from pipeline.schemas import TABLES


def load_table(out: str, table: str, job: str | None = None) -> pd.DataFrame:
    path = storage.join(out, table)
    try:
        if not storage.exists(path):
            raise InputError(f"no {table} dataset under {out}")
        filters = [("job_id", "=", job)] if job else None
        return storage.read_parquet(path, filters=filters)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {storage.redact(exc.strerror or str(exc))}") from None


def summarize(out: str, job: str | None = None, top: int = 10) -> str:
    location = storage.normalize(out)
    tables = {name: load_table(location, name, job) for name in TABLES}
    docs, ents, stances, fails = tables["documents"], tables["entities"], tables["stances"], tables["failures"]
    lines = [f"{out}" + (f" (job {job})" if job else f" ({docs['job_id'].nunique()} job(s))")]
    lines.append("rows: " + ", ".join(f"{name} {len(df)}" for name, df in tables.items()))
    if len(docs):
        lines.append(f"languages: {docs['language'].value_counts().to_dict()}")
        lines.append(f"duplicates flagged: {docs['duplicate_of'].notna().sum()}")
        lines.append(f"sentiment: {docs['sentiment_label'].value_counts().to_dict()}")
        unscored = docs["unscored_reason"].notna()
        if unscored.any():
            lines.append(f"not scored by a model stage (a language it does not read): {int(unscored.sum())} documents")
    if len(fails):
        lines.append("failures by stage and type:")
        counts = fails.groupby(["stage", "error_type"], observed=True).size().sort_values(ascending=False)
        lines += [f"  {stage:10} {etype:20} {n}" for (stage, etype), n in counts.items()]
    if len(ents):
        lines.append(f"top {top} entities:")
        counts = ents.groupby(["text", "label"], observed=True).size().sort_values(ascending=False).head(top)
        lines += [f"  {text:30} {label:8} {n}" for (text, label), n in counts.items()]
    if len(stances):
        lines.append("stance per target (documents; mean score over documents that mention it):")
        for target, group in stances.groupby("target", observed=True):
            dist = group["stance"].value_counts()
            mentioned = group[group["stance"] != "not_mentioned"]
            mean = f"{mentioned['score'].mean():+.2f}" if len(mentioned) else "n/a"
            parts = ", ".join(f"{label} {dist.get(label, 0)}" for label in ("favor", "neutral", "against", "not_mentioned"))
            lines.append(f"  {target:10} {parts}; mean score {mean}")
    return "\n".join(lines)
