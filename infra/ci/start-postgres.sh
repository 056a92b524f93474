#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster on 127.0.0.1 for the audit-log tests.
#
#   eval "$(infra/ci/start-postgres.sh)"     # exports CORPUSFORGE_TEST_PG_URL and PG_STOP
#   ... run tests ...
#   $PG_STOP                                 # stop it and delete its data
#
# Uses Debian's postgresql binaries (/usr/lib/postgresql/*/bin). Postgres refuses to run as
# root, so as root the cluster runs as the `postgres` user. Trust authentication on
# localhost only: the cluster is for tests and is deleted afterwards.
set -euo pipefail

PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}"
if [[ -z "$PG_BIN" || ! -x "$PG_BIN/initdb" ]]; then
  echo "start-postgres: no PostgreSQL binaries under /usr/lib/postgresql/*/bin" >&2
  exit 1
fi
PORT="${PG_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
DATA="$(mktemp -d /tmp/corpusforge-pg.XXXXXX)"

if [[ "$(id -u)" == "0" ]]; then
  chown postgres: "$DATA"
  as_pg() { runuser -u postgres -- "$@"; }
  PG_USER=postgres
else
  as_pg() { "$@"; }
  PG_USER="$(id -un)"
fi

as_pg "$PG_BIN/initdb" -D "$DATA/data" -U "$PG_USER" --auth=trust -E UTF8 >"$DATA/initdb.log" 2>&1 \
  || { cat "$DATA/initdb.log" >&2; exit 1; }
as_pg "$PG_BIN/pg_ctl" -D "$DATA/data" -l "$DATA/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DATA -c fsync=off" start >/dev/null \
  || { cat "$DATA/server.log" >&2; exit 1; }

URL="postgresql+psycopg://$PG_USER@127.0.0.1:$PORT/postgres"
STOP="$DATA/stop.sh"
cat >"$STOP" <<STOP_EOF
#!/usr/bin/env bash
$( [[ "$(id -u)" == "0" ]] && echo "runuser -u postgres -- " )"$PG_BIN/pg_ctl" -D "$DATA/data" -m fast stop >/dev/null 2>&1 || true
rm -rf "$DATA"
STOP_EOF
chmod +x "$STOP"
echo "export CORPUSFORGE_TEST_PG_URL='$URL'"
echo "export PG_STOP='$STOP'"
