"""Stage data at fsspec URLs (`s3://bucket/prefix`, `gs://...`, `memory://...`): inputs,
outputs, manifests and the dedup index.

A stage still works on local files; `with_urls` wraps a job's steps so that:

- **Inputs** at a URL are fetched into the stage's cache (`<cache>/remote/<hash of the URL>/`)
  before the job reads them. A file is reused while the object's version (ETag, generation or
  mtime) and size are unchanged and the local copy still has the sha256 recorded when it was
  fetched. A stage-output prefix is read only with a complete `manifest.json` (the local rule:
  no unlisted `part-*`/`.tmp` objects, every listed shard present), and every shard fetched is
  checked against the manifest's sha256: a prefix being overwritten, or rewritten by hand, is
  refused rather than read half old, half new.
- **Outputs** at a URL are written locally (in the cache) and published after the job
  succeeded: a marker object first, then every data file, then `manifest.json` last. When
  replacing an earlier output the old manifest is deleted first and stale files before the new
  manifest, so a reader never finds a manifest that names files of another run, and a publish
  killed half-way leaves a prefix without a manifest, which no stage reads. As locally, a
  non-empty prefix that is not this stage's earlier output is refused (`--overwrite` replaces
  this stage's own; a prefix holding only an interrupted publish of the same stage is replaced
  without it).
- **Lineage**: documents keep the object's URL in `uri`, and manifests, rejects and audit
  entries name URLs, never the cache paths they were read from.
- **The dedup index** at a URL is fetched into a working copy keyed by the URL and the version
  of its `index.json`, extended locally, and uploaded back: new parts under fresh unique names,
  then `index.json` with a conditional put (S3 `If-Match` on the version read, `If-None-Match`
  for a new index). If another run updated the index meanwhile the upload is refused
  (`IntegrityError`), the output is not published, and a rerun deduplicates against the new
  index. Backends without conditional writes get a re-read of the version just before the put
  (a small race remains; documented).

Credentials come from the backend's own configuration: for S3 the standard AWS environment
(`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_PROFILE`,
`AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`/`AWS_ENDPOINT_URL_S3`, all read by
botocore), and fsspec's `FSSPEC_<PROTOCOL>_<OPTION>` variables for any backend. They never
reach a message: URLs are shown without user info or query, and error text is scrubbed of the
credential values in the environment.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import threading
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from corpusforge.core.errors import CorpusforgeError, InputError, IntegrityError
from corpusforge.core.hashing import sha256_file
from corpusforge.pipeline.manifest import (
    MANIFEST_NAME,
    REJECTS_NAME,
    check_manifest_paths,
    write_json_atomic,
)

PUBLISH_MARKER = ".corpusforge-publish.json"
INDEX_FILE = "index.json"
_LOCAL_PROTOCOLS = ("hf",)  # hub dataset specs, not files (ingest reads them itself)
_SECRET_ENV = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_CONNECTION_STRING",
)


# --- URLs ------------------------------------------------------------------------------------


def is_url(path: Any) -> bool:
    """True for a URL with a protocol (`s3://...`, `memory://...`, `hf://...`)."""
    s = str(path)
    if "://" not in s:
        return False
    protocol = s.split("://", 1)[0]
    return protocol.replace("+", "").replace("-", "").isalnum()


def is_remote(path: Any) -> bool:
    """An fsspec URL a stage fetches or publishes (hf:// names a hub dataset, read by ingest)."""
    return is_url(path) and str(path).split("://", 1)[0] not in _LOCAL_PROTOCOLS


def redact(url: str) -> str:
    """A URL fit for messages, manifests and audit entries: no user info, query or fragment."""
    s = str(url)
    if not is_url(s):
        return s
    parts = urlsplit(s)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def scrub(text: str) -> str:
    """`text` without the credential values found in the environment."""
    for name in _SECRET_ENV:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def audit_object(location: str | Path) -> str:
    """The audit object of a stage's output: `dir:<absolute path>` or `url:<redacted URL>`."""
    if is_remote(location):
        return f"url:{redact(str(location))}"
    return f"dir:{Path(location).resolve()}"


def describe(location: str | Path | None) -> str | None:
    """A location for audit details: the redacted URL, or the absolute path."""
    if location is None:
        return None
    return redact(str(location)) if is_remote(location) else str(Path(location).resolve())


def read_output_bytes(location: str | Path, rel: str) -> bytes:
    """The bytes of the file `rel` of a published stage output (a directory or a URL)."""
    if not is_remote(location):
        return (Path(location) / rel).read_bytes()
    url = _join(str(location), rel)
    fs, path = _filesystem(url)
    with _errors(url):
        return fs.cat_file(path)


def join_location(location: str | Path, rel: str) -> str | Path:
    """`rel` under a stage output: a URL under a URL, a path under a directory."""
    return _join(str(location), rel) if is_remote(location) else Path(location) / rel


def output_exists(location: str | Path, rel: str) -> bool:
    """Whether the file `rel` of a stage output (a directory or a URL) exists."""
    if not is_remote(location):
        return (Path(location) / rel).is_file()
    url = _join(str(location), rel)
    fs, path = _filesystem(url)
    with _errors(url):
        return bool(fs.exists(path))


def location_exists(location: str | Path) -> bool:
    """Whether a file or directory (a URL: an object or a non-empty prefix) exists."""
    if not is_remote(location):
        return Path(location).expanduser().exists()
    fs, path = _filesystem(str(location))
    with _errors(str(location)):
        return bool(fs.exists(path))


def output_files(location: str | Path) -> set[str]:
    """The relative paths of every file under a stage output (a directory or a URL)."""
    if not is_remote(location):
        root = Path(location)
        return {f.relative_to(root).as_posix() for f in root.rglob("*") if f.is_file()}
    fs, root = _filesystem(str(location))
    with _errors(str(location)):
        if not fs.exists(root):
            return set()
    return set(_listing(fs, root.rstrip("/"), str(location), recursive=True))


def write_output_bytes(location: str | Path, rel: str, data: bytes) -> None:
    """Write the small file `rel` (a fingerprint) into a stage output, replacing it."""
    if not is_remote(location):
        target = Path(location) / rel
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
        return
    url = _join(str(location), rel)
    fs, path = _filesystem(url)
    with _errors(url):
        fs.pipe_file(path, data)


def remove_output_file(location: str | Path, rel: str) -> None:
    """Delete the file `rel` of a stage output if it is there."""
    if not is_remote(location):
        (Path(location) / rel).unlink(missing_ok=True)
        return
    url = _join(str(location), rel)
    fs, path = _filesystem(url)
    with _errors(url):
        if fs.exists(path):
            fs.rm_file(path)


def source_identity(url: str) -> list[dict[str, Any]]:
    """What ingest would read at `url` (an object, or the objects under a prefix, hidden ones
    left out), identified by the backend's version (ETag, generation, ...) and size: enough to
    tell a changed source without fetching it."""
    fs, root = _filesystem(url)
    info = _info(fs, root, url)
    if info.get("type") != "directory":
        return [{"path": redact(url), "version": _version(info), "size": info.get("size")}]
    base = redact(url).rstrip("/")
    return [
        {"path": f"{base}/{rel}", "version": _version(i), "size": i.get("size")}
        for rel, i in sorted(_listing(fs, root.rstrip("/"), url, recursive=True).items())
        if not any(part.startswith(".") for part in rel.split("/"))
    ]


def read_rejects(location: str | Path) -> list[dict[str, Any]]:
    """The quarantine records of a published stage output (a directory or a URL)."""
    try:
        raw = read_output_bytes(location, REJECTS_NAME)
    except (FileNotFoundError, InputError):
        return []
    return [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]


def count_units(location: str | Path) -> int:
    """How many units a stage reads from `location` (a shard, or a byte range or row-group run
    of a large one; a URL: unknown without listing it, so the cores), for sizing a worker pool."""
    if is_remote(location):
        return os.cpu_count() or 1
    from corpusforge.pipeline.documents import list_shards
    from corpusforge.pipeline.stage_io import unit_count

    return sum(unit_count(shard.stat().st_size) for shard in list_shards(location))


def single_unit(location: str | Path) -> bool:
    """Whether a stage reads `location` as one unit (one small local shard): every step then
    has one unit, which the drivers run in their own process, so no worker pool is needed."""
    return not is_remote(location) and count_units(location) == 1


def io_threads() -> set[threading.Thread]:
    """fsspec's event-loop thread and its executor's threads (name resolution): idle between
    calls, and replaced in a forked child (fsspec resets its loop after a fork)."""
    asyn = sys.modules.get("fsspec.asyn")
    if asyn is None or asyn.iothread[0] is None:
        return set()
    executor = getattr(asyn.loop[0], "_default_executor", None)
    return {asyn.iothread[0], *getattr(executor, "_threads", ())}


def _join(url: str, rel: str) -> str:
    return url.rstrip("/") + "/" + rel


_FILESYSTEMS: dict[tuple[Any, ...], Any] = {}


def _filesystem(url: str):
    """(filesystem, path) of `url`. One client per protocol and environment in a process
    (building an S3 client costs a credential lookup and a session); a changed AWS_* or
    FSSPEC_* variable gets a new one."""
    import fsspec

    protocol = url.split("://", 1)[0]
    options: dict[str, Any] = {}
    if protocol in ("s3", "s3a"):
        # Listings are not cached: a prefix is listed to decide what is complete.
        options = {"skip_instance_cache": True, "use_listings_cache": False}
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(("AWS_", "FSSPEC_"))))
    key = (protocol, env)
    try:
        if "::" in url or protocol not in ("s3", "s3a", "gs", "gcs", "az", "abfs"):
            return fsspec.core.url_to_fs(url, **options)
        fs = _FILESYSTEMS.get(key)
        if fs is None:
            fs, path = fsspec.core.url_to_fs(url, **options)
            _FILESYSTEMS.clear()
            _FILESYSTEMS[key] = fs
            return fs, path
        return fs, fs._strip_protocol(url)
    except (ImportError, ValueError) as exc:
        raise InputError(f"{redact(url)}: {scrub(str(exc))}") from None


@contextmanager
def _errors(url: str, what: str = ""):
    """Backend errors as one line naming the redacted URL (no arguments, no credentials)."""
    try:
        yield
    except CorpusforgeError:
        raise
    except FileNotFoundError:
        raise InputError(f"{redact(url)}: no such file or directory{what}") from None
    except Exception as exc:
        message = scrub(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise InputError(f"{redact(url)}: {type(exc).__name__}: {message}{what}") from None


def _version(info: dict[str, Any]) -> str:
    for key in ("ETag", "etag", "generation", "VersionId", "md5Hash", "mtime", "LastModified"):
        if info.get(key) not in (None, ""):
            return f"{key}:{info[key]}"
    return f"created:{info.get('created')}"


def _url_key(url: str) -> str:
    import hashlib

    return hashlib.sha256(redact(url).encode()).hexdigest()[:16]


def _name_of(url: str) -> str:
    return redact(url).rstrip("/").rsplit("/", 1)[-1] or "root"


# --- fetching ------------------------------------------------------------------------------


class _Fetcher:
    """Copies objects under one URL into a local mirror directory, reusing unchanged ones."""

    def __init__(self, url: str, mirror: Path):
        self.url = url
        self.fs, self.root = _filesystem(url)
        self.root = self.root.rstrip("/")
        self.mirror = mirror
        self.record_path = mirror.parent / f"{mirror.name}.fetched.json"
        try:
            self.record: dict[str, Any] = json.loads(self.record_path.read_text())
        except (OSError, ValueError):
            self.record = {}
        self.kept: set[str] = set()

    def rpath(self, rel: str) -> str:
        return f"{self.root}/{rel}" if rel else self.root

    def fetch(self, items: list[tuple[str, dict[str, Any], str | None]]) -> None:
        """Fetch (rel, info, expected sha256 or None) into the mirror; verify the expected."""
        todo = []
        for rel, info, expected in items:
            local = self.mirror / rel if rel else self.mirror
            self.kept.add(rel)
            seen = self.record.get(rel)
            version = _version(info)
            if (
                isinstance(seen, dict)
                and seen.get("version") == version
                and seen.get("size") == info.get("size")
                and local.is_file()
                and (expected is None or seen.get("sha256") == expected)
                and sha256_file(local) == seen.get("sha256")
            ):
                continue
            todo.append((rel, info, expected, local))
        if todo:
            for _, _, _, local in todo:
                local.parent.mkdir(parents=True, exist_ok=True)
            tmps = [str(local) + f".part-{os.getpid()}" for *_, local in todo]
            with _errors(self.url):
                self.fs.get([self.rpath(rel) for rel, *_ in todo], tmps)
            for (rel, info, expected, local), tmp in zip(todo, tmps, strict=True):
                digest = sha256_file(tmp)
                if expected is not None and digest != expected:
                    Path(tmp).unlink(missing_ok=True)
                    raise IntegrityError(
                        f"{redact(_join(self.url, rel))}: sha256 differs from the manifest "
                        "(changed or being overwritten); not read"
                    )
                os.replace(tmp, local)
                self.record[rel] = {
                    "version": _version(info),
                    "size": info.get("size"),
                    "sha256": digest,
                }
        self.save()

    def prune(self) -> None:
        """Remove local files the last fetch did not ask for (an earlier version's shards)."""
        if self.mirror.is_dir():
            for f in sorted(self.mirror.rglob("*")):
                rel = f.relative_to(self.mirror).as_posix()
                if f.is_file() and rel not in self.kept:
                    f.unlink()
        self.record = {k: v for k, v in self.record.items() if k in self.kept}
        self.save()

    def save(self) -> None:
        self.record_path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.record_path, self.record)


def _info(fs, path: str, url: str) -> dict[str, Any]:
    with _errors(url):
        return fs.info(path)


def _listing(fs, root: str, url: str, recursive: bool) -> dict[str, dict[str, Any]]:
    """rel path -> info of the files under `root` (top level only unless `recursive`)."""
    with _errors(url):
        if recursive:
            found = fs.find(root, detail=True)
        else:
            found = {e["name"]: e for e in fs.ls(root, detail=True) if e.get("type") == "file"}
    base = fs._strip_protocol(root).rstrip("/")
    out = {}
    for name, info in found.items():
        rel = fs._strip_protocol(name)[len(base) + 1 :]
        if rel and info.get("type", "file") == "file":
            if rel.startswith("/") or any(p in ("", ".", "..") for p in rel.split("/")):
                # an object key that would leave the local copy's directory
                raise InputError(f"{redact(url)}: object key {rel!r} is not a safe relative path")
            out[rel] = info
    return out


def fetch_documents(url: str, cache_root: Path, *, allow_incomplete: bool = False) -> Path:
    """A local copy of a document input at `url`: a stage-output prefix (manifest checked and
    every shard verified against it), a `.parquet`/`.jsonl` object, or (allowed explicitly) a
    prefix of shards without a complete manifest."""
    mirror = cache_root / "remote" / _url_key(url) / _name_of(url)
    fetcher = _Fetcher(url, mirror)
    info = _info(fetcher.fs, fetcher.root, url)
    if info.get("type") != "directory":
        if not url.endswith((".parquet", ".jsonl")):
            raise InputError(
                f"{redact(url)}: expected a prefix of shards, a .parquet or a .jsonl object"
            )
        return _fetch_object(url, mirror.parent / "object" / mirror.name, info)
    listing = _listing(fetcher.fs, fetcher.root, url, recursive=False)
    problem, manifest, raw = _remote_incompleteness(fetcher, listing)
    if problem is not None and not allow_incomplete:
        raise InputError(
            f"{redact(url)}: {problem}; not a complete stage output (rerun the stage that writes "
            "it, or pass --allow-incomplete to read it anyway)"
        )
    items: list[tuple[str, dict[str, Any], str | None]] = []
    mirror.mkdir(parents=True, exist_ok=True)
    if raw is not None:  # the bytes that were checked, not a second read that may differ
        (mirror / MANIFEST_NAME).write_bytes(raw)
        fetcher.kept.add(MANIFEST_NAME)
    if problem is None and manifest is not None:
        for out in manifest.get("outputs", []):
            items.append((out["path"], listing[out["path"]], out.get("sha256")))
    else:
        shards = sorted(r for r in listing if r.endswith((".parquet", ".jsonl")))
        items += [(rel, listing[rel], None) for rel in shards]
    fetcher.fetch(items)
    fetcher.prune()
    return mirror


def fetch_output(url: str, cache_root: Path) -> Path:
    """A local copy of every file of the complete stage output at `url` (the manifest's
    shards verified against their sha256; companions such as a token folder's document
    indexes and tokenizer as listed), for reading it as a whole: lineage and erasure."""
    mirror = cache_root / "remote" / _url_key(url) / _name_of(url)
    fetcher = _Fetcher(url, mirror)
    listing = _listing(fetcher.fs, fetcher.root, url, recursive=True)
    problem, manifest, raw = _remote_incompleteness(fetcher, listing)
    if problem is not None or manifest is None or raw is None:
        raise InputError(f"{redact(url)}: {problem}; not a complete stage output")
    mirror.mkdir(parents=True, exist_ok=True)
    (mirror / MANIFEST_NAME).write_bytes(raw)  # the bytes that were checked
    fetcher.kept.add(MANIFEST_NAME)
    digests = {o["path"]: o.get("sha256") for o in manifest.get("outputs", []) if "path" in o}
    fetcher.fetch(
        [
            (rel, info, digests.get(rel))
            for rel, info in sorted(listing.items())
            if rel != MANIFEST_NAME and not any(p.startswith(".") for p in rel.split("/"))
        ]
    )
    fetcher.prune()
    return mirror


def _fetch_object(url: str, local: Path, info: dict[str, Any]) -> Path:
    fetcher = _Fetcher(url, local)
    fetcher.fetch([("", info, None)])
    return local


def _remote_incompleteness(
    fetcher: _Fetcher, listing: dict[str, dict[str, Any]]
) -> tuple[str | None, dict[str, Any] | None, bytes | None]:
    """The local completeness rule (stage_io) on a prefix, before anything large is fetched:
    (problem or None, the manifest, its bytes)."""
    if MANIFEST_NAME not in listing:
        return "no manifest.json", None, None
    with _errors(fetcher.url):
        raw = fetcher.fs.cat_file(fetcher.rpath(MANIFEST_NAME))
    try:
        manifest = json.loads(raw)
        if not isinstance(manifest, dict):
            raise ValueError
        check_manifest_paths(fetcher.mirror, manifest, _join(redact(fetcher.url), MANIFEST_NAME))
    except ValueError:
        return "unreadable manifest", None, raw
    except IntegrityError as exc:
        return str(exc), None, raw
    listed = {o["path"] for o in manifest.get("outputs", []) if isinstance(o, dict)}
    for rel in sorted(listed):
        if rel not in listing:
            return f"{rel} is listed in the manifest but missing", manifest, raw
    unlisted = sorted(
        rel
        for rel in listing
        if "/" not in rel and (rel.endswith(".tmp") or rel.startswith("part-"))
        if rel not in listed
    )
    if unlisted:
        return f"{unlisted[0]} is not listed in the manifest", manifest, raw
    return None, manifest, raw


def fetch_sources(url: str, cache_root: Path) -> tuple[Path, Callable[[str], str | None]]:
    """A local copy of ingest input at `url` (an object, or every object under a prefix except
    hidden ones) and the function that maps a local file back to its URL."""
    mirror = cache_root / "remote" / _url_key(url) / _name_of(url)
    fetcher = _Fetcher(url, mirror)
    info = _info(fetcher.fs, fetcher.root, url)
    if info.get("type") != "directory":
        local = _fetch_object(url, mirror.parent / "object" / mirror.name, info)
        return local, lambda p: redact(url) if Path(p) == local else None
    listing = _listing(fetcher.fs, fetcher.root, url, recursive=True)
    items = [
        (rel, i, None)
        for rel, i in sorted(listing.items())
        if not any(part.startswith(".") for part in rel.split("/"))
    ]
    if not items:
        raise InputError(f"{redact(url)}: no files under this prefix")
    mirror.mkdir(parents=True, exist_ok=True)
    fetcher.fetch(items)
    fetcher.prune()
    base = redact(url).rstrip("/")

    def uri_of(path: str) -> str | None:
        try:
            rel = Path(path).relative_to(mirror).as_posix()
        except ValueError:
            return None
        return f"{base}/{rel}"

    return mirror, uri_of


# --- publishing ----------------------------------------------------------------------------


def check_remote_output(url: str, stage: str, *, overwrite: bool) -> None:
    """The local output rule on a prefix: refuse anything but this stage's earlier output
    (and that only with `overwrite`); a prefix holding an interrupted publish of this stage
    (marker, no manifest) may be replaced."""
    fs, root = _filesystem(url)
    root = root.rstrip("/")
    try:
        info = fs.info(root)
    except FileNotFoundError:
        return
    except Exception:
        with _errors(url):
            raise
    if info.get("type") != "directory":
        raise InputError(f"{redact(url)}: output path exists and is not a directory")
    listing = _listing(fs, root, url, recursive=False)
    if not listing:
        return
    earlier = None
    if MANIFEST_NAME in listing:
        earlier = _read_json(fs, f"{root}/{MANIFEST_NAME}", url).get("stage")
    elif (
        PUBLISH_MARKER in listing
        and _read_json(fs, f"{root}/{PUBLISH_MARKER}", url).get("stage") == stage
    ):
        return  # an interrupted publish of this stage: never readable, safe to replace
    if earlier != stage:
        raise InputError(
            f"{redact(url)}: output prefix is not empty and is not an earlier {stage} output; "
            "choose an empty or new prefix"
        )
    if not overwrite:
        raise InputError(
            f"{redact(url)}: holds an earlier {stage} output; pass --overwrite to replace it"
        )


def check_output(location: str | Path, stage: str, *, overwrite: bool) -> None:
    """`check_output_directory` for a local path or a URL."""
    from corpusforge.pipeline.stage_io import check_output_directory

    if is_remote(location):
        check_remote_output(str(location), stage, overwrite=overwrite)
    else:
        check_output_directory(Path(location), stage, overwrite=overwrite)


def _read_json(fs, path: str, url: str) -> dict[str, Any]:
    with _errors(url):
        raw = fs.cat_file(path)
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def publish(local: Path, url: str, stage: str, *, overwrite: bool) -> None:
    """Upload a finished local stage output to `url`: marker, data files, manifest last."""
    check_remote_output(url, stage, overwrite=overwrite)
    fs, root = _filesystem(url)
    root = root.rstrip("/")
    files = sorted(
        f.relative_to(local).as_posix()
        for f in local.rglob("*")
        if f.is_file() and f.name != MANIFEST_NAME
    )
    with _errors(url, " (publishing; the prefix has no manifest until it finishes)"):
        existing = set(_listing(fs, root, url, recursive=True)) if fs.exists(root) else set()
        fs.pipe_file(f"{root}/{PUBLISH_MARKER}", json.dumps({"stage": stage}).encode())
        if MANIFEST_NAME in existing:
            fs.rm_file(f"{root}/{MANIFEST_NAME}")  # first: the old files stop being readable
        stale = sorted(existing - set(files) - {MANIFEST_NAME, PUBLISH_MARKER})
        if stale:
            fs.rm([f"{root}/{rel}" for rel in stale])
        if files:
            fs.put([str(local / rel) for rel in files], [f"{root}/{rel}" for rel in files])
        fs.put_file(str(local / MANIFEST_NAME), f"{root}/{MANIFEST_NAME}")
        fs.rm_file(f"{root}/{PUBLISH_MARKER}")


# --- the dedup index -----------------------------------------------------------------------


def fetch_index(url: str, cache_root: Path) -> tuple[Path, dict[str, Any]]:
    """A working copy of the index at `url` for the version of its index.json read now."""
    fs, root = _filesystem(url)
    root = root.rstrip("/")
    meta_path = f"{root}/{INDEX_FILE}"
    try:
        info = fs.info(meta_path)  # the version first: a put conditional on it is then safe
    except FileNotFoundError:
        info = None
    except Exception:
        with _errors(url):
            raise
    version = _version(info) if info else "absent"
    base = cache_root / "remote" / f"index-{_url_key(url)}"
    key = _url_key(f"{url}\n{version}")
    work = base / key
    state_path = base / f"{key}.json"
    if state_path.is_file() and work.is_dir():
        return work, json.loads(state_path.read_text())
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    state: dict[str, Any] = {"url": redact(url), "version": version, "etag": None, "parts": []}
    if info is not None:
        state["etag"] = info.get("ETag") or info.get("etag")
        with _errors(url):
            raw = fs.cat_file(meta_path)
        (work / INDEX_FILE).write_bytes(raw)
        meta = json.loads(raw)
        state["parts"] = list(meta.get("parts", []))
        state["index_json_sha256"] = sha256_file(work / INDEX_FILE)
        listing = _listing(fs, root, url, recursive=True)
        wanted = [(rel, i) for rel, i in listing.items() if rel.split("/", 1)[0] in state["parts"]]
        todo = []
        for rel, i in wanted:
            reuse = _earlier_part_file(base, key, rel, i.get("size"))
            target = work / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if reuse is not None:
                shutil.copyfile(reuse, target)
            else:
                todo.append(rel)
        if todo:
            with _errors(url):
                fs.get([f"{root}/{rel}" for rel in todo], [str(work / rel) for rel in todo])
    write_json_atomic(state_path, state)
    for old in base.glob("*.json"):  # earlier versions' working copies are done with
        if old != state_path:
            old.unlink(missing_ok=True)
            shutil.rmtree(base / old.stem, ignore_errors=True)
    return work, state


def _earlier_part_file(base: Path, key: str, rel: str, size: Any) -> Path | None:
    """The same file of an index part in an earlier working copy (parts are written once under
    unique names, so a same-named file of the same size is the same part)."""
    for other in base.iterdir() if base.is_dir() else ():
        if other.is_dir() and other.name != key:
            candidate = other / rel
            if candidate.is_file() and candidate.stat().st_size == size:
                return candidate
    return None


def upload_index(work: Path, url: str, state: dict[str, Any]) -> None:
    """Upload what this run added to the index: new parts under unique names, then index.json
    conditional on the version that was read (see the module doc)."""
    meta_file = work / INDEX_FILE
    if not meta_file.is_file() or sha256_file(meta_file) == state.get("index_json_sha256"):
        return
    meta = json.loads(meta_file.read_text())
    fs, root = _filesystem(url)
    root = root.rstrip("/")
    token = secrets.token_hex(4)
    renamed = {p: f"{p}-{token}" for p in meta["parts"] if p not in state["parts"]}
    uploads = [
        (str(f), f"{root}/{renamed[part]}/{f.relative_to(work / part).as_posix()}")
        for part in renamed
        for f in sorted((work / part).rglob("*"))
        if f.is_file()
    ]
    meta["parts"] = [renamed.get(p, p) for p in meta["parts"]]
    data = (json.dumps(meta, indent=2) + "\n").encode()
    with _errors(url):
        if uploads:
            fs.put([a for a, _ in uploads], [b for _, b in uploads])
        try:
            _conditional_put(fs, f"{root}/{INDEX_FILE}", data, state, url)
        except BaseException:
            if uploads:
                fs.rm([b for _, b in uploads])
            raise
    for old, new in renamed.items():  # so the next working copy reuses them by name
        if (work / old).is_dir() and not (work / new).exists():
            (work / old).rename(work / new)


def _conditional_put(fs, path: str, data: bytes, state: dict[str, Any], url: str) -> None:
    changed = IntegrityError(
        f"{redact(url)}: the dedup index was changed by another run while this one used it; "
        "nothing was published: rerun to deduplicate against the new index"
    )
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
    if "s3" in protocols:
        condition = {"IfMatch": state["etag"]} if state.get("etag") else {"IfNoneMatch": "*"}
        try:
            fs.pipe_file(path, data, **condition)
        except Exception as exc:
            if isinstance(exc, FileExistsError) or _precondition_failed(exc):
                raise changed from None
            raise
        return
    try:  # no conditional writes: compare the version just before the put
        now = _version(fs.info(path))
    except FileNotFoundError:
        now = "absent"
    if now != state["version"]:
        raise changed
    fs.pipe_file(path, data)


def _precondition_failed(exc: BaseException) -> bool:
    """A conditional write refused (HTTP 412), whichever way s3fs/botocore report it."""
    seen: BaseException | None = exc
    while seen is not None:
        response = getattr(seen, "response", None)
        if isinstance(response, dict):
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
                return True
            if status == 412:
                return True
        if "PreconditionFailed" in str(seen) or "pre-conditions you specified" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


# --- wrapping a stage job --------------------------------------------------------------------


def document_stage(
    stage: str,
    steps: Callable[..., Any],
    input_path: str | Path,
    out_dir: str | Path,
    cache_root: str | Path | None,
    *,
    overwrite: bool,
    allow_incomplete: bool,
    index_dir: str | Path | None = None,
):
    """The steps of a stage that reads documents, with any of input, output and index at a
    URL: `steps(input, output, cache_root, index_dir)` runs on local paths (see the module doc).
    With no URL it is `steps` itself, unchanged."""
    remote_index = index_dir is not None and is_remote(index_dir)
    if not (is_remote(input_path) or is_remote(out_dir) or remote_index):
        return (yield from steps(input_path, out_dir, cache_root, index_dir))
    cache = _cache_for(stage, out_dir, cache_root)
    if is_remote(out_dir):
        check_remote_output(str(out_dir), stage, overwrite=overwrite)
    labels: dict[str, str] = {}
    local_in: str | Path = input_path
    if is_remote(input_path):
        local_in = fetch_documents(str(input_path), cache, allow_incomplete=allow_incomplete)
        labels[str(local_in)] = redact(str(input_path)).rstrip("/")
    local_index, state = index_dir, None
    if remote_index:
        local_index, state = fetch_index(str(index_dir), cache)
    with _local_output(stage, out_dir, cache) as local_out:
        manifest = yield from steps(str(local_in), str(local_out), cache, local_index)
        manifest = _relabel(manifest, labels, Path(local_out))
        if state is not None:
            upload_index(Path(local_index), str(index_dir), state)
        if is_remote(out_dir):
            publish(Path(local_out), str(out_dir), stage, overwrite=overwrite)
    return manifest


def source_stage(
    stage: str,
    steps: Callable[..., Any],
    inputs: Iterable[str | Path],
    out_dir: str | Path,
    cache_root: str | Path | None,
    *,
    overwrite: bool,
):
    """The steps of a stage that reads source files (ingest), with inputs and output at URLs:
    `steps(local_inputs, output, cache_root, uri_of)`, where `uri_of(local file)` is the
    object's URL (None for a local file)."""
    inputs = list(inputs)
    if not (is_remote(out_dir) or any(is_remote(i) for i in inputs)):
        return (yield from steps(inputs, out_dir, cache_root, None))
    cache = _cache_for(stage, out_dir, cache_root)
    if is_remote(out_dir):
        check_remote_output(str(out_dir), stage, overwrite=overwrite)
    local_inputs: list[str] = []
    mappers: list[Callable[[str], str | None]] = []
    for item in inputs:
        if is_remote(item):
            local, uri_of = fetch_sources(str(item), cache)
            local_inputs.append(str(local))
            mappers.append(uri_of)
        else:
            local_inputs.append(str(item))

    def uri_of(path: str) -> str | None:
        for mapper in mappers:
            if (uri := mapper(path)) is not None:
                return uri
        return None

    with _local_output(stage, out_dir, cache) as local_out:
        manifest = yield from steps(local_inputs, str(local_out), cache, uri_of)
        if is_remote(out_dir):
            publish(Path(local_out), str(out_dir), stage, overwrite=overwrite)
    return manifest


def _cache_for(stage: str, out_dir: str | Path, cache_root: str | Path | None) -> Path:
    if cache_root:
        return Path(cache_root)
    if not is_remote(out_dir):
        from corpusforge.pipeline.stage_io import default_cache_root

        return default_cache_root(out_dir)
    from corpusforge.core.workspace import Workspace

    return Workspace.resolve().root / "cache" / stage


@contextmanager
def _local_output(stage: str, out_dir: str | Path, cache: Path):
    """Where the stage writes: `out_dir` itself, or for a URL a fresh directory in the cache
    that is removed once published (or on failure)."""
    if not is_remote(out_dir):
        yield out_dir
        return
    local = cache / "remote-out" / _url_key(str(out_dir)) / _name_of(str(out_dir))
    shutil.rmtree(local, ignore_errors=True)
    local.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield local
    finally:
        shutil.rmtree(local, ignore_errors=True)


def _relabel(manifest: dict[str, Any], labels: dict[str, str], out: Path) -> dict[str, Any]:
    """Cache paths of fetched inputs replaced by their URLs, in the returned manifest and in
    the manifest and rejects written to `out`."""
    if not labels:
        return manifest

    def relabel(value: Any) -> Any:
        if isinstance(value, str):
            for local, url in labels.items():
                if value == local or value.startswith(local + "/"):
                    return url + value[len(local) :]
            return value
        if isinstance(value, dict):
            return {k: relabel(v) for k, v in value.items()}
        if isinstance(value, list):
            return [relabel(v) for v in value]
        return value

    manifest = relabel(manifest)
    write_json_atomic(out / MANIFEST_NAME, manifest)
    rejects = out / REJECTS_NAME
    if rejects.is_file():
        lines = rejects.read_text(encoding="utf-8").splitlines()
        rejects.write_text(
            "".join(
                json.dumps(relabel(json.loads(line)), ensure_ascii=False, separators=(",", ":"))
                + "\n"
                for line in lines
                if line.strip()
            ),
            encoding="utf-8",
        )
    return manifest
