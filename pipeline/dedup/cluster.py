"""LSH bucketing (one band at a time) and the clustering rule.

Documents are numbered by priority: 0 is kept first. Bucketing sorts one band's keys
(numpy, no dicts) and returns the runs of equal keys as groups of document numbers; bands
are independent, so they can be bucketed on different machines and their groups merged.

The rule: documents are decided in priority order, and a document is removed only when its
exact Jaccard similarity to an already *kept* candidate is at least the threshold. So every
removed document is itself a near duplicate of a kept one: in a chain A~B~C where A and C
are not similar, A is kept, B is removed (as A's duplicate) and C is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

NOT_REMOVED = -1


def band_groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Groups of documents sharing a key in one band: (members, offsets), members ascending.

    `keys[i]` is document i's key; only groups of two or more documents are returned.
    """
    order = np.lexsort((np.arange(keys.size), keys))
    sorted_keys = keys[order]
    boundary = np.flatnonzero(np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1], [True])))
    sizes = np.diff(boundary)
    multi = sizes >= 2
    starts, sizes = boundary[:-1][multi], sizes[multi]
    members = order[np.repeat(starts, sizes) + _ranges(sizes)]
    offsets = np.zeros(sizes.size + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return members.astype(np.int64), offsets


def _ranges(sizes: np.ndarray) -> np.ndarray:
    """[0..s0-1, 0..s1-1, ...] without a Python loop."""
    total = int(sizes.sum())
    firsts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    return np.arange(total) - firsts


@dataclass
class Decisions:
    similar_to: np.ndarray  # document number of the kept duplicate, or NOT_REMOVED
    similarity: np.ndarray  # exact Jaccard to it (0 when kept)
    candidates_checked: int
    exact_checks: int


def decide(
    n_docs: int,
    n_fixed: int,
    groups: Iterable[tuple[np.ndarray, np.ndarray]],
    threshold: float,
    similarity: Callable[[int, int], float],
    estimate: Callable[[int, np.ndarray], np.ndarray] | None = None,
    prefilter_margin: float = 0.25,
) -> Decisions:
    """Apply the rule to documents 0..n_docs-1 given LSH groups from every band.

    Documents below `n_fixed` are already kept (an earlier batch in the index) and are never
    removed. `similarity(u, v)` is the exact Jaccard; `estimate(u, vs)`, when given, is a
    cheap MinHash estimate used to skip candidates far below the threshold.
    """
    members_list, group_list = [], []
    n_groups = 0
    for members, offsets in groups:
        members_list.append(members)
        group_list.append(np.repeat(np.arange(offsets.size - 1) + n_groups, np.diff(offsets)))
        n_groups += offsets.size - 1
    similar_to = np.full(n_docs, NOT_REMOVED, dtype=np.int64)
    sims = np.zeros(n_docs, dtype=np.float64)
    if not n_groups:
        return Decisions(similar_to, sims, 0, 0)
    members = np.concatenate(members_list)
    group_of = np.concatenate(group_list)
    order = np.argsort(members, kind="stable")
    members, group_of = members[order], group_of[order]
    docs, first = np.unique(members, return_index=True)
    last = np.append(first[1:], members.size)

    kept_in_group: list[list[int]] = [[] for _ in range(n_groups)]
    checked = exact = 0
    for doc, lo, hi in zip(docs.tolist(), first.tolist(), last.tolist(), strict=True):
        my_groups = group_of[lo:hi].tolist()
        if doc >= n_fixed:
            cands = sorted({c for g in my_groups for c in kept_in_group[g]})
            if cands:
                cand_arr = np.asarray(cands, dtype=np.int64)
                checked += cand_arr.size
                if estimate is not None:
                    est = estimate(doc, cand_arr)
                    cand_arr = cand_arr[est >= threshold - prefilter_margin]
                for c in cand_arr.tolist():  # in priority order: the best kept match wins
                    exact += 1
                    sim = similarity(doc, c)
                    if sim >= threshold:
                        similar_to[doc], sims[doc] = c, sim
                        break
        if similar_to[doc] == NOT_REMOVED:
            for g in my_groups:
                kept_in_group[g].append(doc)
    return Decisions(similar_to, sims, checked, exact)
