package wsconn_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

// TestReplaceSwapsTheConnectionLosingNothing: Replace opens a fresh
// connection and closes the old one once the new one delivers, like a
// rotation; a second request while one is under way is refused, and so is
// one while no connection is up.
func TestReplaceSwapsTheConnectionLosingNothing(t *testing.T) {
	s := startSim(t, sim.Config{})
	var r recorder
	sess := open(t, baseConfig(s, "/ws/btcusdt@aggTrade"), &r)
	if sess.Replace("too early") {
		t.Fatal("Replace accepted before any connection")
	}
	waitFor(t, 5*time.Second, "connect", func() bool { return r.count(wsconn.Connected) == 1 })
	simtest.WaitSubscribed(t, s, 1)
	waitFor(t, 5*time.Second, "data", func() bool { return r.count(wsconn.Data) > 20 })
	if !sess.Replace("lagging 7s behind") {
		t.Fatal("Replace refused on a live connection")
	}
	if sess.Replace("again") {
		t.Fatal("a second Replace accepted while one is pending")
	}
	waitFor(t, 5*time.Second, "replacement", func() bool { return sess.Stats().Disconnects[wsconn.ReasonReplaced] == 1 })
	n := r.count(wsconn.Data)
	waitFor(t, 5*time.Second, "data from the new connection", func() bool { return r.count(wsconn.Data) > n+20 })
	sess.Close()
	errs := r.disconnectErrs()
	if len(errs) == 0 || !errors.Is(errs[0], wsconn.ErrReplaced) || !strings.Contains(errs[0].Error(), "lagging 7s behind") {
		t.Fatalf("first disconnect %v, want ErrReplaced with the reason", errs)
	}
	if st := sess.Stats(); st.Connects != 2 || st.Reconnects != 0 {
		t.Fatalf("connects %d (want 2), reconnects %d (want 0: make-before-break)", st.Connects, st.Reconnects)
	}
	checkNoMissingID(t, r.aggTradeIDs(t))
}

// TestReplaceMovesToAnotherEndpoint: with AltURLs, a replaced connection
// goes to the next endpoint in turn (another host of the venue), and a
// reconnect after a failure stays where it is.
func TestReplaceMovesToAnotherEndpoint(t *testing.T) {
	certs := t.TempDir() // one CA for both simulators
	a := startSim(t, sim.Config{CertDir: certs})
	b := startSim(t, sim.Config{CertDir: certs})
	var r recorder
	cfg := baseConfig(a, "/ws/btcusdt@aggTrade")
	cfg.AltURLs = []string{b.WSURL() + "/ws/btcusdt@aggTrade"}
	sess := open(t, cfg, &r)
	on := func(want *sim.Server, other *sim.Server, what string) {
		t.Helper()
		waitFor(t, 5*time.Second, what, func() bool { return len(want.Conns()) == 1 && len(other.Conns()) == 0 })
	}
	on(a, b, "the first endpoint")
	simtest.WaitSubscribed(t, a, 1)
	if !sess.Replace("lagging") {
		t.Fatal("Replace refused")
	}
	on(b, a, "the replacement on the other endpoint")
	simtest.WaitSubscribed(t, b, 1)
	b.Fire(sim.Fault{Kind: sim.FaultDrop}) // a failure: the reconnect stays on b
	waitFor(t, 5*time.Second, "reconnect", func() bool { return sess.Stats().Reconnects == 1 })
	on(b, a, "the reconnect on the same endpoint")
	simtest.WaitSubscribed(t, b, 1)
	waitFor(t, 5*time.Second, "Replace accepted", func() bool { return sess.Replace("lagging again") })
	on(a, b, "back to the first endpoint")
	sess.Close()
}
