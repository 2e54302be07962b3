"""Smoke test of scripts/bench.py: a 20-document run with tiny models writes every figure.

Timings are not checked: the benchmark reports them, it does not judge them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, SHARED_DATA, tiny_hf_classifier

NEWS = SHARED_DATA / "news"

pytestmark = pytest.mark.skipif(
    not all((NEWS / name).is_file() for name in ("kremlin_en.csv", "zelenskyy_en.csv")),
    reason=f"the benchmark corpus is not here ({NEWS}/kremlin_en.csv, zelenskyy_en.csv)",
)


def test_bench_writes_every_figure(tmp_path):
    sentiment, stance = tmp_path / "sentiment", tmp_path / "stance"
    tiny_hf_classifier(sentiment, ["negative", "neutral", "positive"])
    tiny_hf_classifier(stance, ["against", "neutral", "favor"])
    overlay = tmp_path / "bench.yaml"
    # Small batches, so that the job has several and a first one to time.
    overlay.write_text(
        f"sentiment:\n  model: {sentiment}\nstance:\n  model: {stance}\nbatching:\n  max_docs: 8\n"
        "routing:\n  models_queue: models\n",
        encoding="utf-8",
    )
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "scripts/bench.py", "--docs", "20", "--workers", "1,1+1", "--config", str(overlay), "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "docs/s" in proc.stdout

    result = json.loads(out.read_text(encoding="utf-8"))
    assert {"date", "machine", "corpus", "models", "end_to_end", "reference", "ratios"} <= set(result)
    assert {"cpu_count", "cpu_model", "torch_threads_default"} <= set(result["machine"])
    assert result["corpus"]["docs"] == 20 and result["corpus"]["words"] > 0

    run, split = result["end_to_end"]
    assert run["workers"] == "1" and run["docs"] == 20 and run["batches"] == 3
    # The split: a text worker and a models worker, one pool process each, the model stages timed apart.
    assert split["workers"] == "1+1" and split["processes"] == 2 and split["docs"] == 20
    assert len(split["memory"]["pool_processes"]) == 2 and {"text_total", "total"} <= set(split["worker_seconds"])
    assert {"seconds", "startup_seconds", "first_batch_seconds", "docs_per_s", "words_per_s", "cold_docs_per_s",
            "worker_seconds", "worker_busy_fraction", "torch_threads_per_process", "load"} <= set(run)
    assert {"clean", "ner", "sentiment", "stance", "rows+parquet"} <= set(run["stages"])
    (process,) = run["memory"]["pool_processes"]
    assert {"peak_rss_mb", "rss_at_20pct_mb", "rss_end_mb", "grew_after_warmup"} <= set(process)
    assert process["peak_rss_mb"] > 0

    ref = result["reference"]
    assert ref["docs"] == 20 and ref["batches"] == 3
    assert {"seconds", "docs_per_s", "words_per_s", "parquet_seconds", "docs_per_s_with_parquet", "model_load_seconds",
            "stage_seconds", "torch_threads"} <= set(ref)
    assert {"read+batch", "clean", "ner", "sentiment", "stance", "rows+parquet"} <= set(ref["stages"])

    assert {"best_end_to_end_over_plain_loop", "workers_1_over_plain_loop", "workers_1+1_over_plain_loop"} <= set(result["ratios"])
    assert str(tmp_path / "stance") in result["models"]["stance"]
