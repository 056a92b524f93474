"""`ingest` finishes each file (its shard writer's last batches, its cache entry) after reading
the next one: the result must be what finishing one file at a time gives."""

from __future__ import annotations

import json
import shutil

import pytest

import corpusforge.pipeline.ingest.stage as stage
from corpusforge.pipeline.documents import read_table
from corpusforge.pipeline.ingest.config import IngestConfig

WEB = ("dolma-sample-0000.warc.gz", "resiliparse-cc-main-2020-34-warcfile.warc.gz")


def one_at_a_time(files, out, cache, config):
    results = [stage.ingest_file(str(f), cache, config) for f in files]
    return stage.assemble(results, cache, out, config, [str(f) for f in files])


def comparable(manifest):
    drop = {"started", "finished", "seconds", "duration_s", "code_version"}
    return json.loads(json.dumps({k: v for k, v in manifest.items() if k not in drop}))


@pytest.fixture
def inputs(tmp_path, fixtures_dir):
    src = tmp_path / "in"
    src.mkdir()
    files = [
        shutil.copy(fixtures_dir / "web" / name, src / f"{i}-{name}")
        for i, name in (
            (0, WEB[0]),
            (1, WEB[0]),  # same content as the one before: found cached, as one at a time
            (2, WEB[1]),
        )
    ]
    return files


def test_same_result_as_one_file_at_a_time(tmp_path, inputs):
    config = IngestConfig()
    overlapped = stage.ingest(inputs, tmp_path / "a", config, cache_root=tmp_path / "ca")
    single = one_at_a_time(inputs, tmp_path / "b", tmp_path / "cb", config)
    assert comparable(overlapped) == comparable(single)
    assert overlapped["counts"]["files_cached"] == 1
    assert read_table(tmp_path / "a").equals(read_table(tmp_path / "b"))
    assert sorted(p.name for p in (tmp_path / "ca").iterdir()) == sorted(
        p.name for p in (tmp_path / "cb").iterdir()
    )  # no work directory left behind


def test_error_on_a_later_file_still_finishes_the_one_before(tmp_path, inputs, monkeypatch):
    real = stage._read_file

    def failing(path, *args):
        if path == str(inputs[2]):
            raise RuntimeError("disk gone")
        return real(path, *args)

    monkeypatch.setattr(stage, "_read_file", failing)
    with pytest.raises(RuntimeError, match="disk gone"):
        stage.ingest(inputs, tmp_path / "out", IngestConfig(), cache_root=tmp_path / "cache")
    entries = list((tmp_path / "cache").iterdir())
    assert len(entries) == 1 and (entries[0] / stage.DONE_NAME).exists()
