package monitor

import (
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/wsconn"
)

// TestUptimeKeepsRotations: a planned rotation does not restart a
// session's uptime; a reconnect between two snapshots and a snapshot
// that sees it down do.
func TestUptimeKeepsRotations(t *testing.T) {
	t0 := time.Unix(1000, 0)
	steps := []struct {
		status     wsconn.Status
		connects   int64
		reconnects int64
		at         time.Duration
		want       time.Duration
	}{
		{wsconn.StatusConnecting, 0, 0, 0, 0},
		{wsconn.StatusConnected, 1, 0, time.Second, 0},
		{wsconn.StatusConnected, 1, 0, 5 * time.Second, 4 * time.Second},
		{wsconn.StatusRotating, 1, 0, 6 * time.Second, 5 * time.Second},
		{wsconn.StatusConnected, 2, 0, 7 * time.Second, 6 * time.Second},  // rotated: still up
		{wsconn.StatusConnected, 3, 1, 9 * time.Second, 0},                // dropped and back between snapshots
		{wsconn.StatusConnected, 3, 1, 12 * time.Second, 3 * time.Second}, //
		{wsconn.StatusConnecting, 3, 2, 13 * time.Second, 0},              // down
		{wsconn.StatusConnected, 4, 2, 14 * time.Second, 0},               // back
		{wsconn.StatusConnected, 4, 2, 15500 * time.Millisecond, 1500 * time.Millisecond},
	}
	var tr connTracker
	for i, s := range steps {
		up := tr.update([]wsconn.Stats{{Status: s.status, Connects: s.connects, Reconnects: s.reconnects}}, t0.Add(s.at))
		if up[0] != s.want {
			t.Errorf("step %d (%v, connects %d, reconnects %d): up %v, want %v", i, s.status, s.connects, s.reconnects, up[0], s.want)
		}
	}
}
