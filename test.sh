#!/usr/bin/env bash
# Runs the whole test suite: build, unit and paper tests, the purity check, and 2,000 simulated seeds.
set -euo pipefail
cd "$(dirname "$0")"
dotnet test ActorCluster.sln --nologo "$@"
