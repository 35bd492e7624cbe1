package bybit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/book"
	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/internal/wstest"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue"
	"github.com/feedkeeper/feedkeeper/venue/bybit"
	"github.com/feedkeeper/feedkeeper/venue/venuetest"
)

// market keeps what the gateway delivered for one market (spot/BTCUSDT):
// its trades, the gap windows, and the book rebuilt from the stream's
// snapshots and deltas, with its top levels at checkpoints.
type market struct {
	trades      []feed.Event
	windows     [][2]int64 // ns
	bookGaps    int
	book        *book.Book
	synced      bool
	bases       int
	deltas      int
	checkpoints []checkpoint
	funding     int
	openInt     int
}

type checkpoint struct {
	u          int64
	bids, asks []book.Level
}

type consumer struct {
	mu       sync.Mutex
	markets  map[string]*market
	problems []string
}

const (
	checkEvery = 3
	checkDepth = 20
	// windowSlack: a gap window ends when the new connection is up, before
	// the venue has acted on the subscription sent on it, so trades of
	// the first milliseconds after its end are lost too. They are counted
	// apart (a window that ended at the first trade received would cover
	// them).
	windowSlack = 250 * time.Millisecond
)

func (c *consumer) problem(format string, args ...any) {
	if len(c.problems) < 20 {
		c.problems = append(c.problems, fmt.Sprintf(format, args...))
	}
}

func (c *consumer) handle(ev *feed.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ev.Symbol == "" {
		return
	}
	m := c.markets[ev.Symbol]
	if m == nil {
		m = &market{book: book.New(0)}
		c.markets[ev.Symbol] = m
	}
	if ev.Venue != bybit.Venue || (ev.Type != feed.TypeGap && ev.Instrument == "") {
		c.problem("%s %v: venue %q instrument %q", ev.Symbol, ev.Type, ev.Venue, ev.Instrument)
	}
	switch {
	case ev.Type == feed.TypeTrade:
		m.trades = append(m.trades, feed.Event{Price: ev.Price, Qty: ev.Qty, Side: ev.Side, ExchangeTime: ev.ExchangeTime})
	case ev.Type == feed.TypeGap && ev.Missing == feed.TypeBookDelta:
		m.bookGaps++ // a lost delta: the book is asked for again
	case ev.Type == feed.TypeGap:
		if ev.Missing != feed.TypeTrade || ev.GapFrom == 0 || ev.GapTo < ev.GapFrom || ev.ID != 0 {
			c.problem("%s: gap %+v", ev.Symbol, ev)
		}
		m.windows = append(m.windows, [2]int64{ev.GapFrom, ev.GapTo})
	case ev.Type == feed.TypeBookSnapshot && ev.Base:
		if err := m.book.Load(ev.ID, venuetest.BookLevels(ev.Bids), venuetest.BookLevels(ev.Asks)); err != nil {
			c.problem("%s: snapshot %d: %v", ev.Symbol, ev.ID, err)
		}
		m.synced = true
		m.bases++
	case ev.Type == feed.TypeBookDelta:
		if !m.synced {
			c.problem("%s: delta %d before any snapshot", ev.Symbol, ev.ID)
			return
		}
		if ev.ID != m.book.LastUpdateID()+1 {
			c.problem("%s: delta %d delivered after %d", ev.Symbol, ev.ID, m.book.LastUpdateID())
		}
		for _, l := range ev.Bids {
			m.book.Set(book.Bid, l.Price, l.Qty)
		}
		for _, l := range ev.Asks {
			m.book.Set(book.Ask, l.Price, l.Qty)
		}
		m.book.SetLastUpdateID(ev.ID)
		if m.deltas++; m.deltas%checkEvery == 0 {
			m.checkpoints = append(m.checkpoints, checkpoint{u: ev.ID,
				bids: m.book.Top(book.Bid, checkDepth, nil), asks: m.book.Top(book.Ask, checkDepth, nil)})
		}
	case ev.Type == feed.TypeFunding:
		m.funding++
		if ev.Deriv == nil || ev.Deriv.MarkPrice.M <= 0 || ev.Deriv.IndexPrice.M <= 0 {
			c.problem("%s: funding %+v", ev.Symbol, ev.Deriv)
		}
	case ev.Type == feed.TypeOpenInterest:
		m.openInt++
	}
}

// TestGatewayMatchesTheSimulatorsTruth runs the venue, as the program opens
// it (venue.Lookup, Open), through feed.OpenGateway against the simulator's
// Bybit front-end: the spot pair and the perpetual of one name, each with
// its book and trades, and the perpetual's tickers; the simulator loses a
// delta at the source (bybit-u-gap), pushes an unasked snapshot
// (bybit-new-snapshot) and drops connections. The books rebuilt from what
// is delivered equal the simulator's at every checkpoint; every trade
// delivered is one the simulator made, and every one it made in the time
// covered is delivered or inside a gap window.
func TestGatewayMatchesTheSimulatorsTruth(t *testing.T) {
	s := simtest.Start(t, sim.Config{Symbols: []string{"BTCUSDT"}, Venues: []string{sim.VenueBybit},
		Faults: []sim.Fault{{Kind: sim.FaultBybitUGap, Every: 1500 * time.Millisecond},
			{Kind: sim.FaultBybitNewSnapshot, Every: 2 * time.Second},
			{Kind: sim.FaultDrop, Every: 3 * time.Second}}})
	b := s.Bybit()
	tlsCfg, err := httpx.TLSConfig(simtest.CAFile(t, s))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	f, err := venue.Lookup(bybit.Venue)
	if err != nil {
		t.Fatal(err)
	}
	streams := []string{"spot/orderbook.50.BTCUSDT", "spot/publicTrade.BTCUSDT",
		"linear/orderbook.50.BTCUSDT", "linear/publicTrade.BTCUSDT", "linear/tickers.BTCUSDT"}
	setup, err := f.Open(context.Background(), venue.Env{WSURL: b.WSURL(), RESTURL: b.RESTURL(), TLS: tlsCfg, Streams: streams,
		Recovery: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close()
	c := &consumer{markets: map[string]*market{}}
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: setup.Venue, Streams: streams, TLS: tlsCfg, Dials: setup.Dials,
		Logger: quiet, Handler: c.handle, Recovery: setup.Recovery,
		RecoveryConfig: feed.RecoveryConfig{RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"spot/BTCUSDT", "linear/BTCUSDT"}
	for deadline := time.Now().Add(25 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c.mu.Lock()
		done := true
		for _, n := range names {
			m := c.markets[n]
			done = done && m != nil && len(m.checkpoints) >= 30 && len(m.windows) >= 2 && len(m.trades) > 0
		}
		done = done && c.markets["linear/BTCUSDT"].funding > 0
		c.mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			g.Close()
			c.mu.Lock()
			for n, m := range c.markets {
				t.Logf("%s: %d trades, %d windows, %d snapshots, %d deltas, %d checkpoints, %d funding", n, len(m.trades), len(m.windows),
					m.bases, m.deltas, len(m.checkpoints), m.funding)
			}
			c.mu.Unlock()
			t.Fatalf("timed out: gateway %+v; problems %q; faults %v", g.Stats(), c.problems, s.FaultCounts())
		}
	}
	st := g.Stats()
	g.Close()

	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.problems {
		t.Error(p)
	}
	for _, name := range names {
		m := c.markets[name]
		cat, sym, _ := strings.Cut(name, "/")
		info := symbolOf(t, setup, cat, sym)
		for _, cp := range m.checkpoints {
			bs, err := b.BookAt(sym, cat, cp.u)
			if err != nil {
				t.Fatalf("%s: book at %d: %v", name, cp.u, err)
			}
			bids, asks := truth(t, info, bs.Bids), truth(t, info, bs.Asks)
			if fmt.Sprint(bids) != fmt.Sprint(cp.bids) || fmt.Sprint(asks) != fmt.Sprint(cp.asks) {
				t.Fatalf("%s: book at u %d differs from the simulator's:\n got bids %v\nwant bids %v\n got asks %v\nwant asks %v",
					name, cp.u, cp.bids, bids, cp.asks, asks)
			}
		}
		// trades: by time, price, size and side (Bybit's IDs are opaque)
		first, last := m.trades[0].ExchangeTime, m.trades[len(m.trades)-1].ExchangeTime
		made, err := b.Trades(sym, cat, first/1e6, last/1e6)
		if err != nil {
			t.Fatal(err)
		}
		key := func(t int64, p, q int64, side feed.Side) string { return fmt.Sprint(t, p, q, side) }
		delivered := map[string]int{}
		for _, tr := range m.trades {
			delivered[key(tr.ExchangeTime, tr.Price, tr.Qty, tr.Side)]++
		}
		missing, late, early := 0, 0, 0
		firstWindow := m.windows[0][0]
		for _, tr := range made {
			p, _ := fixed.Parse(tr.Price, info.PriceScale)
			q, _ := fixed.Parse(tr.Size, info.QtyScale)
			side := feed.SideBuy
			if tr.Side == "Sell" {
				side = feed.SideSell
			}
			at := tr.Time * 1e6
			k := key(at, p, q, side)
			if delivered[k] > 0 {
				delivered[k]--
				continue
			}
			missing++
			inWindow, inSlack := false, false
			for _, w := range m.windows {
				inWindow = inWindow || (at >= w[0] && at <= w[1])
				inSlack = inSlack || (at > w[1] && at <= w[1]+int64(windowSlack))
			}
			switch {
			case inWindow:
			case inSlack:
				late++
			case at < firstWindow:
				// No window can open before the gateway has marked a trade
				// of the market, and it marks only trades of frames holding
				// one (feed's batch path leaves its trade windows alone):
				// the first connection lost may leave no window.
				early++
			default:
				t.Errorf("%s: trade %+v not delivered, and in no gap window %v", name, tr, m.windows)
			}
		}
		for k, n := range delivered {
			if n > 0 {
				t.Errorf("%s: %d trades %s delivered that the simulator did not make", name, n, k)
			}
		}
		t.Logf("%s: %d trades delivered, %d made in their time, %d missing inside %d gap windows (%d of them in the %v after a window's end), %d before the first window; %d book gaps, %d snapshots, %d deltas, %d checkpoints, %d funding, %d open interest",
			name, len(m.trades), len(made), missing, len(m.windows), late, windowSlack, early, m.bookGaps, m.bases, m.deltas, len(m.checkpoints), m.funding, m.openInt)
	}
	t.Logf("gateway: %d book syncs, %d resyncs, %d stream resubscribes, %d gaps; simulator faults %v",
		st.BookSyncs, st.BookResyncs, st.StreamResubscribes, st.Gaps, s.FaultCounts())
	if st.StreamResubscribes == 0 {
		t.Error("no book was asked for again after a lost delta")
	}
}

func symbolOf(t *testing.T, setup *venue.Setup, cat, sym string) bybit.Symbol {
	t.Helper()
	var meta bybit.Meta
	if err := json.Unmarshal(setup.Meta, &meta); err != nil {
		t.Fatal(err)
	}
	for _, s := range meta.Symbols {
		if string(s.Category) == cat && s.Name == sym {
			return s
		}
	}
	t.Fatalf("%s/%s not in the setup's metadata", cat, sym)
	return bybit.Symbol{}
}

func truth(t *testing.T, sym bybit.Symbol, ls []sim.Level) []book.Level {
	t.Helper()
	return venuetest.TruthLevels(t, sym.PriceScale, sym.QtyScale, ls, checkDepth)
}

// TestGatewayAfterServiceRestart: when Bybit's service restarts, the book
// stream sends a snapshot with u=1 and numbers its deltas from there
// ("Orderbook": overwrite the local book). The book is rebuilt from it at
// once, without asking for the stream again, and equals the simulator's in
// the new numbering.
func TestGatewayAfterServiceRestart(t *testing.T) {
	s := simtest.Start(t, sim.Config{Symbols: []string{"BTCUSDT"}, Venues: []string{sim.VenueBybit}})
	b := s.Bybit()
	tlsCfg, err := httpx.TLSConfig(simtest.CAFile(t, s))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	f, _ := venue.Lookup(bybit.Venue)
	streams := []string{"spot/orderbook.200.BTCUSDT"}
	setup, err := f.Open(context.Background(), venue.Env{WSURL: b.WSURL(), RESTURL: b.RESTURL(), TLS: tlsCfg, Streams: streams,
		Recovery: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close()
	c := &consumer{markets: map[string]*market{}}
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: setup.Venue, Streams: streams, TLS: tlsCfg, Dials: setup.Dials,
		Logger: quiet, Handler: c.handle, Recovery: setup.Recovery})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	info := symbolOf(t, setup, "spot", "BTCUSDT")
	check := func(from int) int {
		t.Helper()
		c.mu.Lock()
		cps := append([]checkpoint(nil), c.markets["spot/BTCUSDT"].checkpoints[from:]...)
		c.mu.Unlock()
		for _, cp := range cps {
			bs, err := b.BookAt("BTCUSDT", "spot", cp.u)
			if err != nil {
				t.Fatalf("book at %d: %v", cp.u, err)
			}
			if bids, asks := truth(t, info, bs.Bids), truth(t, info, bs.Asks); fmt.Sprint(bids) != fmt.Sprint(cp.bids) || fmt.Sprint(asks) != fmt.Sprint(cp.asks) {
				t.Fatalf("book at u %d differs from the simulator's:\n got bids %v\nwant bids %v", cp.u, cp.bids, bids)
			}
		}
		return from + len(cps)
	}
	state := func() (bases, checkpoints int, lastU int64) {
		c.mu.Lock()
		defer c.mu.Unlock()
		m := c.markets["spot/BTCUSDT"]
		if m == nil {
			return 0, 0, 0
		}
		return m.bases, len(m.checkpoints), m.book.LastUpdateID()
	}
	simtest.WaitFor(t, 15*time.Second, "10 checkpoints", func() bool { _, n, _ := state(); return n >= 10 })
	checked := check(0)
	bases, _, before := state()
	if err := s.AddFault(sim.Fault{Kind: sim.FaultBybitRestart, Times: 1}); err != nil {
		t.Fatal(err)
	}
	simtest.WaitFor(t, 15*time.Second, "the restart's snapshot and 10 checkpoints after it", func() bool {
		n, cps, u := state()
		return n > bases && u < before && cps >= checked+10
	})
	// the checkpoints after the restart's snapshot are in the new numbering
	c.mu.Lock()
	m := c.markets["spot/BTCUSDT"]
	from := checked
	for from < len(m.checkpoints) && m.checkpoints[from].u >= before {
		from++
	}
	c.mu.Unlock()
	check(from)
	st := g.Stats()
	if st.StreamResubscribes != 0 || st.BookResyncs != 0 {
		t.Fatalf("the restart's snapshot was not taken as it is: %d resubscribes, %d resyncs", st.StreamResubscribes, st.BookResyncs)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.problems {
		t.Error(p)
	}
	t.Logf("u %d before the restart, now %d; faults %v", before, m.book.LastUpdateID(), s.FaultCounts())
}

// TestKeepaliveHoldsTheConnection: a server that closes connections idle
// for a second (Bybit: 10 minutes without a ping) keeps the gateway's,
// which send {"op":"ping"} and get Bybit's pong, kept from the decoder.
func TestKeepaliveHoldsTheConnection(t *testing.T) {
	s := simtest.Start(t, sim.Config{Symbols: []string{"BTCUSDT"}, Venues: []string{sim.VenueBybit},
		Bybit: sim.BybitConfig{IdleTimeout: time.Second}})
	b := s.Bybit()
	tlsCfg, err := httpx.TLSConfig(simtest.CAFile(t, s))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	rest, err := httpx.New(bybit.RESTConfig(httpx.Config{BaseURL: b.RESTURL(), TLS: tlsCfg, Logger: quiet}))
	if err != nil {
		t.Fatal(err)
	}
	defer rest.Close()
	streams := []string{"linear/publicTrade.BTCUSDT"}
	parsed, _ := bybit.ParseStream(streams[0])
	syms, err := bybit.LoadSymbols(context.Background(), rest, []bybit.Stream{parsed})
	if err != nil {
		t.Fatal(err)
	}
	v, err := bybit.New(bybit.Config{WSURL: b.WSURL(), Symbols: syms, PingInterval: 250 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var downs, trades, other int
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: v, Streams: streams, TLS: tlsCfg, Logger: quiet, Handler: func(ev *feed.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case ev.Type == feed.TypeStatus && ev.Status == feed.StatusDisconnected:
			downs++
		case ev.Type == feed.TypeTrade:
			trades++
		case ev.Type != feed.TypeStatus:
			other++
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	st := g.Stats()
	mu.Lock()
	nDowns, nTrades, nOther := downs, trades, other
	mu.Unlock()
	conns := b.Conns()
	g.Close()
	if nDowns != 0 || len(st.Sessions) != 1 {
		t.Fatalf("%d disconnections, %d sessions", nDowns, len(st.Sessions))
	}
	ss := st.Sessions[0]
	if ss.AppPings < 8 || ss.AppPongs < ss.AppPings-1 {
		t.Fatalf("%d pings, %d pongs", ss.AppPings, ss.AppPongs)
	}
	if nTrades == 0 || nOther != 0 {
		t.Fatalf("%d trades, %d other events", nTrades, nOther)
	}
	if len(conns) != 1 || time.Since(conns[0].Opened) < 2500*time.Millisecond {
		t.Fatalf("the simulator's connections %+v: want the first one, still open", conns)
	}
	t.Logf("%d pings, %d pongs, %d trades, one connection", ss.AppPings, ss.AppPongs, nTrades)
}

// TestRefusedTopic: a subscribe request Bybit refuses ("success":false,
// its req_id, a ret_msg) is a refusal of that request's streams only: the
// gateway announces them refused, with Bybit's words, and asks again; the
// other streams flow.
func TestRefusedTopic(t *testing.T) {
	srv := wstest.Start(t, func(c *wstest.Conn) {
		for {
			_, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			var req struct {
				ReqID string   `json:"req_id"`
				Op    string   `json:"op"`
				Args  []string `json:"args"`
			}
			if json.Unmarshal(msg, &req) != nil || req.Op != "subscribe" {
				continue
			}
			if slices.Contains(req.Args, "orderbook.1.BTCUSDT") {
				c.Write([]byte(`{"success":false,"ret_msg":"error:handler not found,topic:orderbook.1.BTCUSDT","conn_id":"x","req_id":"` + req.ReqID + `","op":"subscribe"}`))
				continue
			}
			c.Write([]byte(`{"success":true,"ret_msg":"subscribe","conn_id":"x","req_id":"` + req.ReqID + `","op":"subscribe"}`))
			c.Write([]byte(`{"topic":"publicTrade.BTCUSDT","ts":1672304486868,"type":"snapshot","data":[{"i":"1","T":1672304486865,"p":"16578.50","v":"0.001","S":"Buy","s":"BTCUSDT","BT":false}]}`))
		}
	})
	syms, err := bybit.NewSymbols(bybit.Symbol{Category: bybit.Spot, Name: "BTCUSDT", PriceScale: 2, QtyScale: 6, Base: "BTC", Quote: "USDT"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := bybit.New(bybit.Config{WSURL: strings.TrimSuffix(srv.URL(), "/"), Symbols: syms, TopicsPerConn: 1})
	if err != nil {
		t.Fatal(err)
	}
	// a connection each (TopicsPerConn 1), on one server
	streams := []string{"spot/publicTrade.BTCUSDT", "spot/orderbook.1.BTCUSDT"}
	plans, err := v.Plan(streams)
	if err != nil || len(plans) != 2 {
		t.Fatalf("plans %+v, %v", plans, err)
	}
	var emu sync.Mutex
	var refused []string
	trades := 0
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: v, Streams: streams, TLS: srv.TLS(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Handler: func(ev *feed.Event) {
			emu.Lock()
			defer emu.Unlock()
			switch {
			case ev.Type == feed.TypeStatus && ev.Status == feed.StatusRefused:
				refused = append(refused, ev.Reason)
			case ev.Type == feed.TypeTrade:
				trades++
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	simtest.WaitFor(t, 10*time.Second, "a refusal and a trade", func() bool {
		emu.Lock()
		defer emu.Unlock()
		return len(refused) > 0 && trades > 0
	})
	emu.Lock()
	defer emu.Unlock()
	if !strings.Contains(refused[0], "spot/orderbook.1.BTCUSDT") || strings.Contains(refused[0], "publicTrade") ||
		!strings.Contains(refused[0], "handler not found") {
		t.Fatalf("refusal %q", refused[0])
	}
	t.Logf("refused: %q", refused[0])
}
