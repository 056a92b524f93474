"""The evaluation flow: score a stored checkpoint, record the scores, publish them.

The evaluator is whoever holds the store token (`$CORPUSFORGE_TOKEN`, normally an `evaluator`
principal): the checkpoint is read through the store, so a clearance below the checkpoint's
classification is refused there (and audited by the store), and the refusal is recorded as an
`eval.run` entry too. A finished run appends `eval.run` with scores, task versions and data
hashes (never text) and publishes a table artifact.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from corpusforge.core.audit import open_audit_log
from corpusforge.core.errors import AccessDenied, CorpusforgeError, InputError
from corpusforge.core.settings import StrictModel
from corpusforge.flows.common import markdown_table, publish_markdown, publish_table
from corpusforge.model.evaluate import EvalConfig, evaluate_checkpoint
from corpusforge.model.store import open_store

EVAL_ACTION = "eval.run"


class EvalParams(StrictModel):
    config: EvalConfig


def audit_details(result: dict[str, Any]) -> dict[str, Any]:
    """Scores, counts, versions and hashes of a result: what the audit entry keeps."""
    ppl = {}
    for key, p in result["perplexity"].items():
        ppl[key] = {
            "input": p["input"],
            "perplexity": p["all"]["perplexity"],
            "loss": p["all"]["loss"],
            "tokens": p["all"]["tokens"],
            "by_source": {s: v["perplexity"] for s, v in p["by_source"].items()},
            **{k: p[k] for k in ("token_manifest_sha256", "data_sha256") if k in p},
        }
    tasks = {
        name: {
            "version": None if t.get("version") is None else str(t["version"]),
            "samples": t.get("samples"),
            "num_fewshot": t.get("num_fewshot"),
            "metrics": t.get("metrics", {}),
            **{k: v for k, v in (t.get("data") or {}).items() if k.endswith("sha256")},
        }
        for name, t in result["tasks"].items()
    }
    return {"perplexity": ppl, "tasks": tasks, "parameters": result.get("parameters")}


def result_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per perplexity (input, source) and per task metric: the artifact and CLI table."""
    rows = []
    for key, p in result["perplexity"].items():
        label = p["input"] if key == "val_split" else f"{p['input']} #{key[4:]}"
        for source, v in {"all": p["all"], **p["by_source"]}.items():
            rows.append(
                {
                    "what": f"perplexity: {label}",
                    "source/metric": source,
                    "value": v["perplexity"],
                    "tokens/samples": v["tokens"],
                }
            )
    for name, t in sorted(result["tasks"].items()):
        for metric, value in t.get("metrics", {}).items():
            if metric.endswith("_stderr"):
                continue
            rows.append(
                {
                    "what": f"{name} (v{t.get('version')})",
                    "source/metric": metric,
                    "value": value,
                    "tokens/samples": t.get("samples"),
                }
            )
    return rows


def _actor(store: Any) -> str:
    try:
        return store.principal.name
    except CorpusforgeError:
        return "anonymous"


@flow(name="evaluate", log_prints=True)
def evaluate_flow(params: EvalParams) -> dict[str, Any]:
    config = params.config
    store = open_store(config.storage_args.workspace, url=config.storage_args.url)
    log = open_audit_log()
    obj = f"checkpoint:{config.checkpoint}"
    actor = _actor(store)
    try:
        result = evaluate_checkpoint(config, store)
    except CorpusforgeError as exc:
        decision = "deny" if isinstance(exc, AccessDenied | InputError) else "error"
        log.append(EVAL_ACTION, obj, actor=actor, decision=decision, details={"reason": str(exc)})
        raise
    details = audit_details(result)
    log.append(
        EVAL_ACTION,
        obj,
        actor=actor,
        decision="ok",
        counts={"tasks": len(result["tasks"]), "perplexity_inputs": len(result["perplexity"])},
        details=details,
    )
    rows = result_rows(result)
    title = f"evaluation of {config.checkpoint}"
    publish_table(f"eval-{config.checkpoint}", rows, title)
    publish_markdown(
        f"eval-{config.checkpoint}-summary", f"## {title}\n\n" + markdown_table(rows), title
    )
    return result


def run_evaluate(params: EvalParams) -> dict[str, Any]:
    """Evaluate as a flow run, in this process (CPU or its first GPU)."""
    return evaluate_flow(params)
