package peers

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	binance "github.com/adshao/go-binance/v2"
	"github.com/adshao/go-binance/v2/common"
	"go.uber.org/goleak"

	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
)

// These tests drive an unmodified github.com/adshao/go-binance/v2 against
// the simulator. The library is only configured through what it exports
// for the purpose: its endpoint variables (BaseWsMainURL,
// BaseCombinedMainURL, BaseAPIMainURL) and the process's trusted roots.

const (
	btc = "BTCUSDT"
	eth = "ETHUSDT"
)

// srv is the simulator every test talks to.
var srv *sim.Server

// goBinanceKeepAlive is the goroutine go-binance's wsServe starts for every
// stream when binance.WebsocketKeepalive is true (the default). It does not
// watch the stream's stopC or doneC: it only returns on a tick of its
// binance.WebsocketTimeout ticker (10 minutes by default) that finds the
// connection silent for longer than that, so it outlives every stream that
// is stopped. It is the only goroutine the leak check below excuses.
const goBinanceKeepAlive = "github.com/adshao/go-binance/v2.keepAlive.func2"

func TestMain(m *testing.M) {
	simtest.ServeChildIfAsked()
	os.Exit(runTests(m))
}

// certDir holds the CA every simulator of this process uses, the ones in
// child processes of the benchmarks included.
var certDir string

func runTests(m *testing.M) int {
	// go-binance dials with a zero tls.Config (gorilla/websocket's Dialer for
	// streams, http.DefaultClient for REST), so it trusts the system roots.
	// On Unix, crypto/x509 loads those once per process, on first use, from
	// the file named by SSL_CERT_FILE (in place of the distribution's bundle;
	// SSL_CERT_DIR still adds its directories). The variable must therefore
	// be set before anything in this process verifies a certificate: set
	// later, it is never read. (Platforms whose verifier is the operating
	// system's, macOS and Windows, ignore it; the check below then fails.)
	caDir, err := os.MkdirTemp("", "feedkeeper-peers-ca-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(caDir)
	certDir = caDir
	s, err := sim.Start(sim.Config{Symbols: []string{btc, eth}, Rate: 2000, Levels: 100, CertDir: caDir})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start simulator:", err)
		return 1
	}
	closed := false
	defer func() {
		if !closed {
			_ = s.Close()
		}
	}()
	caFile := filepath.Join(caDir, "ca.pem") // written by the simulator
	if err := os.Setenv("SSL_CERT_FILE", caFile); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := checkSystemTrust(s.Addr()); err != nil {
		fmt.Fprintf(os.Stderr, "the simulator's CA is not trusted through SSL_CERT_FILE: %v\n", err)
		return 1
	}

	binance.BaseWsMainURL = s.WSURL() + "/ws"
	binance.BaseCombinedMainURL = s.WSURL() + "/stream?streams="
	binance.BaseAPIMainURL = s.RESTURL()
	srv = s

	code := m.Run()

	// Every stream has been stopped and waited for by its test. What is
	// left: idle keep-alive connections of http.DefaultTransport, and the
	// simulator.
	http.DefaultClient.CloseIdleConnections()
	closed = true
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "close simulator:", err)
		return 1
	}
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreAnyFunction(goBinanceKeepAlive)); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left behind:", err)
			return 1
		}
	}
	return code
}

// checkSystemTrust makes a TLS handshake with the default configuration,
// which verifies the server against the system roots.
func checkSystemTrust(addr string) error {
	d := tls.Dialer{Config: &tls.Config{}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// ---------------------------------------------------------------------------
// Streams

// feed collects the events of one go-binance stream, and the errors
// go-binance reports on it, until enough says it has what it needs.
type feed[E any] struct {
	enough func([]E) bool

	mu     sync.Mutex
	events []E
	errs   []error
	full   bool
	first  chan struct{} // closed on the first event
	done   chan struct{} // closed once enough returned true

	doneC, stopC chan struct{}
	stopOnce     sync.Once
}

// serveFunc is one of go-binance's Ws…Serve calls with its arguments bound.
type serveFunc[E any] func(handler func(E), errHandler binance.ErrHandler) (doneC, stopC chan struct{}, err error)

// startFeed connects a stream. It is stopped, and waited for, when the test
// ends at the latest.
func startFeed[E any](t *testing.T, serve serveFunc[E], enough func([]E) bool) *feed[E] {
	t.Helper()
	f := &feed[E]{enough: enough, first: make(chan struct{}), done: make(chan struct{})}
	doneC, stopC, err := serve(f.handle, f.fail)
	if err != nil {
		t.Fatalf("go-binance could not connect: %v", err)
	}
	f.doneC, f.stopC = doneC, stopC
	t.Cleanup(func() { f.stop(t) })
	return f
}

func (f *feed[E]) handle(e E) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.full {
		return
	}
	f.events = append(f.events, e)
	if len(f.events) == 1 {
		close(f.first)
	}
	if f.enough(f.events) {
		f.full = true
		close(f.done)
	}
}

func (f *feed[E]) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, err)
}

// stop closes the stream through stopC and waits for go-binance's reader
// goroutine to end (doneC).
func (f *feed[E]) stop(t *testing.T) {
	f.stopOnce.Do(func() {
		close(f.stopC)
		select {
		case <-f.doneC:
		case <-time.After(5 * time.Second):
			t.Errorf("go-binance's stream did not end within 5 s of closing stopC")
		}
	})
}

func (f *feed[E]) errors() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.errs)
}

func (f *feed[E]) waitFor(t *testing.T, what string, ch chan struct{}, timeout time.Duration) {
	t.Helper()
	select {
	case <-ch:
	case <-f.doneC:
		t.Fatalf("stream ended while waiting for %s; go-binance reported %v", what, f.errors())
	case <-time.After(timeout):
		f.mu.Lock()
		n := len(f.events)
		f.mu.Unlock()
		t.Fatalf("no %s within %v (%d events so far); go-binance reported %v", what, timeout, n, f.errors())
	}
}

// wait waits until enough is satisfied, stops the stream, fails the test if
// go-binance reported any error (a message it could not parse, a broken
// connection), and returns the events.
func (f *feed[E]) wait(t *testing.T, timeout time.Duration) []E {
	t.Helper()
	f.waitFor(t, "enough events", f.done, timeout)
	f.stop(t)
	for _, err := range f.errors() {
		t.Errorf("go-binance reported an error on the stream: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events)
}

func atLeast[E any](n int) func([]E) bool {
	return func(ev []E) bool { return len(ev) >= n }
}

func TestGoBinanceAggTradeStream(t *testing.T) {
	t.Parallel()
	f := startFeed(t, func(h func(*binance.WsAggTradeEvent), e binance.ErrHandler) (chan struct{}, chan struct{}, error) {
		return binance.WsAggTradeServe(btc, h, e)
	}, atLeast[*binance.WsAggTradeEvent](300))
	events := f.wait(t, 15*time.Second)
	checkAggTradeEvents(t, btc, events)
}

// checkAggTradeEvents checks a run of consecutive aggTrade events of one
// symbol as go-binance decoded them: well-formed, contiguous, and equal to
// the simulator's ground truth field by field.
func checkAggTradeEvents(t *testing.T, symbol string, events []*binance.WsAggTradeEvent) {
	t.Helper()
	now := time.Now()
	for i, ev := range events {
		if ev.Event != "aggTrade" || ev.Symbol != symbol {
			t.Fatalf("event %d: e=%q s=%q, want aggTrade %s", i, ev.Event, ev.Symbol, symbol)
		}
		checkMillis(t, fmt.Sprintf("aggTrade %d E", ev.AggTradeID), ev.Time, now)
		checkMillis(t, fmt.Sprintf("aggTrade %d T", ev.AggTradeID), ev.TradeTime, now)
		if ev.Time < ev.TradeTime {
			t.Errorf("aggTrade %d: event time E=%d before trade time T=%d", ev.AggTradeID, ev.Time, ev.TradeTime)
		}
		if ev.FirstBreakdownTradeID < 1 || ev.LastBreakdownTradeID < ev.FirstBreakdownTradeID {
			t.Errorf("aggTrade %d: trade IDs f=%d l=%d", ev.AggTradeID, ev.FirstBreakdownTradeID, ev.LastBreakdownTradeID)
		}
		positive(t, fmt.Sprintf("aggTrade %d p", ev.AggTradeID), ev.Price)
		positive(t, fmt.Sprintf("aggTrade %d q", ev.AggTradeID), ev.Quantity)
		if i == 0 {
			continue
		}
		prev := events[i-1]
		if ev.AggTradeID != prev.AggTradeID+1 {
			t.Fatalf("aggTrade IDs not contiguous: %d then %d", prev.AggTradeID, ev.AggTradeID)
		}
		if ev.FirstBreakdownTradeID != prev.LastBreakdownTradeID+1 {
			t.Errorf("aggTrade %d: first trade ID %d, previous aggregate ended at %d", ev.AggTradeID, ev.FirstBreakdownTradeID, prev.LastBreakdownTradeID)
		}
		if ev.TradeTime < prev.TradeTime {
			t.Errorf("aggTrade %d: trade time %d before the previous one's %d", ev.AggTradeID, ev.TradeTime, prev.TradeTime)
		}
	}
	first, last := events[0].AggTradeID, events[len(events)-1].AggTradeID
	truth, err := srv.AggTrades(symbol, first, last)
	if err != nil {
		t.Fatalf("ground truth %s aggTrades %d..%d: %v", symbol, first, last, err)
	}
	if len(truth) != len(events) {
		t.Fatalf("ground truth has %d aggTrades for %d..%d, the stream %d", len(truth), first, last, len(events))
	}
	for i, ev := range events {
		want := truth[i]
		got := sim.AggTrade{
			ID: ev.AggTradeID, Price: ev.Price, Qty: ev.Quantity,
			FirstTradeID: ev.FirstBreakdownTradeID, LastTradeID: ev.LastBreakdownTradeID,
			Time: ev.TradeTime, BuyerMaker: ev.IsBuyerMaker,
		}
		if got != want {
			t.Fatalf("aggTrade %d:\n go-binance %+v\n truth      %+v", ev.AggTradeID, got, want)
		}
	}
	if _, lastAgg, _, err := srv.LastIDs(symbol); err != nil || lastAgg < last {
		t.Errorf("LastIDs(%s) = %d, %v; the stream already had %d", symbol, lastAgg, err, last)
	}
}

func TestGoBinanceDepthStream(t *testing.T) {
	t.Parallel()
	f := startFeed(t, func(h func(*binance.WsDepthEvent), e binance.ErrHandler) (chan struct{}, chan struct{}, error) {
		return binance.WsDepthServe(btc, h, e)
	}, atLeast[*binance.WsDepthEvent](3))
	events := f.wait(t, 10*time.Second)
	for _, ev := range events {
		if ev.Event != "depthUpdate" {
			t.Errorf("depth event u=%d: e=%q, want depthUpdate", ev.LastUpdateID, ev.Event)
		}
	}
	checkDepthChain(t, btc, events)
	// @depth is the 1000 ms stream: events are about a second apart.
	for i := 1; i < len(events); i++ {
		if d := events[i].Time - events[i-1].Time; d < 500 || d > 2000 {
			t.Errorf("@depth events %d ms apart, want about 1000", d)
		}
	}
}

// TestGoBinanceDepthBookSync keeps a local book the way Binance's
// documentation says (diff stream buffered, REST snapshot, bridge,
// apply), with go-binance's @depth@100ms stream and depth service, and
// compares it with the simulator's ground truth at the end.
func TestGoBinanceDepthBookSync(t *testing.T) {
	t.Parallel()
	var snapID atomic.Int64 // 0 until the snapshot is in
	f := startFeed(t, func(h func(*binance.WsDepthEvent), e binance.ErrHandler) (chan struct{}, chan struct{}, error) {
		return binance.WsDepthServe100Ms(btc, h, e)
	}, func(ev []*binance.WsDepthEvent) bool {
		id := snapID.Load()
		return id > 0 && len(ev) >= 10 && ev[len(ev)-1].LastUpdateID > id
	})
	f.waitFor(t, "a first depth event", f.first, 5*time.Second)
	f.mu.Lock()
	firstU := f.events[0].FirstUpdateID
	f.mu.Unlock()

	client := binance.NewClient("", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var snap *binance.DepthResponse
	for try := 0; ; try++ {
		var err error
		snap, err = client.NewDepthService().Symbol(btc).Limit(100).Do(ctx)
		if err != nil {
			t.Fatalf("depth snapshot: %v", err)
		}
		if snap.LastUpdateID+1 >= firstU {
			break
		}
		// Binance may serve a snapshot older than the stream: ask again.
		if try == 5 {
			t.Fatalf("snapshot lastUpdateId %d still older than the first buffered event's U %d after %d tries", snap.LastUpdateID, firstU, try+1)
		}
		time.Sleep(200 * time.Millisecond)
	}
	snapID.Store(snap.LastUpdateID)
	events := f.wait(t, 10*time.Second)

	for _, ev := range events {
		if ev.Event != "depthUpdate" {
			t.Errorf("depth event u=%d: e=%q, want depthUpdate", ev.LastUpdateID, ev.Event)
		}
	}
	checkDepthChain(t, btc, events)
	checkSnapshot(t, btc, snap, 100)

	bids, asks := newLocalSide(snap.Bids, true), newLocalSide(snap.Asks, false)
	bookID, bridged := snap.LastUpdateID, false
	for _, ev := range events {
		if ev.LastUpdateID <= bookID {
			continue
		}
		if !bridged {
			if ev.FirstUpdateID > bookID+1 {
				t.Fatalf("no event bridges snapshot %d: first event after it has U=%d u=%d", bookID, ev.FirstUpdateID, ev.LastUpdateID)
			}
			bridged = true
		} else if ev.FirstUpdateID != bookID+1 {
			t.Fatalf("event U=%d after book ID %d", ev.FirstUpdateID, bookID)
		}
		bids.apply(t, ev.Bids)
		asks.apply(t, ev.Asks)
		bookID = ev.LastUpdateID
	}
	if !bridged {
		t.Fatalf("no event after snapshot %d", snap.LastUpdateID)
	}
	truth, err := srv.BookAt(btc, bookID)
	if err != nil {
		t.Fatalf("ground truth book at %d: %v", bookID, err)
	}
	bids.compare(t, "bids", truth.Bids)
	asks.compare(t, "asks", truth.Asks)
}

func TestGoBinanceCombinedStreams(t *testing.T) {
	t.Parallel()
	symbols := []string{btc, eth}

	aggs := startFeed(t, func(h func(*binance.WsAggTradeEvent), e binance.ErrHandler) (chan struct{}, chan struct{}, error) {
		return binance.WsCombinedAggTradeServe(symbols, h, e)
	}, func(ev []*binance.WsAggTradeEvent) bool {
		return countBy(ev, func(e *binance.WsAggTradeEvent) string { return e.Symbol }, symbols, 100)
	})
	depth := startFeed(t, func(h func(*binance.WsDepthEvent), e binance.ErrHandler) (chan struct{}, chan struct{}, error) {
		return binance.WsCombinedDepthServe(symbols, h, e)
	}, func(ev []*binance.WsDepthEvent) bool {
		return countBy(ev, func(e *binance.WsDepthEvent) string { return e.Symbol }, symbols, 2)
	})

	aggEvents := aggs.wait(t, 15*time.Second)
	depthEvents := depth.wait(t, 15*time.Second)
	for _, sym := range symbols {
		checkAggTradeEvents(t, sym, filter(aggEvents, func(e *binance.WsAggTradeEvent) bool { return e.Symbol == sym }))
		checkDepthChain(t, sym, filter(depthEvents, func(e *binance.WsDepthEvent) bool { return e.Symbol == sym }))
	}
}

// checkDepthChain checks consecutive diff depth events of one symbol: each
// one's U follows the previous one's u, and every level it carries has the
// quantity the simulator's book had right after update u ("0": absent).
func checkDepthChain(t *testing.T, symbol string, events []*binance.WsDepthEvent) {
	t.Helper()
	if len(events) == 0 {
		t.Fatalf("no %s depth events", symbol)
	}
	now := time.Now()
	for i, ev := range events {
		if ev.Symbol != symbol {
			t.Fatalf("depth event %d: symbol %q, want %s", i, ev.Symbol, symbol)
		}
		if ev.FirstUpdateID < 1 || ev.LastUpdateID < ev.FirstUpdateID {
			t.Fatalf("depth event %d: U=%d u=%d", i, ev.FirstUpdateID, ev.LastUpdateID)
		}
		checkMillis(t, fmt.Sprintf("depth event u=%d E", ev.LastUpdateID), ev.Time, now)
		if i > 0 && ev.FirstUpdateID != events[i-1].LastUpdateID+1 {
			t.Fatalf("depth chain broken: u=%d then U=%d", events[i-1].LastUpdateID, ev.FirstUpdateID)
		}
		if len(ev.Bids)+len(ev.Asks) == 0 {
			t.Errorf("depth event U=%d u=%d carries no level", ev.FirstUpdateID, ev.LastUpdateID)
		}
		truth, err := srv.BookAt(symbol, ev.LastUpdateID)
		if err != nil {
			t.Fatalf("ground truth %s book at %d: %v", symbol, ev.LastUpdateID, err)
		}
		checkLevelsAgainst(t, fmt.Sprintf("%s u=%d bids", symbol, ev.LastUpdateID), ev.Bids, truth.Bids)
		checkLevelsAgainst(t, fmt.Sprintf("%s u=%d asks", symbol, ev.LastUpdateID), ev.Asks, truth.Asks)
	}
}

func checkLevelsAgainst(t *testing.T, what string, got []common.PriceLevel, truth []sim.Level) {
	t.Helper()
	book := make(map[string]*big.Rat, len(truth))
	for _, l := range truth {
		book[decimal(t, what, l.Price).RatString()] = decimal(t, what, l.Qty)
	}
	seen := map[string]bool{}
	for _, l := range got {
		p := positive(t, what+" price", l.Price).RatString()
		q := decimal(t, what+" qty", l.Quantity)
		if q.Sign() < 0 {
			t.Errorf("%s: negative quantity %q", what, l.Quantity)
		}
		if seen[p] {
			t.Errorf("%s: price %s twice in one event", what, l.Price)
		}
		seen[p] = true
		want, ok := book[p]
		switch {
		case q.Sign() == 0 && ok:
			t.Errorf("%s: price %s removed, but the book has %s there", what, l.Price, want.FloatString(8))
		case q.Sign() != 0 && !ok:
			t.Errorf("%s: price %s qty %s, but the book has no such level", what, l.Price, l.Quantity)
		case q.Sign() != 0 && q.Cmp(want) != 0:
			t.Errorf("%s: price %s qty %s, but the book has %s", what, l.Price, l.Quantity, want.FloatString(8))
		}
	}
}

// localSide is one side of a book kept from a snapshot and diffs. Only
// prices from the best to the snapshot's worst are known.
type localSide struct {
	bids  bool
	worst *big.Rat
	qty   map[string]*big.Rat // by Rat.RatString of the price
}

func newLocalSide(levels []common.PriceLevel, bids bool) *localSide {
	s := &localSide{bids: bids, qty: map[string]*big.Rat{}}
	for _, l := range levels {
		p, _ := new(big.Rat).SetString(l.Price)
		q, _ := new(big.Rat).SetString(l.Quantity)
		if p == nil || q == nil {
			continue // reported by checkSnapshot
		}
		s.qty[p.RatString()] = q
		if s.worst == nil || s.better(s.worst, p) {
			s.worst = p
		}
	}
	return s
}

// better reports whether price a is better than b on this side.
func (s *localSide) better(a, b *big.Rat) bool {
	if s.bids {
		return a.Cmp(b) > 0
	}
	return a.Cmp(b) < 0
}

func (s *localSide) known(p *big.Rat) bool { return s.worst != nil && !s.better(s.worst, p) }

func (s *localSide) apply(t *testing.T, levels []common.PriceLevel) {
	t.Helper()
	for _, l := range levels {
		p := decimal(t, "diff price", l.Price)
		q := decimal(t, "diff qty", l.Quantity)
		if q.Sign() == 0 {
			delete(s.qty, p.RatString())
		} else {
			s.qty[p.RatString()] = q
		}
	}
}

// compare checks the known part of the side against the full true side.
func (s *localSide) compare(t *testing.T, what string, truth []sim.Level) {
	t.Helper()
	want := map[string]*big.Rat{}
	for _, l := range truth {
		if p := decimal(t, what, l.Price); s.known(p) {
			want[p.RatString()] = decimal(t, what, l.Qty)
		}
	}
	for p, q := range s.qty {
		pr, _ := new(big.Rat).SetString(p)
		if !s.known(pr) {
			continue
		}
		if w, ok := want[p]; !ok || w.Cmp(q) != 0 {
			t.Errorf("local %s at %s: %s, truth %v", what, pr.FloatString(8), q.FloatString(8), w)
		}
	}
	for p, w := range want {
		if _, ok := s.qty[p]; !ok {
			pr, _ := new(big.Rat).SetString(p)
			t.Errorf("local %s lacks %s (truth qty %s)", what, pr.FloatString(8), w.FloatString(8))
		}
	}
	if len(want) < 50 {
		t.Errorf("only %d %s of the book are known after the sync", len(want), what)
	}
}

// ---------------------------------------------------------------------------
// REST

func TestGoBinanceREST(t *testing.T) {
	t.Parallel()
	client := binance.NewClient("", "")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	t.Run("Ping", func(t *testing.T) {
		if err := client.NewPingService().Do(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ServerTime", func(t *testing.T) {
		before := time.Now().UnixMilli()
		st, err := client.NewServerTimeService().Do(ctx)
		after := time.Now().UnixMilli()
		if err != nil {
			t.Fatal(err)
		}
		if st < before-1000 || st > after+1000 {
			t.Errorf("serverTime %d, local clock %d..%d ms", st, before, after)
		}
	})

	var tick, step = map[string]*big.Rat{}, map[string]*big.Rat{}
	t.Run("ExchangeInfo", func(t *testing.T) {
		info, err := client.NewExchangeInfoService().Do(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.Timezone != "UTC" {
			t.Errorf("timezone %q", info.Timezone)
		}
		checkMillis(t, "exchangeInfo serverTime", info.ServerTime, time.Now())
		if !slices.ContainsFunc(info.RateLimits, func(r binance.RateLimit) bool {
			return r == binance.RateLimit{RateLimitType: "REQUEST_WEIGHT", Interval: "MINUTE", IntervalNum: 1, Limit: 6000}
		}) {
			t.Errorf("no REQUEST_WEIGHT 6000 per 1 MINUTE in rateLimits %+v", info.RateLimits)
		}
		var names []string
		for i := range info.Symbols {
			sym := &info.Symbols[i]
			names = append(names, sym.Symbol)
			if sym.Status != "TRADING" || sym.QuoteAsset != "USDT" || sym.BaseAsset+sym.QuoteAsset != sym.Symbol {
				t.Errorf("%s: status %q base %q quote %q", sym.Symbol, sym.Status, sym.BaseAsset, sym.QuoteAsset)
			}
			pf, lf := symbolFilters(t, sym)
			if pf == nil || lf == nil {
				continue
			}
			tick[sym.Symbol] = positive(t, sym.Symbol+" tickSize", pf.TickSize)
			step[sym.Symbol] = positive(t, sym.Symbol+" stepSize", lf.StepSize)
			if minP, maxP := positive(t, sym.Symbol+" minPrice", pf.MinPrice), positive(t, sym.Symbol+" maxPrice", pf.MaxPrice); minP.Cmp(maxP) >= 0 {
				t.Errorf("%s: minPrice %s >= maxPrice %s", sym.Symbol, pf.MinPrice, pf.MaxPrice)
			}
			if minQ, maxQ := positive(t, sym.Symbol+" minQty", lf.MinQuantity), positive(t, sym.Symbol+" maxQty", lf.MaxQuantity); minQ.Cmp(maxQ) >= 0 {
				t.Errorf("%s: minQty %s >= maxQty %s", sym.Symbol, lf.MinQuantity, lf.MaxQuantity)
			}
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{btc, eth}) {
			t.Errorf("symbols %v, want [%s %s]", names, btc, eth)
		}

		one, err := client.NewExchangeInfoService().Symbol(eth).Do(ctx)
		if err != nil {
			t.Fatalf("exchangeInfo symbol=%s: %v", eth, err)
		}
		if len(one.Symbols) != 1 || one.Symbols[0].Symbol != eth {
			t.Errorf("exchangeInfo symbol=%s returned %d symbols", eth, len(one.Symbols))
		}
		both, err := client.NewExchangeInfoService().Symbols(btc, eth).Do(ctx)
		if err != nil {
			t.Fatalf("exchangeInfo symbols=[%s,%s]: %v", btc, eth, err)
		}
		if len(both.Symbols) != 2 {
			t.Errorf("exchangeInfo symbols=[%s,%s] returned %d symbols", btc, eth, len(both.Symbols))
		}
	})

	t.Run("Depth", func(t *testing.T) {
		snap, err := client.NewDepthService().Symbol(btc).Limit(100).Do(ctx)
		if err != nil {
			t.Fatal(err)
		}
		checkSnapshot(t, btc, snap, 100)
		if tk, st := tick[btc], step[btc]; tk == nil || st == nil {
			t.Errorf("no tickSize or stepSize for %s from exchangeInfo to check the levels against", btc)
		} else {
			for _, l := range slices.Concat(snap.Bids, snap.Asks) {
				if !multipleOf(decimal(t, "price", l.Price), tk) || !multipleOf(decimal(t, "qty", l.Quantity), st) {
					t.Errorf("level %s x %s is off the grid of tickSize %s, stepSize %s", l.Price, l.Quantity, tk.FloatString(8), st.FloatString(8))
				}
			}
		}
		small, err := client.NewDepthService().Symbol(eth).Limit(5).Do(ctx)
		if err != nil {
			t.Fatal(err)
		}
		checkSnapshot(t, eth, small, 5)
	})

	t.Run("AggTrades", func(t *testing.T) {
		first, last := recentAggTrades(t, btc, 600)
		from := last - 99
		got, err := client.NewAggTradesService().Symbol(btc).FromID(from).Limit(100).Do(ctx)
		if err != nil {
			t.Fatal(err)
		}
		checkRESTAggTrades(t, btc, from, 100, got)

		// Without a limit Binance answers 500 trades from fromId on.
		got, err = client.NewAggTradesService().Symbol(btc).FromID(first).Do(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 500 {
			t.Fatalf("fromId=%d without limit: %d trades, want 500 (the default limit)", first, len(got))
		}
		checkRESTAggTrades(t, btc, first, 500, got)
	})

	t.Run("HistoricalTrades", func(t *testing.T) {
		_, lastAgg := recentAggTrades(t, btc, 600)
		aggs, err := client.NewAggTradesService().Symbol(btc).FromID(lastAgg - 199).Limit(200).Do(ctx)
		if err != nil || len(aggs) != 200 {
			t.Fatalf("aggTrades: %d, %v", len(aggs), err)
		}
		from, to := aggs[0].FirstTradeID, aggs[len(aggs)-1].LastTradeID
		n := int(to - from + 1)
		if n > 1000 {
			n = 1000
		}
		// no API key: go-binance sends an empty X-MBX-APIKEY, which Binance ignores since 2023-07-11
		got, err := client.NewHistoricalTradesService().Symbol(btc).FromID(from).Limit(n).Do(ctx)
		if err != nil {
			t.Fatal(err)
		}
		checkRESTTrades(t, btc, from, n, got)
		// the trades f..l of each aggregate trade: its price and time, adding up to its quantity
		byID := map[int64]*binance.Trade{}
		for _, tr := range got {
			byID[tr.ID] = tr
		}
		for _, a := range aggs {
			sum := new(big.Rat)
			for id := a.FirstTradeID; id <= a.LastTradeID; id++ {
				tr, ok := byID[id]
				if !ok {
					break // past the page
				}
				if tr.Price != a.Price || tr.Time != a.Timestamp || tr.IsBuyerMaker != a.IsBuyerMaker {
					t.Fatalf("trade %d %+v in aggregate trade %+v", id, *tr, *a)
				}
				sum.Add(sum, decimal(t, "qty", tr.Quantity))
				if id == a.LastTradeID && sum.Cmp(decimal(t, "q", a.Quantity)) != 0 {
					t.Fatalf("aggregate trade %d: q %s, its trades add up to %s", a.AggTradeID, a.Quantity, sum.FloatString(8))
				}
			}
		}
		// without fromId: the most recent 500
		recent, err := client.NewHistoricalTradesService().Symbol(btc).Do(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(recent) != 500 {
			t.Fatalf("historicalTrades without fromId: %d trades, want 500", len(recent))
		}
		checkRESTTrades(t, btc, recent[0].ID, 500, recent)
	})

	t.Run("RecentTrades", func(t *testing.T) {
		// go-binance's RecentTradesService (v2.8.7, the latest) still asks for
		// GET /api/v1/trades, which Binance retired on 2026-03-25 (CHANGELOG,
		// "The following endpoints will be retired 2026-03-25: … GET
		// /api/v1/trades"): like Binance, the simulator answers its 404 page.
		_, err := client.NewRecentTradesService().Symbol(eth).Limit(50).Do(ctx)
		var apiErr *common.APIError
		if !errors.As(err, &apiErr) || !strings.Contains(string(apiErr.Response), "404 Not Found") {
			t.Fatalf("GET /api/v1/trades: %v, want the 404 page", err)
		}
		// GET /api/v3/trades, decoded into go-binance's own Trade
		recentAggTrades(t, eth, 100)
		resp, err := http.Get(srv.RESTURL() + "/api/v3/trades?symbol=" + eth + "&limit=50")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got []*binance.Trade
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /api/v3/trades: %d %v", resp.StatusCode, err)
		}
		if len(got) != 50 {
			t.Fatalf("%d recent trades, want 50", len(got))
		}
		checkRESTTrades(t, eth, got[0].ID, 50, got)
		if _, _, last, _ := srv.LastIDs(eth); got[49].ID > last || got[49].ID < last-1000 {
			t.Fatalf("the most recent trade is %d, the simulator's last %d", got[49].ID, last)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		_, err := client.NewDepthService().Symbol("NOSUCHPAIR").Do(ctx)
		var apiErr *common.APIError
		if !errors.As(err, &apiErr) || apiErr.Code != -1121 {
			t.Fatalf("depth of an unknown symbol: %v, want an APIError with code -1121", err)
		}
	})

	t.Run("UsedWeight", func(t *testing.T) {
		if client.UsedWeight.Used1M <= 0 || client.UsedWeight.Used <= 0 {
			t.Errorf("go-binance read no weight from X-MBX-USED-WEIGHT(-1M): %+v", client.UsedWeight)
		}
	})
}

// symbolFilters reads PRICE_FILTER and LOT_SIZE with go-binance's helpers,
// which panic on a filter whose values are not of the type Binance uses.
func symbolFilters(t *testing.T, sym *binance.Symbol) (pf *binance.PriceFilter, lf *binance.LotSizeFilter) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: go-binance's filter helpers panicked on the simulator's filters: %v", sym.Symbol, r)
			pf, lf = nil, nil
		}
	}()
	pf, lf = sym.PriceFilter(), sym.LotSizeFilter()
	if pf == nil || lf == nil {
		t.Errorf("%s: PRICE_FILTER %v, LOT_SIZE %v", sym.Symbol, pf, lf)
	}
	// The other filters go-binance has helpers for: they must be there and
	// parse.
	for _, f := range []struct {
		name    string
		missing bool
	}{
		{"NOTIONAL", sym.NotionalFilter() == nil},
		{"ICEBERG_PARTS", sym.IcebergPartsFilter() == nil},
		{"MARKET_LOT_SIZE", sym.MarketLotSizeFilter() == nil},
		{"MAX_NUM_ORDERS", sym.MaxNumOrdersFilter() == nil},
		{"MAX_NUM_ALGO_ORDERS", sym.MaxNumAlgoOrdersFilter() == nil},
		{"TRAILING_DELTA", sym.TrailingDeltaFilter() == nil},
		{"PERCENT_PRICE_BY_SIDE", sym.PercentPriceBySideFilter() == nil},
	} {
		if f.missing {
			t.Errorf("%s: no %s filter", sym.Symbol, f.name)
		}
	}
	return pf, lf
}

// checkSnapshot checks a depth snapshot: levels sides of n, sorted best
// first, not crossed, and equal to the simulator's book at lastUpdateId.
func checkSnapshot(t *testing.T, symbol string, snap *binance.DepthResponse, n int) {
	t.Helper()
	if snap.LastUpdateID <= 0 {
		t.Fatalf("%s snapshot: lastUpdateId %d", symbol, snap.LastUpdateID)
	}
	if len(snap.Bids) != n || len(snap.Asks) != n {
		t.Fatalf("%s snapshot: %d bids, %d asks, want %d a side", symbol, len(snap.Bids), len(snap.Asks), n)
	}
	truth, err := srv.BookAt(symbol, snap.LastUpdateID)
	if err != nil {
		t.Fatalf("ground truth %s book at %d: %v", symbol, snap.LastUpdateID, err)
	}
	for side, levels := range map[string][]common.PriceLevel{"bids": snap.Bids, "asks": snap.Asks} {
		want := truth.Bids
		if side == "asks" {
			want = truth.Asks
		}
		for i, l := range levels {
			p := positive(t, symbol+" snapshot price", l.Price)
			positive(t, symbol+" snapshot qty", l.Quantity)
			if i > 0 {
				prev := decimal(t, "", levels[i-1].Price)
				if c := p.Cmp(prev); (side == "bids" && c >= 0) || (side == "asks" && c <= 0) {
					t.Errorf("%s snapshot %s not best first: %s after %s", symbol, side, l.Price, levels[i-1].Price)
				}
			}
			if i >= len(want) || decimal(t, "", want[i].Price).Cmp(p) != 0 || decimal(t, "", want[i].Qty).Cmp(decimal(t, "", l.Quantity)) != 0 {
				t.Fatalf("%s snapshot %s[%d] = %s x %s, the book at %d has %v", symbol, side, i, l.Price, l.Quantity, snap.LastUpdateID, at(want, i))
			}
		}
	}
	if decimal(t, "", snap.Bids[0].Price).Cmp(decimal(t, "", snap.Asks[0].Price)) >= 0 {
		t.Errorf("%s snapshot crossed: best bid %s, best ask %s", symbol, snap.Bids[0].Price, snap.Asks[0].Price)
	}
}

func at(levels []sim.Level, i int) any {
	if i < len(levels) {
		return levels[i]
	}
	return "nothing"
}

// checkRESTAggTrades checks n aggregate trades from fromId on against the
// ground truth.
func checkRESTAggTrades(t *testing.T, symbol string, from int64, n int, got []*binance.AggTrade) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%d aggTrades from %d, want %d", len(got), from, n)
	}
	truth, err := srv.AggTrades(symbol, from, from+int64(n)-1)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i, a := range got {
		g := sim.AggTrade{ID: a.AggTradeID, Price: a.Price, Qty: a.Quantity, FirstTradeID: a.FirstTradeID, LastTradeID: a.LastTradeID, Time: a.Timestamp, BuyerMaker: a.IsBuyerMaker}
		if g != truth[i] {
			t.Fatalf("aggTrade %d:\n go-binance %+v\n truth      %+v", from+int64(i), g, truth[i])
		}
		checkMillis(t, fmt.Sprintf("aggTrade %d T", a.AggTradeID), a.Timestamp, now)
	}
}

// checkRESTTrades checks n trades from id from on against the ground truth.
func checkRESTTrades(t *testing.T, symbol string, from int64, n int, got []*binance.Trade) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%d trades from %d, want %d", len(got), from, n)
	}
	truth, err := srv.Trades(symbol, from, from+int64(n)-1)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i, tr := range got {
		g := sim.Trade{ID: tr.ID, Price: tr.Price, Qty: tr.Quantity, QuoteQty: tr.QuoteQuantity, Time: tr.Time, BuyerMaker: tr.IsBuyerMaker, BestMatch: tr.IsBestMatch}
		if g != truth[i] {
			t.Fatalf("trade %d:\n go-binance %+v\n truth      %+v", from+int64(i), g, truth[i])
		}
		p, q := decimal(t, "price", tr.Price), decimal(t, "qty", tr.Quantity)
		if qq := new(big.Rat).Mul(p, q); new(big.Rat).Sub(qq, decimal(t, "quoteQty", tr.QuoteQuantity)).Cmp(big.NewRat(1, 1e8)) >= 0 {
			t.Fatalf("trade %d: quoteQty %s, price × qty %s", tr.ID, tr.QuoteQuantity, qq.FloatString(10))
		}
		checkMillis(t, fmt.Sprintf("trade %d time", tr.ID), tr.Time, now)
	}
}

// recentAggTrades waits until the simulator holds at least n aggregate
// trades of symbol, and returns the IDs of the last n, once they are older
// than the simulator's REST lag (aggTrades, like Binance's, does not serve
// the youngest trades yet).
func recentAggTrades(t *testing.T, symbol string, n int64) (first, last int64) {
	t.Helper()
	defer time.Sleep(srv.Config().RESTLag + 20*time.Millisecond)
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, last, _, err := srv.LastIDs(symbol)
		if err != nil {
			t.Fatal(err)
		}
		first = last - n + 1
		_, err = srv.AggTrades(symbol, first, first)
		switch {
		case err == nil:
			return first, last
		case !errors.Is(err, sim.ErrHistoryGone) && !errors.Is(err, sim.ErrNotYet):
			t.Fatal(err)
		case time.Now().After(deadline):
			t.Fatalf("the simulator does not hold %d %s aggregate trades after 10 s: %v", n, symbol, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// Helpers

// checkMillis checks that v is a time in milliseconds near now (a time in
// seconds or microseconds is off by three orders of magnitude).
func checkMillis(t *testing.T, what string, v int64, now time.Time) {
	t.Helper()
	if d := time.Duration(v-now.UnixMilli()) * time.Millisecond; d < -10*time.Minute || d > time.Minute {
		t.Errorf("%s = %d is not a time in ms near now (%d)", what, v, now.UnixMilli())
	}
}

func decimal(t *testing.T, what, s string) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok || s == "" || s[0] == '+' || s[0] == '.' || s[len(s)-1] == '.' {
		t.Fatalf("%s: %q is not a decimal string", what, s)
	}
	for _, c := range s {
		if (c < '0' || c > '9') && c != '.' && c != '-' {
			t.Fatalf("%s: %q is not a plain decimal string", what, s)
		}
	}
	return r
}

func positive(t *testing.T, what, s string) *big.Rat {
	t.Helper()
	r := decimal(t, what, s)
	if r.Sign() <= 0 {
		t.Errorf("%s: %q is not positive", what, s)
	}
	return r
}

func multipleOf(v, unit *big.Rat) bool {
	return new(big.Rat).Quo(v, unit).IsInt()
}

func countBy[E any](events []E, key func(E) string, keys []string, n int) bool {
	counts := map[string]int{}
	for _, e := range events {
		counts[key(e)]++
	}
	for _, k := range keys {
		if counts[k] < n {
			return false
		}
	}
	return true
}

func filter[E any](events []E, keep func(E) bool) []E {
	var out []E
	for _, e := range events {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}
