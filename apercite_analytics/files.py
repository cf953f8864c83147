"""Files other programs read while we write them: replaced atomically, never seen half-written."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path, mode: int = 0o644) -> Iterator[Path]:
    """A temporary file beside `path` (`.<name>.<random>`) to write in the block; renamed over `path`
    when the block ends, removed if it raises. A reader sees the old file or the new one, never half."""
    path = Path(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        yield Path(temporary)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, content: str, mode: int = 0o644) -> None:
    """Replace `path` with `content` (see `atomic_path`), so a reader (node_exporter, a dashboard,
    a script) sees the old file or the new one, never half.
    Raises OSError; callers say which setting or option named the path."""
    with atomic_path(path, mode) as temporary:
        temporary.write_text(content, encoding="utf-8")
