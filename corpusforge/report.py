"""The compliance report (Markdown + HTML) from the audit trail: what went in, what was
removed, what was trained, who touched the models, and whether the trail itself is intact.

Counts, ids, hashes and names only: the audit log holds nothing else.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from corpusforge.core.audit import AuditLog
from corpusforge.lineage import checkpoints, events_between

Table = tuple[str, str, list[dict[str, Any]]]  # title, note, rows


def build_sections(log: AuditLog, since: str | None = None, until: str | None = None):
    events = events_between(log, since, until)
    verify = log.verify()
    chain = {
        "status": "verified" if verify.ok else "TAMPERED",
        "entries": verify.entries,
        "head_hash": verify.head_hash,
        "problems": verify.problems,
    }

    def of(action: str):
        return [e for e in events if e.action == action]

    sources = [
        {
            "file": e.details.get("path"),
            "format": e.details.get("format"),
            "documents": e.counts.get("documents", 0),
            "rejected": e.counts.get("rejected", 0),
            "licenses": ", ".join(e.details.get("licenses") or []) or "(none recorded)",
            "sha256": e.object.removeprefix("sha256:")[:16],
        }
        for e in of("ingest.file")
    ]
    filter_reasons: Counter[str] = Counter()
    filter_lines: Counter[str] = Counter()
    filter_sources: dict[str, Counter[str]] = defaultdict(Counter)
    for e in of("filter.run"):
        filter_reasons.update(
            {k.removeprefix("rule."): v for k, v in e.counts.items() if k.startswith("rule.")}
        )
        filter_lines.update(
            {k.removeprefix("lines."): v for k, v in e.counts.items() if k.startswith("lines.")}
        )
        for source, c in (e.details.get("by_source") or {}).items():
            filter_sources[source].update(
                {k: v for k, v in c.items() if k in ("in", "out", "removed", "rejected")}
            )
    filtered = [
        {"filter": r.split(".", 1)[0], "rule": r.split(".", 1)[-1], "documents removed": n}
        for r, n in sorted(filter_reasons.items(), key=lambda kv: -kv[1])
    ]
    filtered_lines = [
        {"filter": r.split(".", 1)[0], "line rule": r.split(".", 1)[-1], "lines removed": n}
        for r, n in sorted(filter_lines.items(), key=lambda kv: -kv[1])
    ]
    filtered_sources = [
        {"source": s, **{k: c.get(k, 0) for k in ("in", "out", "removed", "rejected")}}
        for s, c in sorted(filter_sources.items())
    ]
    dedup = [
        {"run": e.object, **{k: v for k, v in e.counts.items() if not isinstance(v, dict)}}
        for e in of("dedup.run")
    ]
    pii_types: Counter[str] = Counter()
    for e in of("pii.run"):
        pii_types.update(
            {k.removeprefix("type."): v for k, v in e.counts.items() if k.startswith("type.")}
        )
    pii = [{"entity type": t, "found and replaced": n} for t, n in sorted(pii_types.items())]
    shards = [
        {
            "token dir": e.object.removeprefix("dir:"),
            "documents": e.counts.get("out"),
            **{k: v for k, v in e.counts.items() if k.endswith("_tokens")},
        }
        for e in of("tokenize.run")
    ]
    training = [
        {
            "ts": e.ts[:19],
            "action": e.action,
            "object": e.object,
            "actor": e.actor,
            **{k: v for k, v in list(e.counts.items())[:4]},
        }
        for e in events
        if e.action.split(".")[0] in ("train", "pretrain", "finetune", "align")
    ]
    ckpts = [
        {
            "checkpoint": c["name"],
            "classification": c["classification"],
            "created by": c["created_by"],
            "trained on": (c["trained_on"] or "(not recorded)")[:16],
            "needs retraining": "YES: " + ", ".join(c["affected_by"]) if c["affected_by"] else "no",
        }
        for c in checkpoints(log)
    ]
    access: dict[tuple[str, str, str, str], int] = defaultdict(int)
    for e in events:
        if e.action.startswith("store.") and e.object.startswith("checkpoint:"):
            access[(e.object.removeprefix("checkpoint:"), e.actor, e.action, e.decision)] += 1
    accessed = [
        {"checkpoint": k[0], "principal": k[1], "action": k[2], "decision": k[3], "times": n}
        for k, n in sorted(access.items())
    ]
    erasures = [
        {
            "request": e.object,
            "ts": e.ts[:19],
            "by": e.actor,
            "decision": e.decision,
            "documents": e.counts.get("documents"),
            "shards rewritten": e.counts.get("shards_rewritten"),
            "checkpoints affected": ", ".join(e.details.get("affected_checkpoints", [])) or "none",
        }
        for e in of("audit.erase")
    ]
    evaluated = [evaluation_row(e) for e in of("eval.run")]
    tables: list[Table] = [
        ("Sources and licences ingested", "", sources),
        (
            "Documents removed by the quality and language filter, per reason",
            "First rule that removed each document (side table: removals/ in the filter output).",
            filtered,
        ),
        (
            "Lines removed from kept documents by the filter's line rules",
            "C4 keeps a page but drops its lines without terminal punctuation, menus, cookie "
            "notices and the like.",
            filtered_lines,
        ),
        ("Quality and language filter, per source", "", filtered_sources),
        ("Documents removed as duplicates", "", dedup),
        ("PII found and replaced, by type (counts only)", "", pii),
        ("Token shards produced", "", shards),
        ("Training runs", "", training),
        ("Checkpoints", "Classification is derived from the training data.", ckpts),
        (
            "Evaluations",
            "Perplexity (val split of the training shards, document sets) and benchmark scores "
            "(lm-eval task, version); refused attempts too.",
            evaluated,
        ),
        ("Who accessed the checkpoints", "Allowed and refused attempts.", accessed),
        (
            "Erasure requests",
            "Models cannot un-learn: affected checkpoints need retraining.",
            erasures,
        ),
    ]
    return chain, tables


def evaluation_row(e: Any) -> dict[str, Any]:
    """One `eval.run` entry as a row: perplexities and each task's headline score."""
    row: dict[str, Any] = {
        "checkpoint": e.object.removeprefix("checkpoint:"),
        "ts": e.ts[:19],
        "by": e.actor,
        "decision": e.decision,
    }
    for key, p in (e.details.get("perplexity") or {}).items():
        row["ppl " + ("val split" if key == "val_split" else key)] = p.get("perplexity")
    for name, t in sorted((e.details.get("tasks") or {}).items()):
        metrics = t.get("metrics") or {}
        metric = "acc_norm" if "acc_norm" in metrics else "acc"
        if metric in metrics:
            row[f"{name} {metric} (v{t.get('version')})"] = round(metrics[metric], 4)
    if e.decision != "ok":
        row["reason"] = e.details.get("reason")
    return row


def _md_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "_none in this period_"
    cols = list(dict.fromkeys(k for r in rows for k in r))
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += [
        "| " + " | ".join(str(r.get(c, "")).replace("|", "\\|") for c in cols) + " |" for r in rows
    ]
    return "\n".join(out)


def _html_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p><em>none in this period</em></p>"
    cols = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in cols) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(
    log: AuditLog, out_dir: Path, since: str | None = None, until: str | None = None
) -> dict[str, Any]:
    """Write `compliance-report.md` and `.html` to `out_dir`; return paths and chain status."""
    chain, tables = build_sections(log, since, until)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    period = f"{since or 'start of log'} .. {until or now}"
    md = [
        f"# Compliance report\n\nGenerated {now}; period {period}.\n",
        f"**Audit chain: {chain['status']}** ({chain['entries']} entries, head hash "
        f"`{chain['head_hash']}`)\n",
    ]
    md += [f"- {p}" for p in chain["problems"]]
    for title, note, rows in tables:
        md.append(f"\n## {title}\n\n" + (f"{note}\n\n" if note else "") + _md_table(rows))
    style = (
        "body{font-family:sans-serif;max-width:70em;margin:2em auto}table{border-collapse:"
        "collapse}td,th{border:1px solid #999;padding:.2em .5em;font-size:.9em}"
        ".bad{color:#b00}.ok{color:#070}"
    )
    cls = "ok" if chain["status"] == "verified" else "bad"
    body = [
        f"<h1>Compliance report</h1><p>Generated {now}; period {html.escape(period)}.</p>",
        f"<p class='{cls}'><strong>Audit chain: {chain['status']}</strong> "
        f"({chain['entries']} entries, head hash <code>{chain['head_hash']}</code>)</p>",
    ]
    body += [f"<p class='bad'>{html.escape(p)}</p>" for p in chain["problems"]]
    for title, note, rows in tables:
        body.append(
            f"<h2>{html.escape(title)}</h2>"
            + (f"<p>{html.escape(note)}</p>" if note else "")
            + _html_table(rows)
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    md_path, html_path = out_dir / "compliance-report.md", out_dir / "compliance-report.html"
    md_path.write_text("\n".join(md) + "\n")
    html_path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>Compliance "
        f"report</title><style>{style}</style></head><body>{''.join(body)}"
        "</body></html>\n"
    )
    return {"markdown": str(md_path), "html": str(html_path), **chain}
