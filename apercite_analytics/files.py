"""Files other programs read while we write them: replaced atomically, never seen half-written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: str | Path, content: str, mode: int = 0o644) -> None:
    """Replace `path` with `content`: a temporary file in the same folder, then a rename, so a
    reader (node_exporter, a dashboard, a script) sees the old file or the new one, never half.
    Raises OSError; callers say which setting or option named the path."""
    path = Path(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
