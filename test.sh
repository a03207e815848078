#!/usr/bin/env bash
# Runs the whole test suite: unit and paper tests, the purity check, 2,000 simulated seeds,
# storage tests on real SQLite and real PostgreSQL, cluster tests, and short chaos runs.
# PostgreSQL comes from Debian's packages: installed and started here when it is missing
# (as root), unless ACTORCLUSTER_TEST_POSTGRES points at a server already.
set -euo pipefail
cd "$(dirname "$0")"
source deploy/scripts/ensure-postgres.sh
ensure_postgres
dotnet test ActorCluster.sln --nologo "$@"
