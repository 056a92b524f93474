"""The command line of the training jobs: `python -m corpusforge.model.pretrain|sft --config`.

A job reads one JSON config (validated by its pydantic model), opens the checkpoint storage the
config names from the closed registry, and runs; a bad config or a `CorpusforgeError` ends it
with one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from corpusforge.core.errors import CorpusforgeError
from corpusforge.core.settings import validation_message
from corpusforge.model.config import TrainConfig
from corpusforge.model.storage import open_storage


def cli(
    argv: list[str] | None, config_cls: type[TrainConfig], run: Callable, description: str
) -> int:
    """Parse `--config`, validate it as `config_cls` and call `run(config, storage)`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", required=True, help="JSON file with the run's config")
    args = parser.parse_args(argv)
    try:
        config = config_cls.model_validate_json(Path(args.config).read_text())
    except OSError as exc:
        print(f"error: cannot read config {args.config}: {exc.strerror}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        reason = validation_message(exc, config_cls)
        print(f"error: invalid config {args.config}: {reason}", file=sys.stderr)
        return 2
    try:
        run(config, open_storage(config.storage, config.storage_args))
    except CorpusforgeError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0
