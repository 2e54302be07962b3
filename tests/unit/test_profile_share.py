"""scripts/profile_share.py charges py-spy samples to libraries and pipeline stages."""

from __future__ import annotations

from scripts.profile_share import main, shares

SITE = "/venv/lib/python3.11/site-packages"
PROFILE = [
    f"celery (/repo/workers/tasks.py:40);process (/repo/pipeline/stages/ner.py:24);pipe ({SITE}/spacy/language.py:1600);"
    f"predict ({SITE}/spacy/pipeline/ner.pyx:1) 60\n",
    f"celery (/repo/workers/tasks.py:40);process (/repo/pipeline/stages/sentiment.py:31);forward ({SITE}/torch/nn/modules/linear.py:125) 30\n",
    f"celery (/repo/workers/tasks.py:40);write ({SITE}/pyarrow/parquet/core.py:1100) 6\n",
    'process 7:"celery worker";main (kombu/connection.py:300) 3\n',  # py-spy's own form: relative paths
    "main (/usr/lib/python3.11/json/encoder.py:200) 1\n",
    "not a stack line\n",
]


def test_samples_charged_to_the_innermost_library_and_the_stage():
    by_library, by_stage, total = shares(PROFILE)
    assert total == 100
    # spaCy's own "pipeline" folder is spaCy, not this repository.
    assert by_library["spaCy / thinc (NER)"] == 60
    assert by_library["torch (transformer maths)"] == 30
    assert by_library["pyarrow / Parquet"] == 6
    assert by_library["Celery / kombu / billiard / redis"] == 3
    assert by_library["other (Python stdlib, interpreter)"] == 1
    assert by_stage == {"ner": 60, "sentiment": 30, "outside the stages": 10}


def test_cli_prints_both_tables(tmp_path, capsys):
    path = tmp_path / "profile.txt"
    path.write_text("".join(PROFILE), encoding="utf-8")
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "self time by library (100 samples)" in out and "ner" in out and "60.0%" in out
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    assert main([str(tmp_path / "empty.txt")]) == 2
