"""`corpusforge serve CONFIG.yaml`: the scheduled and ad-hoc deployments of corpus-to-model.

Without `--work-pool` the deployments are served by this process (Prefect `serve()`): it polls
the Prefect API and runs triggered and scheduled runs until stopped. With `--work-pool` they are
registered with that process work pool and a `prefect worker` runs them (docker-compose setup).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import typer

from corpusforge.commands._common import WorkspaceOption, fail, flows_imported, use_workspace
from corpusforge.core.workspace import Workspace


def serve(
    config: Path = typer.Argument(
        ..., help="pipeline YAML: output root and stage settings (examples/pipeline.yaml)"
    ),
    drop_folder: Path | None = typer.Option(
        None,
        "--drop-folder",
        help="folder of new crawl files for the nightly deployment (default: the file's inputs)",
    ),
    cron: str = typer.Option(
        "0 2 * * *", help="schedule of nightly-prepare, a cron expression (5 fields)"
    ),
    timezone: str = typer.Option("UTC", help="time zone of the cron schedule (IANA name)"),
    work_pool: str | None = typer.Option(
        None,
        "--work-pool",
        help="register the deployments with this process work pool (created if missing) "
        "for a `prefect worker` to run, instead of serving them from this process",
    ),
    gpu_pool: str | None = typer.Option(
        None,
        "--gpu-pool",
        help="also register pretrain/gpu and finetune/gpu with this Kubernetes work pool "
        "(create it with infra/k8s/train-job-template.json; see infra/README.md)",
    ),
    gpu_image: str | None = typer.Option(
        None, "--gpu-image", help="image of the GPU deployments (default: the pool's)"
    ),
    check: bool = typer.Option(
        False, "--check", help="validate the config and print the deployments, then exit"
    ),
    workspace: WorkspaceOption = None,
) -> None:
    """Start nightly-prepare (scheduled), retrain (one at a time) and full-pipeline (ad hoc)."""
    _check_cron(cron)
    _check_timezone(timezone)
    if drop_folder is not None and not drop_folder.is_dir():
        fail(f"--drop-folder {drop_folder}: not a directory")
    use_workspace(workspace)
    from corpusforge.flows.pipeline import load_config  # lazy: Prefect
    from corpusforge.flows.pipeline_deployments import build_deployments

    flows_imported()

    cfg = load_config(config)
    deployments = build_deployments(
        cfg,
        drop_folder=str(drop_folder.resolve()) if drop_folder else None,
        cron=cron,
        timezone=timezone,
    )
    from corpusforge.flows.pipeline_config import PipelineConfig, check_inputs

    for d in deployments:  # every input of every deployment, before anything is registered
        check_inputs(PipelineConfig.model_validate(d.parameters["config"]), f"{config} ({d.name})")
    if "://" in cfg.output and not any(d.name == "nightly-prepare" for d in deployments):
        typer.echo(
            "note: the output is a URL, so only the on-demand pipeline is served (nightly "
            "batches keep their ledger in a local output directory)"
        )
    for d in deployments:
        stages = d.parameters["config"]["stages"] or "all"
        sched = f"cron '{cron}' {timezone}" if d.schedules else "on demand"
        limit = getattr(d.concurrency_limit, "limit", d.concurrency_limit) or "none"
        typer.echo(f"corpus-to-model/{d.name}: stages {stages}; {sched}; concurrency limit {limit}")
    if check:
        return
    from corpusforge.flows import server

    if not os.environ.get("PREFECT_API_URL") and server.enabled():
        os.environ["PREFECT_API_URL"] = server.ensure(Workspace.resolve())
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()  # Prefect read the environment at import
        typer.echo(
            "note: PREFECT_API_URL is not set, so the deployments and their runs go to the "
            f"workspace's own Prefect server (UI: {os.environ['PREFECT_API_URL'][:-4]}); "
            "export PREFECT_API_URL to use a shared server",
            err=True,
        )
    if gpu_pool:
        _register_gpu(gpu_pool, gpu_image)
    if work_pool:
        _register(deployments, work_pool)
        return
    from prefect import serve as prefect_serve

    typer.echo("serving; trigger with: prefect deployment run 'corpus-to-model/full-pipeline'")
    prefect_serve(*deployments, print_starting_message=False)


def _register(deployments, pool: str) -> None:
    from prefect import deploy
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    # A pool that already exists is reused as it is.
    with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
        client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    deploy(
        *deployments,
        work_pool_name=pool,
        build=False,
        push=False,
        print_next_steps_message=False,
        ignore_warnings=True,
    )
    typer.echo(f"registered {len(deployments)} deployments with work pool {pool!r}")


def _register_gpu(pool: str, image: str | None) -> None:
    from prefect import deploy
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    from corpusforge.flows.pipeline_deployments import build_training_deployments

    with get_client(sync_client=True) as client:
        try:
            kind = client.read_work_pool(pool).type
        except ObjectNotFound:
            fail(
                f"--gpu-pool {pool}: no such work pool; create it with `prefect work-pool create "
                f"{pool} --type kubernetes --base-job-template infra/k8s/train-job-template.json`"
            )
    if kind != "kubernetes":
        fail(f"--gpu-pool {pool}: a {kind} work pool; the GPU deployments need a kubernetes one")
    deployments = build_training_deployments(image)
    deploy(
        *deployments,
        work_pool_name=pool,
        build=False,
        push=False,
        print_next_steps_message=False,
        ignore_warnings=True,
    )
    typer.echo(f"registered pretrain/gpu and finetune/gpu with Kubernetes work pool {pool!r}")


def _check_cron(expr: str) -> None:
    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError

    try:
        valid = len(expr.split()) == 5 and CronSchedule(cron=expr) is not None
    except ValidationError:
        valid = False
    if not valid:
        fail(f"--cron {expr!r}: expected a 5-field cron expression such as '0 2 * * *'")


def _check_timezone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"--timezone {name!r}: not an IANA time zone name (e.g. UTC, Europe/Berlin)")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
