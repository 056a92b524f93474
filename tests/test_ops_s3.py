"""Stage data in object storage (issue 18 §4): every stage reads and writes s3:// against a real
S3 HTTP endpoint (moto's server, tests/conftest.py), configured only through the standard AWS
environment (AWS_ENDPOINT_URL, credentials, region)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from test_stage_outputs_recorded import RECORDED, _digest

from corpusforge.core.errors import InputError, IntegrityError
from corpusforge.demo import write_sample
from corpusforge.pipeline.dedup import DedupConfig, dedup_job
from corpusforge.pipeline.documents import read_table
from corpusforge.pipeline.ingest.config import IngestConfig
from corpusforge.pipeline.ingest.stage import ingest_job
from corpusforge.pipeline.pii.config import PiiConfig
from corpusforge.pipeline.pii.stage import pii_job
from corpusforge.pipeline.remote import PUBLISH_MARKER
from corpusforge.pipeline.stage import run_local
from corpusforge.pipeline.tokenize import TokenizeConfig, tokenize_job

BUCKET = "stagedata"
KEY_ID = "AKIAS3STAGETESTKEY01"
WORDS = "harbour lantern ferry crew evening road tide rope anchor gull pier mast sail dock".split()
SECRET = "s3-stage-secret-value-never-shown"


@pytest.fixture
def s3(s3_env):
    """The AWS environment a user sets for an S3-compatible endpoint, and a boto3 client."""
    return s3_env(BUCKET, KEY_ID, SECRET)


def _upload(client, local: Path, prefix: str) -> None:
    for f in sorted(local.rglob("*")):
        if f.is_file():
            client.upload_file(str(f), BUCKET, f"{prefix}/{f.relative_to(local).as_posix()}")


def _download(client, prefix: str, local: Path) -> list[str]:
    keys = [
        o["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=prefix + "/"
        )
        for o in page.get("Contents", [])
    ]
    for key in keys:
        target = local / key[len(prefix) + 1 :]
        target.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(BUCKET, key, str(target))
    return sorted(k[len(prefix) + 1 :] for k in keys)


def test_pipeline_in_s3_publishes_what_a_local_run_publishes(s3, tmp_path):
    """ingest -> dedup -> pii -> tokenize with every input and output in S3: the published
    files are the ones a local run publishes (the recorded digests of the sample corpus), and
    the documents name the objects they came from."""
    corpus = tmp_path / "sample"
    write_sample(corpus, seed=0, scale=1)
    _upload(s3, corpus, "run/sample")
    url = f"s3://{BUCKET}/run"
    cache = tmp_path / "cache"
    run_local(
        ingest_job(
            [f"{url}/sample/web", f"{url}/sample/books", f"{url}/sample/wiki"],
            f"{url}/docs",
            IngestConfig(),
            cache / "i",
        ),
        workers=2,
    )
    run_local(dedup_job(f"{url}/docs", f"{url}/dedup", DedupConfig(), cache / "d"), workers=2)
    pii = run_local(
        pii_job(f"{url}/dedup", f"{url}/pii", PiiConfig(mode="fast"), cache / "p"), workers=2
    )
    run_local(
        tokenize_job(
            f"{url}/pii", f"{url}/tok", TokenizeConfig(vocab_size=512, workers=2), cache / "t"
        ),
        workers=2,
    )
    got = {}
    for stage, name in [
        ("ingest", "docs"),
        ("dedup", "dedup"),
        ("pii", "pii"),
        ("tokenize", "tok"),
    ]:
        keys = _download(s3, f"run/{name}", tmp_path / "out" / name)
        assert "manifest.json" in keys and PUBLISH_MARKER not in keys
        got[stage] = _digest(tmp_path / "out" / name, url)  # uri: the URL -> <root>
    assert got == RECORDED
    uris = set(read_table(tmp_path / "out" / "docs", columns=["uri"])["uri"].to_pylist())
    assert uris and all(u.startswith(f"{url}/sample/") for u in uris)
    manifest = json.loads((tmp_path / "out" / "pii" / "manifest.json").read_text())
    assert all(i["path"].startswith(f"{url}/dedup/") for i in manifest["inputs"])
    assert pii["inputs"] == manifest["inputs"]  # the returned manifest names URLs too
    assert str(cache) not in json.dumps(manifest)


def _docs(tmp_path: Path, n: int = 6, name: str = "docs.jsonl") -> Path:
    rows = [
        {"id": f"d{i}", "text": " ".join(random.Random(i).choices(WORDS, k=60))} for i in range(n)
    ]
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _keys(client, prefix: str) -> list[str]:
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix + "/").get("Contents", [])
    return sorted(o["Key"][len(prefix) + 1 :] for o in listed)


def test_half_published_output_is_refused_and_replaced(s3, tmp_path, monkeypatch):
    """A publish killed after the data files and before the manifest leaves a prefix that no
    stage reads; the same stage may publish over it; another stage may not."""
    import corpusforge.pipeline.remote as remote

    s3.upload_file(str(_docs(tmp_path)), BUCKET, "half/in/docs.jsonl")
    url = f"s3://{BUCKET}/half"
    cache = tmp_path / "cache"
    run_local(dedup_job(f"{url}/in/docs.jsonl", f"{url}/dedup", cache_root=cache), workers=1)
    assert "manifest.json" in _keys(s3, "half/dedup")

    real = remote._filesystem

    def killed_before_manifest(u):
        fs, path = real(u)

        class Dies:
            def __getattr__(self, name):
                return getattr(fs, name)

            def put_file(self, lpath, rpath, **kw):
                if str(rpath).endswith("manifest.json"):
                    raise KeyboardInterrupt  # the process dies here
                return fs.put_file(lpath, rpath, **kw)

        return Dies(), path

    monkeypatch.setattr(remote, "_filesystem", killed_before_manifest)
    with pytest.raises(KeyboardInterrupt):
        run_local(
            dedup_job(f"{url}/in/docs.jsonl", f"{url}/dedup", cache_root=cache, overwrite=True),
            workers=1,
        )
    monkeypatch.setattr(remote, "_filesystem", real)
    keys = _keys(s3, "half/dedup")
    assert "manifest.json" not in keys and "part-00000.parquet" in keys and PUBLISH_MARKER in keys
    with pytest.raises(InputError, match="no manifest.json; not a complete stage output"):
        run_local(pii_job(f"{url}/dedup", f"{url}/pii", PiiConfig(mode="fast"), cache), workers=1)
    assert _keys(s3, "half/pii") == []  # refused before anything was written
    with pytest.raises(InputError, match="not an earlier pii output"):
        run_local(pii_job(f"{url}/in/docs.jsonl", f"{url}/dedup", PiiConfig(mode="fast"), cache))
    # the interrupted stage publishes over its own half-upload without --overwrite
    run_local(dedup_job(f"{url}/in/docs.jsonl", f"{url}/dedup", cache_root=cache), workers=1)
    assert PUBLISH_MARKER not in _keys(s3, "half/dedup")
    done = run_local(pii_job(f"{url}/dedup", f"{url}/pii", PiiConfig(mode="fast"), cache))
    assert done["counts"]["in"] == 6


def test_foreign_prefix_overwrite_and_tampered_input(s3, tmp_path):
    url = f"s3://{BUCKET}/guard"
    s3.put_object(Bucket=BUCKET, Key="guard/foreign/notes.txt", Body=b"someone else's")
    src = _docs(tmp_path)
    with pytest.raises(InputError, match="not an earlier ingest output"):
        run_local(ingest_job([src], f"{url}/foreign", cache_root=tmp_path / "c"))
    assert _keys(s3, "guard/foreign") == ["notes.txt"]

    run_local(ingest_job([src], f"{url}/docs", cache_root=tmp_path / "c"))
    with pytest.raises(InputError, match="pass --overwrite"):
        run_local(ingest_job([src], f"{url}/docs", cache_root=tmp_path / "c"))
    s3.put_object(Bucket=BUCKET, Key="guard/docs/part-00007.parquet", Body=b"stray")
    with pytest.raises(InputError, match="part-00007.parquet is not listed in the manifest"):
        run_local(dedup_job(f"{url}/docs", f"{url}/dedup", cache_root=tmp_path / "c"))
    run_local(ingest_job([src], f"{url}/docs", cache_root=tmp_path / "c", overwrite=True))
    assert "part-00007.parquet" not in _keys(s3, "guard/docs")  # stale files removed

    # a shard changed after its manifest was written is not read (sha256 against the manifest)
    body = s3.get_object(Bucket=BUCKET, Key="guard/docs/part-00000.parquet")["Body"].read()
    run_local(dedup_job(f"{url}/docs", f"{url}/dedup", cache_root=tmp_path / "c"))
    s3.put_object(Bucket=BUCKET, Key="guard/docs/part-00000.parquet", Body=body + b"\0")
    with pytest.raises(IntegrityError, match="sha256 differs from the manifest"):
        run_local(dedup_job(f"{url}/docs", f"{url}/d2", cache_root=tmp_path / "c"))


def test_fetched_inputs_are_reused_until_they_change(s3, tmp_path):
    from corpusforge.pipeline.remote import fetch_documents

    url = f"s3://{BUCKET}/reuse/docs"
    run_local(ingest_job([_docs(tmp_path)], url, cache_root=tmp_path / "c"))
    local = fetch_documents(url, tmp_path / "c")
    shard = local / "part-00000.parquet"
    first = shard.stat().st_mtime_ns
    assert fetch_documents(url, tmp_path / "c") == local and shard.stat().st_mtime_ns == first
    shard.write_bytes(b"damaged in the cache")
    fetch_documents(url, tmp_path / "c")  # the local copy no longer has its sha256: fetched
    assert read_table(local).num_rows == 6


def _drive_in_process(steps, request):
    """Run the rest of a job generator whose first request is `request`, in this process."""
    from corpusforge.pipeline.stage import Single

    while True:
        if isinstance(request, Single):
            result = request.fn(*request.args)
        else:
            result = [request.fn(*call) for call in request.calls]
        try:
            request = steps.send(result)
        except StopIteration as stop:
            return stop.value


def test_dedup_index_in_s3_round_trips_and_refuses_a_lost_update(s3, tmp_path):
    url = f"s3://{BUCKET}/idx"
    s3.upload_file(str(_docs(tmp_path, 6, "a.jsonl")), BUCKET, "idx/a.jsonl")
    s3.upload_file(str(_docs(tmp_path, 8, "b.jsonl")), BUCKET, "idx/b.jsonl")
    cache = tmp_path / "c"
    first = run_local(
        dedup_job(f"{url}/a.jsonl", f"{url}/out-a", cache_root=cache, index_dir=f"{url}/index")
    )
    meta = json.loads(s3.get_object(Bucket=BUCKET, Key="idx/index/index.json")["Body"].read())
    assert meta["documents"] == first["counts"]["out"] and len(meta["parts"]) == 1
    assert any(k.startswith(meta["parts"][0] + "/") for k in _keys(s3, "idx/index"))

    # two runs read the same index version; the one that commits second is refused
    slow = dedup_job(f"{url}/b.jsonl", f"{url}/out-b", cache_root=cache, index_dir=f"{url}/index")
    request = next(slow.steps)  # the index was fetched
    run_local(
        dedup_job(
            f"{url}/b.jsonl", f"{url}/out-c", cache_root=tmp_path / "c2", index_dir=f"{url}/index"
        )
    )
    before = _keys(s3, "idx/index")
    with pytest.raises(IntegrityError, match="changed by another run"):
        _drive_in_process(slow.steps, request)
    assert _keys(s3, "idx/index") == before  # its new parts were removed again
    assert _keys(s3, "idx/out-b") == []  # and its output never published
    # a rerun deduplicates against the index the other run extended
    again = run_local(
        dedup_job(f"{url}/b.jsonl", f"{url}/out-b", cache_root=cache, index_dir=f"{url}/index")
    )
    assert again["counts"]["out"] == 0 and again["counts"]["rejected_in_index"] == 8


def test_cli_stages_on_s3_audit_urls_and_never_show_credentials(
    s3, prefect_harness, workspace, monkeypatch, tmp_path
):
    """`corpusforge ingest s3://... -o s3://...` and `dedup s3://... --index s3://...` through
    the Prefect flows: audit entries name the URLs; the credentials appear in no output, audit
    entry, manifest or error."""
    from typer.testing import CliRunner

    from corpusforge.cli import app
    from corpusforge.core.audit import open_audit_log

    monkeypatch.setenv("PREFECT_HOME", str(workspace.prefect_home))
    runner = CliRunner()

    def cli(*args):
        result = runner.invoke(app, [*args, "--workspace", str(workspace.root)])
        assert KEY_ID not in result.output and SECRET not in result.output
        return result

    s3.upload_file(str(_docs(tmp_path, 5)), BUCKET, "cli/in/docs.jsonl")
    url = f"s3://{BUCKET}/cli"
    ingest = cli("ingest", f"{url}/in", "-o", f"{url}/docs")
    assert ingest.exit_code == 0, ingest.output
    assert "ingested 5 documents from 1 files" in ingest.output
    dedup = cli("dedup", f"{url}/docs", "-o", f"{url}/dedup", "--index", f"{url}/index")
    assert dedup.exit_code == 0, dedup.output
    assert "kept 5 of 5 documents" in dedup.output
    assert "index.json" in _keys(s3, "cli/index")
    missing = cli("dedup", "s3://no-such-bucket-here/docs", "-o", f"{url}/d2")
    assert missing.exit_code != 0  # `corpusforge` (cli.main) prints this one line:
    assert str(missing.exception) == "s3://no-such-bucket-here/docs: no such file or directory"

    log = open_audit_log(workspace.audit_url)
    events = list(log.events())
    runs = {e.action: e for e in events if e.action in ("ingest.run", "dedup.run")}
    assert runs["ingest.run"].object == f"url:{url}/docs"
    assert runs["dedup.run"].object == f"url:{url}/dedup"
    assert runs["dedup.run"].details["index"] == f"{url}/index"
    files = [e for e in events if e.action == "ingest.file"]
    assert files[0].details["path"] == f"{url}/in/docs.jsonl"
    dump = json.dumps([e.body() for e in events], default=str)
    for name in ("docs", "dedup"):
        dump += (
            s3.get_object(Bucket=BUCKET, Key=f"cli/{name}/manifest.json")["Body"].read().decode()
        )
    assert KEY_ID not in dump and SECRET not in dump and str(workspace.root / "cache") not in dump


def test_messages_carry_no_credentials(s3):
    from corpusforge.pipeline.remote import _errors, audit_object, redact

    assert redact("s3://user:pa55word@bucket/x?X-Amz-Signature=abc") == "s3://bucket/x"
    assert audit_object("s3://user:pa55word@bucket/x") == "url:s3://bucket/x"
    with pytest.raises(InputError) as raised, _errors("s3://bucket/x"):
        raise PermissionError(f"signature for {KEY_ID} with {SECRET} refused")
    assert KEY_ID not in str(raised.value) and SECRET not in str(raised.value)
    assert str(raised.value).startswith("s3://bucket/x: PermissionError: signature for ***")
