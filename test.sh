#!/usr/bin/env bash
# Runs every test of feedkeeper, with the race detector: the main module
# and the peers module (third-party clients against the simulator).
set -euo pipefail
cd "$(dirname "$0")"
go test -race -count=1 -timeout 10m ./...
(cd bench/peers && go test -race -count=1 -timeout 5m ./...)
