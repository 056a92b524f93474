"""A checkpoint stored by several processes (each encrypts its own files with `put_part`, one
commits them under the sealed manifest), partial fetches and byte-range reads; and the attacks
on them: parts of another checkpoint, forged or swapped entries, uncommitted parts, tampered
chunks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from corpusforge.core.errors import AccessDenied, InputError, IntegrityError
from corpusforge.model.store import bootstrap_store, open_store
from tests._store_attack import events

NAME = "runs/parts/step-1"
META = {"pii_scrubbed": True}


def _files(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


@pytest.fixture
def env(workspace, tmp_path):
    tokens = bootstrap_store(workspace)
    trainer = open_store(workspace, tokens["svc:trainer"])
    trainer.chunk_bytes = 4096  # many chunks in small files: ranges cross chunk boundaries
    rank0 = {"model/__0_0.distcp": os.urandom(10_000), "config.json": b"{}"}
    rank1 = {"model/__1_0.distcp": os.urandom(9_001), "optimizer/__1_0.distcp": b"x" * 5000}
    return {
        "ws": workspace,
        "tokens": tokens,
        "trainer": trainer,
        "rank0": (_files(tmp_path / "r0", rank0), rank0),
        "rank1": (_files(tmp_path / "r1", rank1), rank1),
        "tmp": tmp_path,
    }


def _objects(env, name: str = NAME) -> list[Path]:
    folder = Path(env["trainer"].root) / name
    return sorted(folder.glob("@*.enc")) if folder.is_dir() else []


def test_parts_commit_under_one_manifest_and_fetch_whole_or_in_part(env):
    store = env["trainer"]
    (dir0, files0), (dir1, files1) = env["rank0"], env["rank1"]
    parts = store.put_part(NAME, dir1, META)
    assert {e["path"] for e in parts} == set(files1)
    assert "key" not in json.dumps([{k: v for k, v in e.items() if k != "data_key"} for e in parts])
    assert not store.exists(NAME) and store.list_checkpoints() == []  # not committed yet
    store.put_checkpoint(NAME, dir0, META, parts=parts)

    info = store.info(NAME)
    assert info["files"] == 4 and info["classification"] == "internal"
    got = store.get_checkpoint(NAME, env["tmp"] / "all")
    for rel, data in {**files0, **files1}.items():
        assert (got / rel).read_bytes() == data
    some = store.get_checkpoint(NAME, env["tmp"] / "some", files=lambda r: r.startswith("model/"))
    assert sorted(p.relative_to(some).as_posix() for p in some.rglob("*") if p.is_file()) == [
        "model/__0_0.distcp",
        "model/__1_0.distcp",
    ]
    with pytest.raises(InputError, match="has no file"):
        store.get_checkpoint(NAME, env["tmp"] / "none", files=["model/__7_0.distcp"])

    puts = [e for e in events(env["ws"], "store.put") if e.decision == "allow"]
    assert [e.details.get("part") for e in puts] == [True, None]  # the part, then the commit
    assert puts[1].details["parts"] == 2 and puts[1].details["files"] == 4
    gets = [e for e in events(env["ws"], "store.get") if e.decision == "allow"]
    assert [e.details["files"] for e in gets] == [4, 2]


def test_byte_ranges_decrypt_only_their_chunks_and_refuse_a_tampered_one(env):
    store = env["trainer"]
    (dir0, _), (dir1, files1) = env["rank0"], env["rank1"]
    store.put_checkpoint(NAME, dir0, META, parts=store.put_part(NAME, dir1, META))
    data = files1["model/__1_0.distcp"]
    with store.open_ranges(NAME, "model/__1_0.distcp") as f:
        for offset, length in [(0, 10), (8200, 500), (9000, 1), (123, 0)]:
            assert f.read(offset, length) == data[offset : offset + length]
        assert f.bytes_read == 16 + (4096 + 16) + (9001 - 8192 + 16)  # header, chunks 0 and 2
    with store.open_ranges(NAME, "model/__1_0.distcp") as f:
        for offset, length in [(4090, 20), (8000, 1001), (0, 9001)]:  # across chunk boundaries
            assert f.read(offset, length) == data[offset : offset + length]
        with pytest.raises(IntegrityError, match="outside the file"):
            f.read(9000, 2)
    gets = [e for e in events(env["ws"], "store.get") if e.decision == "allow"]
    assert gets[-1].details["file"] == "model/__1_0.distcp" and gets[-1].details["ranges"]

    manifest = json.loads((Path(store.root) / NAME / "@manifest.json").read_text())["body"]
    entry = next(e for e in manifest["files"] if e["path"] == "model/__1_0.distcp")
    obj = Path(store.root) / NAME / f"@{entry['file_id']}.enc"
    raw = bytearray(obj.read_bytes())
    raw[16 + 4096 + 16 + 100] ^= 1  # a byte of chunk 1
    obj.write_bytes(bytes(raw))
    with store.open_ranges(NAME, "model/__1_0.distcp") as f:
        assert f.read(0, 100) == data[:100]  # chunk 0 is intact
        with pytest.raises(IntegrityError, match="chunk 1 failed authentication"):
            f.read(4096, 10)
    with pytest.raises(IntegrityError, match="chunk 1 failed authentication"):
        store.get_checkpoint(NAME, env["tmp"] / "whole")
    assert [e for e in events(env["ws"], "store.get") if e.decision == "error"]


def test_uncommitted_parts_are_never_served_and_can_be_discarded(env):
    store = env["trainer"]
    dir1, _ = env["rank1"]
    parts = store.put_part(NAME, dir1, META)
    assert len(_objects(env)) == 2
    with pytest.raises(InputError, match="no checkpoint named"):
        store.get_checkpoint(NAME, env["tmp"] / "x")
    with (
        pytest.raises(InputError, match="no checkpoint named"),
        store.open_ranges(NAME, parts[0]["path"]),
    ):
        pass
    store.discard_parts(NAME, parts)
    assert _objects(env) == []


def test_parts_of_another_checkpoint_or_forged_entries_are_refused_at_commit(env):
    store = env["trainer"]
    (dir0, _), (dir1, _) = env["rank0"], env["rank1"]
    other = store.put_part("runs/parts/step-2", dir1, META)
    # the objects moved into this checkpoint's folder: their keys are bound to the other name
    for e in other:
        src = Path(store.root) / "runs/parts/step-2" / f"@{e['file_id']}.enc"
        (Path(store.root) / NAME).mkdir(parents=True, exist_ok=True)
        os.replace(src, Path(store.root) / NAME / f"@{e['file_id']}.enc")
    with pytest.raises(IntegrityError, match="not wrapped for this checkpoint"):
        store.put_checkpoint(NAME, dir0, META, parts=other)
    assert not store.exists(NAME) and _objects(env) == []  # the refused parts were removed

    parts = store.put_part(NAME, dir1, META)
    swapped = [dict(parts[0]), dict(parts[1])]
    swapped[0]["data_key"], swapped[1]["data_key"] = parts[1]["data_key"], parts[0]["data_key"]
    forged = [
        swapped,
        [{**parts[0], "extra": 1}, parts[1]],
        [{**parts[0], "file_id": "../../x"}],
        [parts[0], {**parts[1], "path": parts[0]["path"]}],
        [{**parts[0], "path": "config.json"}],  # a file the committing process has too
    ]
    for bad in forged:
        with pytest.raises(IntegrityError):
            store.put_checkpoint(NAME, dir0, META, parts=bad)
        assert not store.exists(NAME)
        parts = store.put_part(NAME, dir1, META)  # each refusal removed the parts
    store.put_checkpoint(NAME, dir0, META, parts=parts)  # the genuine entries commit
    assert store.info(NAME)["files"] == 4
    with pytest.raises(InputError, match="already exists"):
        store.put_part(NAME, dir1, META)  # a committed checkpoint takes no more parts


def test_a_part_needs_put_permission_and_clearance_and_is_audited(env):
    admin = open_store(env["ws"], env["tokens"]["user:admin"])
    admin.add_principal("user:eve", ["evaluator"], "restricted")
    eve = open_store(env["ws"], admin.issue_token("user:eve"))
    dir1, _ = env["rank1"]
    with pytest.raises(AccessDenied):
        eve.put_part(NAME, dir1, META)
    denied = [e for e in events(env["ws"], "store.put") if e.decision == "deny"]
    assert denied and denied[-1].actor == "user:eve"
    assert _objects(env) == []


def test_objects_of_an_attempt_that_died_before_its_commit_are_removed_by_the_commit(env):
    store = env["trainer"]
    (dir0, _), (dir1, _) = env["rank0"], env["rank1"]
    store.put_part(NAME, dir1, META)  # a rank stored its part, then the job died
    parts = store.put_part(NAME, dir1, META)  # the rerun reaches the same step
    assert len(_objects(env)) == 4
    store.put_checkpoint(NAME, dir0, META, parts=parts)
    body = json.loads((Path(store.root) / NAME / "@manifest.json").read_text())["body"]
    assert {p.name for p in _objects(env)} == {f"@{e['file_id']}.enc" for e in body["files"]}
    swept = [e for e in events(env["ws"], "store.put") if "earlier attempt" in e.details["reason"]]
    assert swept and swept[-1].details["objects"] == 2
    assert store.get_checkpoint(NAME, env["tmp"] / "all")  # the committed ones are intact
