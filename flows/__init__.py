"""Thin Prefect orchestration: one flow per stage plus the end-to-end flow.

Flows map tasks over input files or shards (never over documents), call `pipeline/` and
`model/` functions, write audit entries and publish artifacts. No data logic lives here.
"""
