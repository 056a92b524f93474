"""Pure data stages: documents in, documents (or token shards) out, plus a stats record.

Nothing here imports Prefect; `flows/` orchestrates these functions.
"""
