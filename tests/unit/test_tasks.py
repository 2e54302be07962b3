"""Which errors a batch retries, and which stages a worker process loads at start."""

from __future__ import annotations

import errno

import pytest
import redis

from workers.signals import preloaded_groups
from workers.tasks import is_transient


@pytest.mark.parametrize(
    "exc, transient",
    [
        (OSError(errno.ENOSPC, "No space left on device"), True),
        (OSError(errno.EIO, "Input/output error"), True),
        (redis.ConnectionError("reset"), True),
        (redis.TimeoutError("slow"), True),
        (redis.AuthenticationError("wrong password"), False),
        (PermissionError(errno.EACCES, "Permission denied"), False),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory"), False),
        (FileExistsError(errno.EEXIST, "File exists"), False),
        (ValueError("a bug"), False),
    ],
)
def test_only_errors_that_can_heal_are_retried(exc, transient):
    assert is_transient(exc) is transient


@pytest.mark.parametrize(
    "preload, queues, groups",
    [
        ("auto", {"batches"}, ("text", "models")),
        ("auto", {"batches", "models"}, ("text", "models")),
        ("auto", {"models"}, ("models",)),
        ("text", {"batches"}, ("text",)),
        ("none", {"batches"}, ()),
    ],
)
def test_preloaded_groups(preload, queues, groups):
    assert preloaded_groups(preload, frozenset(queues)) == groups
