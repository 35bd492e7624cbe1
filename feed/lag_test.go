package feed_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue/binance"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

// openWatched opens a gateway with a Recovery and the lag watch lag
// against the simulator.
func openWatched(t testing.TB, s *sim.Server, streams []string, lag feed.LagConfig, log *slog.Logger, handler func(*feed.Event)) *feed.Gateway {
	t.Helper()
	tlsCfg, err := httpx.TLSConfig(simtest.CAFile(t, s))
	if err != nil {
		t.Fatal(err)
	}
	rest, err := httpx.New(binance.RESTConfig(httpx.Config{BaseURL: s.RESTURL(), TLS: tlsCfg, Logger: quiet()}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rest.Close)
	syms, err := binance.LoadSymbols(context.Background(), rest, binance.SymbolsOfStreams(streams))
	if err != nil {
		t.Fatal(err)
	}
	venue, err := binance.NewSpot(binance.SpotConfig{WSURL: s.WSURL(), Symbols: syms, StreamsPerConn: 1024, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := binance.NewRecovery(rest, venue.Instruments(), false)
	if err != nil {
		t.Fatal(err)
	}
	g, err := feed.OpenGateway(feed.GatewayConfig{
		Venue: venue, Streams: streams, TLS: tlsCfg, Logger: log, Handler: handler,
		Session: wsconn.Config{BackoffMin: 5 * time.Millisecond, BackoffMax: 100 * time.Millisecond},
		Dials:   rate.NewLimiter(1000, 100), Subscribes: rate.NewLimiter(1000, 100),
		Recovery: rec, Lag: lag,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// logLines counts the log lines with a given message.
type logLines struct {
	mu    sync.Mutex
	lines map[string]int
}

func (l *logLines) Enabled(context.Context, slog.Level) bool { return true }
func (l *logLines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.lines[r.Message]++
	l.mu.Unlock()
	return nil
}
func (l *logLines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logLines) WithGroup(string) slog.Handler      { return l }
func (l *logLines) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lines[msg]
}

func statuses(events []feed.Event, st feed.Status) []feed.Event {
	var out []feed.Event
	for _, ev := range events {
		if ev.Type == feed.TypeStatus && ev.Status == st {
			out = append(out, ev)
		}
	}
	return out
}

// TestStarvedConnectionIsReportedAndReplaced: the simulator throttles the
// gateway's one connection far below what its streams need; the gateway
// says it lags within MaxLag + LagFor (a status event, a log line, its
// counters), replaces the connection, says when the replacement keeps up,
// and the trades delivered stay complete (what the starved connection
// never brought is backfilled; the book resyncs).
func TestStarvedConnectionIsReportedAndReplaced(t *testing.T) {
	s := startSim(t, sim.Config{Rate: 1000})
	lag := feed.LagConfig{MaxLag: 500 * time.Millisecond, LagFor: time.Second, ReplaceBackoff: 5 * time.Second}
	logs := &logLines{lines: map[string]int{}}
	var c collector
	g := openWatched(t, s, []string{"btcusdt@aggTrade", "btcusdt@depth@100ms"}, lag, slog.New(logs), c.handle)
	waitFor(t, 5*time.Second, "data", func() bool { return g.Stats().Events > 200 })
	time.Sleep(2 * lag.LagFor) // a healthy link: no word
	if got := statuses(c.snapshot(), feed.StatusLagging); len(got) != 0 {
		t.Fatalf("lagging before any throttle: %s", got[0].Reason)
	}

	if err := s.AddFault(sim.Fault{Kind: sim.FaultThrottle, Rate: 3000, Times: 1}); err != nil {
		t.Fatal(err)
	}
	throttled := time.Now()
	waitFor(t, 3*time.Second, "the throttle", func() bool {
		for _, cs := range s.Conns() {
			if cs.Throttled > 0 {
				return true
			}
		}
		return false
	})
	waitFor(t, 10*time.Second, "lagging", func() bool { return len(statuses(c.snapshot(), feed.StatusLagging)) > 0 })
	noticed := time.Since(throttled)
	if st := g.Stats().Lag[0]; st.Episodes != 1 || st.Since.IsZero() && st.Lagging {
		t.Fatalf("lag watch after lagging: %+v", st)
	}
	waitFor(t, 10*time.Second, "caught up", func() bool { return len(statuses(c.snapshot(), feed.StatusCaughtUp)) > 0 })
	recovered := time.Since(throttled)
	// the trades held behind the backfill of the starved connection's backlog
	waitFor(t, 10*time.Second, "backfill done", func() bool { return g.Stats().BackfillPending == 0 })
	g.Close()

	events := c.snapshot()
	lagging, caught := statuses(events, feed.StatusLagging), statuses(events, feed.StatusCaughtUp)
	if len(lagging) != 1 || len(caught) != 1 {
		t.Fatalf("%d lagging and %d caught_up events, want 1 and 1", len(lagging), len(caught))
	}
	if r := lagging[0].Reason; !strings.Contains(r, "binance#0") || !strings.Contains(r, "replacing") {
		t.Errorf("lagging reason %q: want the connection named and its replacement said", r)
	}
	// lag above 500ms comes within a second at 3 KB/s for ~45 KB/s of streams;
	// then LagFor, plus the checks of the simulator every 100ms
	if bound := lag.MaxLag + lag.LagFor + 2*time.Second; noticed > bound {
		t.Errorf("lagging said %v after the throttle, want within %v", noticed, bound)
	}
	st := g.Stats()
	if l := st.Lag[0]; l.Episodes != 1 || l.Replacements != 1 || l.Lagging || l.Lag > lag.MaxLag {
		t.Errorf("lag watch at the end: %+v", l)
	}
	if n := st.Sessions[0].Disconnects[wsconn.ReasonReplaced]; n != 1 {
		t.Errorf("connections replaced: %d, want 1 (disconnects %v)", n, st.Sessions[0].Disconnects)
	}
	if logs.count("connection lagging") != 1 || logs.count("connection caught up") != 1 {
		t.Errorf("log lines: %v", logs.lines)
	}
	n := checkTrades(t, events)
	for _, ev := range events {
		if ev.Type == feed.TypeGap && ev.Missing == feed.TypeTrade {
			t.Fatalf("trade gap event: %+v", ev)
		}
	}
	t.Logf("lagging said after %v, caught up after %v; %d trades, %d backfilled", noticed.Round(time.Millisecond),
		recovered.Round(time.Millisecond), n, st.Backfilled)
}
