package venuetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
)

// Effect is what a venue's fault must visibly cause in the gateway's
// counters (feed.GatewayStats) while it is on.
type Effect uint8

const (
	// Unseen: the gateway must count nothing for it, no book rebuilt, no
	// connection replaced, no trade gap, while the data stays right (a
	// number written in exponent form, a sequence that restarts where
	// the chain still holds, a ping left unanswered while data flows).
	// The simulator must have fired it.
	Unseen Effect = iota
	// Resync: a book thrown away and rebuilt (BookResyncs grows).
	Resync
	// Reconnect: a connection replaced, by a reconnect or a
	// make-before-break rotation (a session's Reconnects or Rotations
	// grow).
	Reconnect
	// Backfill: trades recovered over REST (Backfilled grows) and no
	// recovery still pending, all while the fault is on.
	Backfill
	// Snapshot: a book loaded again from a snapshot the venue pushed
	// (BookSyncs grows).
	Snapshot
	// Opens: the venue opens again (venue.Factory.Open: its REST calls,
	// symbols, server time) while the fault is on, and the simulator
	// fired it: for a REST fault where REST serves only the start.
	Opens
	// OpenRefused: the venue does not open while the fault is on (Open
	// fails at once rather than retry: a venue that asks a client over
	// its limit to stay away), while the gateway already open shows
	// nothing, as for Unseen.
	OpenRefused
)

func (e Effect) String() string {
	switch e {
	case Unseen:
		return "nothing visible"
	case Resync:
		return "a book resync"
	case Reconnect:
		return "a reconnect or rotation"
	case Backfill:
		return "trades backfilled"
	case Snapshot:
		return "a book reloaded from the venue's snapshot"
	case Opens:
		return "the venue opened through it"
	case OpenRefused:
		return "the venue refused to open"
	}
	return fmt.Sprintf("Effect(%d)", uint8(e))
}

// Fault is one of the venue's own faults, as the suite fires it after
// the common ones, on the same simulator and gateway, each in turn: the
// suite carries it out (Sim.Fault), waits until the simulator has fired
// it and the gateway shows its effect, turns it off, waits for the books
// to be in sync and the trades recovered again, and at the end holds
// every trade and book checkpoint of the run against the truth.
type Fault struct {
	// Spec is the fault as the simulator's --fault flag reads it:
	// "okx-seq-break:p=0.05" stays on with that probability until its
	// effect shows; "okx-maintenance:duration=300ms" fires once.
	Spec string
	// Shows is what the gateway must show while the fault is on.
	Shows Effect
	// With is another fault (a Spec) carried out once the fault is on,
	// so that what it causes must get through this one: a REST rate
	// limit With "drop" (every connection dropped: trades to backfill, a
	// REST book snapshot to load) or With a trade gap.
	With string
	// Hold is how long the fault stays on once its effect showed (a
	// fault that shows nothing: once it fired). Default 300ms.
	Hold time.Duration
}

// Kind is the fault's kind, Spec up to its first colon.
func (f Fault) Kind() string {
	k, _, _ := strings.Cut(f.Spec, ":")
	return strings.TrimSpace(k)
}

// faultHold is how long a fault stays on after it showed its effect
// unless it says otherwise (Fault.Hold), so that the data it touched
// flows through the gateway while it lasts.
const faultHold = 300 * time.Millisecond

// runVenueFault fires f on s and waits for its effect in g's counters,
// then turns it off and waits until g has recovered.
func runVenueFault(t *testing.T, g *feed.Gateway, s Sim, cfg Config, f Fault, reopen func(context.Context) error) {
	kind := f.Kind()
	before, fired := g.Stats(), s.Fired(kind)
	start := time.Now()
	if err := s.Fault(f.Spec); err != nil {
		t.Fatalf("fault %q: %v", f.Spec, err)
	}
	defer func() {
		if err := s.BookFaults(0); err != nil {
			t.Errorf("fault %q: turning it off: %v", f.Spec, err)
		}
	}()
	if f.With != "" {
		if err := s.Fault(f.With); err != nil {
			t.Fatalf("fault %q with %q: %v", f.Spec, f.With, err)
		}
	}
	opened := false
	// opened (or not) through it: again until the simulator fired it,
	// which a fault with a probability may not do on the first try
	for i := 0; (f.Shows == Opens || f.Shows == OpenRefused) && i < 5 && s.Fired(kind) <= fired; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), faultWait)
		err := reopen(ctx)
		cancel()
		switch {
		case f.Shows == Opens && err != nil:
			t.Fatalf("fault %q: the venue does not open through it: %v", f.Spec, err)
		case f.Shows == OpenRefused && err == nil && s.Fired(kind) > fired:
			t.Fatalf("fault %q: the venue opened through it", f.Spec)
		case err != nil:
			t.Logf("fault %q: the venue does not open: %v", f.Spec, err)
		}
		opened = true
	}
	var why string
	waitFor(t, faultWait, fmt.Sprintf("fault %q to fire and show %v", f.Spec, f.Shows), func() bool {
		if s.Fired(kind) <= fired {
			why = "the simulator has not fired it"
			return false
		}
		if f.Shows == Opens || f.Shows == OpenRefused {
			return opened
		}
		why = shows(f.Shows, before, g.Stats())
		return why == ""
	}, func() string { return why })
	t.Logf("%s: fired %d times, %v after %v", f.Spec, s.Fired(kind)-fired, f.Shows, time.Since(start).Round(time.Millisecond))
	hold := f.Hold
	if hold == 0 {
		hold = faultHold
	}
	time.Sleep(hold)
	if f.Shows == Unseen || f.Shows == OpenRefused {
		if why := shows(Unseen, before, g.Stats()); why != "" {
			t.Errorf("fault %q should show nothing, but %s", f.Spec, why)
		}
	}
	if err := s.BookFaults(0); err != nil {
		t.Fatal(err)
	}
	off := time.Now()
	settle(t, g, cfg, fmt.Sprintf("recovery after fault %q", f.Spec))
	t.Logf("%s: off, recovered after %v", f.Spec, time.Since(off).Round(time.Millisecond))
}

// faultWait bounds the wait for a fault's effect.
const faultWait = 20 * time.Second

// shows says what is still missing for effect e between two readings of
// the gateway's counters ("" when it shows).
func shows(e Effect, was, now feed.GatewayStats) string {
	rotations := func(st feed.GatewayStats) (n int64) {
		for _, s := range st.Sessions {
			n += s.Reconnects + s.Rotations
		}
		return n
	}
	switch e {
	case Unseen:
		switch {
		case now.BookResyncs != was.BookResyncs:
			return fmt.Sprintf("%d book(s) were rebuilt", now.BookResyncs-was.BookResyncs)
		case rotations(now) != rotations(was):
			return fmt.Sprintf("%d connection(s) were replaced", rotations(now)-rotations(was))
		case now.TradeGaps != was.TradeGaps:
			return fmt.Sprintf("%d trade gap(s) were found", now.TradeGaps-was.TradeGaps)
		}
	case Resync:
		if now.BookResyncs == was.BookResyncs {
			return "no book was rebuilt"
		}
	case Reconnect:
		if rotations(now) == rotations(was) {
			return "no connection was replaced"
		}
	case Backfill:
		if now.Backfilled == was.Backfilled {
			return "no trade was backfilled"
		}
		if now.BackfillPending != 0 {
			return "backfill still pending"
		}
	case Snapshot:
		if now.BookSyncs == was.BookSyncs {
			return "no book was loaded from a snapshot"
		}
	}
	return ""
}

// settle waits until every book is in sync, no trade recovery is
// pending and every connection is up.
func settle(t *testing.T, g *feed.Gateway, cfg Config, what string) {
	t.Helper()
	waitFor(t, 60*time.Second, what, func() bool {
		st := g.Stats()
		if st.BackfillPending != 0 || st.BooksInSync != int64(len(cfg.Symbols)) {
			return false
		}
		for _, ss := range st.Sessions {
			if ss.Status.String() != "connected" {
				return false
			}
		}
		return true
	}, func() string {
		st := g.Stats()
		var conns []string
		for _, ss := range st.Sessions {
			conns = append(conns, ss.Status.String())
		}
		return fmt.Sprintf("%d of %d books in sync, %d symbols backfilling, connections %v", st.BooksInSync, len(cfg.Symbols), st.BackfillPending, conns)
	})
}
