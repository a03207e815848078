#!/usr/bin/env bash
# Runs the whole test suite: unit and paper tests, the purity check, 2,000 simulated seeds,
# storage tests on real SQLite and real PostgreSQL, and cluster tests.
# PostgreSQL comes from Debian's packages: installed and started here when it is missing
# (as root), unless ACTORCLUSTER_TEST_POSTGRES points at a server already.
set -euo pipefail
cd "$(dirname "$0")"

ensure_postgres() {
  if [ -n "${ACTORCLUSTER_TEST_POSTGRES:-}" ]; then
    return
  fi
  if ! command -v pg_lsclusters >/dev/null 2>&1 || [ -z "$(pg_lsclusters -h 2>/dev/null)" ]; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "PostgreSQL is not installed; run as root to install it, or set ACTORCLUSTER_TEST_POSTGRES." >&2
      exit 1
    fi
    echo "Installing PostgreSQL from Debian packages..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  local version cluster
  read -r version cluster _ < <(pg_lsclusters -h | head -n 1)
  if ! pg_lsclusters -h | head -n 1 | grep -q online; then
    pg_ctlcluster "$version" "$cluster" start
  fi
  for _ in $(seq 1 30); do
    if su postgres -c "psql -qtAc 'SELECT 1'" >/dev/null 2>&1; then
      break
    fi
    sleep 1
  done
  su postgres -c "psql -qtAc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
}

ensure_postgres
dotnet test ActorCluster.sln --nologo "$@"
