"""The one interface through which training writes and reads checkpoints.

`corpusforge.model.store` (encrypted, access-controlled) implements it; training code never writes
checkpoint files anywhere else. A checkpoint is a directory (Hugging Face files plus the
resumable training state) stored and fetched as a whole under a name such as
`runs/tiny-demo/step-000100`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from corpusforge.core.errors import ConfigError
from corpusforge.model.config import StoreArgs
from corpusforge.model.store import open_store


class CheckpointStorage(Protocol):
    def put_checkpoint(self, name: str, local_dir: Path, metadata: dict[str, Any]) -> str:
        """Store every file of `local_dir` under `name` atomically; return the stored name."""
        ...

    def get_checkpoint(self, name: str, dest_dir: Path) -> Path:
        """Fetch (decrypt, verify) checkpoint `name` into `dest_dir`; return that directory."""
        ...

    def list_checkpoints(self, prefix: str = "") -> list[dict[str, Any]]:
        """Names and metadata of stored checkpoints under `prefix`, oldest first."""
        ...

    def exists(self, name: str) -> bool: ...


def _open_secure_store(args: StoreArgs) -> CheckpointStorage:
    return open_store(args.workspace, url=args.url)


# Name -> opener. Configs and flow parameters choose a name; nothing is imported by name.
STORAGE_BACKENDS: dict[str, Callable[[StoreArgs], CheckpointStorage]] = {
    "store": _open_secure_store,
}


def open_storage(name: str, args: StoreArgs) -> CheckpointStorage:
    """The checkpoint storage registered under `name`, opened with its typed arguments."""
    opener = STORAGE_BACKENDS.get(name)
    if opener is None:
        known = ", ".join(sorted(STORAGE_BACKENDS))
        raise ConfigError(f"unknown checkpoint storage {name!r}; choose one of: {known}")
    return opener(args)
