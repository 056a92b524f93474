"""The tokenize flow and CLI: manifest, audit entries, artifacts, resume."""

from __future__ import annotations

import json

from corpusforge.core.audit import open_audit_log
from corpusforge.pipeline.tokenize import TokenDataset, TokenizeConfig
from tests._tokenize_helpers import write_corpus


def test_tokenize_flow_audits_and_resumes(prefect_harness, workspace, tmp_path):
    from corpusforge.flows.tokenize import TokenizeParams, run_tokenize

    corpus = write_corpus(tmp_path / "in", docs=300, rows_per_shard=100)
    params = TokenizeParams(
        input=str(corpus),
        output=str(tmp_path / "out"),
        config=TokenizeConfig(vocab_size=768, val_fraction=0.1, shard_tokens=5_000, workers=2),
        task_runner="threads",  # the mapped tasks without process start-up cost
    )
    manifest = run_tokenize(params)
    assert manifest["counts"]["in"] == 300 and manifest["counts"]["inputs_cached"] == 0
    ds = TokenDataset(tmp_path / "out")
    ds.verify()
    assert ds.num_tokens == manifest["splits"]["train"]["tokens"] > 0

    events = list(open_audit_log().events(action_prefix="tokenize."))
    assert [e.action for e in events] == ["tokenize.tokenizer", "tokenize.run"]
    assert events[0].object == f"sha256:{manifest['tokenizer']['sha256']}"
    shards = events[1].details["shards"]
    assert [s["sha256"] for s in shards] == [o["sha256"] for o in manifest["outputs"]]
    assert sum(s["documents"] for s in shards) == manifest["counts"]["out"]
    # no document text in the audit log
    assert "river" not in json.dumps([e.details for e in events])

    # resumed: every input shard's encoding is reused
    again = run_tokenize(params.model_copy(update={"overwrite": True}))
    assert again["counts"]["inputs_cached"] == 3
    assert again["tokenizer"]["reused"] is True
    assert [o["sha256"] for o in again["outputs"]] == [o["sha256"] for o in manifest["outputs"]]
