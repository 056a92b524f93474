"""The one interface through which training writes and reads checkpoints.

`corpusforge.model.store` (encrypted, access-controlled) implements it; training code never writes
checkpoint files anywhere else. A checkpoint is a directory of files stored under one name such
as `runs/tiny-demo/step-000100`, atomically: the files of one directory (`put_checkpoint`), or
of several processes, each encrypting its own files (`put_part`), committed by one of them. It
is fetched whole, in part (`files`), or as byte ranges of one file (`open_ranges`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, Protocol

from corpusforge.core.errors import ConfigError
from corpusforge.model.config import StoreArgs
from corpusforge.model.store import open_store


class CheckpointStorage(Protocol):
    def put_checkpoint(
        self,
        name: str,
        local_dir: Path,
        metadata: dict[str, Any],
        parts: list[dict[str, Any]] | None = None,
    ) -> str:
        """Store every file of `local_dir`, and the files `put_part` stored as `parts`, under
        `name` atomically; return the stored name."""
        ...

    def put_part(self, name: str, local_dir: Path, metadata: dict[str, Any]) -> list[dict]:
        """Store the files of `local_dir` for checkpoint `name`, uncommitted; the returned
        entries (no secret in them) go to the `put_checkpoint` that commits the checkpoint."""
        ...

    def discard_parts(self, name: str, parts: list[dict[str, Any]]) -> None:
        """Remove parts that will not be committed."""
        ...

    def get_checkpoint(
        self,
        name: str,
        dest_dir: Path,
        mode: int = ...,
        files: Collection[str] | Callable[[str], bool] | None = None,
    ) -> Path:
        """Fetch (decrypt, verify) checkpoint `name`, or only `files` of it, into `dest_dir`;
        return that directory."""
        ...

    def open_ranges(self, name: str, path: str) -> contextlib.AbstractContextManager[Any]:
        """File `path` of checkpoint `name` for `read(offset, length)` of verified plaintext."""
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
