"""A large WARC file read as several units (byte ranges cut where records start): the same
documents, order and ids as the file read whole; resume per unit; damage stays in its unit."""

from __future__ import annotations

import gzip
import json
import shutil
import zlib

import pytest

from corpusforge.pipeline import stage_io
from corpusforge.pipeline.documents import read_table
from corpusforge.pipeline.ingest import stage as ingest_stage
from corpusforge.pipeline.ingest.stage import ingest_job
from corpusforge.pipeline.ingest.warc import _record_start, warc_spans
from corpusforge.pipeline.manifest import read_rejects
from corpusforge.pipeline.stage import run_local

CC = "web/resiliparse-cc-main-2020-34-warcfile.warc.gz"  # Common Crawl: a member per record
WGET = "web/dolma-sample-0000.warc.gz"


@pytest.fixture
def small_units(monkeypatch):
    """Files over 4 KB are read as several units (the fixtures are a few hundred KB)."""
    monkeypatch.setattr(stage_io, "UNIT_MIN_BYTES", 4096)


def _ingest(src, out, cache, workers=2):
    manifest = run_local(ingest_job([src], out, cache_root=cache), workers=workers)
    return manifest, read_table(out).to_pylist()


def _whole(src, tmp_path, monkeypatch):
    """The file read as one unit (the behaviour before units)."""
    with monkeypatch.context() as m:
        m.setattr(stage_io, "UNIT_MIN_BYTES", 1 << 40)
        manifest, rows = _ingest(src, tmp_path / "whole", tmp_path / "whole-cache", workers=1)
    assert "units" not in manifest["inputs"][0]
    return manifest, rows


@pytest.mark.parametrize("name", [CC, WGET])
def test_units_of_a_real_warc_give_the_documents_of_the_whole_file(
    name, tmp_path, fixtures_dir, monkeypatch, small_units
):
    src = fixtures_dir / name
    whole_manifest, whole = _whole(src, tmp_path, monkeypatch)
    manifest, rows = _ingest(src, tmp_path / "split", tmp_path / "cache")
    units = manifest["inputs"][0]["units"]
    assert len(units) >= 4 and units[0][0] == 0 and units[-1][1] == src.stat().st_size
    assert all(a[1] == b[0] for a, b in zip(units, units[1:], strict=False))
    assert len(manifest["outputs"]) > 1  # a shard per unit that kept documents
    assert rows == whole  # ids, text, meta, order: all the same
    assert len(rows) > 10
    for key in ("in", "out", "rejected", "removed", "files"):
        assert manifest["counts"][key] == whole_manifest["counts"][key], key
    assert manifest["counts"]["units"] == len(units)
    line = {k: v for k, v in manifest["inputs"][0].items() if k not in ("units", "cached")}
    assert line == {k: v for k, v in whole_manifest["inputs"][0].items() if k != "cached"}


def test_plain_warc_is_cut_at_record_starts(tmp_path, fixtures_dir, monkeypatch, small_units):
    src = tmp_path / "crawl.warc"
    src.write_bytes(gzip.decompress((fixtures_dir / CC).read_bytes()))  # every member
    spans = warc_spans(src, 8)
    assert len(spans) >= 6
    with open(src, "rb") as fh:
        assert all(_record_start(fh, start, False) for start, _ in spans)
    _, whole = _whole(src, tmp_path, monkeypatch)
    manifest, rows = _ingest(src, tmp_path / "split", tmp_path / "cache")
    assert len(manifest["inputs"][0]["units"]) == len(warc_spans(src, 16))
    assert rows == whole and len(rows) > 10


def test_single_gzip_stream_stays_one_unit(tmp_path, fixtures_dir, monkeypatch, small_units):
    src = tmp_path / "one-stream.warc.gz"
    src.write_bytes(gzip.compress(gzip.decompress((fixtures_dir / CC).read_bytes())))
    assert warc_spans(src, 8) == [(0, src.stat().st_size)]
    manifest, rows = _ingest(src, tmp_path / "out", tmp_path / "cache")
    assert "units" not in manifest["inputs"][0]
    assert rows == _whole(src, tmp_path, monkeypatch)[1]


def test_rerun_reuses_the_finished_units(tmp_path, fixtures_dir, small_units):
    src = fixtures_dir / WGET
    cache = tmp_path / "cache"
    first, rows = _ingest(src, tmp_path / "a", cache)
    n = first["counts"]["units"]
    assert first["counts"]["units_cached"] == 0
    # one unit's cached result lost (a crash before it finished): only that one is redone
    shutil.rmtree(next(p for p in sorted(cache.iterdir()) if p.is_dir()))
    again, rows_again = _ingest(src, tmp_path / "b", cache)
    assert again["counts"]["units"] == n
    assert again["counts"]["units_cached"] == n - 1
    assert rows_again == rows


def _damage_one_member(src, dst, spans):
    """Overwrite the middle of the compressed data of a response record in the third unit."""
    data = bytearray(src.read_bytes())
    start, end = spans[2]
    pos = start
    while pos < end:  # the members of the unit, one by one, until a large one (a response)
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        d.decompress(bytes(data[pos:end]))
        length = end - pos - len(d.unused_data)
        if length > 2000:
            mid = pos + length // 2
            data[mid : mid + 64] = b"\x00" * 64
            dst.write_bytes(bytes(data))
            return pos
        pos += length
    raise AssertionError("no response member in the unit")


def test_a_damaged_record_is_quarantined_in_its_unit_only(
    tmp_path, fixtures_dir, monkeypatch, small_units
):
    src = fixtures_dir / CC
    _, clean = _whole(src, tmp_path, monkeypatch)
    bad = tmp_path / "damaged.warc.gz"
    spans = warc_spans(src, 16)
    member = _damage_one_member(src, bad, spans)
    assert warc_spans(bad, 16) == spans  # the damage is inside a member, not at a cut
    manifest, rows = _ingest(bad, tmp_path / "out", tmp_path / "cache")
    assert manifest["counts"]["units"] == len(spans)
    rejects = read_rejects(tmp_path / "out")
    assert len(rejects) == 1 and spans[2][0] <= rejects[0]["position"] < member
    assert "skipped to byte" in rejects[0]["reason"]
    assert manifest["counts"]["rejected"] == 1
    # every other document is there, in order (ids differ: the file's hash is part of them)
    records = [(r["locator"], r["text"]) for r in rows]
    lost = [r for r in ((c["locator"], c["text"]) for c in clean) if r not in records]
    assert len(lost) == 1
    assert records == [
        (c["locator"], c["text"]) for c in clean if (c["locator"], c["text"]) not in lost
    ]
    # as in the damaged file read whole
    whole_manifest, whole = _whole(bad, tmp_path / "w", monkeypatch)
    assert rows == whole
    assert [r["position"] for r in read_rejects(tmp_path / "w" / "whole")] == [
        rejects[0]["position"]
    ]


def test_a_cut_inside_a_record_falls_back_to_the_whole_file(
    tmp_path, fixtures_dir, monkeypatch, small_units
):
    src = fixtures_dir / CC
    _, whole = _whole(src, tmp_path, monkeypatch)
    good = warc_spans(src, 4)
    wrong = good[1][0] + 7  # a few bytes into a record: no unit may start there
    monkeypatch.setattr(
        ingest_stage, "warc_spans", lambda path, units: [(0, wrong), (wrong, good[-1][1])]
    )
    manifest, rows = _ingest(src, tmp_path / "out", tmp_path / "cache")
    assert "units" not in manifest["inputs"][0]
    assert rows == whole
    assert manifest["counts"]["rejected"] == 0


def test_cli_reads_a_large_warc_as_units_through_prefect(
    prefect_harness, workspace, tmp_path, fixtures_dir, monkeypatch, small_units
):
    """`corpusforge ingest` (the Prefect flow, its worker processes): the same table as the
    file read whole, one audit entry for the file, and a rerun reuses every unit."""
    from typer.testing import CliRunner

    from corpusforge.cli import app
    from corpusforge.core.audit import open_audit_log

    monkeypatch.setenv("PREFECT_HOME", str(workspace.prefect_home))
    src = fixtures_dir / CC
    _, whole = _whole(src, tmp_path, monkeypatch)
    out = tmp_path / "docs"

    def ingest(*extra):
        result = CliRunner().invoke(
            app, ["ingest", str(src), "-o", str(out), *extra, "--workspace", str(workspace.root)]
        )
        assert result.exit_code == 0, result.output
        return json.loads((out / "manifest.json").read_text())

    manifest = ingest()
    assert len(manifest["inputs"][0]["units"]) == manifest["counts"]["units"] >= 4
    assert read_table(out).to_pylist() == whole
    again = ingest("--overwrite")
    assert again["counts"]["units_cached"] == again["counts"]["units"]
    assert again["counts"]["files_cached"] == 1
    assert read_table(out).to_pylist() == whole
    actions = [e.action for e in open_audit_log(workspace.audit_url).events()]
    assert actions.count("ingest.file") == 2  # one per file and run, not one per unit
