//go:build race

package feed_test

// raceEnabled: the race detector slows TLS handshakes tenfold and keeps
// its own records on the heap; the churn test adapts.
const raceEnabled = true
