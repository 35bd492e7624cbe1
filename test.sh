#!/usr/bin/env bash
# Runs every test of feedkeeper with the race detector: the main module and
# the peers module (third-party clients against the simulator). The churn
# test runs once more without the race detector, whose own bookkeeping
# would hide a heap leak of the size it checks for.
#
# The two dashboard tests drive a headless Chromium. When none is found,
# this script installs Debian's (apt-get, as root or with sudo); where that
# is not possible it skips those two tests and says so. Set
# FEEDKEEPER_CHROMIUM=/path/to/chrome to use another browser, or
# FEEDKEEPER_SKIP_BROWSER=1 to skip them.
#
# Every part runs and reports even when an earlier one fails; the script
# exits 1 when any failed.
set -uo pipefail
cd "$(dirname "$0")"

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="$PATH:/usr/local/go/bin"
fi
if ! command -v go >/dev/null 2>&1; then
  echo "test.sh: Go is not installed (https://go.dev/dl/, 1.26 or newer)" >&2
  exit 1
fi

find_chromium() {
  if [ -n "${FEEDKEEPER_CHROMIUM:-}" ] && [ -x "$FEEDKEEPER_CHROMIUM" ]; then
    echo "$FEEDKEEPER_CHROMIUM"; return
  fi
  for name in chromium chromium-browser google-chrome-stable google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
  done
}

browser_note=""
if [ "${FEEDKEEPER_SKIP_BROWSER:-}" = "1" ]; then
  browser_note="SKIPPED  the two dashboard tests in a browser (FEEDKEEPER_SKIP_BROWSER=1)"
else
  chrome=$(find_chromium)
  if [ -z "$chrome" ] && command -v apt-get >/dev/null 2>&1; then
    as_root=""
    if [ "$(id -u)" != 0 ]; then
      if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root="sudo"; fi
    fi
    if [ "$(id -u)" = 0 ] || [ -n "$as_root" ]; then
      echo "=== installing Chromium for the dashboard tests (apt-get install chromium; a minute or two, once)"
      $as_root apt-get update -qq >/dev/null &&
        DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq chromium >/dev/null ||
        echo "test.sh: installing Chromium failed" >&2
      chrome=$(find_chromium)
    fi
  fi
  if [ -n "$chrome" ]; then
    export FEEDKEEPER_CHROMIUM="$chrome"
  else
    export FEEDKEEPER_SKIP_BROWSER=1
    browser_note="SKIPPED  the two dashboard tests in a browser: no Chromium, and it could not be installed here (apt-get install -y chromium, or FEEDKEEPER_CHROMIUM=/path/to/chrome)"
    echo "=== $browser_note"
  fi
fi

# ccxt's OKX client (bench/peers, npm package ccxt, pinned) runs on Node.js.
# When there is none, this script installs Debian's (apt-get, as root or
# with sudo); where that is not possible those tests are skipped, and say
# so. FEEDKEEPER_SKIP_NODE=1 skips them.
node_note=""
if [ "${FEEDKEEPER_SKIP_NODE:-}" != "1" ] && ! command -v node >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    as_root=""
    if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root="sudo"; fi
    if [ "$(id -u)" = 0 ] || [ -n "$as_root" ]; then
      echo "=== installing Node.js for the ccxt tests (apt-get install nodejs npm; once)"
      $as_root apt-get update -qq >/dev/null &&
        DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq nodejs npm >/dev/null ||
        echo "test.sh: installing Node.js failed" >&2
    fi
  fi
fi
if [ "${FEEDKEEPER_SKIP_NODE:-}" != "1" ] && ! command -v node >/dev/null 2>&1; then
  export FEEDKEEPER_SKIP_NODE=1
  node_note="SKIPPED  the ccxt (OKX) tests of bench/peers: no Node.js, and it could not be installed here (apt-get install -y nodejs npm)"
  echo "=== $node_note"
fi

results=()
failed=0
step() {
  local name=$1; shift
  echo "=== $name: $*"
  local start=$SECONDS
  if "$@"; then
    results+=("PASS     $name ($((SECONDS - start))s)")
  else
    results+=("FAIL     $name ($((SECONDS - start))s): $*")
    failed=1
  fi
}

step "main module" go test -race -count=1 -timeout 15m ./...
step "churn without the race detector" go test -count=1 -timeout 5m -run '^TestChurn$' ./feed
step "peers module" bash -c 'cd bench/peers && go test -race -count=1 -timeout 5m ./...'

echo
echo "=== test.sh summary"
for r in "${results[@]}"; do echo "$r"; done
if [ -n "$browser_note" ]; then echo "$browser_note"; fi
if [ -n "$node_note" ]; then echo "$node_note"; fi
exit $failed
