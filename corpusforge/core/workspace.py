"""The workspace: one directory that holds the audit log, Prefect home, store, keys and runs.

Resolved from `--workspace`, else `CORPUSFORGE_WORKSPACE`, else `./.corpusforge`.
`activate()` must run before Prefect is imported so that flow runs land in the
workspace's Prefect database (and `prefect server start` with the same PREFECT_HOME shows them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_WORKSPACE = ".corpusforge"


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def resolve(cls, path: str | Path | None = None) -> Workspace:
        chosen = path or os.environ.get("CORPUSFORGE_WORKSPACE") or DEFAULT_WORKSPACE
        return cls(Path(chosen).expanduser().resolve())

    @property
    def prefect_home(self) -> Path:
        return self.root / "prefect"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def store_dir(self) -> Path:
        return self.root / "store"

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def audit_url(self) -> str:
        """SQLAlchemy URL of the audit log: `CORPUSFORGE_AUDIT_URL` or SQLite in the workspace."""
        return os.environ.get("CORPUSFORGE_AUDIT_URL") or f"sqlite:///{self.root / 'audit.db'}"

    def run_dir(self, stage: str, name: str | None = None) -> Path:
        return self.runs_dir / (name or stage)

    def activate(self) -> Workspace:
        """Create the folders and point Prefect at this workspace (before importing prefect)."""
        for d in (self.root, self.prefect_home, self.runs_dir):
            d.mkdir(parents=True, exist_ok=True)
        os.environ["CORPUSFORGE_WORKSPACE"] = str(self.root)
        os.environ["PREFECT_HOME"] = str(self.prefect_home)
        configure_offline_environment()
        return self


def configure_offline_environment() -> None:
    """Keep every library offline and quiet: no telemetry, no hub downloads, no PSL fetch."""
    defaults = {
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "true",
        "TOKENIZERS_PARALLELISM": "false",
        # The ephemeral API server can take long to start on a busy 2-core machine.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
