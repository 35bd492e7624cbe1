#!/usr/bin/env bash
# Runs every test of feedkeeper with the race detector: the main module and
# the peers module (third-party clients against the simulator). The churn
# test runs once more without the race detector, whose own bookkeeping
# would hide a heap leak of the size it checks for.
set -euo pipefail
cd "$(dirname "$0")"
go test -race -count=1 -timeout 10m ./...
go test -count=1 -timeout 5m -run '^TestChurn$' ./feed
(cd bench/peers && go test -race -count=1 -timeout 5m ./...)
