"""Worker-process hooks that can be checked without a worker."""

from __future__ import annotations

import psutil
import pytest

from workers import signals

MiB = 1 << 20


@pytest.mark.skipif(signals._malloc_trim is None, reason="not glibc: malloc_trim does not exist")
def test_freed_memory_goes_back_to_the_os():
    # Many heap-sized blocks (below glibc's mmap threshold), all freed but the last: the pages
    # stay with the process until trimmed, as after a batch with a huge document.
    me = psutil.Process()
    blocks = [bytearray(4096) for _ in range(50_000)]  # ~200 MiB
    keep = blocks[-1]
    del blocks
    before = me.memory_info().rss
    signals.release_freed_memory()
    after = me.memory_info().rss
    assert before - after > 100 * MiB, (before / MiB, after / MiB)
    assert len(keep) == 4096
