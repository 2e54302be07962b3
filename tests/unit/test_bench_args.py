"""The benchmark's command line (the run itself is smoke-tested in test_bench.py)."""

from scripts.bench import parse_args


def test_default_and_split_worker_layouts():
    # argparse applies `type` only to string defaults: a list default once reached the run unparsed.
    assert parse_args([]).workers == [(1,), (2,)]
    assert parse_args(["--workers", "2,1+1"]).workers == [(2,), (1, 1)]
