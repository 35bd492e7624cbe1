package feed

import (
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/wsconn"
)

// namedVenue is a venue of which only the name is used.
type namedVenue struct{ Venue }

func (namedVenue) Name() string { return "test" }

func watchedGateway(lag LagConfig, handler func(*Event)) *Gateway {
	if err := lag.fill(); err != nil {
		panic(err)
	}
	return &Gateway{
		cfg: GatewayConfig{Venue: namedVenue{}, Handler: handler, Lag: lag},
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		lag: make([]lagWatch, 1),
	}
}

// TestLagWatchEpisodes drives the watch with frames of known lag: an
// episode starts only once the lag stayed above the bound for LagFor, ends
// only once the newest connection stayed under it for LagFor, frames of a
// connection being replaced are not judged, and the clock offset counts.
func TestLagWatchEpisodes(t *testing.T) {
	const ms = int64(time.Millisecond)
	var got []string
	var offset atomic.Int64
	g := watchedGateway(LagConfig{MaxLag: time.Second, LagFor: 2 * time.Second,
		ClockOffset: func() time.Duration { return time.Duration(offset.Load()) }},
		func(ev *Event) { got = append(got, ev.Status.String()) })
	base := time.Now().UnixNano()
	step := func(conn uint64, at, lag int64) { // at, lag in ms
		recv := base + at*ms
		ev := &Event{Type: TypeTrade, EventTime: recv - lag*ms}
		g.watchLag(0, ev, &wsconn.Frame{Kind: wsconn.Data, Conn: conn, Recv: recv})
	}
	expect := func(what string, want ...string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: statuses %v, want %v", what, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: statuses %v, want %v", what, got, want)
			}
		}
	}
	// above the bound, but dipping under it before LagFor passed: nothing
	for at := int64(0); at < 5000; at += 100 {
		lag := int64(1500)
		if at%1500 == 0 {
			lag = 500
		}
		step(1, at, lag)
	}
	expect("a lag that dips")
	// above the bound for 2s: lagging, once
	for at := int64(5000); at <= 9000; at += 100 {
		step(1, at, 1500+at-5000)
	}
	expect("a lag that grows", "lagging")
	if st := g.lagStats()[0]; !st.Lagging || st.Episodes != 1 || st.Lag < 5*time.Second {
		t.Fatalf("stats while lagging: %+v", st)
	}
	// a new connection keeps up, but frames of the old one still come: not
	// judged, and not long enough yet
	for at := int64(9100); at < 10500; at += 100 {
		step(2, at, 100)
		step(1, at, 6000)
	}
	expect("replacement keeping up for 1.4s", "lagging")
	// a clock 3s behind the venue's: an event time 2.5s ahead is 500ms late
	offset.Store(int64(3 * time.Second))
	for at := int64(10500); at <= 11200; at += 100 {
		step(2, at, -2500)
	}
	expect("replacement keeping up for 2.1s", "lagging", "caught_up")
	if st := g.lagStats()[0]; st.Lagging || st.Episodes != 1 || st.Lag > time.Second {
		t.Fatalf("stats after catching up: %+v", st)
	}
	// events without an event time are not judged
	before := g.lagStats()[0].Lag
	g.watchLag(0, &Event{Type: TypeTopOfBook}, &wsconn.Frame{Conn: 2, Recv: base + 20000*ms})
	if st := g.lagStats()[0]; st.Lag != before {
		t.Fatalf("an event without time moved the lag: %+v", st)
	}
}

func TestLagConfigRefusesNegativeDurations(t *testing.T) {
	for _, c := range []LagConfig{{LagFor: -time.Second}, {ReplaceBackoff: -time.Second}} {
		if err := c.fill(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// BenchmarkWatchLag measures what the lag watch adds to each event on the
// connection's goroutine, with a clock offset read from an atomic (as
// monitor.Monitor.ClockOffset does), against the watch turned off.
func BenchmarkWatchLag(b *testing.B) {
	var offset atomic.Int64
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			g := watchedGateway(LagConfig{ClockOffset: func() time.Duration { return time.Duration(offset.Load()) }}, func(*Event) {})
			if !on {
				g.lag = nil
			}
			now := time.Now().UnixNano()
			ev := &Event{Type: TypeTrade, EventTime: now - int64(time.Millisecond)}
			f := &wsconn.Frame{Kind: wsconn.Data, Conn: 1, Recv: now}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				f.Recv++
				g.watchLag(0, ev, f)
			}
		})
	}
}
