"""Where the CPU time of a run goes, by library, from a py-spy profile of it.

    py-spy record --subprocesses --format raw --rate 50 -o bench-out/profile.txt -- \\
        nlp-pipeline run corpus.jsonl --out /tmp/out --workers 1
    python scripts/profile_share.py bench-out/profile.txt

py-spy's raw format is one line per distinct stack: frames separated by ';' (outermost first),
then the number of samples. Each sample is charged to the library of its innermost frame (its
"self" time), so the table says which code the CPUs were actually running: the models (torch,
spaCy/thinc), tokenisation, or the pipeline's own Python, Celery, Redis and Parquet. Without
py-spy's --native, time in compiled code counts for the Python frame that called it (attention
matrix products called from transformers' BERT code count as transformers). The second table
charges whole stacks to the pipeline stage they ran under; "outside the stages" is start-up
(imports, model loading), the producer and the benchmark's own polling.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

# Checked in order: the first pattern found in the innermost frame's file path names its library.
LIBRARIES = [
    ("torch (transformer maths)", ("/torch/",)),
    ("transformers (model code and the tensor ops it calls)", ("/transformers/",)),
    ("tokenizers", ("/tokenizers/",)),
    ("spaCy / thinc (NER)", ("/spacy/", "/thinc/", "/cymem/", "/preshed/", "/srsly/")),
    ("numpy", ("/numpy/",)),
    ("cleaning (trafilatura, lxml, ftfy, langid)", ("/trafilatura/", "/lxml/", "/ftfy/", "/py3langid/", "/justext/", "/htmldate/", "/courlan/")),
    ("pyarrow / Parquet", ("/pyarrow/",)),
    ("Celery / kombu / billiard / redis", ("/celery/", "/kombu/", "/billiard/", "/redis/", "/vine/")),
    ("pipeline + workers (this repository)", ("/pipeline/", "/workers/")),
]
STAGE = re.compile(r"process \(.*pipeline/stages/(\w+)\.py")
FRAME_FILE = re.compile(r"\((.*?):\d+\)$")


def library(frame: str) -> str:
    match = FRAME_FILE.search(frame)
    # py-spy writes paths relative to their sys.path entry ("torch/nn/..."): anchor them.
    path = "/" + (match.group(1) if match else frame).lstrip("/")
    for name, patterns in LIBRARIES:
        if any(p in path for p in patterns):
            return name
    return "other (Python stdlib, interpreter)"


def shares(lines) -> tuple[Counter, Counter, int]:
    by_library, by_stage, total = Counter(), Counter(), 0
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        by_library[library(frames[-1])] += n
        stages = [m.group(1) for f in frames if (m := STAGE.search(f))]
        by_stage[stages[-1] if stages else "outside the stages"] += n
    return by_library, by_stage, total


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("profile", type=Path, help="py-spy record --format raw output")
    args = ap.parse_args(argv)
    with args.profile.open(encoding="utf-8", errors="replace") as fh:
        by_library, by_stage, total = shares(fh)
    if not total:
        print(f"error: no samples in {args.profile}", file=sys.stderr)
        return 2
    for title, counter in (("self time by library", by_library), ("time by pipeline stage", by_stage)):
        print(f"{title} ({total} samples)")
        for name, n in counter.most_common():
            print(f"  {name:55s} {n:8d}  {100 * n / total:5.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
