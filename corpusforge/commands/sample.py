"""`corpusforge sample DIR`: a small, seeded corpus in the real source formats."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from corpusforge.commands._common import WorkspaceOption, use_workspace


def sample(
    directory: Path = typer.Argument(..., help="where to write the sample corpus"),
    seed: int = typer.Option(0, help="random seed (same seed, byte-identical files)"),
    scale: int = typer.Option(1, min=1, help="multiply the number of web pages and files"),
    workspace: WorkspaceOption = None,
) -> None:
    """Write WARC, Gutenberg, MediaWiki XML and instruction-tuning JSONL samples with planted
    PII and duplicates."""
    use_workspace(workspace)  # like every command: its log goes to the workspace
    from corpusforge.demo import write_sample  # lazy: the word lists

    info = write_sample(directory, seed=seed, scale=scale)
    typer.echo(json.dumps(info, indent=2, default=str))


def register(app: typer.Typer) -> None:
    app.command("sample")(sample)
