#!/usr/bin/env bash
# Makes sure a PostgreSQL server from Debian's packages is installed and running on loopback,
# with password 'postgres' for the postgres user (what the tests and benchmarks connect with).
# Installs it when missing (as root). Does nothing when ACTORCLUSTER_TEST_POSTGRES is set.
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
