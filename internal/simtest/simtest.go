// Package simtest starts simulators for tests of other packages.
package simtest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/sim"
)

// Start starts a simulator for one test and closes it when the test ends.
// Unset fields get small test defaults: BTCUSDT and ETHUSDT, 50 levels a
// side, 500 market updates a second.
func Start(t testing.TB, cfg sim.Config) *sim.Server {
	t.Helper()
	if cfg.Symbols == nil {
		cfg.Symbols = []string{"BTCUSDT", "ETHUSDT"}
	}
	if cfg.Levels == 0 {
		cfg.Levels = 50
	}
	if cfg.Rate == 0 {
		cfg.Rate = 500
	}
	s, err := sim.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// CAFile writes the simulator's CA to a file of the test's temporary
// directory and returns its path.
func CAFile(t testing.TB, s *sim.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, s.CAPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// WaitFor polls cond until it holds, failing the test after d.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// WaitSubscribed waits until the simulator holds n WebSocket connections,
// each subscribed to at least one stream. A client sees its handshake
// complete a moment before the server has registered the connection, so a
// test that fires a connection fault must wait for this, not for the client.
func WaitSubscribed(t testing.TB, s *sim.Server, n int) {
	t.Helper()
	WaitFor(t, 5*time.Second, "the simulator to register the subscriptions", func() bool {
		conns := s.Conns()
		if len(conns) != n {
			return false
		}
		for _, c := range conns {
			if len(c.Subscriptions) == 0 {
				return false
			}
		}
		return true
	})
}
