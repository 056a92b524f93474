"""The pipeline YAML with inputs and outputs in object storage (issue 18 §4): validated like
local paths (`serve --check` names a missing object), run end to end against a real S3 HTTP
endpoint (moto's server), fingerprints kept beside the manifests in the bucket."""

from __future__ import annotations

import json
import random

import pytest
import yaml
from typer.testing import CliRunner

from corpusforge.cli import app
from corpusforge.core.errors import ConfigError
from corpusforge.flows.pipeline import corpus_to_model
from corpusforge.flows.pipeline_config import check_inputs, load_config
from corpusforge.flows.pipeline_deployments import build_deployments
from corpusforge.flows.pipeline_fingerprint import FINGERPRINT_NAME

BUCKET = "pipelinedata"
WORDS = "harbour lantern ferry crew evening road tide rope anchor gull pier mast sail dock".split()


@pytest.fixture
def s3(s3_env):
    return s3_env(BUCKET, "AKIAPIPELINETESTKEY1", "pipeline-secret-never-shown")


def _keys(client, prefix: str) -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix + "/")
    return {o["Key"][len(prefix) + 1 :] for p in pages for o in p.get("Contents", [])}


def _put_jsonl(client, key: str, texts: list[str]) -> None:
    body = "".join(json.dumps({"text": t}) + "\n" for t in texts).encode()
    client.put_object(Bucket=BUCKET, Key=key, Body=body)


def _yaml(tmp_path, **values) -> str:
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


def test_serve_check_names_a_missing_object(s3, tmp_path):
    _put_jsonl(s3, "drop/a.jsonl", ["one harbour"])
    there, missing = f"s3://{BUCKET}/drop", f"s3://{BUCKET}/nothing-here"
    config = _yaml(
        tmp_path,
        inputs=[there, missing],
        output=f"s3://{BUCKET}/out",
        stages=["ingest", "dedup"],
    )
    result = CliRunner().invoke(
        app, ["serve", config, "--check", "--workspace", str(tmp_path / "ws")]
    )
    assert isinstance(result.exception, ConfigError)
    assert f"inputs[1]: {missing} does not exist" in str(result.exception)
    assert "inputs[0]" not in str(result.exception)

    ok = _yaml(tmp_path, inputs=[there], output=f"s3://{BUCKET}/out", stages=["ingest", "dedup"])
    good = CliRunner().invoke(app, ["serve", ok, "--check", "--workspace", str(tmp_path / "ws")])
    assert good.exit_code == 0, good.output + str(good.exception)
    # an output in the bucket is served on demand (nightly batches keep a local ledger)
    assert "corpus-to-model/full-pipeline" in good.output
    assert "nightly-prepare" not in good.output


def test_a_url_output_refuses_the_stages_that_write_locally(s3, tmp_path):
    with pytest.raises(ConfigError, match="stages \\['pretrain'\\] write their job folders"):
        load_config(
            _yaml(
                tmp_path,
                inputs=[f"s3://{BUCKET}/drop"],
                output=f"s3://{BUCKET}/out",
                stages=["ingest", "pretrain"],
            )
        )


def test_pipeline_reads_and_writes_the_bucket_and_skips_what_is_done(
    s3, prefect_harness, workspace, tmp_path
):
    rng = random.Random(3)
    texts = [" ".join(rng.choice(WORDS) for _ in range(120)) for _ in range(8)]
    _put_jsonl(s3, "src/crawl-1.jsonl", texts[:5])
    _put_jsonl(s3, "src/crawl-2.jsonl", texts[5:] + [texts[0]])  # one repeat for dedup
    config = load_config(
        _yaml(
            tmp_path,
            name="s3-test",
            inputs=[f"s3://{BUCKET}/src"],
            output=f"s3://{BUCKET}/run",
            stages=["ingest", "dedup"],
            task_runner="threads",
        )
    )
    check_inputs(config)
    assert [d.name for d in build_deployments(config)] == ["full-pipeline"]

    first = corpus_to_model(config)
    assert {r["status"] for r in first["stages"].values()} == {"ran"}
    assert first["stages"]["ingest"]["manifest"]["counts"]["out"] == 9
    assert first["stages"]["dedup"]["manifest"]["counts"]["out"] == 8
    for stage_dir in ("documents", "dedup"):
        keys = _keys(s3, f"run/{stage_dir}")
        assert {"manifest.json", FINGERPRINT_NAME} <= keys
        assert any(k.startswith("part-") for k in keys)
    manifest = json.loads(
        s3.get_object(Bucket=BUCKET, Key="run/documents/manifest.json")["Body"].read()
    )
    assert {i["path"] for i in manifest["inputs"]} == {
        f"s3://{BUCKET}/src/crawl-1.jsonl",
        f"s3://{BUCKET}/src/crawl-2.jsonl",
    }

    # the same inputs again: both stages are found done in the bucket
    second = corpus_to_model(config)
    assert {r["status"] for r in second["stages"].values()} == {"skipped"}

    # a changed source object: ingest and dedup run again
    _put_jsonl(s3, "src/crawl-2.jsonl", texts[5:])
    third = corpus_to_model(config)
    assert {r["status"] for r in third["stages"].values()} == {"ran"}
    assert third["stages"]["dedup"]["manifest"]["counts"]["out"] == 8


def test_nightly_batches_take_new_objects_of_a_bucket_prefix(s3, tmp_path):
    from corpusforge.flows.pipeline_batches import plan_batch, record_batch

    _put_jsonl(s3, "nightly/a.jsonl", ["first night"])
    config = load_config(
        _yaml(
            tmp_path,
            inputs=[f"s3://{BUCKET}/nightly"],
            output=str(tmp_path / "out"),
            stages=["ingest", "dedup"],
            incremental=True,
        )
    )
    new, batch = plan_batch(config)
    assert [n["path"] for n in new] == [f"s3://{BUCKET}/nightly/a.jsonl"]
    assert batch.inputs == [f"s3://{BUCKET}/nightly/a.jsonl"]
    (tmp_path / "out").mkdir()
    record_batch(config, new, batch)
    assert plan_batch(config) == ([], None)
    _put_jsonl(s3, "nightly/b.jsonl", ["second night"])
    _put_jsonl(s3, "nightly/a.jsonl", ["first night, edited"])  # a new version is new data
    new, _ = plan_batch(config)
    assert sorted(n["path"] for n in new) == [
        f"s3://{BUCKET}/nightly/a.jsonl",
        f"s3://{BUCKET}/nightly/b.jsonl",
    ]
