package feed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/book"
	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/internal/wstest"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

// A fake venue proves the gateway's machinery apart from any exchange: its
// own frames, its own rules, served over real TLS and WebSocket frames by a
// fake exchange that keeps the truth.

// fakeFrame is the fake venue's book delta: first and last update IDs, the
// previous delta's last ID, levels as [price, qty] mantissas.
type fakeFrame struct {
	Trade  int64      `json:"t,omitempty"`    // a trade's time, ms: a trade with no ID (the trade exchange)
	Snap   bool       `json:"snap,omitempty"` // the whole book (stream mode)
	Sum    *uint32    `json:"cs,omitempty"`   // checksum of the book after it (stream mode)
	Symbol string     `json:"s"`
	First  int64      `json:"U"`
	Last   int64      `json:"u"`
	Prev   int64      `json:"pu"`
	Bids   [][2]int64 `json:"b"`
	Asks   [][2]int64 `json:"a"`
}

// fakeExchange sends book deltas whose IDs jump between deltas (only the
// previous ID chains them) and keeps the book they make.
type fakeExchange struct {
	t   *testing.T
	srv *wstest.Server

	mu       sync.Mutex
	rng      *rand.Rand
	bids     map[int64]int64
	asks     map[int64]int64
	last     int64 // the last update ID made
	straddle bool  // a snapshot said last+1: the next delta covers it
	sent     int   // deltas made
	total    int   // deltas to make in all
	drop     map[int]bool
	breakPu  map[int]bool
	// stream mode: the book is sent whole on each "subscribe" message,
	// deltas only while subscribed, every frame with a checksum
	stream bool
	badSum map[int]bool  // deltas sent with a wrong checksum
	done   chan struct{} // closed when all deltas are made
	pings  atomic.Int64  // "ping" messages received (answered "pong")
	subs   chan string   // other messages received
}

func newFakeExchange(t *testing.T, total int, drop, breakPu []int) *fakeExchange {
	x := &fakeExchange{t: t, rng: rand.New(rand.NewPCG(7, 11)), bids: map[int64]int64{}, asks: map[int64]int64{},
		last: 1000, total: total, drop: map[int]bool{}, breakPu: map[int]bool{}, done: make(chan struct{}),
		subs: make(chan string, 16), badSum: map[int]bool{}}
	for _, i := range drop {
		x.drop[i] = true
	}
	for _, i := range breakPu {
		x.breakPu[i] = true
	}
	for p := int64(90); p < 100; p++ {
		x.bids[p] = 1 + p%3
		x.asks[p+11] = 1 + p%4
	}
	x.srv = wstest.Start(t, func(c *wstest.Conn) {
		var wantSnap, subscribed atomic.Bool
		go func() { // answers pings, keeps what else is sent, sees the client go
			for {
				_, msg, err := c.ReadMessage()
				if err != nil {
					return
				}
				if string(msg) == "ping" {
					x.pings.Add(1)
					if c.Write([]byte("pong")) != nil {
						return
					}
					continue
				}
				switch m := string(msg); {
				case strings.HasPrefix(m, "subscribe"):
					wantSnap.Store(true) // before subscribed: serve reads them the other way round
					subscribed.Store(true)
				case strings.HasPrefix(m, "unsubscribe"):
					subscribed.Store(false)
				}
				select {
				case x.subs <- string(msg):
				default:
				}
			}
		}()
		x.serve(c, &wantSnap, &subscribed)
	})
	return x
}

// serve sends a delta every half millisecond until all are made.
func (x *fakeExchange) serve(c *wstest.Conn, wantSnap, subscribed *atomic.Bool) {
	tick := time.NewTicker(500 * time.Microsecond)
	defer tick.Stop()
	for {
		select {
		case <-c.Stop:
			return
		case <-tick.C:
		}
		// subscribed before wantSnap, which is set first: a delta is sent
		// after a new subscription only once its snapshot went
		sub := subscribed.Load()
		if x.stream && wantSnap.Swap(false) {
			if c.Write(x.snapshotFrame()) != nil {
				return
			}
		}
		frame, ok := x.next()
		if x.stream && !sub {
			continue // made, not sent
		}
		if !ok || frame == nil {
			continue // all made (stay connected and quiet), or dropped
		}
		if c.Write(frame) != nil {
			return
		}
	}
}

// next makes one delta and returns its frame: nil for a dropped one, false
// once all are made.
func (x *fakeExchange) next() ([]byte, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.sent == x.total {
		return nil, false
	}
	i := x.sent
	x.sent++
	f := fakeFrame{Symbol: "FAKE", Prev: x.last}
	f.First = x.last + 1 + x.rng.Int64N(20) // IDs of updates not sent: only pu chains
	f.Last = f.First + x.rng.Int64N(4)
	if x.straddle { // the snapshot's ID is inside this delta
		f.First, f.Last, x.straddle = x.last+1, x.last+2+x.rng.Int64N(3), false
	}
	x.last = f.Last
	for range 1 + x.rng.IntN(3) {
		side, p := x.bids, 90+x.rng.Int64N(10)
		if x.rng.IntN(2) == 0 {
			side, p = x.asks, 101+x.rng.Int64N(10)
		}
		q := x.rng.Int64N(5)
		if q == 0 {
			delete(side, p)
		} else {
			side[p] = q
		}
		lv := [2]int64{p, q}
		if p < 100 {
			f.Bids = append(f.Bids, lv)
		} else {
			f.Asks = append(f.Asks, lv)
		}
	}
	if x.breakPu[i] {
		f.Prev-- // the venue's own chain breaks
	}
	if x.stream {
		sum := x.sumLocked()
		if x.badSum[i] {
			sum ^= 1
		}
		f.Sum = &sum
	}
	if x.sent == x.total {
		close(x.done)
	}
	if x.drop[i] {
		return nil, true
	}
	b, err := json.Marshal(f)
	if err != nil {
		x.t.Error(err)
	}
	return b, true
}

// snapshot fills ev with the whole book at the last update made. Its ID
// is the one after, an update that changed no level and is no delta's
// last: the next delta straddles it, as futures venues' snapshots do.
func (x *fakeExchange) snapshot(ev *feed.Event) {
	x.mu.Lock()
	defer x.mu.Unlock()
	ev.Reset()
	ev.Type, ev.Venue, ev.Symbol, ev.ID, ev.FirstID = feed.TypeBookSnapshot, "fake", "FAKE", x.last+1, x.last+1
	x.straddle = true
	for p, q := range x.bids {
		ev.Bids = append(ev.Bids, feed.Level{Price: p, Qty: q})
	}
	for p, q := range x.asks {
		ev.Asks = append(ev.Asks, feed.Level{Price: p, Qty: q})
	}
	sort.Slice(ev.Bids, func(i, j int) bool { return ev.Bids[i].Price > ev.Bids[j].Price })
	sort.Slice(ev.Asks, func(i, j int) bool { return ev.Asks[i].Price < ev.Asks[j].Price })
}

// sumLocked is the fake venue's checksum of its book: CRC32 of the top five
// levels a side, bids then asks, as "price:qty,".
func (x *fakeExchange) sumLocked() uint32 {
	var bids, asks []book.Level
	for p, q := range x.bids {
		bids = append(bids, book.Level{Price: p, Qty: q})
	}
	for p, q := range x.asks {
		asks = append(asks, book.Level{Price: p, Qty: q})
	}
	sort.Slice(bids, func(i, j int) bool { return bids[i].Price > bids[j].Price })
	sort.Slice(asks, func(i, j int) bool { return asks[i].Price < asks[j].Price })
	return fakeSum(bids[:min(5, len(bids))], asks[:min(5, len(asks))])
}

func fakeSum(bids, asks []book.Level) uint32 {
	var b []byte
	for _, side := range [][]book.Level{bids, asks} {
		for _, l := range side {
			b = fmt.Appendf(b, "%d:%d,", l.Price, l.Qty)
		}
	}
	return crc32.ChecksumIEEE(b)
}

// snapshotFrame is the whole book, as the stream sends it on subscribe.
func (x *fakeExchange) snapshotFrame() []byte {
	x.mu.Lock()
	defer x.mu.Unlock()
	sum := x.sumLocked()
	f := fakeFrame{Snap: true, Sum: &sum, Symbol: "FAKE", First: x.last, Last: x.last}
	for p, q := range x.bids {
		f.Bids = append(f.Bids, [2]int64{p, q})
	}
	for p, q := range x.asks {
		f.Asks = append(f.Asks, [2]int64{p, q})
	}
	sort.Slice(f.Bids, func(i, j int) bool { return f.Bids[i][0] > f.Bids[j][0] })
	sort.Slice(f.Asks, func(i, j int) bool { return f.Asks[i][0] < f.Asks[j][0] })
	b, err := json.Marshal(f)
	if err != nil {
		x.t.Error(err)
	}
	return b
}

// truth returns the book as the exchange has it, and its last update ID.
func (x *fakeExchange) truth() (bids, asks map[int64]int64, last int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	bids, asks = map[int64]int64{}, map[int64]int64{}
	for p, q := range x.bids {
		bids[p] = q
	}
	for p, q := range x.asks {
		asks[p] = q
	}
	return bids, asks, x.last
}

// fakeVenue is the client side: one connection, JSON frames, the rules
// under test.
type fakeVenue struct {
	url       string
	chain     feed.Chain
	uncounted bool         // Rules.BookIDsUncounted
	builds    atomic.Int64 // subscribe messages built
}

func (v *fakeVenue) Name() string                 { return "fake" }
func (v *fakeVenue) Lifetime() time.Duration      { return 0 }
func (v *fakeVenue) MessageRate() float64         { return 50 }
func (v *fakeVenue) IsShutdown(frame []byte) bool { return false }
func (v *fakeVenue) Rules() feed.Rules {
	return feed.Rules{BookChain: v.chain, BookIDsUncounted: v.uncounted}
}
func (v *fakeVenue) Plan(streams []string) ([]feed.ConnPlan, error) {
	build := func() [][]byte {
		n := v.builds.Add(1)
		return [][]byte{[]byte("subscribe " + strings.Join(streams, ",") + " #" + strconv.FormatInt(n, 10))}
	}
	return []feed.ConnPlan{{URL: v.url, Streams: streams, Build: build}}, nil
}

// pingingVenue is the fake venue with an application-level ping.
type pingingVenue struct{ *fakeVenue }

func (pingingVenue) Keepalive() wsconn.Keepalive {
	return wsconn.Keepalive{Interval: 50 * time.Millisecond, Message: func() []byte { return []byte("ping") },
		IsReply: func(f []byte) bool { return string(f) == "pong" }, Timeout: time.Second}
}
func (v *fakeVenue) NewDecoder(feed.ConnPlan) feed.Decoder { return fakeDecoder{} }

type fakeDecoder struct{}

func (fakeDecoder) Decode(frame []byte, ev *feed.Event) (feed.Decoded, error) {
	var f fakeFrame
	if err := json.Unmarshal(frame, &f); err != nil {
		return 0, err
	}
	ev.Reset()
	if f.Trade != 0 {
		ev.Type, ev.Venue, ev.Symbol, ev.Instrument = feed.TypeTrade, "fake", f.Symbol, "FAKE-USD"
		ev.ExchangeTime, ev.Price, ev.Qty, ev.Side = f.Trade*1e6, 100, 1, feed.SideBuy
		return feed.DecodedEvent, nil
	}
	ev.Type, ev.Venue, ev.Symbol = feed.TypeBookDelta, "fake", f.Symbol
	ev.FirstID, ev.ID, ev.PrevID = f.First, f.Last, f.Prev
	if f.Snap {
		ev.Type, ev.Base, ev.Stream = feed.TypeBookSnapshot, true, "fake@book"
	}
	if f.Sum != nil {
		ev.Checksummed, ev.Checksum, ev.Stream = true, *f.Sum, "fake@book"
	}
	for _, l := range f.Bids {
		ev.Bids = append(ev.Bids, feed.Level{Price: l[0], Qty: l[1]})
	}
	for _, l := range f.Asks {
		ev.Asks = append(ev.Asks, feed.Level{Price: l[0], Qty: l[1]})
	}
	return feed.DecodedEvent, nil
}

// fakeRecovery takes the book's snapshots from the fake exchange; it has
// no trades to give.
type fakeRecovery struct{ x *fakeExchange }

func (r fakeRecovery) AggTrades(context.Context, string, int64, int, []feed.Event) ([]feed.Event, error) {
	return nil, fmt.Errorf("fake venue: no trades")
}
func (r fakeRecovery) Trades(context.Context, string, int64, int, []feed.Event) ([]feed.Event, error) {
	return nil, fmt.Errorf("fake venue: no trades")
}
func (r fakeRecovery) Depth(_ context.Context, _ string, _ int, ev *feed.Event) error {
	r.x.snapshot(ev)
	return nil
}

// bookKeeper rebuilds the book from what the gateway delivers, as a
// consumer does.
type bookKeeper struct {
	mu     sync.Mutex
	b      *book.Book
	loaded bool
	gaps   int
	last   int64 // ID of the last book event delivered
}

func (k *bookKeeper) handle(ev *feed.Event) {
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case ev.Type == feed.TypeBookSnapshot && (ev.Derived || ev.Base):
		var bids, asks []book.Level
		for _, l := range ev.Bids {
			bids = append(bids, book.Level{Price: l.Price, Qty: l.Qty})
		}
		for _, l := range ev.Asks {
			asks = append(asks, book.Level{Price: l.Price, Qty: l.Qty})
		}
		if err := k.b.Load(ev.ID, bids, asks); err != nil {
			panic(err)
		}
		k.loaded, k.last = true, ev.ID
	case ev.Type == feed.TypeBookDelta:
		for _, l := range ev.Bids {
			k.b.Set(book.Bid, l.Price, l.Qty)
		}
		for _, l := range ev.Asks {
			k.b.Set(book.Ask, l.Price, l.Qty)
		}
		k.last = ev.ID
	case ev.Type == feed.TypeGap:
		k.gaps++
	}
}

func (k *bookKeeper) state() (last int64, gaps int, bids, asks map[int64]int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	bids, asks = map[int64]int64{}, map[int64]int64{}
	for _, l := range k.b.Levels(book.Bid, nil) {
		bids[l.Price] = l.Qty
	}
	for _, l := range k.b.Levels(book.Ask, nil) {
		asks[l.Price] = l.Qty
	}
	return k.last, k.gaps, bids, asks
}

// runFakeBook streams total deltas of the fake exchange through a gateway
// that keeps the book by chain, and returns the gateway's statistics and
// the gap events delivered once the delivered book has reached the
// exchange's last update and equals its book.
func runFakeBook(t *testing.T, chain feed.Chain, total int, drop, breakPu []int) (st feed.GatewayStats, gaps int) {
	return runFakeBookOf(t, &fakeVenue{chain: chain}, total, drop, breakPu)
}

// runFakeBookOf is runFakeBook with the venue's rules of v (its url is
// set here).
func runFakeBookOf(t *testing.T, v *fakeVenue, total int, drop, breakPu []int) (st feed.GatewayStats, gaps int) {
	chain := v.chain
	x := newFakeExchange(t, total, drop, breakPu)
	tlsCfg := x.srv.TLS()
	k := &bookKeeper{b: book.New(0)}
	v.url = x.srv.URL()
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: v, Streams: []string{"fake@book"}, TLS: tlsCfg, Logger: quiet(),
		Handler: k.handle, Recovery: fakeRecovery{x}, Lag: feed.LagConfig{MaxLag: -1},
		RecoveryConfig: feed.RecoveryConfig{RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	select {
	case <-x.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the fake exchange did not make its deltas in 30s")
	}
	wantBids, wantAsks, wantLast := x.truth()
	deadline := time.Now().Add(10 * time.Second)
	for {
		last, gaps, bids, asks := k.state()
		if last == wantLast && fmt.Sprint(bids) == fmt.Sprint(wantBids) && fmt.Sprint(asks) == fmt.Sprint(wantAsks) {
			return g.Stats(), gaps
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v chain: delivered book at %d\n bids %v\n asks %v\nwant at %d\n bids %v\n asks %v\n(resyncs %d)",
				chain, last, bids, asks, wantLast, wantBids, wantAsks, g.Stats().BookResyncs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A venue whose deltas chain by their previous ID (IDs jumping between
// them) keeps its book without a single resync, and equal to the venue's.
func TestPrevIDChainKeepsTheBook(t *testing.T) {
	st, gaps := runFakeBook(t, feed.ChainPrevID, 2000, nil, nil)
	if st.BookResyncs != 0 || gaps != 0 || st.BadSnapshots != 0 || st.BookSyncs != 1 {
		t.Fatalf("prev-id chain without faults: %d resyncs, %d gap events, %d snapshots refused, %d syncs; want 0, 0, 0, 1",
			st.BookResyncs, gaps, st.BadSnapshots, st.BookSyncs)
	}
}

// The same deltas read by the first-ID rule (U == previous u + 1) look
// broken all the time: the rule a venue states is the one carried out.
func TestFirstIDRuleOnJumpingIDsResyncs(t *testing.T) {
	x := newFakeExchange(t, 300, nil, nil)
	tlsCfg := x.srv.TLS()
	v := &fakeVenue{url: x.srv.URL(), chain: feed.ChainFirstID}
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: v, Streams: []string{"fake@book"}, TLS: tlsCfg, Logger: quiet(),
		Handler: func(*feed.Event) {}, Recovery: fakeRecovery{x}, Lag: feed.LagConfig{MaxLag: -1},
		RecoveryConfig: feed.RecoveryConfig{RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	<-x.done
	time.Sleep(50 * time.Millisecond)
	if st := g.Stats(); st.Gaps < 100 {
		t.Fatalf("first-id rule on deltas whose IDs jump: %d gaps, want most of 300", st.Gaps)
	}
}

// A delta lost on the way and a delta whose previous ID is not the last
// one each break the chain: the gateway says so (a gap event), resyncs
// that book from a snapshot, and ends equal to the venue's book.
func TestPrevIDChainBreaksResync(t *testing.T) {
	st, gaps := runFakeBook(t, feed.ChainPrevID, 2000, []int{500}, []int{1200})
	if st.BookResyncs != 2 || gaps != 2 || st.BadSnapshots != 0 || st.BookSyncs != 3 {
		t.Fatalf("one lost delta and one broken chain: %d resyncs, %d gap events, %d snapshots refused, %d syncs; want 2, 2, 0, 3",
			st.BookResyncs, gaps, st.BadSnapshots, st.BookSyncs)
	}
	if st.Missing == 0 {
		t.Fatal("book IDs that count updates: no missing IDs counted for two breaks")
	}
}

// A venue whose book IDs do not count updates (timestamps, a connection's
// message counter) has the same breaks counted as gaps of unknown size: no
// missing IDs made up from the IDs' distance.
func TestUncountedBookIDsAddNoMissing(t *testing.T) {
	st, gaps := runFakeBookOf(t, &fakeVenue{chain: feed.ChainPrevID, uncounted: true}, 2000, []int{500}, []int{1200})
	if st.BookResyncs != 2 || gaps != 2 || st.Gaps != 2 || st.Missing != 0 {
		t.Fatalf("two breaks of uncounted IDs: %d resyncs, %d gap events, %d gaps, %d missing IDs; want 2, 2, 2, 0",
			st.BookResyncs, gaps, st.Gaps, st.Missing)
	}
}

// A venue's subscribe messages are built on every connect, and its
// application-level ping is sent, answered and kept from the decoder.
func TestVenueKeepaliveAndBuiltSubscribe(t *testing.T) {
	x := newFakeExchange(t, 2000, nil, nil)
	tlsCfg := x.srv.TLS()
	v := pingingVenue{&fakeVenue{url: x.srv.URL(), chain: feed.ChainPrevID}}
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: v, Streams: []string{"fake@book"}, TLS: tlsCfg, Logger: quiet(),
		Handler: func(*feed.Event) {}, Lag: feed.LagConfig{MaxLag: -1}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	select {
	case m := <-x.subs:
		if m != "subscribe fake@book #1" {
			t.Fatalf("subscribe message %q", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no subscribe message")
	}
	<-x.done
	st := g.Stats()
	if s := st.Sessions[0]; s.AppPings < 5 || s.AppPongs < 4 || x.pings.Load() < 5 {
		t.Fatalf("pings: %d sent, %d answered, %d seen by the venue", s.AppPings, s.AppPongs, x.pings.Load())
	}
	if st.Malformed != 0 || st.Unknown != 0 {
		t.Fatalf("%d malformed, %d unknown frames: answers to pings reached the decoder", st.Malformed, st.Unknown)
	}
	if v.builds.Load() != 1 {
		t.Fatalf("subscribe built %d times for one connect", v.builds.Load())
	}
}

// streamVenue is the fake venue whose book comes whole from its stream,
// checked by a checksum, rebuilt by asking for the stream again.
type streamVenue struct{ *fakeVenue }

func (streamVenue) Rules() feed.Rules {
	return feed.Rules{BookChain: feed.ChainPrevID, Book: feed.BookFromStream, Checksum: func(b *book.Book, ev *feed.Event) bool {
		return fakeSum(b.Top(book.Bid, 5, nil), b.Top(book.Ask, 5, nil)) == ev.Checksum
	}}
}

func (streamVenue) ResubscribeMessages(stream string) ([][]byte, error) {
	return [][]byte{[]byte("unsubscribe " + stream), []byte("subscribe " + stream)}, nil
}

// A book from the stream: loaded from the snapshot sent on subscribe,
// checked by the venue's checksum after every delta; a lost delta and a
// wrong checksum each ask for the stream again on the live connection, and
// the book ends equal to the venue's.
func TestStreamBookRebuildsByResubscribing(t *testing.T) {
	x := newFakeExchange(t, 2000, []int{500}, nil)
	x.stream, x.badSum[1200] = true, true
	tlsCfg := x.srv.TLS()
	k := &bookKeeper{b: book.New(0)}
	v := streamVenue{&fakeVenue{url: x.srv.URL()}}
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: v, Streams: []string{"fake@book"}, TLS: tlsCfg, Logger: quiet(),
		Handler: k.handle, Recovery: fakeRecovery{x}, Lag: feed.LagConfig{MaxLag: -1}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	select {
	case <-x.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the fake exchange did not make its deltas in 30s")
	}
	wantBids, wantAsks, wantLast := x.truth()
	deadline := time.Now().Add(10 * time.Second)
	for {
		last, _, bids, asks := k.state()
		if last == wantLast && fmt.Sprint(bids) == fmt.Sprint(wantBids) && fmt.Sprint(asks) == fmt.Sprint(wantAsks) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered book at %d\n bids %v\n asks %v\nwant at %d\n bids %v\n asks %v\n%+v",
				last, bids, asks, wantLast, wantBids, wantAsks, g.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	st := g.Stats()
	_, gaps, _, _ := k.state()
	if st.BookResyncs != 2 || st.StreamResubscribes != 2 || st.ChecksumMismatches != 1 || st.BookSyncs != 3 || gaps != 1 || st.BadSnapshots != 0 {
		t.Fatalf("one lost delta, one wrong checksum: %d resyncs, %d streams asked again, %d checksum mismatches, %d syncs, %d gap events, %d bad snapshots; want 2, 2, 1, 3, 1, 0",
			st.BookResyncs, st.StreamResubscribes, st.ChecksumMismatches, st.BookSyncs, gaps, st.BadSnapshots)
	}
	var msgs []string
	for len(x.subs) > 0 {
		msgs = append(msgs, <-x.subs)
	}
	if want := "subscribe fake@book #1,unsubscribe fake@book,subscribe fake@book,unsubscribe fake@book,subscribe fake@book"; strings.Join(msgs, ",") != want {
		t.Fatalf("messages to the venue: %q\nwant %q", msgs, want)
	}
}

// newTradeExchange sends a trade without an ID every 2 ms on every
// connection, its time the exchange's clock in ms.
func newTradeExchange(t *testing.T) *wstest.Server {
	return wstest.Start(t, func(c *wstest.Conn) {
		go func() {
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-c.Stop:
				return
			case now := <-tick.C:
				if c.Write(fmt.Appendf(nil, `{"t":%d,"s":"FAKE"}`, now.UnixMilli())) != nil {
					return
				}
			}
		}
	})
}

// collectTrades returns a handler keeping copies of the trades and the gap
// events delivered, under mu.
func collectTrades(mu *sync.Mutex, trades, gaps *[]feed.Event) func(*feed.Event) {
	return func(ev *feed.Event) {
		mu.Lock()
		defer mu.Unlock()
		var cp feed.Event
		ev.CopyTo(&cp)
		switch ev.Type {
		case feed.TypeTrade:
			*trades = append(*trades, cp)
		case feed.TypeGap:
			*gaps = append(*gaps, cp)
		}
	}
}

// opaqueVenue is the fake venue whose trade IDs cannot show a gap.
type opaqueVenue struct{ *fakeVenue }

func (opaqueVenue) Rules() feed.Rules { return feed.Rules{Trades: feed.TradeIDsOpaque} }

// Trades whose IDs cannot show a gap are all delivered (none taken for a
// duplicate), and a lost connection is announced once the next one is up
// by a gap window from the last trade received to the reconnect.
func TestOpaqueTradeIDsGetGapWindows(t *testing.T) {
	x := newTradeExchange(t)
	tlsCfg := x.TLS()
	var mu sync.Mutex
	var trades []feed.Event
	var gaps []feed.Event
	v := opaqueVenue{&fakeVenue{url: x.URL()}}
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: v, Streams: []string{"fake@trade"}, TLS: tlsCfg, Logger: quiet(),
		Lag: feed.LagConfig{MaxLag: -1}, Session: wsconn.Config{BackoffMin: 50 * time.Millisecond, BackoffMax: 100 * time.Millisecond},
		Handler: collectTrades(&mu, &trades, &gaps)})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	count := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return len(trades), len(gaps)
	}
	deadline := time.Now().Add(10 * time.Second)
	for n, _ := count(); n < 100; n, _ = count() {
		if time.Now().After(deadline) {
			t.Fatalf("%d trades in 10s", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	lastBefore := trades[len(trades)-1].ExchangeTime
	mu.Unlock()
	dropped := time.Now()
	x.Drop()
	for _, n := count(); n == 0; _, n = count() {
		if time.Now().After(deadline) {
			t.Fatal("no gap window after the connection was lost")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(gaps) != 1 {
		t.Fatalf("%d gap events for one lost connection", len(gaps))
	}
	gp := gaps[0]
	if gp.Missing != feed.TypeTrade || gp.Symbol != "FAKE" || gp.Instrument != "FAKE-USD" || gp.GapFrom < lastBefore ||
		gp.GapFrom > dropped.UnixNano() || gp.GapTo < dropped.UnixNano() || gp.FirstID != 0 || gp.ID != 0 {
		t.Fatalf("gap window %+v: want FAKE trades from about %d (the last trade before the loss) to the reconnect after %d",
			gp, lastBefore, dropped.UnixNano())
	}
	after := 0
	for _, tr := range trades {
		if tr.ExchangeTime > gp.GapTo {
			after++
		}
	}
	if after == 0 {
		t.Fatal("no trades after the reconnect")
	}
	if st := g.Stats(); st.Duplicates != 0 {
		t.Fatalf("%d trades without IDs taken for duplicates", st.Duplicates)
	}
	js := string(gp.AppendJSON(nil))
	if !strings.Contains(js, `"from_ts":`) || !strings.Contains(js, `"to_ts":`) || strings.Contains(js, `"first_id"`) {
		t.Fatalf("JSON of a gap window: %s", js)
	}
}

// Frames dropped for a slow consumer (the Drop policy) held trades whose
// IDs cannot show it: a gap window says so, the connection kept.
func TestOpaqueTradesDroppedForASlowConsumerGetAWindow(t *testing.T) {
	x := newTradeExchange(t)
	var mu sync.Mutex
	var gaps []feed.Event
	var slow atomic.Bool
	v := opaqueVenue{&fakeVenue{url: x.URL()}}
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: v, Streams: []string{"fake@trade"}, TLS: x.TLS(), Logger: quiet(),
		Lag: feed.LagConfig{MaxLag: -1}, Session: wsconn.Config{Slow: wsconn.Drop, QueueFrames: 4},
		Handler: func(ev *feed.Event) {
			if slow.Load() && ev.Type == feed.TypeTrade {
				time.Sleep(20 * time.Millisecond)
			}
			if ev.Type == feed.TypeGap {
				mu.Lock()
				var cp feed.Event
				ev.CopyTo(&cp)
				gaps = append(gaps, cp)
				mu.Unlock()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	time.Sleep(200 * time.Millisecond)
	slow.Store(true)
	time.Sleep(300 * time.Millisecond)
	slow.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(gaps)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no gap window for dropped frames: %+v", g.Stats().Sessions[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
	st := g.Stats()
	mu.Lock()
	defer mu.Unlock()
	if st.Sessions[0].Dropped == 0 || st.Sessions[0].Reconnects != 0 || gaps[0].GapTo <= gaps[0].GapFrom || gaps[0].Symbol != "FAKE" {
		t.Fatalf("dropped %d, reconnects %d, window %+v", st.Sessions[0].Dropped, st.Sessions[0].Reconnects, gaps[0])
	}
}

// lossVenue is the opaque fake venue whose decoder numbers the frames of a
// connection and reports, once, that messages went missing before the
// 150th (feed.LossReporter), as Coinbase's sequence_num shows it.
type lossVenue struct{ opaqueVenue }

func (lossVenue) NewDecoder(feed.ConnPlan) feed.Decoder { return &lossDecoder{} }

type lossDecoder struct {
	fakeDecoder
	n    int
	lost bool
}

func (d *lossDecoder) Decode(frame []byte, ev *feed.Event) (feed.Decoded, error) {
	d.n++
	d.lost = d.n == 150
	return d.fakeDecoder.Decode(frame, ev)
}

func (d *lossDecoder) Lost() bool { return d.lost }

// A decoder that saw messages of its connection missing (a sequence that
// jumped) gets a gap window for the trades that traded on it, from the last
// trade before to the first after, the connection kept.
func TestOpaqueTradesLostMessagesGetAWindow(t *testing.T) {
	x := newTradeExchange(t)
	var mu sync.Mutex
	var trades, gaps []feed.Event
	v := lossVenue{opaqueVenue{&fakeVenue{url: x.URL()}}}
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: v, Streams: []string{"fake@trade"}, TLS: x.TLS(), Logger: quiet(),
		Lag:     feed.LagConfig{MaxLag: -1},
		Handler: collectTrades(&mu, &trades, &gaps)})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(trades)
		mu.Unlock()
		if n >= 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d trades in 10s", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	st := g.Stats()
	mu.Lock()
	defer mu.Unlock()
	if len(gaps) != 1 {
		t.Fatalf("%d gap events for one loss", len(gaps))
	}
	// the window runs from the 149th trade to the 150th, the frame that
	// showed the loss: what was lost lies between them
	gp, before, after := gaps[0], trades[148].ExchangeTime, trades[149].ExchangeTime
	if gp.Missing != feed.TypeTrade || gp.Symbol != "FAKE" || gp.GapFrom != before || gp.GapTo != after {
		t.Fatalf("gap window %d..%d (%+v): want %d..%d", gp.GapFrom, gp.GapTo, gp, before, after)
	}
	if st.Sessions[0].Reconnects != 0 {
		t.Fatalf("%d reconnects: the loss is the decoder's, the connection stays", st.Sessions[0].Reconnects)
	}
}

// newReplayingTradeExchange makes a trade every 2 ms into one history (its
// time the exchange's clock in ms, nanoseconds apart within a ms) and
// sends every connection the last 30 trades of it first, then each new one:
// a connection that replaces another repeats what the old one sent last,
// as venues do whose streams a new connection joins a moment back.
func newReplayingTradeExchange(t *testing.T) (*wstest.Server, func() []int64) {
	var mu sync.Mutex
	var hist []int64 // trade times, ns
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-tick.C:
				mu.Lock()
				hist = append(hist, now.UnixMilli())
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	srv := wstest.Start(t, func(c *wstest.Conn) {
		go func() {
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
		mu.Lock()
		next := max(0, len(hist)-30)
		mu.Unlock()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-c.Stop:
				return
			case <-tick.C:
			}
			mu.Lock()
			todo := slices.Clone(hist[next:])
			next = len(hist)
			mu.Unlock()
			for _, ms := range todo {
				if c.Write(fmt.Appendf(nil, `{"t":%d,"s":"FAKE"}`, ms)) != nil {
					return
				}
			}
		}
	})
	return srv, func() []int64 {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(hist)
	}
}

// A connection replaced make-before-break (a rotation) whose successor
// repeats the old one's last trades delivers each trade once, for a venue
// whose trade IDs cannot tell a repeat: none twice, none lost, no window.
func TestOpaqueTradesRepeatedByARotationDeliveredOnce(t *testing.T) {
	x, history := newReplayingTradeExchange(t)
	var mu sync.Mutex
	var trades, gaps []feed.Event
	v := opaqueVenue{&fakeVenue{url: x.URL()}}
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: v, Streams: []string{"fake@trade"}, TLS: x.TLS(), Logger: quiet(),
		Lag:     feed.LagConfig{MaxLag: -1},
		Session: wsconn.Config{Lifetime: 700 * time.Millisecond, RotateBefore: 300 * time.Millisecond, Overlap: 200 * time.Millisecond},
		Handler: collectTrades(&mu, &trades, &gaps)})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for rotations := int64(0); rotations < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("%d rotations in 20s", rotations)
		}
		time.Sleep(20 * time.Millisecond)
		rotations = g.Stats().Sessions[0].Rotations
	}
	time.Sleep(100 * time.Millisecond)
	g.Close()
	st := g.Stats()
	mu.Lock()
	defer mu.Unlock()
	if len(gaps) != 0 || st.Sessions[0].Reconnects != 0 {
		t.Fatalf("%d gap events, %d reconnects: the connections were replaced, not lost", len(gaps), st.Sessions[0].Reconnects)
	}
	// every trade of the history from the first delivered to the last, once
	want := map[int64]int{}
	first, last := trades[0].ExchangeTime, trades[len(trades)-1].ExchangeTime
	for _, ms := range history() {
		if ns := ms * 1e6; ns >= first && ns <= last {
			want[ns]++
		}
	}
	got := map[int64]int{}
	for _, tr := range trades {
		got[tr.ExchangeTime]++
	}
	for ns, n := range want {
		if got[ns] != n {
			t.Fatalf("trades at %d: %d delivered, the exchange made %d (%d rotations, %d taken for repeats)",
				ns, got[ns], n, st.Sessions[0].Rotations, st.Duplicates)
		}
	}
	if len(got) != len(want) || st.Duplicates == 0 {
		t.Fatalf("%d trade times delivered, %d made; %d repeats dropped (want some: each connection repeats 30)", len(got), len(want), st.Duplicates)
	}
}
