"""The ingest flow and CLI through Prefect: mapped tasks, resume, audit entries, artifacts."""

from __future__ import annotations

import io
import json

import pytest
from typer.testing import CliRunner
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from corpusforge.cli import app
from corpusforge.core.audit import open_audit_log

PARA = "Lanterns lit the harbour road as the ferry crews finished their evening rounds. "


def _corpus(root):
    root.mkdir()
    with open(root / "crawl.warc.gz", "wb") as f:
        w = WARCWriter(f, gzip=True)
        for i in range(3):
            html = f"<html><body><article><p>{PARA * 5} Page {i}.</p></article></body></html>"
            hdr = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
            w.write_record(
                w.create_warc_record(
                    f"https://news.example/{i}",
                    "response",
                    payload=io.BytesIO(html.encode()),
                    http_headers=hdr,
                )
            )
    rows = [json.dumps({"text": PARA * 4 + str(i)}) for i in range(4)]
    (root / "notes.jsonl").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture
def cli(prefect_harness, workspace, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(workspace.prefect_home))
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, [*args, "--workspace", str(workspace.root)])

    return invoke


def test_ingest_flow_maps_files_resumes_and_audits(cli, workspace, tmp_path):
    from prefect.client.orchestration import get_client

    src = _corpus(tmp_path / "src")
    out = tmp_path / "docs"
    result = cli("ingest", str(src), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "ingested 7 documents from 2 files" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["out"] == 7 and manifest["by_source"] == {"web": 3, "dataset": 4}

    again = cli("ingest", str(src), "-o", str(out), "--overwrite")
    assert again.exit_code == 0, again.output
    assert json.loads((out / "manifest.json").read_text())["counts"]["files_cached"] == 2

    log = open_audit_log(workspace.audit_url)
    actions = [e.action for e in log.events()]
    assert actions.count("ingest.file") == 4 and actions.count("ingest.run") == 2
    assert log.verify().ok
    for e in log.events():  # ids, hashes and counts; never text
        assert "Lanterns" not in json.dumps(e.details)

    import anyio

    async def artifact_keys():
        async with get_client() as client:
            return {a.key for a in await client.read_artifacts()}

    keys = anyio.run(artifact_keys)
    assert {"ingest-files", "ingest-summary"} <= keys


def test_cli_strict_and_errors(cli, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "zero.warc").write_bytes(b"")
    (src / "ok.jsonl").write_text(json.dumps({"text": PARA * 3}) + "\n")
    lenient = cli("ingest", str(src), "-o", str(tmp_path / "a"))
    assert lenient.exit_code == 0 and "1 rejected" in lenient.output
    strict = cli("ingest", str(src), "-o", str(tmp_path / "b"), "--strict")
    assert strict.exit_code == 1
    missing = cli("ingest", str(tmp_path / "nope"), "-o", str(tmp_path / "c"))
    assert missing.exit_code != 0
    bad_opt = cli("ingest", str(src), "-o", str(tmp_path / "d"), "--extractor", "magic")
    assert bad_opt.exit_code == 2 and "extractor" in bad_opt.output.lower()
