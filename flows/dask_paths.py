"""Before data-stage tasks go to a Dask cluster: can every worker see the paths they will read?

Tasks read the input files and write the workspace cache on the workers. A worker on another
machine (or in a container) without the same file system at the same paths would fail each
task with a raw FileNotFoundError deep in a stage; this check asks every worker first and fails
with one line naming the worker and the path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from corpusforge.core.errors import InputError


def _missing(paths: list[str]) -> list[str]:
    """Runs on each worker: the paths it cannot see."""
    return [p for p in paths if not os.path.exists(p)]


def check_worker_paths(task_runner: str | None, paths: Iterable[str], timeout: float = 30) -> None:
    """Raise InputError when a worker of the Dask cluster at `task_runner` cannot see a path.

    Local runners and URLs (s3://, hf://: read through their own clients) are not checked."""
    if not task_runner or not task_runner.startswith(("dask://", "tcp://")):
        return
    from corpusforge.core.workspace import Workspace

    paths = [*paths]
    root = Workspace.resolve().root  # the tasks' caches live there
    if root.exists():
        paths.append(str(root))
    local = sorted({str(p) for p in paths if "://" not in str(p)})
    if not local:
        return
    from distributed import Client

    address = task_runner.replace("dask://", "tcp://", 1)
    with Client(address, timeout=timeout, set_as_default=False) as client:
        missing = client.run(_missing, local)
    for worker, gone in sorted(missing.items()):
        if gone:
            raise InputError(
                f"Dask worker {worker} cannot see {gone[0]}"
                + (f" (and {len(gone) - 1} more paths)" if len(gone) > 1 else "")
                + ": the workers need the same files at the same paths (a shared file system) "
                "or object-store URLs"
            )
