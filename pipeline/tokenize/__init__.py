"""Tokenize stage: byte-level BPE tokenizer, token shards with lineage, and their reader.

Public API:
    run_local(tokenize_job(input, out_dir, TokenizeConfig(...)))   the stage without Prefect
    TokenDataset(out_dir, split)                            read shards (tokenize.reader)
    document_lineage(out_dir, doc_id)                       which shards/offsets hold a document
    rebuild_without(out_dir, doc_ids, new_out_dir)          erase documents, other shards unchanged
"""

from corpusforge.pipeline.tokenize.config import TokenizeConfig
from corpusforge.pipeline.tokenize.lineage import document_lineage, rebuild_without
from corpusforge.pipeline.tokenize.reader import TokenDataset
from corpusforge.pipeline.tokenize.stage import tokenize_job

__all__ = [
    "TokenDataset",
    "TokenizeConfig",
    "document_lineage",
    "rebuild_without",
    "tokenize_job",
]
