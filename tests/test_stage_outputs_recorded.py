"""Stage outputs on the seeded sample corpus stay the same (issue 15: a refactor of the stage
contract and its drivers must not change a byte of what the stages write).

Each published data file of ingest -> dedup -> pii (fast) -> tokenize is digested: Parquet
shards by their rows (canonical JSON, with each `uri` made relative to the corpus root, since
the rows name the absolute path they came from), every other file by its bytes. Manifests are
left out (they hold times). A deliberate change of output updates the digests in the same
commit and says why.
"""

# ruff: noqa: E501

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq

from corpusforge.demo import write_sample
from corpusforge.pipeline.dedup import DedupConfig, dedup_job
from corpusforge.pipeline.ingest.config import IngestConfig
from corpusforge.pipeline.ingest.stage import ingest_job
from corpusforge.pipeline.pii.config import PiiConfig
from corpusforge.pipeline.pii.stage import pii_job
from corpusforge.pipeline.stage import run_local
from corpusforge.pipeline.tokenize import TokenizeConfig, tokenize_job

RECORDED: dict[str, dict[str, str]] = {
    "dedup": {
        "clusters.parquet": "60f5a02a21850ffea3562f7609a3df3c1a3857e9b1bb61a0221b14dab2e6c45e",
        "part-00000.parquet": "d85f02b5026a02d1d12f976e85c00b91be004951e7fbc4a78ba6309dbacb72c6",
        "part-00001.parquet": "7d9191a6f8478536c83a30e85232aa6e82f52ed3920ffcf51b4dd4b369618898",
        "part-00002.parquet": "9d849f58f404388700f0e15b5c1db7ab4058469a8234059928be2949695379c9",
        "part-00003.parquet": "45e0b9eeebd72b89a3c258f9d70dffe560c964c678a6a65b521f728a313542b6",
        "part-00005.parquet": "7ebf7ff91aa1ed8428758821021ac931681dc8f363adfa40af2f1ec303329f37",
        "rejects.jsonl": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    },
    "ingest": {
        "part-00000.parquet": "1a482232d346e4051e3fde5fbfbdb84b28e8a1bffed014cd8473ae5d084719c5",
        "part-00001.parquet": "7d9191a6f8478536c83a30e85232aa6e82f52ed3920ffcf51b4dd4b369618898",
        "part-00002.parquet": "9d849f58f404388700f0e15b5c1db7ab4058469a8234059928be2949695379c9",
        "part-00003.parquet": "45e0b9eeebd72b89a3c258f9d70dffe560c964c678a6a65b521f728a313542b6",
        "part-00004.parquet": "ff1f37ef10cf1adff591c35099e023c26f242fc540481e4236d040e2d165da6d",
        "part-00005.parquet": "5a2377721675e4f5c3edee12f087e03d39ac726ba8f693466919d1645c846a16",
        "rejects.jsonl": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    },
    "pii": {
        "entity_counts/part-00000.parquet": "e58b4627a7f51d9f029ae0d8b74e1c496cb5d98fc5e418bc91bb9d6be7178e09",
        "entity_counts/part-00001.parquet": "c314d701b40379e417303c39c64ecbf8accd4b1e96de9dcccff75646b47bacb3",
        "entity_counts/part-00002.parquet": "bad76c9a871d26778a9e2c7a4bebe94625769485da1d8e04a7285549e76376a6",
        "entity_counts/part-00003.parquet": "135744f93c469d0339d44aa96270a704064dbe694a25bae964bea165d3938617",
        "entity_counts/part-00004.parquet": "d9935738a9c21412b026cdb8991f8c7bf397ebddc635481259fe2dff4158b899",
        "part-00000.parquet": "84ee0ad8c5bdba7a691ab4f5a8cac245f8b466ac0c87ff297e1f1713d8f2d014",
        "part-00001.parquet": "2898ca7904f18812d73905d2ccd6f183a3ac7d18cb56bcddc4c0c89df97b7a9c",
        "part-00002.parquet": "ddee17ebb520374946157d40efb3eda81cdb6bc224a54c5c7d8f00e6e53a5111",
        "part-00003.parquet": "0f20a3318e7076cc17d279a8c979c7e69b0dadc78e7a72353c9230c17c85a837",
        "part-00004.parquet": "aa9cfd2e789892be252418174b324582835237c06cbe0b3577d0a6ea43c8e942",
        "rejects.jsonl": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    },
    "tokenize": {
        "rejects.jsonl": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "tokenizer/chat_template.jinja": "087e372e6a7f79627998be2db5be6583de2eb7b6a37fb5b2bbacf30e84b7b1db",
        "tokenizer/tokenizer.json": "90fd6b1b95301c977d5a2a5f47912333cdc27343d9dfb905fbda142e264cd4ee",
        "tokenizer/tokenizer_config.json": "de136727c7d15ec356c0510d34fe6c8e2004acaaa95ce8a7b0f27647ac3602ce",
        "train/part-00000.bin": "0e5261495368be0ff05d312ebc7bb6dfaeb5d4bf7078b4b84d35644eeb73f76b",
        "train/part-00000.docs.parquet": "0307fcd3c9d03c8660d6efd0a330ab542f6c5e7cd0652c60fd2e489748314d29",
    },
}


def _digest(directory: Path, root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or path.name == "manifest.json":
            continue
        if path.suffix == ".parquet":
            rows = pq.read_table(path).to_pylist()
            for row in rows:
                if isinstance(row.get("uri"), str):
                    row["uri"] = row["uri"].replace(str(root), "<root>")
            data = json.dumps(rows, sort_keys=True, default=str).encode()
        else:
            data = path.read_bytes()
        out[path.relative_to(directory).as_posix()] = hashlib.sha256(data).hexdigest()
    return out


def stage_digests(root: Path) -> dict[str, dict[str, str]]:
    corpus = root / "sample"
    write_sample(corpus, seed=0, scale=1)
    cache = root / "cache"
    run_local(
        ingest_job(
            [corpus / "web", corpus / "books", corpus / "wiki"],
            root / "docs",
            IngestConfig(),
            cache / "i",
        ),
        workers=2,
    )
    run_local(dedup_job(root / "docs", root / "dedup", DedupConfig(), cache / "d"), workers=2)
    run_local(pii_job(root / "dedup", root / "pii", PiiConfig(mode="fast"), cache / "p"), workers=2)
    run_local(
        tokenize_job(
            root / "pii", root / "tok", TokenizeConfig(vocab_size=512, workers=2), cache / "t"
        ),
        workers=2,
    )
    return {
        stage: _digest(root / name, root)
        for stage, name in [
            ("ingest", "docs"),
            ("dedup", "dedup"),
            ("pii", "pii"),
            ("tokenize", "tok"),
        ]
    }


def test_stage_outputs_on_the_sample_corpus_are_the_recorded_ones(tmp_path):
    assert stage_digests(tmp_path) == RECORDED
