"""Ingestion: source files (WARC, Gutenberg, MediaWiki dumps, JSONL/Parquet datasets) to documents."""
