#!/usr/bin/env bash
# What docs/operations.md "Running on real services" describes, on one machine: PostgreSQL (the
# CI script), a Prefect server on it, the audit log in it, a Dask scheduler + 2 workers started
# in another directory, the Kubernetes work pool and GPU deployments (no cluster: registration
# only), and the checkpoint store on S3 (moto's server). Needs the Debian PostgreSQL binaries.
#
#   infra/ci/services-smoke.sh [SCRATCH_DIR]        # from the repository root, after make setup
set -u
R=$(cd "$(dirname "$0")/../.." && pwd); B=$R/.venv/bin; L=${1:-$(mktemp -d /tmp/cf-services.XXXXXX)}
mkdir -p "$L"; cd "$L"
export PATH=$B:$PATH CORPUSFORGE_WORKSPACE=$L/ws
step() { echo; echo "=== $(date +%T) $*"; }
step "postgres"
eval "$($R/infra/ci/start-postgres.sh)"; echo "$CORPUSFORGE_TEST_PG_URL"
PGPORT=$(echo "$CORPUSFORGE_TEST_PG_URL" | sed -E 's/.*:([0-9]+)\/.*/\1/')
psql -h 127.0.0.1 -p $PGPORT -U postgres -c "CREATE DATABASE prefect" postgres
psql -h 127.0.0.1 -p $PGPORT -U postgres -c "CREATE DATABASE corpusforge_audit" postgres
step "prefect server on postgres"
export PREFECT_HOME=$L/prefect-home
PREFECT_API_DATABASE_CONNECTION_URL="postgresql+asyncpg://postgres@127.0.0.1:$PGPORT/prefect" \
  prefect server start --host 127.0.0.1 --port 4300 > $L/server.log 2>&1 &
SERVER=$!
export PREFECT_API_URL=http://127.0.0.1:4300/api
for i in $(seq 1 120); do curl -sf $PREFECT_API_URL/health >/dev/null && break; sleep 2; done
curl -s $PREFECT_API_URL/health; echo
export CORPUSFORGE_AUDIT_URL="postgresql+psycopg://postgres@127.0.0.1:$PGPORT/corpusforge_audit"
step "doctor"
corpusforge doctor
step "ingest against the server (audit log in postgres)"
test -d sample || corpusforge sample sample > /dev/null
time corpusforge ingest sample/web -o out/docs
step "dask cluster: scheduler + 2 workers in another directory, relative paths from here"
mkdir -p $L/dask && cd $L/dask
dask scheduler --host 127.0.0.1 --port 8799 --no-dashboard > sched.log 2>&1 &
SCHED=$!
sleep 8
dask worker tcp://127.0.0.1:8799 --nworkers 2 --nthreads 1 --no-dashboard > workers.log 2>&1 &
WORKERS=$!
cd $L
sleep 20
time corpusforge dedup out/docs -o out/dedup --task-runner dask://127.0.0.1:8799
step "kubernetes work pool + GPU deployments"
prefect work-pool create gpu-train --type kubernetes --base-job-template $R/infra/k8s/train-job-template.json
prefect work-pool inspect gpu-train | head -5
mkdir -p drop
corpusforge serve $R/examples/pipeline.yaml --drop-folder drop --work-pool corpusforge-process --gpu-pool gpu-train
prefect deployment ls
step "S3 checkpoint store (moto server)"
moto_server -H 127.0.0.1 -p 5077 > moto.log 2>&1 &
MOTO=$!
sleep 5
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL=http://127.0.0.1:5077
$B/python -c "import boto3; boto3.client('s3').create_bucket(Bucket='ckpt')"
CORPUSFORGE_STORE_URL=s3://ckpt/corpusforge corpusforge store init --workspace $L/ws-s3 | cut -f1  # tokens not shown
step "done"
kill $SERVER $MOTO 2>/dev/null
kill $WORKERS; sleep 3; kill $SCHED
$PG_STOP
