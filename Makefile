# Two commands on a fresh machine: `make run` (the sample job) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= out/sample
# A new job id per `make run`: the summary shows this run, whatever earlier runs left in $(OUT).
JOB := sample-$(shell date +%Y%m%d-%H%M%S)
DOCS ?= 5000
# The accurate tier runs 4.4x slower end to end (0.29 docs/s on 2 CPU cores): its benchmark corpus is smaller.
ACCURATE_DOCS ?= 100

.PHONY: run test bench bench-accurate profile install clean models-accurate

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: a plain `torch` requirement would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/nlp-pipeline run pipeline/sample/articles.jsonl pipeline/sample/html \
		--out $(OUT) --job $(JOB) --workers 2
	$(BIN)/nlp-pipeline summary $(OUT) --job $(JOB)
	$(BIN)/nlp-pipeline report $(OUT) --job $(JOB) -o $(OUT)/report-$(JOB).html

# The accurate tier's base encoder (all-mpnet-base-v2, ~440 MB), downloaded with pinned hashes and
# checked against the official release; into ~/.cache/nlp-pipeline unless NLP_PIPELINE_ACCURATE_BASE says otherwise.
# Run again, it finds the verified install and does nothing.
models-accurate: $(STAMP)
	$(BIN)/nlp-pipeline install-accurate-base

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

# Throughput of the whole run path against a plain loop, and the same job into a local S3 server
# (see docs/benchmark.md); needs ../shared/data/news.
bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m scripts.bench --docs $(DOCS) --s3 --json bench-out/bench.json

# The same with the accurate tier's stance model (configs/accurate.yaml); needs `make models-accurate` once.
bench-accurate: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m scripts.bench --docs $(ACCURATE_DOCS) --config configs/accurate.yaml --json bench-out/bench-accurate.json

# Where the CPU time goes, by library and by stage: py-spy samples of a small bench run.
profile: $(STAMP)
	mkdir -p bench-out
	HF_HUB_OFFLINE=1 $(BIN)/py-spy record --subprocesses --format raw --rate 50 -o bench-out/profile.txt -- \
		$(BIN)/python scripts/bench.py --docs $(DOCS) --workers 1
	$(BIN)/python scripts/profile_share.py bench-out/profile.txt

clean:
	rm -rf $(VENV) out
