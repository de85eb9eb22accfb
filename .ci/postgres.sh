#!/usr/bin/env bash
# A PostgreSQL server on localhost for the distributed-sweep test: installs Debian's `postgresql` if missing,
# starts the first cluster, and creates role `sysgym` (password `sysgym`) owning database `sysgym_test`.
# Idempotent; prints nothing on success and the failing step's output otherwise. The test then reads
#   SYSGYM_TEST_POSTGRES_URL=postgresql://sysgym:sysgym@localhost:5432/sysgym_test
set -euo pipefail

log=$(mktemp)
trap 'rm -f "$log"' EXIT
run() { "$@" >>"$log" 2>&1 || { echo "postgres.sh: '$*' failed:" >&2; cat "$log" >&2; exit 1; }; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }

if ! command -v pg_lsclusters >/dev/null 2>&1; then
    run as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    run as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
fi
if [ -z "$(pg_lsclusters -h)" ]; then
    version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    run as_root pg_createcluster "$version" main
fi
read -r version cluster port status _ < <(pg_lsclusters -h | head -n 1)
if [ "$status" != "online" ]; then
    run as_root pg_ctlcluster "$version" "$cluster" start
fi
psql_q() { as_postgres psql -p "$port" -v ON_ERROR_STOP=1 -qtAc "$1"; }
if [ "$(psql_q "SELECT 1 FROM pg_roles WHERE rolname = 'sysgym'" 2>>"$log")" != "1" ]; then
    run psql_q "CREATE ROLE sysgym LOGIN PASSWORD 'sysgym'"
fi
if [ "$(psql_q "SELECT 1 FROM pg_database WHERE datname = 'sysgym_test'" 2>>"$log")" != "1" ]; then
    run psql_q "CREATE DATABASE sysgym_test OWNER sysgym"
fi
