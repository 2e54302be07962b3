"""Whole-file writes that readers never see half done."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

_UMASK = os.umask(0)
os.umask(_UMASK)


def write_atomic(final: Path, write: Callable[[BinaryIO], None]) -> None:
    """Calls `write` on a hidden temporary file beside `final`, flushes it to disk, then renames it
    over `final`. A writer killed midway leaves at most a `.<name>.*.tmp` file, never a partial
    `final`; concurrent writers of the same name each use a temporary name of their own."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates the file 0600; output is for others to read, so honour the umask instead.
        os.chmod(tmp, 0o666 & ~_UMASK)
        # os.replace is atomic on POSIX when both names are on one filesystem, hence the same folder.
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
