package bybit_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue"
	"github.com/feedkeeper/feedkeeper/venue/bybit"
)

func TestParseNotices(t *testing.T) {
	// the example of docs/v5/websocket/system/system-status.mdx
	frame := []byte(`{"topic":"system.status","ts":1751858399649,"data":[{"id":"4d95b2a0-587f-11f0-bcc9-56f28c94d6ea","title":"t06",
		"state":"completed","begin":"1751596902000","end":"1751597011000","href":"","serviceTypes":[2,3,4,5],"product":[1,2],
		"uidSuffix":[],"maintainType":1,"env":1}]}`)
	ns, err := bybit.ParseNotices(frame)
	if err != nil {
		t.Fatal(err)
	}
	n := ns[0]
	if len(ns) != 1 || n.ID != "4d95b2a0-587f-11f0-bcc9-56f28c94d6ea" || n.State != "completed" || n.Begin.UnixMilli() != 1751596902000 ||
		n.End.UnixMilli() != 1751597011000 || !n.MarketData() || len(n.Categories()) != 2 || n.MaintainType != 1 || n.Env != 1 {
		t.Fatalf("%+v", ns)
	}
	for _, c := range []struct {
		frame string
		data  bool
		cats  int
	}{
		{`{"topic":"system.status","data":[{"id":"a","state":"scheduled","serviceTypes":[1,2],"product":[2]}]}`, false, 1},
		{`{"topic":"system.status","data":[{"id":"a","state":"scheduled","serviceTypes":[5],"product":[3],"env":"1"}]}`, true, 0},
		{`{"topic":"system.status","data":[{"id":"a","state":"scheduled","serviceTypes":[5],"product":[1],"env":"2"}]}`, false, 1},
	} {
		ns, err := bybit.ParseNotices([]byte(c.frame))
		if err != nil || ns[0].MarketData() != c.data || len(ns[0].Categories()) != c.cats {
			t.Errorf("%s: %+v %v", c.frame, ns, err)
		}
	}
	for _, bad := range []string{`{"topic":"system.status","data":[{"state":"ongoing"}]}`, `{"topic":"orderbook.1.X","data":[]}`,
		`{"topic":"system.status","data":[{"id":"a","state":"ongoing","begin":"soon"}]}`, `[`} {
		if _, err := bybit.ParseNotices([]byte(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// maintenanceRun runs a gateway on spot trades and book through the
// simulator, fires bybit-maintenance (begin 2.5 s after the notice), and
// returns what it saw until the maintenance ended.
type maintenanceRun struct {
	mu                     sync.Mutex
	statuses               []feed.Event
	disconnects, windows   int
	tradesAfter, booksSeen int
	fired                  time.Time
}

func (r *maintenanceRun) handle(ev *feed.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch ev.Type {
	case feed.TypeStatus:
		if ev.Status == feed.StatusDisconnected && !strings.Contains(ev.Reason, "shutdown announced") {
			r.disconnects++ // not the end of a replaced connection
		}
		r.statuses = append(r.statuses, feed.Event{Status: ev.Status, Reason: ev.Reason})
	case feed.TypeGap:
		if ev.Missing == feed.TypeTrade {
			r.windows++
		}
	case feed.TypeTrade:
		if !r.fired.IsZero() && time.Now().After(r.fired.Add(3*time.Second)) {
			r.tradesAfter++
		}
	case feed.TypeBookSnapshot:
		r.booksSeen++
	}
}

func runMaintenance(t *testing.T, statusStream bool) maintenanceSeen {
	s := simtest.Start(t, sim.Config{Symbols: []string{"BTCUSDT"}, Venues: []string{sim.VenueBybit}})
	b := s.Bybit()
	tlsCfg, err := httpx.TLSConfig(simtest.CAFile(t, s))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	f, _ := venue.Lookup(bybit.Venue)
	opts := f.NewOptions().(*bybit.Options)
	opts.StatusStream = statusStream
	streams := []string{"spot/publicTrade.BTCUSDT", "spot/orderbook.50.BTCUSDT", "linear/publicTrade.BTCUSDT", "linear/tickers.BTCUSDT"}
	setup, err := f.Open(context.Background(), venue.Env{WSURL: b.WSURL(), RESTURL: b.RESTURL(), TLS: tlsCfg, Streams: streams,
		Logger: quiet, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close()
	r := &maintenanceRun{}
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: setup.Venue, Streams: streams, TLS: tlsCfg, Dials: setup.Dials,
		Logger: quiet, Handler: r.handle})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	want := 2
	if statusStream {
		want = 3
	}
	simtest.WaitFor(t, 10*time.Second, "the connections subscribed", func() bool {
		n := 0
		for _, c := range b.Conns() {
			n += min(len(c.Subscriptions), 1)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		return n == want && r.booksSeen > 0
	})
	r.mu.Lock()
	r.fired = time.Now()
	r.mu.Unlock()
	if err := s.Fire(sim.Fault{Kind: sim.FaultBybitMaintenance, Duration: 2500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	// begin at 2.5 s, end 5 s later; trades keep coming after begin
	simtest.WaitFor(t, 15*time.Second, "trades after the maintenance began", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.tradesAfter > 20 && time.Since(r.fired) > 4*time.Second
	})
	if statusStream {
		fired := r.fired
		for _, c := range b.Conns() {
			if !strings.HasSuffix(c.Path, bybit.StatusPath) && c.Opened.Before(fired) {
				t.Errorf("connection %d to %s opened %v before the notice is still open", c.ID, c.Path, fired.Sub(c.Opened))
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return maintenanceSeen{statuses: r.statuses, disconnects: r.disconnects, windows: r.windows}
}

type maintenanceSeen struct {
	statuses             []feed.Event
	disconnects, windows int
}

// TestMaintenanceReplacesConnections: Bybit's system.status notice of a
// maintenance of market data, read on the status connection, replaces the
// spot and linear connections make-before-break before it begins: when the
// simulator closes the connections opened before the notice, none of the
// gateway's is among them, nothing is disconnected and no trade gap window
// is announced; a status event names the maintenance. Without the status
// stream the same maintenance disconnects both and opens gap windows.
func TestMaintenanceReplacesConnections(t *testing.T) {
	r := runMaintenance(t, true)
	announced := false
	for _, ev := range r.statuses {
		if ev.Status == feed.StatusServerShutdown && strings.Contains(ev.Reason, "Market data service maintenance") &&
			strings.Contains(ev.Reason, "replacing 2 connections of spot, linear") {
			announced = true
		}
	}
	if !announced || r.disconnects != 0 || r.windows != 0 {
		for _, ev := range r.statuses {
			t.Logf("%v: %s", ev.Status, ev.Reason)
		}
		t.Fatalf("announced %v, %d disconnects, %d gap windows", announced, r.disconnects, r.windows)
	}

	r = runMaintenance(t, false)
	if r.disconnects < 2 || r.windows < 1 {
		t.Fatalf("without the status stream: %d disconnects, %d gap windows", r.disconnects, r.windows)
	}
}
