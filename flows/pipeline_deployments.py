"""The deployments `corpusforge serve` offers, all of the one flow `corpus-to-model`.

- `nightly-prepare`: on a cron schedule, the data stages over a drop folder. Ingest caches each
  source file by content hash, so files already done are not processed again, and an unchanged
  folder skips every stage by fingerprint.
- `retrain`: pretrain + fine-tune on everything the nightly batches prepared so far
  (`<output>/corpus/`: the union of the finished batches, tokenized once with the mixture
  weights); concurrency limit one (a second trigger waits in the queue instead of fighting for
  the GPUs).
- `full-pipeline`: every stage, ad hoc (`prefect deployment run corpus-to-model/full-pipeline`).
"""

from __future__ import annotations

from typing import Any

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.schedules import Cron

from corpusforge.flows.pipeline import corpus_to_model
from corpusforge.flows.pipeline_config import PipelineConfig
from corpusforge.pipeline.remote import is_remote

DATA_STAGES = ("ingest", "filter", "dedup", "pii", "tokenize")
TRAIN_STAGES = ("pretrain", "finetune", "align")
DEFAULT_CRON = "0 2 * * *"


def _params(config: PipelineConfig, **changes: Any) -> dict[str, Any]:
    cfg = config.model_copy(update=changes)
    return {"config": PipelineConfig.model_validate(cfg.model_dump()).model_dump(mode="json")}


def build_deployments(
    config: PipelineConfig,
    *,
    drop_folder: str | None = None,
    cron: str = DEFAULT_CRON,
    timezone: str = "UTC",
) -> list[RunnerDeployment]:
    """The deployments for `config` (the drop folder replaces its inputs when given); its
    `stages`, when given, limit which stages they run. With the output at a URL only
    `full-pipeline` (the nightly batches need a local output directory)."""
    have = config.selected_stages()  # the config's `stages`, else every available stage
    # Nightly batches and their ledger live in a local output directory: an output at a URL
    # gets the on-demand pipeline only.
    batches = not is_remote(config.output)
    data = [s for s in DATA_STAGES if s in have] if batches else []
    train = [s for s in TRAIN_STAGES if s in have] if batches else []
    common = {"entrypoint_type": EntrypointType.MODULE_PATH, "tags": ["corpusforge"]}
    deployments = []
    if data:
        deployments.append(
            corpus_to_model.to_deployment(
                name="nightly-prepare",
                description="Ingest new files of the drop folder, then dedup, PII and tokenize.",
                schedule=Cron(cron, timezone=timezone),
                parameters=_params(
                    config,
                    inputs=[drop_folder] if drop_folder else config.inputs,
                    stages=data,
                    incremental=True,
                ),
                **common,
            )
        )
    if train:
        deployments.append(
            corpus_to_model.to_deployment(
                name="retrain",
                description="Pretrain and fine-tune on every nightly batch so far (one at a time).",
                parameters=_params(
                    config,
                    inputs=[drop_folder] if drop_folder else config.inputs,
                    stages=train,
                    incremental=True,
                ),
                concurrency_limit=ConcurrencyLimitConfig(
                    limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE
                ),
                **common,
            )
        )
    deployments.append(
        corpus_to_model.to_deployment(
            name="full-pipeline",
            description="Every stage, corpus to model, on demand.",
            parameters=_params(config, stages=config.stages),
            **common,
        )
    )
    return deployments


def build_training_deployments(image: str | None = None) -> list[RunnerDeployment]:
    """`pretrain/gpu` and `finetune/gpu`: the training flows, for a Kubernetes work pool whose
    job template (infra/k8s/train-job-template.json) runs them in the CUDA image. Parameters
    (`params`: PretrainParams / FinetuneParams) are given per run; with `params.pytorchjob`
    the flow launches a multi-node PyTorchJob instead of training in its own pod."""
    from corpusforge.flows.train import finetune_flow, pretrain_flow

    common: dict[str, Any] = {
        "entrypoint_type": EntrypointType.MODULE_PATH,
        "tags": ["corpusforge", "gpu"],
        "job_variables": {"image": image} if image else {},
    }
    return [
        pretrain_flow.to_deployment(
            name="gpu",
            description="Pretraining on the GPU pool: torchrun over the pod's GPUs, or a "
            "multi-node PyTorchJob (params.pytorchjob).",
            **common,
        ),
        finetune_flow.to_deployment(
            name="gpu",
            description="Fine-tuning on the GPU pool (same launchers as pretrain/gpu).",
            **common,
        ),
    ]
