"""`corpusforge tokenize IN -o OUT`: train a BPE tokenizer and write token shards."""

from __future__ import annotations

from pathlib import Path

import typer

from corpusforge.commands._common import (
    AllowIncompleteOption,
    OverwriteOption,
    TaskRunnerOption,
    WorkspaceOption,
    build_config,
    check_task_runner,
    fail,
    flows_imported,
    use_workspace,
)


def _parse_mixture(values: list[str]) -> dict[str, float] | None:
    if not values:
        return None
    mixture: dict[str, float] = {}
    for item in values:
        name, sep, weight = item.partition("=")
        try:
            mixture[name.strip()] = float(weight)
        except ValueError:
            sep = ""
        if not sep:
            fail(f"--mix expects SOURCE=WEIGHT, got {item!r}")
    return mixture


def tokenize(
    input: str = typer.Argument(
        ..., help="document shards: directory, .parquet or .jsonl, or an s3:// (fsspec) URL"
    ),
    output: str = typer.Option(..., "-o", "--output", help="output directory or URL"),
    vocab_size: int = typer.Option(32_768, help="BPE vocabulary size (multiple of 64)"),
    tokenizer: Path | None = typer.Option(
        None, "--tokenizer", help="use this local Hugging Face tokenizer directory (no training)"
    ),
    val_fraction: float = typer.Option(0.01, help="share of documents in the val split"),
    shard_tokens: int = typer.Option(100_000_000, help="tokens per output shard (about)"),
    train_sample_bytes: int = typer.Option(200_000_000, help="text bytes to train the tokenizer"),
    mix: list[str] = typer.Option(
        [], "--mix", help="source share, repeatable: --mix web=0.6 --mix books=0.2 --mix wiki=0.2"
    ),
    seed: int = typer.Option(0, help="salt of the split/sample/mixture hashes"),
    workers: int | None = typer.Option(None, help="encoding processes (default: cores)"),
    task_runner: TaskRunnerOption = None,
    overwrite: OverwriteOption = False,
    allow_incomplete: AllowIncompleteOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Train (or adopt) a tokenizer and encode documents into train/val token shards."""
    check_task_runner(task_runner)
    use_workspace(workspace)
    from corpusforge.flows.tokenize import TokenizeParams, run_tokenize  # lazy: Prefect
    from corpusforge.pipeline.tokenize.config import TokenizeConfig  # lazy: tokenizers, pyarrow

    flows_imported()

    config = build_config(
        TokenizeConfig,
        vocab_size=vocab_size,
        tokenizer_dir=str(tokenizer) if tokenizer else None,
        val_fraction=val_fraction,
        shard_tokens=shard_tokens,
        train_sample_bytes=train_sample_bytes,
        mixture=_parse_mixture(mix),
        seed=seed,
        workers=workers,
    )
    manifest = run_tokenize(
        TokenizeParams(
            input=str(input),
            output=str(output),
            config=config,
            task_runner=task_runner,
            overwrite=overwrite,
            allow_incomplete=allow_incomplete,
        )
    )
    splits, counts = manifest["splits"], manifest["counts"]
    typer.echo(
        f"tokenized {counts['in']} documents into {output}: "
        f"train {splits['train']['tokens']:,} tokens / {splits['train']['shards']} shards, "
        f"val {splits['val']['tokens']:,} tokens / {splits['val']['shards']} shards, "
        f"{manifest['bytes_per_token']} bytes/token "
        f"({counts.get('skipped_blank', 0)} blank skipped, {counts['rejected']} inputs rejected)"
    )


def verify_tokens(
    directory: Path = typer.Argument(..., help="tokenize output directory (manifest.json)"),
    workspace: WorkspaceOption = None,
) -> None:
    """Read every token shard in full and check its checksum, header and document index.

    Training checks headers and indexes when it opens the shards and each shard's checksum the
    first time it reads it; this checks everything up front (e.g. after copying a corpus)."""
    from corpusforge.pipeline.tokenize import TokenDataset  # lazy: numpy, xxhash

    use_workspace(workspace)  # its log gets the details of a failure
    total_shards = total_tokens = 0
    for split in ("train", "val"):
        ds = TokenDataset(directory, split)  # CorpusforgeError -> one line via the CLI
        ds.check_index()
        ds.verify()
        total_shards += len(ds.shards)
        total_tokens += ds.num_tokens
    typer.echo(f"verified {total_shards} shards, {total_tokens:,} tokens in {directory}")


def register(app: typer.Typer) -> None:
    app.command("tokenize")(tokenize)
    app.command("verify-tokens")(verify_tokens)
