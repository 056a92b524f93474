"""Ingestion: WARC, Gutenberg, MediaWiki dumps and JSONL/Parquet datasets to documents."""
