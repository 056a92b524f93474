"""A directory-backed `CheckpointStorage` for tests (the encrypted one is
`corpusforge.model.store`)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


class DirectoryStorage:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _dir(self, name: str) -> Path:
        return self.root / name

    def put_checkpoint(self, name: str, local_dir: Path, metadata: dict[str, Any]) -> str:
        final = self._dir(name)
        if final.exists():
            raise FileExistsError(f"checkpoint {name} exists (checkpoints are immutable)")
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=".incoming-"))
        shutil.copytree(local_dir, tmp / "files")
        (tmp / "meta.json").write_text(json.dumps({"name": name, **metadata}))
        os.replace(tmp, final)  # atomic: readers see the old one or the whole new one
        return name

    def get_checkpoint(self, name: str, dest_dir: Path) -> Path:
        shutil.copytree(self._dir(name) / "files", dest_dir)
        return Path(dest_dir)

    def list_checkpoints(self, prefix: str = "") -> list[dict[str, Any]]:
        metas = [json.loads(p.read_text()) for p in self.root.rglob("meta.json")]
        metas = [m for m in metas if m["name"].startswith(prefix)]
        return sorted(metas, key=lambda m: (m.get("created", 0), m["name"]))

    def exists(self, name: str) -> bool:
        return (self._dir(name) / "meta.json").is_file()
