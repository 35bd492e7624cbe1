package monitor_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/monitor"
	"github.com/feedkeeper/feedkeeper/sim"
)

// bookStates reads each book's sync state from the dashboard's snapshot.
func bookStates(t testing.TB, r *rig) map[string]string {
	t.Helper()
	_, body := r.get(t, "/api/snapshot")
	var snap struct {
		Books []struct{ Symbol, State string } `json:"books"`
	}
	if err := json.Unmarshal([]byte(body), &snap); err != nil {
		t.Fatalf("/api/snapshot: %v", err)
	}
	out := map[string]string{}
	for _, b := range snap.Books {
		out[b.Symbol] = b.State
	}
	return out
}

// bookProblem returns the /readyz problem naming symbol's book, if any.
func bookProblem(rd monitor.Readiness, symbol string) (monitor.Problem, bool) {
	for _, p := range rd.NotReady {
		if p.Check == "books" && p.Symbol == symbol {
			return p, true
		}
	}
	return monitor.Problem{}, false
}

// TestBookSyncPerSymbol: the books waiting for their first snapshot, then
// in sync, then the one book that lost an update and cannot fetch a new
// snapshot (REST banned), are named in /readyz and in the dashboard.
func TestBookSyncPerSymbol(t *testing.T) {
	s := startSim(t, sim.Config{Rate: 300, Symbols: []string{"BTCUSDT", "ETHUSDT"}})
	r := newRig(t, s, rigConfig{
		streams: []string{"btcusdt@depth@100ms", "ethusdt@depth@100ms"}, recovery: true,
		rcfg:       feed.RecoveryConfig{RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond},
		beforeOpen: func() { s.Fire(sim.Fault{Kind: sim.FaultREST418, Duration: 1500 * time.Millisecond}) },
		mon:        monitor.Config{BookSymbols: []string{"BTCUSDT", "ETHUSDT"}},
	})
	code, rd := readyz(t, r)
	for _, sym := range []string{"BTCUSDT", "ETHUSDT"} {
		if p, ok := bookProblem(rd, sym); code != 503 || !ok || p.Detail != "waiting for its first snapshot" {
			t.Fatalf("before any snapshot, %s: %d %+v", sym, code, rd)
		}
	}
	waitFor(t, 5*time.Second, "the snapshot to say waiting", func() bool {
		st := bookStates(t, r)
		return st["BTCUSDT"] == "waiting" && st["ETHUSDT"] == "waiting"
	})
	waitFor(t, 15*time.Second, "ready", func() bool { code, _ := readyz(t, r); return code == 200 })
	waitFor(t, 5*time.Second, "both books in sync on the dashboard", func() bool {
		st := bookStates(t, r)
		return st["BTCUSDT"] == "in sync" && st["ETHUSDT"] == "in sync"
	})

	// one book loses an update while REST is banned: it stays out of sync
	if err := s.Fire(sim.Fault{Kind: sim.FaultREST418, Duration: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := s.Fire(sim.Fault{Kind: sim.FaultDepthDrop, Times: 1}); err != nil {
		t.Fatal(err)
	}
	var out string
	waitFor(t, 10*time.Second, "one book resyncing", func() bool {
		code, rd = readyz(t, r)
		_, btc := bookProblem(rd, "BTCUSDT")
		_, eth := bookProblem(rd, "ETHUSDT")
		if code != 503 || btc == eth {
			return false
		}
		out = "ETHUSDT"
		if btc {
			out = "BTCUSDT"
		}
		p, _ := bookProblem(rd, out)
		st := bookStates(t, r)
		return st[out] == "resyncing" && len(p.Detail) > len("resyncing") && p.Detail[:len("resyncing")] == "resyncing"
	})
	t.Logf("out of sync: %+v", rd.NotReady)
	other := map[string]string{"BTCUSDT": "ETHUSDT", "ETHUSDT": "BTCUSDT"}[out]
	if st := bookStates(t, r); st[other] != "in sync" {
		t.Fatalf("%s is %q while %s resyncs", other, st[other], out)
	}
	waitFor(t, 15*time.Second, "ready again", func() bool { code, _ := readyz(t, r); return code == 200 })
	waitFor(t, 5*time.Second, "both books in sync on the dashboard again", func() bool {
		st := bookStates(t, r)
		return st["BTCUSDT"] == "in sync" && st["ETHUSDT"] == "in sync"
	})
}
