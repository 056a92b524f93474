"""Attacks and accidents on checkpoints (issue 17, items 9-15): two puts of one name at once,
a damaged manifest, refusals without an audit entry, a FIFO in a checkpoint, a symbolic link
planted in the destination of a get, world-readable files, tracebacks instead of one line."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from corpusforge.core.errors import AccessDenied, InputError
from corpusforge.model.store import bootstrap_store, open_store
from tests._store_attack import REPO, assert_no_secrets, cli, events, make_checkpoint, one_line

NAME = "runs/attack/step-1"


@pytest.fixture(scope="module")
def s3_endpoint(moto_s3):
    """The session's S3 endpoint (moto's server) with this module's bucket."""
    return moto_s3("race")


@pytest.fixture
def env(workspace, tmp_path):
    tokens = bootstrap_store(workspace)
    ckpt = make_checkpoint(tmp_path / "ckpt")
    trainer = open_store(workspace, tokens["svc:trainer"])
    admin = open_store(workspace, tokens["user:admin"])
    yield {
        "ws": workspace,
        "tokens": tokens,
        "ckpt": ckpt,
        "tmp": tmp_path,
        "trainer": trainer,
        "admin": admin,
    }
    assert_no_secrets(workspace, tokens)


def _same(a: Path, b: Path) -> None:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes()


# -- item 9: concurrent puts of one name ------------------------------------------------------
# Each process runs the real CLI; both are held after their "does it exist?" check until the
# other has passed it too, so both really race for the commit.
RACER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from corpusforge.model.store.store import SecureCheckpointStore

    barrier = Path(os.environ["RACE_BARRIER"])
    real = SecureCheckpointStore._encrypt_file

    def held(self, *args, **kwargs):
        if not getattr(self, "_raced", False):
            self._raced = True
            (barrier / str(os.getpid())).touch()
            deadline = time.monotonic() + 30
            while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
        return real(self, *args, **kwargs)

    SecureCheckpointStore._encrypt_file = held
    from corpusforge.cli import main
    sys.argv = ["corpusforge", *sys.argv[1:]]
    main()
    """
)


def _race(
    ws, token: str, dirs: list[Path], barrier: Path, extra_env: dict, name: str = NAME
) -> list:
    barrier.mkdir()
    env = {**os.environ, "CORPUSFORGE_TOKEN": token, "RACE_BARRIER": str(barrier), **extra_env}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                RACER,
                "store",
                "put",
                name,
                str(d),
                "--workspace",
                str(ws.root),
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for d in dirs
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        results.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return results


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_concurrent_puts_of_one_name_one_wins_and_the_loser_leaves_nothing(env, backend, request):
    ws, tmp = env["ws"], env["tmp"]
    a = make_checkpoint(tmp / "a", marker="from-a")
    b = make_checkpoint(tmp / "b", marker="from-b")
    extra, kwargs = {}, {}
    if backend == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        options = {"client_kwargs": {"endpoint_url": endpoint}, "skip_instance_cache": True}
        url = f"s3://race/{tmp.name}"
        extra = {"CORPUSFORGE_STORE_URL": url, "CORPUSFORGE_STORE_OPTIONS": json.dumps(options)}
        kwargs = {"url": url, "storage_options": options}
    # The race must really happen: both racers past the existence check before either writes.
    # In about 1 run in 25 under load the second racer did not reach that point within the
    # wait (cause not found; see the closing note), so a race that did not happen is run again
    # under a fresh name, and every assertion below is on a race that did.
    for attempt in range(3):
        name = NAME if attempt == 0 else f"{NAME}-retry{attempt}"
        barrier = tmp / f"barrier-{attempt}"
        results = _race(ws, env["tokens"]["svc:trainer"], [a, b], barrier, extra, name)
        if len(list(barrier.iterdir())) == 2:
            break
    else:
        pytest.fail(
            f"the two puts never raced: {[(r.returncode, r.stderr[-500:]) for r in results]}"
        )
    winners = [r for r in results if r.returncode == 0]
    losers = [r for r in results if r.returncode != 0]
    assert len(winners) == 1 and len(losers) == 1, [(r.returncode, r.stderr) for r in results]
    assert "stored" in winners[0].stdout
    line = one_line(losers[0])
    assert "already exists" in line and "nothing of this put was kept" in line
    store = open_store(ws, env["tokens"]["svc:trainer"], **kwargs)
    out = store.get_checkpoint(name, tmp / "out")
    winner_dir = a if results[0].returncode == 0 else b
    _same(winner_dir, out)  # one whole checkpoint: the winner's
    manifest = json.loads(store.fs.cat_file(store._manifest_path(name)))
    listed = {f"@{f['file_id']}.enc" for f in manifest["body"]["files"]}
    present = {p.rsplit("/", 1)[-1] for p in store.fs.find(f"{store.root}/{name}")}
    assert present == listed | {"@manifest.json"}, "the loser left objects behind"
    puts = [e for e in events(ws, "store.put") if e.object == f"checkpoint:{name}"]
    assert sorted(e.decision for e in puts) == ["allow", "allow", "deny"]
    assert "concurrent put" in puts[-1].details["reason"]


# -- item 10: a damaged manifest ----------------------------------------------------------------
def test_damaged_manifest_is_listed_and_an_admin_can_delete_it(env):
    ws, trainer, admin, tmp = env["ws"], env["trainer"], env["admin"], env["tmp"]
    trainer.put_checkpoint(NAME, env["ckpt"], {"pii_scrubbed": True})
    trainer.put_checkpoint(f"{NAME}/nested", env["ckpt"], {"pii_scrubbed": True})
    folder = ws.store_dir / "checkpoints" / NAME
    (folder / "@manifest.json").write_bytes(b'{"body": ')  # truncated by a crash or an attacker
    listing = admin.listing()
    assert [c["name"] for c in listing["checkpoints"]] == [f"{NAME}/nested"]
    assert [d["name"] for d in listing["damaged"]] == [NAME]
    assert "unreadable" in listing["damaged"][0]["reason"]
    assert trainer.listing()["damaged_hidden"] == 1 and not trainer.listing()["damaged"]
    r = cli(ws, "store", "list", "--token", env["tokens"]["user:admin"])
    assert f"{NAME}\tDAMAGED" in r.stdout and "damaged checkpoint" in r.stderr
    with pytest.raises(AccessDenied):
        trainer.delete_checkpoint(NAME)  # trainers may not delete
    r = cli(ws, "store", "delete", NAME, "--token", env["tokens"]["user:admin"])
    assert r.returncode == 0, r.stderr
    assert not any(p.name.startswith("@") for p in folder.iterdir())  # manifest and objects gone
    _same(env["ckpt"], trainer.get_checkpoint(f"{NAME}/nested", tmp / "nested"))  # untouched
    deleted = events(ws, "store.delete")[-1]
    assert (deleted.decision, deleted.actor, deleted.details["damaged"]) == (
        "allow",
        "user:admin",
        True,
    )
    assert deleted.details["objects"] == 4


# -- item 11: refusals that left no audit entry ------------------------------------------------
def _refused_put(env, local_dir: Path, match: str) -> None:
    with pytest.raises(InputError, match=match):
        env["trainer"].put_checkpoint(NAME, local_dir, {"pii_scrubbed": True})
    event = events(env["ws"], "store.put")[-1]
    assert (event.decision, event.actor) == ("deny", "svc:trainer")
    assert str(env["tmp"]) not in event.details["reason"]  # ids, not local paths
    assert not (env["ws"].store_dir / "checkpoints" / NAME).exists()


def test_put_of_a_missing_empty_or_symlinked_directory_is_refused_and_audited(env, tmp_path):
    _refused_put(env, tmp_path / "missing", "no such checkpoint directory")
    (tmp_path / "empty").mkdir()
    _refused_put(env, tmp_path / "empty", "empty")
    linked = make_checkpoint(tmp_path / "linked")
    (linked / "tokenizer" / "vocab.json").symlink_to("/etc/hostname")
    _refused_put(env, linked, "symbolic links are not stored")
    (tmp_path / "file").write_text("x")
    _refused_put(env, tmp_path / "file", "not a checkpoint directory")


def test_get_of_a_name_that_does_not_exist_is_audited(env):
    with pytest.raises(InputError, match="no checkpoint named"):
        env["trainer"].get_checkpoint("runs/none/step-9", env["tmp"] / "none")
    event = events(env["ws"], "store.get")[-1]
    assert (event.decision, event.actor, event.object) == (
        "deny",
        "svc:trainer",
        "checkpoint:runs/none/step-9",
    )
    assert not (env["tmp"] / "none").exists()


def test_delete_of_a_name_that_does_not_exist_is_audited(env):
    with pytest.raises(InputError, match="no checkpoint named"):
        env["admin"].delete_checkpoint("runs/none/step-9")
    assert events(env["ws"], "store.delete")[-1].decision == "deny"


# -- item 12: special files ----------------------------------------------------------------------
def test_a_fifo_in_a_checkpoint_is_refused_not_skipped(env, tmp_path):
    ckpt = make_checkpoint(tmp_path / "with-fifo")
    os.mkfifo(ckpt / "tokenizer" / "pipe")
    _refused_put(env, ckpt, "not a regular file \\(a FIFO\\)")
    r = cli(
        env["ws"],
        "store",
        "put",
        NAME,
        str(ckpt),
        env={"CORPUSFORGE_TOKEN": env["tokens"]["svc:trainer"]},
    )
    assert "FIFO" in one_line(r)


def test_a_file_swapped_for_a_fifo_after_listing_is_refused_without_blocking(
    env, tmp_path, monkeypatch
):
    import corpusforge.model.store.store as store_module

    ckpt = make_checkpoint(tmp_path / "swapped")
    real = store_module._checkpoint_files

    def list_then_swap(local_dir):
        files = real(local_dir)
        (ckpt / "config.json").unlink()
        os.mkfifo(ckpt / "config.json")  # opening it for reading would block forever
        return files

    monkeypatch.setattr(store_module, "_checkpoint_files", list_then_swap)
    with pytest.raises(InputError, match="FIFO"):
        env["trainer"].put_checkpoint(NAME, ckpt, {"pii_scrubbed": True})
    assert not (env["ws"].store_dir / "checkpoints" / NAME).exists()
    refused = events(env["ws"], "store.put")[-1]
    assert refused.decision == "deny" and str(tmp_path) not in refused.details["reason"]


# -- item 13: links planted in the destination --------------------------------------------------
def test_get_never_writes_through_a_symlink_planted_in_the_destination(env, tmp_path):
    env["trainer"].put_checkpoint(NAME, env["ckpt"], {"pii_scrubbed": True})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "tokenizer").symlink_to(elsewhere)  # dest/sub -> /elsewhere
    with pytest.raises(InputError, match="not empty"):
        env["trainer"].get_checkpoint(NAME, dest)
    assert list(elsewhere.iterdir()) == []
    assert events(env["ws"], "store.get")[-1].decision == "deny"
    # The destination itself a link (dangling or to a folder): refused, nothing written.
    (tmp_path / "to-elsewhere").symlink_to(elsewhere)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    for link in ("to-elsewhere", "dangling"):
        with pytest.raises(InputError, match="symbolic link"):
            env["trainer"].get_checkpoint(NAME, tmp_path / link)
    assert list(elsewhere.iterdir()) == [] and not (tmp_path / "nowhere").exists()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]  # no staging left
    # An empty folder is fine: the fetched folder replaces it whole.
    (tmp_path / "empty").mkdir()
    _same(env["ckpt"], env["trainer"].get_checkpoint(NAME, tmp_path / "empty"))


def test_a_refused_fetched_block_deletes_nothing_of_the_destination(env, tmp_path):
    from corpusforge.model.store import fetched

    env["trainer"].put_checkpoint(NAME, env["ckpt"], {"pii_scrubbed": True})
    mine = tmp_path / "my-folder"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="not empty"), fetched(env["trainer"], NAME, mine):
        pass
    assert (mine / "notes.txt").read_text() == "keep me"
    with fetched(env["trainer"], NAME, tmp_path / "scratch") as path:
        _same(env["ckpt"], path)
    assert not (tmp_path / "scratch").exists()  # the plaintext copy is gone after the block


def test_a_link_planted_while_fetching_is_not_followed(env, tmp_path, monkeypatch):
    import corpusforge.model.store.store as store_module

    env["trainer"].put_checkpoint(NAME, env["ckpt"], {"pii_scrubbed": True})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    dest = tmp_path / "dest"
    real = store_module._move_into_place

    def plant_then_move(staging, target, mode):
        target.mkdir()
        (target / "tokenizer").symlink_to(elsewhere)
        return real(staging, target, mode)

    monkeypatch.setattr(store_module, "_move_into_place", plant_then_move)
    with pytest.raises(InputError, match="could not move the checkpoint into place"):
        env["trainer"].get_checkpoint(NAME, dest)
    assert list(elsewhere.iterdir()) == []
    assert [p.name for p in dest.iterdir()] == ["tokenizer"]  # only the planted link
    assert events(env["ws"], "store.get")[-1].decision == "deny"


# -- item 14: file modes ------------------------------------------------------------------------
def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_audit_log_and_decrypted_files_are_private(env, tmp_path):
    audit_db = env["ws"].root / "audit.db"
    assert _mode(audit_db) == 0o600
    for side in ("audit.db-wal", "audit.db-shm"):
        if (env["ws"].root / side).exists():
            assert _mode(env["ws"].root / side) == 0o600
    env["trainer"].put_checkpoint(NAME, env["ckpt"], {"pii_scrubbed": True})
    out = env["trainer"].get_checkpoint(NAME, tmp_path / "private")
    assert _mode(out) == 0o700 and _mode(out / "tokenizer") == 0o700
    assert {_mode(p) for p in out.rglob("*") if p.is_file()} == {0o600}
    # An explicit, documented choice: --mode.
    r = cli(
        env["ws"],
        "store",
        "get",
        NAME,
        str(tmp_path / "shared"),
        "--mode",
        "640",
        env={"CORPUSFORGE_TOKEN": env["tokens"]["svc:trainer"]},
    )
    assert r.returncode == 0, r.stderr
    assert {_mode(p) for p in (tmp_path / "shared").rglob("*") if p.is_file()} == {0o640}
    assert _mode(tmp_path / "shared") == 0o750
    for bad in ("999", "u+r", "044"):
        r = cli(env["ws"], "store", "get", NAME, str(tmp_path / f"bad-{bad}"), "--mode", bad)
        assert "--mode" in one_line(r) and not (tmp_path / f"bad-{bad}").exists()


def test_an_older_world_readable_audit_log_is_made_private(tmp_path):
    from corpusforge.core.audit import AuditLog

    db = tmp_path / "old-audit.db"
    db.touch(mode=0o644)
    db.chmod(0o644)
    AuditLog(f"sqlite:///{db}").append("test.event", "thing", actor="user:t")
    assert _mode(db) == 0o600


# -- item 15: one line, not a traceback ----------------------------------------------------------
def test_put_with_a_missing_or_invalid_metadata_file_is_one_line_and_audited(env, tmp_path):
    trainer = {"CORPUSFORGE_TOKEN": env["tokens"]["svc:trainer"]}
    (tmp_path / "broken.json").write_text('{"pii_scrubbed": tru')
    (tmp_path / "list.json").write_text("[1, 2]")
    cases = {
        "missing.json": "cannot be read",
        "broken.json": "not valid JSON (line 1",
        "list.json": "must hold a JSON object",
    }
    for file, expected in cases.items():
        r = cli(
            env["ws"],
            "store",
            "put",
            NAME,
            str(env["ckpt"]),
            "--metadata",
            str(tmp_path / file),
            env=trainer,
        )
        assert expected in one_line(r)
        refused = events(env["ws"], "store.put")[-1]
        assert (refused.decision, refused.actor) == ("deny", "svc:trainer")
    assert not (env["ws"].store_dir / "checkpoints" / NAME).exists()


def test_get_into_an_unwritable_destination_is_one_line_and_audited(env, tmp_path):
    env["trainer"].put_checkpoint(NAME, env["ckpt"], {"pii_scrubbed": True})
    trainer = {"CORPUSFORGE_TOKEN": env["tokens"]["svc:trainer"]}
    (tmp_path / "a-file").write_text("x")
    targets = [tmp_path / "a-file" / "dest", tmp_path / "a-file"]
    if os.geteuid() != 0:  # permissions do not bind root
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        targets.append(locked / "dest")
    for target in targets:
        r = cli(env["ws"], "store", "get", NAME, str(target), env=trainer)
        line = one_line(r)
        assert str(target.parent) in line or str(target) in line
        refused = events(env["ws"], "store.get")[-1]
        assert (refused.decision, refused.actor) == ("deny", "svc:trainer")
        assert str(tmp_path) not in refused.details["reason"]  # ids, not local paths
