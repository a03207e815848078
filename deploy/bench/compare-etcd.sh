#!/usr/bin/env bash
# ActorCluster and etcd side by side on this machine (not part of CI: too noisy).
# Installs etcd (Debian's etcd-server) and PostgreSQL if missing, then runs both, one at a time,
# through the same load generator: 1, 16 and 64 clients, linearizable put and get, 3 repetitions,
# and 5 failovers each. Arguments pass through, e.g. --clients 64 --repetitions 1 --json.
set -euo pipefail
cd "$(dirname "$0")/../.."
source deploy/scripts/ensure-postgres.sh
if ! command -v etcd >/dev/null 2>&1; then
  echo "Installing etcd from Debian packages..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null
  # The package starts a single-member etcd on the default ports; the comparison runs its own.
  systemctl stop etcd 2>/dev/null || pkill -x etcd || true
fi
ensure_postgres
dotnet build -c Release tests/ActorCluster.Compare --nologo -v quiet
dotnet tests/ActorCluster.Compare/bin/Release/net10.0/ActorCluster.Compare.dll "$@"
