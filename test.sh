#!/usr/bin/env bash
# Runs the whole test suite: unit and paper tests, the purity check, 2,000 simulated seeds,
# storage tests on real SQLite and real PostgreSQL, cluster tests, and short chaos runs.
# PostgreSQL comes from Debian's packages: installed and started here when it is missing
# (as root), unless ACTORCLUSTER_TEST_POSTGRES points at a server already; so does nftables,
# with which the chaos runs cut packets between silos, libfaketime, with which they fake silo
# clocks (they run as root: they also mount tmpfs disks for the disk faults), Chromium, in
# which the browser test opens the Orleans Dashboard and the Raft view, npm, whose
# kubernetes-models package validates the Kubernetes manifests, and Prometheus, whose promtool
# checks and unit-tests the alerting rules.
#
# ./test.sh --fast runs only the tests that need no cluster, no silo process, no database and no
# simulator sweep (the Raft core, the state machine, the ring, the client, the checkers, the
# purity check, the gateway's byte check): a minute or two from a cold build, and nothing to install.
set -euo pipefail
cd "$(dirname "$0")"
if [[ "${1:-}" == "--fast" ]]; then
  shift
  fast=(Raft Kv Ring Client Replicas PurityTests Security.GatewayInputCheckTests
        Chaos.LinearizabilityCheckerTests Chaos.AppendCheckerTests Chaos.PlacementCheckTests)
  filter=$(printf 'FullyQualifiedName~ActorCluster.Tests.%s.|' "${fast[@]}")
  exec dotnet test tests/ActorCluster.Tests --nologo --filter "${filter%|}" "$@"
fi
source deploy/scripts/ensure-postgres.sh
source deploy/scripts/ensure-debian-package.sh
ensure_postgres
ensure_debian_package nftables "the chaos tests cut packets between silos with it" command -v nft
ensure_debian_package faketime "the chaos tests fake silo clocks with it" compgen -G '/usr/lib/*/faketime/libfaketimeMT.so.1'
ensure_debian_package chromium "the browser test drives the Orleans Dashboard and the Raft view in it" command -v chromium
ensure_debian_package npm "the manifest test validates the Kubernetes manifests against the API schemas (kubernetes-models)" command -v npm
ensure_debian_package prometheus "the alert rules are checked and unit-tested with its promtool" command -v promtool
npm ci --prefix deploy/kubernetes/check --no-audit --no-fund --loglevel=error > /dev/null
dotnet test ActorCluster.sln --nologo "$@"
