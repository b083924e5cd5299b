"""Evidence files on disk, by content hash: `<root>/ab/abcdef…` (the same file is stored once)."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path


class LocalFileStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def stat(self, path: str) -> int | None:
        try:
            p = Path(path)
            return p.stat().st_size if p.is_file() else None
        except OSError:
            return None

    def put(self, path: str) -> tuple[str, str]:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        sha = digest.hexdigest()
        target = self.root / sha[:2] / sha
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            # copy to a temporary name, then rename: a crash never leaves a half file under the hash
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
            os.close(fd)
            try:
                shutil.copyfile(path, tmp)
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        return sha, str(target)
