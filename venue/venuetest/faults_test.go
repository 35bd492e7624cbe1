package venuetest

import (
	"testing"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/wsconn"
	"go.uber.org/goleak"
)

func TestFaultKind(t *testing.T) {
	for spec, want := range map[string]string{
		"okx-seq-break:p=0.05":   "okx-seq-break",
		"drop":                   "drop",
		" shutdown :duration=1s": "shutdown",
	} {
		if got := (Fault{Spec: spec}).Kind(); got != want {
			t.Errorf("Fault{%q}.Kind() = %q, want %q", spec, got, want)
		}
	}
}

// TestShows: each effect shows by its own counter and by no other; Unseen
// fails on any of them.
func TestShows(t *testing.T) {
	was := feed.GatewayStats{Sessions: []wsconn.Stats{{}, {}}}
	with := func(f func(*feed.GatewayStats)) feed.GatewayStats {
		st := feed.GatewayStats{Sessions: []wsconn.Stats{{}, {}}}
		f(&st)
		return st
	}
	resync := with(func(s *feed.GatewayStats) { s.BookResyncs = 1 })
	reconnect := with(func(s *feed.GatewayStats) { s.Sessions[1].Reconnects = 1 })
	rotation := with(func(s *feed.GatewayStats) { s.Sessions[0].Rotations = 1 })
	backfill := with(func(s *feed.GatewayStats) { s.Backfilled = 3; s.TradeGaps = 1 })
	pending := with(func(s *feed.GatewayStats) { s.Backfilled = 3; s.BackfillPending = 1 })
	snapshot := with(func(s *feed.GatewayStats) { s.BookSyncs = 1 })
	for _, c := range []struct {
		e     Effect
		now   feed.GatewayStats
		shown bool
	}{
		{Unseen, was, true}, {Unseen, snapshot, true},
		{Unseen, resync, false}, {Unseen, reconnect, false}, {Unseen, rotation, false}, {Unseen, backfill, false},
		{Resync, resync, true}, {Resync, reconnect, false}, {Resync, was, false},
		{Reconnect, reconnect, true}, {Reconnect, rotation, true}, {Reconnect, resync, false},
		{Backfill, backfill, true}, {Backfill, pending, false}, {Backfill, was, false},
		{Snapshot, snapshot, true}, {Snapshot, resync, false},
	} {
		why := shows(c.e, was, c.now)
		if (why == "") != c.shown {
			t.Errorf("%v on %+v: shown %v (%q), want %v", c.e, c.now, why == "", why, c.shown)
		}
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
