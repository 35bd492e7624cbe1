package monitor_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/monitor"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue/binance"
	"github.com/feedkeeper/feedkeeper/venue/binanceusdm"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

// venueRig is a process that runs two venues as `feedkeeper run` does with
// a venues: list: Binance spot and Binance USD-M, each from a simulator of
// its own (so that a fault reaches one venue only) over TLS, each with its
// gateway, REST client and connection-attempt budget, and one Monitor
// given both as Config.Venues.
type venueRig struct {
	spot, usdm *sim.Server
	gws        [2]atomic.Pointer[feed.Gateway] // set once open: the Monitor reads them from the start
	mon        *monitor.Monitor
	http       *http.Client
}

// The venues' streams: spot on two connections, both venues keeping the
// BTCUSDT book.
var (
	spotStreams = []string{"btcusdt@aggTrade", "btcusdt@depth@100ms", "ethusdt@aggTrade", "ethusdt@bookTicker"}
	usdmStreams = []string{"btcusdt@aggTrade", "btcusdt@depth@100ms", "btcusdt@bookTicker"}
)

func newVenueRig(t testing.TB, spotCfg, usdmCfg sim.Config, sample time.Duration) *venueRig {
	t.Helper()
	r := &venueRig{}
	usdmCfg.Venues = []string{sim.VenueBinanceUSDM}
	r.spot, r.usdm = startSim(t, spotCfg), startSim(t, usdmCfg)
	tlsSpot, err := httpx.TLSConfig(simtest.CAFile(t, r.spot))
	if err != nil {
		t.Fatal(err)
	}
	tlsUSDM, err := httpx.TLSConfig(simtest.CAFile(t, r.usdm))
	if err != nil {
		t.Fatal(err)
	}
	rest := func(cfg httpx.Config) *httpx.Client {
		c, err := httpx.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	backoff := httpx.Config{Logger: quiet(), BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond}
	spotCfgREST, usdmCfgREST := backoff, backoff
	spotCfgREST.BaseURL, spotCfgREST.TLS = r.spot.RESTURL(), tlsSpot
	usdmCfgREST.BaseURL, usdmCfgREST.TLS = r.usdm.USDM().RESTURL(), tlsUSDM
	spotREST, usdmREST := rest(binance.RESTConfig(spotCfgREST)), rest(binanceusdm.RESTConfig(usdmCfgREST))

	ctx := context.Background()
	spotSyms, err := binance.LoadSymbols(ctx, spotREST, binance.SymbolsOfStreams(spotStreams))
	if err != nil {
		t.Fatal(err)
	}
	spotVenue, err := binance.NewSpot(binance.SpotConfig{WSURL: r.spot.WSURL(), Symbols: spotSyms, StreamsPerConn: 2})
	if err != nil {
		t.Fatal(err)
	}
	spotRec, err := binance.NewRecovery(spotREST, spotSyms, false)
	if err != nil {
		t.Fatal(err)
	}
	usdmSyms, err := binanceusdm.LoadSymbols(ctx, usdmREST, binanceusdm.SymbolsOfStreams(usdmStreams))
	if err != nil {
		t.Fatal(err)
	}
	usdmVenue, err := binanceusdm.New(binanceusdm.Config{WSURL: r.usdm.USDM().WSURL(), Symbols: usdmSyms})
	if err != nil {
		t.Fatal(err)
	}
	usdmRec, err := binanceusdm.NewRecovery(usdmREST, usdmVenue.Instruments())
	if err != nil {
		t.Fatal(err)
	}
	budget := func(limit int) *wsconn.Budget {
		b, err := wsconn.NewBudget(wsconn.BudgetConfig{Limit: limit, Window: time.Minute, Burst: 50})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	spotDials, usdmDials := budget(200), budget(300)

	stats := func(i int) func() feed.GatewayStats {
		return func() feed.GatewayStats {
			if g := r.gws[i].Load(); g != nil {
				return g.Stats()
			}
			return feed.GatewayStats{}
		}
	}
	r.mon, err = monitor.New(monitor.Config{Addr: "127.0.0.1:0", Venue: "binance,binance-usdm", SampleInterval: sample, Logger: quiet(),
		BookSymbols: []string{"BTCUSDT", "BTCUSDT"},
		Venues: []monitor.VenueMetrics{
			{Name: binance.Venue, Gateway: stats(0), REST: spotREST.Stats, Dials: spotDials.Stats, BookSymbols: []string{"BTCUSDT"}},
			{Name: binanceusdm.Venue, Gateway: stats(1), REST: usdmREST.Stats, Dials: usdmDials.Stats, BookSymbols: []string{"BTCUSDT"}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.mon.Close() })
	r.http = newClient(t)

	session := wsconn.Config{BackoffMin: 5 * time.Millisecond, BackoffMax: 100 * time.Millisecond}
	for i, gc := range []feed.GatewayConfig{
		{Venue: spotVenue, Streams: spotStreams, TLS: tlsSpot, Dials: spotDials, Recovery: spotRec},
		{Venue: usdmVenue, Streams: usdmStreams, TLS: tlsUSDM, Dials: usdmDials, Recovery: usdmRec},
	} {
		gc.Session, gc.Logger, gc.Subscribes = session, quiet(), rate.NewLimiter(1000, 100)
		gc.RecoveryConfig = feed.RecoveryConfig{RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond}
		gc.Handler = r.mon.Observe
		g, err := feed.OpenGateway(gc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { g.Close() })
		r.gws[i].Store(g)
	}
	r.mon.SetGateway(func() feed.GatewayStats { return sumGateways(r.gws[0].Load().Stats(), r.gws[1].Load().Stats()) })
	return r
}

// sumGateways adds up what the dashboard's totals read, as the gateway
// command does for a process that runs several venues.
func sumGateways(parts ...feed.GatewayStats) feed.GatewayStats {
	var s feed.GatewayStats
	for _, p := range parts {
		s.Events += p.Events
		s.Duplicates += p.Duplicates
		s.Gaps += p.Gaps
		s.Missing += p.Missing
		s.Malformed += p.Malformed
		s.Unknown += p.Unknown
		s.Binary += p.Binary
		s.Backfilled += p.Backfilled
		s.Unfilled += p.Unfilled
		s.BookSyncs += p.BookSyncs
		s.BookResyncs += p.BookResyncs
		s.BooksInSync += p.BooksInSync
		s.Sessions = append(s.Sessions, p.Sessions...)
		s.Lag = append(s.Lag, p.Lag...)
	}
	return s
}

// venueJSON is a venue's row of /api/snapshot, as documented.
type venueJSON struct {
	Name     string            `json:"name"`
	Ready    bool              `json:"ready"`
	NotReady []monitor.Problem `json:"not_ready"`

	ConnsUp    int      `json:"conns_up"`
	Conns      int      `json:"conns"`
	Connects   int64    `json:"connects"`
	Reconnects int64    `json:"reconnects"`
	Events     int64    `json:"events"`
	EventsRate float64  `json:"events_rate"`
	FramesRate float64  `json:"frames_rate"`
	BytesRate  float64  `json:"bytes_rate"`
	ExchP99    *float64 `json:"exch_p99"`
	LagS       float64  `json:"lag_s"`
	Lagging    int      `json:"lagging"`

	Gaps        int64 `json:"gaps"`
	Missing     int64 `json:"missing"`
	Backfilled  int64 `json:"backfilled"`
	Unfilled    int64 `json:"unfilled"`
	Books       int   `json:"books"`
	BooksInSync int64 `json:"books_in_sync"`
	Resyncs     int64 `json:"resyncs"`

	REST *struct {
		Requests    int64 `json:"requests"`
		Failures    int64 `json:"failures"`
		RateLimited int64 `json:"rate_limited"`
		WeightLimit int   `json:"weight_limit"`
	} `json:"rest"`
	Dials *struct {
		Used     int     `json:"used"`
		Limit    int     `json:"limit"`
		WindowS  float64 `json:"window_s"`
		Attempts int64   `json:"attempts"`
	} `json:"dials"`
}

type snapshotJSON struct {
	Venue  string `json:"venue"`
	Ready  bool   `json:"ready"`
	Totals struct {
		Events     int64 `json:"events"`
		Gaps       int64 `json:"gaps"`
		Reconnects int64 `json:"reconnects"`
		ConnsUp    int   `json:"conns_up"`
		Conns      int   `json:"conns"`
	} `json:"totals"`
	Conns []struct {
		Name string `json:"name"`
	} `json:"conns"`
	Books []struct {
		Venue  string `json:"venue"`
		Symbol string `json:"symbol"`
		State  string `json:"state"`
	} `json:"books"`
	Venues []venueJSON `json:"venues"`
}

func (r *venueRig) get(t testing.TB, path string) (int, []byte) {
	t.Helper()
	resp, err := r.http.Get(r.mon.URL() + strings.TrimPrefix(path, "/"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// waitMetrics scrapes /metrics until it has every one of lines.
func (r *venueRig) waitMetrics(t testing.TB, what string, lines ...string) {
	t.Helper()
	var body string
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, b := r.get(t, "/metrics")
		body = string(b)
		missing := ""
		for _, l := range lines {
			if !strings.Contains(body, "\n"+l+"\n") {
				missing = l
			}
		}
		if code == 200 && missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: /metrics %d lacks %s", what, code, missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *venueRig) snapshot(t testing.TB) snapshotJSON {
	t.Helper()
	code, b := r.get(t, "/api/snapshot")
	if code != 200 {
		t.Fatalf("/api/snapshot: %d %s", code, b)
	}
	var s snapshotJSON
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("/api/snapshot: %v: %s", err, b)
	}
	return s
}

func (r *venueRig) ready(t testing.TB, query string) (int, monitor.Readiness) {
	t.Helper()
	code, b := r.get(t, "/readyz"+query)
	var rd monitor.Readiness
	if err := json.Unmarshal(b, &rd); err != nil {
		t.Fatalf("/readyz%s: %d %v: %s", query, code, err, b)
	}
	return code, rd
}

// TestStatusJSONTwoVenues runs Binance spot (with trades lost at the
// source, recovered over REST) and Binance USD-M (no faults) side by side:
// the snapshot's venues section gives each its own figures, which add up
// to the totals; then spot's connections drop and its listener refuses
// them for a while: /readyz, the snapshot and /readyz?venue= name spot as
// not ready and USD-M as ready, until spot is back.
func TestStatusJSONTwoVenues(t *testing.T) {
	r := newVenueRig(t, sim.Config{Rate: 200, Symbols: []string{"BTCUSDT", "ETHUSDT"},
		Faults: []sim.Fault{{Kind: sim.FaultTradeGap, Prob: 0.02}}},
		sim.Config{Rate: 100, Symbols: []string{"BTCUSDT"}}, 100*time.Millisecond)

	var s snapshotJSON
	waitFor(t, 20*time.Second, "both venues up, in sync, with events and spot's gaps", func() bool {
		s = r.snapshot(t)
		if len(s.Venues) != 2 {
			return false
		}
		for _, v := range s.Venues {
			if v.Events == 0 || v.Conns == 0 || v.ConnsUp != v.Conns || v.BooksInSync != 1 || v.ExchP99 == nil || v.EventsRate == 0 {
				return false
			}
		}
		return s.Venues[0].Gaps > 0 && s.Venues[0].Backfilled > 0 && s.Ready
	})
	spot, usdm := s.Venues[0], s.Venues[1]
	if spot.Name != "binance" || usdm.Name != "binance-usdm" {
		t.Fatalf("venues %q, %q: want binance, binance-usdm in the order of Config.Venues", spot.Name, usdm.Name)
	}
	// each venue's own counters
	for i, v := range s.Venues {
		st := r.gws[i].Load().Stats()
		if v.Conns != len(st.Sessions) {
			t.Errorf("%s: %d connections, its gateway has %d", v.Name, v.Conns, len(st.Sessions))
		}
		if v.Events > st.Events {
			t.Errorf("%s: %d events, its gateway delivered %d since", v.Name, v.Events, st.Events)
		}
		if v.Books != 1 || !v.Ready || len(v.NotReady) != 0 {
			t.Errorf("%s: books %d, ready %v %v", v.Name, v.Books, v.Ready, v.NotReady)
		}
		if v.REST == nil || v.REST.Requests == 0 {
			t.Errorf("%s: REST %+v: want the symbols' and snapshots' requests", v.Name, v.REST)
		}
		if v.Dials == nil || v.Dials.Attempts < int64(v.Conns) || v.Dials.WindowS != 60 {
			t.Errorf("%s: dial budget %+v: want at least %d attempts in a 60 s window", v.Name, v.Dials, v.Conns)
		}
	}
	if spot.Conns != 2 {
		t.Errorf("spot runs its 4 streams 2 to a connection: %d connections shown", spot.Conns)
	}
	if spot.Dials.Limit != 200 || usdm.Dials.Limit != 300 {
		t.Errorf("dial limits %d, %d: want each venue's own, 200 and 300", spot.Dials.Limit, usdm.Dials.Limit)
	}
	if usdm.Gaps != 0 || usdm.Backfilled != 0 {
		t.Errorf("USD-M loses nothing: gaps %d, backfilled %d", usdm.Gaps, usdm.Backfilled)
	}
	// the totals are kept, the venues' sums
	if s.Totals.Conns != spot.Conns+usdm.Conns || s.Totals.ConnsUp != s.Totals.Conns {
		t.Errorf("totals: %d/%d connections up, venues %d and %d", s.Totals.ConnsUp, s.Totals.Conns, spot.Conns, usdm.Conns)
	}
	if s.Totals.Events == 0 || s.Totals.Events > spot.Events+usdm.Events || s.Totals.Gaps > spot.Gaps {
		t.Errorf("totals: %d events, %d gaps; venues %d+%d events, %d gaps", s.Totals.Events, s.Totals.Gaps, spot.Events, usdm.Events, spot.Gaps)
	}
	// each book under its own venue, the same symbol on both
	var books []string
	for _, b := range s.Books {
		books = append(books, b.Venue+" "+b.Symbol+" "+b.State)
	}
	if got := strings.Join(books, ", "); got != "binance BTCUSDT in sync, binance-usdm BTCUSDT in sync" {
		t.Errorf("books: %s", got)
	}
	if code, rd := r.ready(t, ""); code != 200 || !rd.Ready || len(rd.Venues) != 2 || !rd.Venues[0].Ready || !rd.Venues[1].Ready {
		t.Fatalf("/readyz: %d %+v", code, rd)
	}

	// spot goes down: its connections drop and are refused for a while
	if err := r.spot.Fire(sim.Fault{Kind: sim.FaultRefuse, Duration: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := r.spot.Fire(sim.Fault{Kind: sim.FaultDrop}); err != nil {
		t.Fatal(err)
	}
	var rd monitor.Readiness
	waitFor(t, 5*time.Second, "/readyz to name spot", func() bool {
		var code int
		code, rd = r.ready(t, "")
		return code == 503 && len(rd.Venues) == 2 && !rd.Venues[0].Ready
	})
	if rd.Venues[0].Venue != "binance" || rd.Venues[1].Venue != "binance-usdm" || !rd.Venues[1].Ready {
		t.Fatalf("/readyz venues %+v: want binance not ready, binance-usdm ready", rd.Venues)
	}
	for _, p := range rd.NotReady {
		if p.Venue != "binance" {
			t.Errorf("a problem of another venue than spot: %+v", p)
		}
		if p.Check == "connection" && !strings.HasPrefix(p.Conn, "binance#") {
			t.Errorf("connection problem named %q", p.Conn)
		}
	}
	if code, one := r.ready(t, "?venue=binance-usdm"); code != 200 || !one.Ready || len(one.NotReady) != 0 {
		t.Errorf("/readyz?venue=binance-usdm: %d %+v", code, one)
	}
	if code, one := r.ready(t, "?venue=binance"); code != 503 || one.Ready || len(one.NotReady) == 0 || one.NotReady[0].Venue != "binance" {
		t.Errorf("/readyz?venue=binance: %d %+v", code, one)
	}
	if code, body := r.get(t, "/readyz?venue=okx"); code != 404 || !strings.Contains(string(body), `"okx"`) ||
		!strings.Contains(string(body), "binance, binance-usdm") {
		t.Errorf("/readyz?venue=okx: %d %s", code, body)
	}
	waitFor(t, 5*time.Second, "the snapshot to show spot not ready", func() bool {
		s = r.snapshot(t)
		return len(s.Venues) == 2 && !s.Venues[0].Ready && s.Venues[0].ConnsUp < s.Venues[0].Conns
	})
	if !s.Venues[1].Ready || s.Venues[1].ConnsUp != s.Venues[1].Conns || s.Venues[1].Reconnects != 0 {
		t.Errorf("USD-M touched by spot's fault: %+v", s.Venues[1])
	}
	if len(s.Venues[0].NotReady) == 0 || s.Venues[0].NotReady[0].Venue != "binance" {
		t.Errorf("spot's row without its problems: %+v", s.Venues[0].NotReady)
	}
	r.waitMetrics(t, "each venue's readiness", `feedkeeper_venue_ready{venue="binance"} 0`, `feedkeeper_venue_ready{venue="binance-usdm"} 1`)

	// spot comes back
	waitFor(t, 15*time.Second, "spot back and ready", func() bool {
		s = r.snapshot(t)
		return s.Ready && len(s.Venues) == 2 && s.Venues[0].Ready && s.Venues[0].Reconnects >= 2
	})
	r.waitMetrics(t, "spot ready again", `feedkeeper_venue_ready{venue="binance"} 1`, `feedkeeper_venue_ready{venue="binance-usdm"} 1`)
	if s.Venues[1].Reconnects != 0 || s.Totals.Reconnects != s.Venues[0].Reconnects {
		t.Errorf("reconnects: spot %d, USD-M %d, total %d", s.Venues[0].Reconnects, s.Venues[1].Reconnects, s.Totals.Reconnects)
	}
}

// TestVenuesCheckedApart: two venues whose books are not named venue by
// venue (no VenueMetrics.BookSymbols): the book loaded but not in sync is
// found from its own venue's count, not the stalest of all, and its problem
// names its venue, which alone is not ready; VenueReady answers per venue
// and refuses a name the process does not run.
func TestVenuesCheckedApart(t *testing.T) {
	up := []wsconn.Stats{{Status: wsconn.StatusConnected, Connects: 1}}
	gws := map[string]feed.GatewayStats{
		"binance": {Sessions: up, BooksInSync: 1},
		"okx":     {Sessions: up, BooksInSync: 0},
	}
	venue := func(name string) monitor.VenueMetrics {
		return monitor.VenueMetrics{Name: name, Gateway: func() feed.GatewayStats { return gws[name] }}
	}
	mon, err := monitor.New(monitor.Config{Addr: "127.0.0.1:0", Venue: "binance,okx", Logger: quiet(),
		BookSymbols: []string{"BTCUSDT", "BTC-USDT"}, Venues: []monitor.VenueMetrics{venue("binance"), venue("okx")},
		Gateway: func() feed.GatewayStats { return sumGateways(gws["binance"], gws["okx"]) }})
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	now := time.Now()
	// binance's book is the staler one: taken globally, it would be the one resyncing
	mon.ObserveAt(&feed.Event{Type: feed.TypeBookSnapshot, Derived: true, Venue: "binance", Symbol: "BTCUSDT",
		ReceiveTime: now.Add(-5 * time.Second).UnixNano()}, now)
	mon.ObserveAt(&feed.Event{Type: feed.TypeBookSnapshot, Derived: true, Venue: "okx", Symbol: "BTC-USDT",
		ReceiveTime: now.UnixNano()}, now)

	rd := mon.Ready()
	if rd.Ready || len(rd.Venues) != 2 || !rd.Venues[0].Ready || rd.Venues[1].Ready || rd.Venues[1].Problems != 1 {
		t.Fatalf("readiness %+v", rd)
	}
	var got []string
	for _, p := range rd.NotReady {
		got = append(got, p.Check+"|"+p.Venue+"|"+p.Symbol)
	}
	if g := strings.Join(got, " "); g != "books|| books|okx|BTC-USDT" {
		t.Fatalf("problems %q: want the count, then okx's book", g)
	}
	if one, ok := mon.VenueReady("okx"); !ok || one.Ready || len(one.NotReady) != 1 || one.NotReady[0].Symbol != "BTC-USDT" {
		t.Errorf("VenueReady(okx) %+v %v", one, ok)
	}
	if one, ok := mon.VenueReady("binance"); !ok || !one.Ready {
		t.Errorf("VenueReady(binance) %+v %v", one, ok)
	}
	if _, ok := mon.VenueReady("kraken"); ok {
		t.Error("VenueReady(kraken) answered for a venue the process does not run")
	}

	// one venue: its readiness is the process's
	single, err := monitor.New(monitor.Config{Addr: "127.0.0.1:0", Venue: "binance", Logger: quiet(),
		Gateway: func() feed.GatewayStats { return gws["binance"] }})
	if err != nil {
		t.Fatal(err)
	}
	defer single.Close()
	if one, ok := single.VenueReady("binance"); !ok || !one.Ready || one.Venues != nil {
		t.Errorf("one venue: VenueReady(binance) %+v %v", one, ok)
	}
	if _, ok := single.VenueReady("okx"); ok {
		t.Error("one venue: VenueReady(okx) answered")
	}

	if _, err := monitor.New(monitor.Config{Addr: "127.0.0.1:0", Logger: quiet(),
		Venues: []monitor.VenueMetrics{venue("okx"), venue("okx")}}); err == nil || !strings.Contains(err.Error(), `"okx" listed twice`) {
		t.Errorf("the same venue twice: %v", err)
	}
}
