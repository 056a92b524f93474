"""Near-duplicate removal: exact content hash, then MinHash LSH with exact-Jaccard verification."""

from corpusforge.pipeline.dedup.config import DedupConfig, optimal_param
from corpusforge.pipeline.dedup.index import DedupIndex
from corpusforge.pipeline.dedup.stage import cluster_shards, dedup_job, filter_shard

__all__ = [
    "DedupConfig",
    "DedupIndex",
    "cluster_shards",
    "dedup_job",
    "filter_shard",
    "optimal_param",
]
