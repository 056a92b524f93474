"""Windows of tokens for pretraining: deterministic, rank-sliced, resumable.

The token shards (corpusforge.pipeline.tokenize) are memory-mapped by `TokenDataset`. The train
split is cut into non-overlapping windows of `seq_len + 1` tokens; every epoch visits them in a
permutation drawn from (seed, epoch). The stream of windows is global: a step takes the next
`micro_batch × world_size` windows and rank r keeps its contiguous slice. So the only cursor is the
number of windows consumed, which survives a restart (and a change of world size) unchanged.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from corpusforge.core.errors import CorpusforgeError, InputError, IntegrityError
from corpusforge.pipeline.tokenize.reader import TokenDataset


class TokenSource(Protocol):
    """What training needs from `corpusforge.pipeline.tokenize.reader.TokenDataset`."""

    num_tokens: int
    vocab_size: int
    eot_id: int
    pad_id: int
    tokenizer_dir: str
    manifest_sha256: str

    def get_window(self, start: int, length: int) -> np.ndarray: ...


def open_tokens(path: str | Path, split: str, *, allow_empty: bool = False) -> TokenSource:
    """Open one split of the token shards.

    Missing, truncated or swapped shards and broken headers or document indexes fail here,
    before compute (a few bytes read per shard). Each shard's content checksum is checked the
    first time the shard is read (`TokenDataset` verifies on first use), so start-up does not
    read the whole corpus on every rank; `corpusforge verify-tokens` checks everything at once.
    """
    root = Path(path)
    if not root.exists():
        raise InputError(f"token shards not found: {root}")
    try:
        ds = TokenDataset(str(root), split=split)
        ds.check_index()
    except CorpusforgeError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise IntegrityError(f"token shards at {root} ({split}) unreadable: {exc}") from exc
    if ds.num_tokens <= 0 and not allow_empty:
        raise InputError(f"token shards at {root} ({split}) hold no tokens")
    return ds


class WindowSampler:
    """Seeded windows of `seq_len + 1` tokens, each rank its own slice of every global batch."""

    def __init__(
        self,
        source: TokenSource,
        seq_len: int,
        micro_batch: int,
        *,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.source = source
        self.seq_len = seq_len
        self.micro_batch = micro_batch
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.num_windows = (source.num_tokens - 1) // seq_len
        if self.num_windows < micro_batch * world_size:
            raise InputError(
                f"train split has {source.num_tokens} tokens: fewer than one global batch of "
                f"{micro_batch * world_size} windows of {seq_len + 1}"
            )
        self.consumed = 0  # global windows handed out so far: the resumable cursor

    @lru_cache(maxsize=2)  # noqa: B019 - one sampler per run; the cache is the epoch's order
    def _order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.num_windows)

    def _window(self, global_index: int) -> np.ndarray:
        epoch, pos = divmod(global_index, self.num_windows)
        start = int(self._order(epoch)[pos]) * self.seq_len
        return self.source.get_window(start, self.seq_len + 1)

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets), both [micro_batch, seq_len] int64, for this rank."""
        first = self.consumed + self.rank * self.micro_batch
        rows = np.stack([self._window(first + i) for i in range(self.micro_batch)])
        self.consumed += self.micro_batch * self.world_size
        tokens = torch.from_numpy(rows.astype(np.int64, copy=False))
        return tokens[:, :-1], tokens[:, 1:]

    def state_dict(self) -> dict[str, int]:
        return {"consumed": self.consumed, "seed": self.seed, "seq_len": self.seq_len}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state["seq_len"] != self.seq_len or state["seed"] != self.seed:
            raise InputError(
                f"data cursor was saved for seq_len={state['seq_len']} seed={state['seed']}, "
                f"this run has seq_len={self.seq_len} seed={self.seed}"
            )
        self.consumed = int(state["consumed"])


def validation_batches(
    source: TokenSource,
    seq_len: int,
    micro_batch: int,
    max_batches: int,
    *,
    rank: int = 0,
    world_size: int = 1,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The same fixed, sequential validation windows at every evaluation (comparable losses);
    empty when the split holds less than one batch (`max_batches` 0 or a tiny val split)."""
    n_windows = (source.num_tokens - 1) // seq_len
    per_batch = micro_batch * world_size
    n_batches = min(max_batches, n_windows // per_batch)
    if n_batches == 0:
        return []  # too small to validate on: the loop trains without validation and says so
    batches = []
    for b in range(n_batches):
        first = b * per_batch + rank * micro_batch
        rows = np.stack(
            [source.get_window((first + i) * seq_len, seq_len + 1) for i in range(micro_batch)]
        )
        tokens = torch.from_numpy(rows.astype(np.int64, copy=False))
        batches.append((tokens[:, :-1], tokens[:, 1:]))
    return batches
