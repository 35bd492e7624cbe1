package sim

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"
)

// bybitDepths are the depths of orderbook.{depth}.{symbol} on spot and
// linear: "Linear & inverse: Level 1 data, push frequency: 10ms; Level 50
// data: 20ms; Level 200 data: 100ms; Level 1000 data: 200ms", the same
// depths on spot (docs/v5/websocket/public/orderbook.mdx).
var bybitDepths = [4]int{1, 50, 200, 1000}

var bybitCategories = [2]string{BybitSpot, BybitLinear}

// bybitDepth1Repeat: "If 3 seconds have elapsed without a change in the
// orderbook, a snapshot message will be pushed again, and the field u will
// be the same as that in the previous message" (depth 1).
const bybitDepth1Repeat = 3 * time.Second

// Push intervals of tickers.{symbol}: "Derivatives & Options - 100ms, Spot
// - 50ms" (docs/v5/websocket/public/ticker.mdx); allLiquidation: "Push
// frequency: 500ms" (all-liquidation.mdx).
var (
	bybitTickerEvery = [2]time.Duration{50 * time.Millisecond, 100 * time.Millisecond}
	bybitLiqEvery    = 500 * time.Millisecond
)

// bybitMaxTrades: "a single message may have up to 1024 trades"
// (trade.mdx).
const bybitMaxTrades = 1024

// bybitFeed makes the Bybit topics from the market every BookTick. Only
// run's goroutine touches the stream state; mu guards the numbering that
// BookAt and the REST order book read, pendMu the subscriptions waiting
// for their first push.
type bybitFeed struct {
	m    *market
	hub  *hub
	fs   *faults
	cfg  BybitConfig
	rng  *rand.Rand
	syms []*bybitSym
	idx  map[string]*bybitSym

	mu sync.Mutex

	// pending: hub key → connections subscribed to it that have not had
	// their first message. The feed sends them a snapshot (order book,
	// linear tickers) and adds them to the hub in the same step, so a
	// subscriber's deltas follow its snapshot exactly.
	pendMu  sync.Mutex
	pending map[string][]*wsConn

	// the system.status maintenance under way (nil: none), run's own
	maint    *bybitMaint
	maintSeq uint64
}

type bybitSym struct {
	s    *symState
	hash uint64
	cat  [2]bybitCat
}

// bybitCat is one symbol's topics in one category.
type bybitCat struct {
	keys     [4]string // orderbook keys, by bybitDepths
	tradeKey string
	tickKey  string
	liqKey   string

	// the numbering of the order book topics, guarded by feed.mu: u is
	// the last push's, mkt the market update ID it shows; hist keeps the
	// market update ID of u at u % len(hist), for u from histLo on.
	u, mkt, histLo int64
	hist           []int64
	ended          []bybitNumbering // numberings bybit-restart ended (bybit_truth.go)

	books     [4]bybitBook
	tradeNext int64 // next market trade ID of publicTrade; 0: off
	lastPx    int64 // price of the last trade sent, for "L"
	lastDir   string
	tick      bybitTicker
	liqNext   int64 // next aggregate trade looked at for liquidations; 0: off
	liqs      []aggRec
	liqAt     time.Time
}

// bybitBook is the top N a book topic's subscribers hold, in 1e-8 units,
// best first.
type bybitBook struct {
	on         bool
	bids, asks []level
	pushed     time.Time // when the last message went
	u, mkt     int64     // u and market update ID of the last message
}

type bybitTicker struct {
	on     bool
	next   time.Time
	fields [][2]string // the last values sent
}

func bybitKey(category, topic string) string { return category + "/" + topic }

func newBybitFeed(m *market, h *hub, fs *faults, cfg BybitConfig) *bybitFeed {
	f := &bybitFeed{m: m, hub: h, fs: fs, cfg: cfg, rng: fs.rng(0x42594249), // "BYBI"
		idx: make(map[string]*bybitSym), pending: make(map[string][]*wsConn)}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.syms {
		bs := &bybitSym{s: s, hash: nameHash(s.spec.name)}
		for i, cat := range bybitCategories {
			bc := &bs.cat[i]
			for j, d := range bybitDepths {
				bc.keys[j] = bybitKey(cat, "orderbook."+strconv.Itoa(d)+"."+s.spec.name)
			}
			bc.tradeKey = bybitKey(cat, "publicTrade."+s.spec.name)
			bc.tickKey = bybitKey(cat, "tickers."+s.spec.name)
			bc.liqKey = bybitKey(cat, "allLiquidation."+s.spec.name)
			// a numbering well away from 1, which means a restart
			bc.u = 1_000_000 + int64(mix64(bs.hash+uint64(i))%1_000_000)
			bc.histLo = bc.u
			bc.hist = make([]int64, cfg.History)
			bc.mkt = s.lastUpdate
			bc.hist[bc.u%int64(len(bc.hist))] = bc.mkt
		}
		f.syms = append(f.syms, bs)
		f.idx[s.spec.name] = bs
	}
	return f
}

// run publishes until ctx ends.
func (f *bybitFeed) run(ctx context.Context) {
	everyTick(ctx, f.cfg.BookTick, f.step)
}

// addPending queues c for key's first push.
func (f *bybitFeed) addPending(c *wsConn, key string) {
	f.pendMu.Lock()
	f.pending[key] = append(f.pending[key], c)
	f.pendMu.Unlock()
}

// unsubscribe takes c off keys, pending or subscribed.
func (f *bybitFeed) unsubscribe(c *wsConn, keys []string) {
	f.pendMu.Lock()
	defer f.pendMu.Unlock()
	for _, k := range keys {
		f.pending[k] = slices.DeleteFunc(f.pending[k], func(x *wsConn) bool { return x == c })
		if len(f.pending[k]) == 0 {
			delete(f.pending, k)
		}
	}
	f.hub.unsubscribe(c, keys)
}

// dropConn forgets c's pending subscriptions; after it, the feed adds c to
// no stream.
func (f *bybitFeed) dropConn(c *wsConn) {
	f.pendMu.Lock()
	defer f.pendMu.Unlock()
	for k, list := range f.pending {
		f.pending[k] = slices.DeleteFunc(list, func(x *wsConn) bool { return x == c })
		if len(f.pending[k]) == 0 {
			delete(f.pending, k)
		}
	}
}

func (f *bybitFeed) wanted(key string) bool {
	if any, _ := f.hub.wants(key); any {
		return true
	}
	return len(f.pending[key]) > 0
}

// join sends the connections waiting for key their first message (first,
// when not nil) and subscribes them. The caller holds pendMu.
func (f *bybitFeed) join(key string, first *Message) {
	conns := f.pending[key]
	if len(conns) == 0 {
		return
	}
	delete(f.pending, key)
	for _, c := range conns {
		if c.ctx.Err() != nil {
			continue
		}
		if first != nil {
			c.enqueue(first)
		}
		_ = f.hub.subscribe(c, []string{key}, c.conf().MaxStreams)
	}
}

// current returns the u of symbol's last book push in category and the
// market update ID it shows.
func (f *bybitFeed) current(symbol string, ci int) (u, mkt int64, err error) {
	bs := f.idx[symbol]
	if bs == nil {
		return 0, 0, fmt.Errorf("symbol %q: %w", symbol, ErrUnknownSymbol)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	bc := &bs.cat[ci]
	return bc.u, bc.mkt, nil
}

// marketID returns the market update ID of push u of symbol in category.
func (f *bybitFeed) marketID(bs *bybitSym, ci int, u int64) (int64, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	bc := &bs.cat[ci]
	if u == 0 {
		u = bc.u
	}
	n := int64(len(bc.hist))
	if u > bc.u {
		if mkt, ok := bc.endedMarketID(u); ok {
			return u, mkt, nil
		}
	}
	switch {
	case u > bc.u:
		return 0, 0, fmt.Errorf("book %s u=%d: %w (last u %d)", bs.s.spec.name, u, ErrNotYet, bc.u)
	case u < bc.histLo || u <= bc.u-n:
		return 0, 0, fmt.Errorf("book %s u=%d: %w (oldest u kept %d)", bs.s.spec.name, u, ErrHistoryGone, max(bc.histLo, bc.u-n+1))
	}
	return u, bc.hist[u%n], nil
}

// step publishes what is due at now.
func (f *bybitFeed) step(now time.Time) {
	f.pendMu.Lock()
	defer f.pendMu.Unlock()
	for _, bs := range f.syms {
		f.stepSym(bs, now)
	}
	f.statusStep(now)
}

// marketView is what one step reads of a symbol's market, under its lock.
type marketView struct {
	last       int64
	us         int64
	bids, asks []level // the top levels any book topic needs, 1e-8 units
	trades     []tradeRec
	tradeFrom  int64
	nextTrade  int64
	lastTrade  tradeRec
	aggs       []aggRec
	aggFrom    int64
	nextAgg    int64
	top        [4]int64 // best bid, qty, best ask, qty in 1e-8 units
	sc         scale
	decs       bybitDecs
}

func (f *bybitFeed) stepSym(bs *bybitSym, now time.Time) {
	m, s := f.m, bs.s
	n := 0
	tradeFrom, aggFrom := int64(0), int64(0)
	for i := range bs.cat {
		bc := &bs.cat[i]
		for j, d := range bybitDepths {
			if f.wanted(bc.keys[j]) {
				n = max(n, d)
			}
		}
		if bc.tradeNext != 0 && f.wanted(bc.tradeKey) && (tradeFrom == 0 || bc.tradeNext < tradeFrom) {
			tradeFrom = bc.tradeNext
		}
		if bc.liqNext != 0 && f.wanted(bc.liqKey) && (aggFrom == 0 || bc.liqNext < aggFrom) {
			aggFrom = bc.liqNext
		}
	}
	var v marketView
	m.mu.Lock()
	v.last, v.us, v.sc, v.decs = s.lastUpdate, m.lastUs, s.sc, decsOf(s)
	if n > 0 {
		v.bids = s.sc.appendE8Levels(nil, s.book[bidSide].top(nil, n))
		v.asks = s.sc.appendE8Levels(nil, s.book[askSide].top(nil, n))
	}
	v.nextTrade, v.nextAgg = s.nextTrade, s.nextAgg
	if tradeFrom != 0 {
		v.tradeFrom = max(tradeFrom, m.oldestTrade(s))
		for id := v.tradeFrom; id < s.nextTrade; id++ {
			v.trades = append(v.trades, *s.tradeAt(id))
		}
	}
	if s.nextTrade > m.oldestTrade(s) {
		v.lastTrade = *s.tradeAt(s.nextTrade - 1)
	}
	if aggFrom != 0 {
		v.aggFrom = max(aggFrom, m.oldestAgg(s))
		v.aggs = s.aggRange(v.aggFrom, s.nextAgg-1)
	}
	t := s.top()
	v.top = [4]int64{s.sc.priceE8(t[0]), s.sc.qtyE8(t[1]), s.sc.priceE8(t[2]), s.sc.qtyE8(t[3])}
	m.mu.Unlock()

	for i := range bs.cat {
		f.books(bs, i, &v, now)
		f.trades(bs, i, &v, now)
		f.ticker(bs, i, &v, now)
		if bybitCategories[i] == BybitLinear {
			f.liquidations(bs, i, &v, now)
		}
	}
}

// books numbers the market's change since the last step and pushes the
// order book topics of category ci.
func (f *bybitFeed) books(bs *bybitSym, ci int, v *marketView, now time.Time) {
	bc := &bs.cat[ci]
	cat := bybitCategories[ci]
	anyOn := false
	for j := range bybitDepths {
		anyOn = anyOn || bc.books[j].on
	}
	changed := v.last != bc.mkt
	var restart, newSnap, lost bool
	if changed && anyOn {
		if fl, hit := f.fs.hit(classMessage, f.rng, now, func(k FaultKind) bool {
			return k == FaultBybitRestart || k == FaultBybitNewSnapshot || k == FaultBybitUGap
		}); hit {
			restart, newSnap, lost = fl.Kind == FaultBybitRestart, fl.Kind == FaultBybitNewSnapshot, fl.Kind == FaultBybitUGap
		}
	}
	if changed {
		f.mu.Lock()
		if restart {
			bc.endNumbering()
			bc.u, bc.histLo = 1, 1
		} else {
			bc.u++
		}
		bc.mkt = v.last
		bc.hist[bc.u%int64(len(bc.hist))] = v.last
		f.mu.Unlock()
	}
	u, seq := bc.u, bybitSeq(v.last)
	for j, d := range bybitDepths {
		key, bk := bc.keys[j], &bc.books[j]
		if !f.wanted(key) {
			*bk = bybitBook{}
			continue
		}
		bids, asks := v.bids[:min(d, len(v.bids))], v.asks[:min(d, len(v.asks))]
		switch {
		case !bk.on:
			bk.on, bk.pushed, bk.u, bk.mkt = true, now, u, v.last
		case changed && lost:
			// lost on the server's side: the next push's u skips this one
		case changed && (restart || newSnap || d != 1 || !slices.Equal(bk.bids, bids) || !slices.Equal(bk.asks, asks)):
			bk.pushed, bk.u, bk.mkt = now, u, v.last
			if restart || newSnap || d == 1 {
				f.hub.publish(bybitBookMessage(cat, key, bs.s, v.decs, d, true, now, v.us, u, seq, bids, asks))
			} else {
				db, da := diffLevels(bk.bids, bids, false), diffLevels(bk.asks, asks, true)
				f.hub.publish(bybitBookMessage(cat, key, bs.s, v.decs, d, false, now, v.us, u, seq, db, da))
			}
		case d == 1 && now.Sub(bk.pushed) >= bybitDepth1Repeat:
			// the top has not changed since push bk.u: the same snapshot
			// again, with the same u
			bk.pushed = now
			f.hub.publish(bybitBookMessage(cat, key, bs.s, v.decs, d, true, now, v.us, bk.u, bybitSeq(bk.mkt), bids, asks))
		}
		bk.bids, bk.asks = bids, asks
		if len(f.pending[key]) > 0 {
			f.join(key, bybitBookMessage(cat, key, bs.s, v.decs, d, true, now, v.us, u, seq, bids, asks))
		}
	}
}

// bybitSeq is the cross sequence of a book push showing market update id:
// it rises with the market, and is not contiguous.
func bybitSeq(id int64) int64 { return 7_000_000_000 + id*3 }

// bybitTradeSeq is "seq" (cross sequence) of market trade id, in
// publicTrade and recent-trade alike: it rises with the trades and is not
// contiguous.
func bybitTradeSeq(id int64) int64 { return 5_000_000_000 + id*2 }

// diffLevels returns the levels of cur that are not in prev at the same
// quantity, and a quantity of 0 for each price of prev that cur lacks,
// best first. Both lists are best first.
func diffLevels(prev, cur []level, ask bool) []level {
	old := make(map[int64]int64, len(prev))
	for _, l := range prev {
		old[l.price] = l.qty
	}
	var out []level
	for _, l := range cur {
		if q, ok := old[l.price]; !ok || q != l.qty {
			out = append(out, l)
		}
		delete(old, l.price)
	}
	for p := range old {
		out = append(out, level{p, 0})
	}
	slices.SortFunc(out, func(a, b level) int {
		if ask {
			return cmp.Compare(a.price, b.price)
		}
		return cmp.Compare(b.price, a.price)
	})
	return out
}

// bybitBookMessage encodes an orderbook push (orderbook.mdx):
// {"topic":…,"type":…,"ts":…,"data":{"s":…,"b":[…],"a":[…],"u":…,"seq":…},"cts":…};
// spot at every depth and linear at depth 1 put "ts" before "type", as in
// the page's examples.
func bybitBookMessage(cat, key string, s *symState, d bybitDecs, depth int, snapshot bool, now time.Time, us, u, seq int64, bids, asks []level) *Message {
	typ := "delta"
	kind := KindDepth
	if snapshot {
		typ, kind = "snapshot", KindPartial
	}
	topic := key[len(cat)+1:]
	b := make([]byte, 0, 160+(len(bids)+len(asks))*32)
	b = append(b, `{"topic":"`...)
	b = append(b, topic...)
	ts := strconv.AppendInt(nil, max(now.UnixMilli(), us/1000), 10)
	if cat == BybitSpot || depth == 1 {
		b = append(b, `","ts":`...)
		b = append(b, ts...)
		b = append(b, `,"type":"`...)
		b = append(b, typ...)
		b = append(b, '"')
	} else {
		b = append(b, `","type":"`...)
		b = append(b, typ...)
		b = append(b, `","ts":`...)
		b = append(b, ts...)
	}
	b = append(b, `,"data":{"s":"`...)
	b = append(b, s.spec.name...)
	b = append(b, `","b":`...)
	b = appendBybitLevels(b, bids, d)
	b = append(b, `,"a":`...)
	b = appendBybitLevels(b, asks, d)
	b = append(b, `,"u":`...)
	b = strconv.AppendInt(b, u, 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `},"cts":`...)
	b = strconv.AppendInt(b, us/1000, 10)
	b = append(b, '}')
	return &Message{Stream: key, Symbol: s.spec.name, Kind: kind, ID: u, Ms: b}
}

func appendBybitLevels(b []byte, lv []level, d bybitDecs) []byte {
	b = append(b, '[')
	for i, l := range lv {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `["`...)
		b = appendBybitDec(b, l.price, d.px)
		b = append(b, `","`...)
		if l.qty == 0 {
			b = append(b, '0') // a delete: "size 0 means delete the entry" (orderbook.mdx)
		} else {
			b = appendBybitDec(b, l.qty, d.qty)
		}
		b = append(b, `"]`...)
	}
	return append(b, ']')
}

// trades publishes the trades made since the last step on publicTrade
// (trade.mdx): type "snapshot", data in ascending match time, at most 1024
// trades a message; "L" (tick direction) on linear only.
func (f *bybitFeed) trades(bs *bybitSym, ci int, v *marketView, now time.Time) {
	bc := &bs.cat[ci]
	cat := bybitCategories[ci]
	if !f.wanted(bc.tradeKey) {
		bc.tradeNext, bc.lastPx, bc.lastDir = 0, 0, ""
		return
	}
	if bc.tradeNext == 0 {
		bc.tradeNext = v.nextTrade
		f.join(bc.tradeKey, nil)
		return
	}
	from := max(bc.tradeNext, v.tradeFrom)
	recs := v.trades[from-v.tradeFrom:]
	bc.tradeNext = v.nextTrade
	s := bs.s
	for len(recs) > 0 {
		k := min(len(recs), bybitMaxTrades)
		b := make([]byte, 0, 96+k*200)
		b = append(b, `{"topic":"publicTrade.`...)
		b = append(b, s.spec.name...)
		b = append(b, `","type":"snapshot","ts":`...)
		b = strconv.AppendInt(b, max(now.UnixMilli(), v.us/1000), 10)
		b = append(b, `,"data":[`...)
		for i := range k {
			r := &recs[i]
			if i > 0 {
				b = append(b, ',')
			}
			side := "Buy"
			if r.maker {
				side = "Sell"
			}
			b = append(b, `{"T":`...)
			b = strconv.AppendInt(b, r.us/1000, 10)
			b = append(b, `,"s":"`...)
			b = append(b, s.spec.name...)
			b = append(b, `","S":"`...)
			b = append(b, side...)
			b = append(b, `","v":"`...)
			b = appendBybitDec(b, r.qty, v.decs.qty)
			b = append(b, `","p":"`...)
			b = appendBybitDec(b, r.price, v.decs.px)
			if cat == BybitLinear {
				b = append(b, `","L":"`...)
				b = append(b, bc.tickDirection(r.price)...)
			}
			b = append(b, `","i":"`...)
			b = append(b, BybitTradeID(cat, s.spec.name, from+int64(i))...)
			b = append(b, `","BT":false,"RPI":false,"seq":`...)
			b = strconv.AppendInt(b, bybitTradeSeq(from+int64(i)), 10)
			b = append(b, '}')
		}
		b = append(b, "]}"...)
		from += int64(k)
		f.hub.publish(&Message{Stream: bc.tradeKey, Symbol: s.spec.name, Kind: KindTrade, ID: from - 1, Ms: b})
		recs = recs[k:]
	}
	f.join(bc.tradeKey, nil)
}

// tickDirection is "L" of a trade at price (docs/v5/enum.mdx, tickDirection:
// PlusTick, ZeroPlusTick, MinusTick, ZeroMinusTick).
func (bc *bybitCat) tickDirection(price int64) string {
	switch {
	case bc.lastPx == 0 || price > bc.lastPx:
		bc.lastDir = "PlusTick"
	case price < bc.lastPx:
		bc.lastDir = "MinusTick"
	case bc.lastDir == "PlusTick" || bc.lastDir == "ZeroPlusTick":
		bc.lastDir = "ZeroPlusTick"
	default:
		bc.lastDir = "ZeroMinusTick"
	}
	bc.lastPx = price
	return bc.lastDir
}

// ticker publishes tickers.{symbol} (ticker.mdx): on spot a snapshot of
// every field each 50 ms when one changed; on linear a snapshot to a new
// subscriber, then each 100 ms a delta of the fields that changed ("If a
// response param is not found in the message, then its value has not
// changed").
func (f *bybitFeed) ticker(bs *bybitSym, ci int, v *marketView, now time.Time) {
	bc := &bs.cat[ci]
	cat := bybitCategories[ci]
	tk := &bc.tick
	if !f.wanted(bc.tickKey) {
		*tk = bybitTicker{}
		return
	}
	due := dueAt(&tk.next, now, bybitTickerEvery[ci])
	if tk.on && !due && len(f.pending[bc.tickKey]) == 0 {
		return
	}
	fields := bybitTickerFields(f.m, bs, cat, v, now)
	if tk.on && due {
		var delta [][2]string
		for i, kv := range fields {
			if i == 0 || i >= len(tk.fields) || tk.fields[i] != kv {
				delta = append(delta, kv)
			}
		}
		if len(delta) > 1 {
			if cat == BybitSpot {
				delta = fields
			}
			f.hub.publish(bybitTickerMessage(cat, bc.tickKey, cat == BybitSpot, now, v, delta))
		}
		tk.fields = fields
	}
	if !tk.on {
		tk.on, tk.fields = true, fields
	}
	if len(f.pending[bc.tickKey]) > 0 {
		f.join(bc.tickKey, bybitTickerMessage(cat, bc.tickKey, true, now, v, tk.fields))
	}
}

// bybitTickerFields are the ticker's fields now, "symbol" first.
func bybitTickerFields(m *market, bs *bybitSym, cat string, v *marketView, now time.Time) [][2]string {
	s := bs.s
	px := func(e8 int64) string { return string(appendBybitDec(nil, e8, v.decs.px)) }
	qty := func(e8 int64) string { return string(appendBybitDec(nil, e8, v.decs.qty)) }
	last := v.lastTrade.price
	if last == 0 {
		last = (v.top[0] + v.top[2]) / 2
	}
	out := [][2]string{{"symbol", s.spec.name}, {"lastPrice", px(last)},
		{"bid1Price", px(v.top[0])}, {"bid1Size", qty(v.top[1])}, {"ask1Price", px(v.top[2])}, {"ask1Size", qty(v.top[3])}}
	if cat == BybitLinear {
		mark, index, rate, next := markValues(m, s, now)
		// open interest: a few thousand usual orders, moving every 5 s
		oi := s.sc.qtyE8(s.spec.typQty) * (20000 + int64(mix64(uint64(now.Unix()/5)^bs.hash)%2000))
		out = append(out, [][2]string{
			{"markPrice", px(mark)}, {"indexPrice", px(index)},
			{"openInterest", qty(oi)}, {"openInterestValue", string(appendBybitDec(nil, quoteE8(mark, oi), 2))},
			{"nextFundingTime", strconv.FormatInt(next, 10)}, {"fundingRate", string(appendBybitDec(nil, rate, 6))},
			{"fundingIntervalHour", "8"}, {"fundingCap", "0.005"},
		}...)
	}
	return out
}

// bybitTickerMessage encodes a tickers push: linear
// {"topic":…,"type":…,"data":{…},"cs":…,"ts":…}, spot
// {"topic":…,"ts":…,"type":"snapshot","cs":…,"data":{…}}.
func bybitTickerMessage(cat, key string, snapshot bool, now time.Time, v *marketView, fields [][2]string) *Message {
	typ := "delta"
	if snapshot {
		typ = "snapshot"
	}
	ts := strconv.AppendInt(nil, max(now.UnixMilli(), v.us/1000), 10)
	cs := strconv.AppendInt(nil, bybitSeq(v.last), 10)
	b := make([]byte, 0, 512)
	b = append(b, `{"topic":"`...)
	b = append(b, key[len(cat)+1:]...)
	data := func(b []byte) []byte {
		b = append(b, `"data":{`...)
		for i, kv := range fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, kv[0])
			b = append(b, ':')
			b = appendJSONString(b, kv[1])
		}
		return append(b, '}')
	}
	if cat == BybitSpot {
		b = append(b, `","ts":`...)
		b = append(b, ts...)
		b = append(b, `,"type":"snapshot","cs":`...)
		b = append(b, cs...)
		b = append(b, ',')
		b = data(b)
	} else {
		b = append(b, `","type":"`...)
		b = append(b, typ...)
		b = append(b, `",`...)
		b = data(b)
		b = append(b, `,"cs":`...)
		b = append(b, cs...)
		b = append(b, `,"ts":`...)
		b = append(b, ts...)
	}
	b = append(b, '}')
	sym := fields[0][1]
	return &Message{Stream: key, Symbol: sym, Kind: KindStats, Ms: b}
}

// liquidations publishes allLiquidation.{symbol} every 500 ms: every
// liquidation of the window (the same aggregate trades the USD-M front-end
// calls liquidations), "S":"Buy" when a long was liquidated (the forced
// order sold), "p" the bankruptcy price (the fill's).
func (f *bybitFeed) liquidations(bs *bybitSym, ci int, v *marketView, now time.Time) {
	bc := &bs.cat[ci]
	if !f.wanted(bc.liqKey) {
		bc.liqNext, bc.liqs, bc.liqAt = 0, nil, time.Time{}
		return
	}
	if bc.liqNext == 0 {
		bc.liqNext = v.nextAgg
		f.join(bc.liqKey, nil)
		return
	}
	for id := max(bc.liqNext, v.aggFrom); id < v.nextAgg && v.aggs != nil; id++ {
		if isLiquidation(bs.hash, id) {
			bc.liqs = append(bc.liqs, v.aggs[id-v.aggFrom])
		}
	}
	bc.liqNext = v.nextAgg
	if dueAt(&bc.liqAt, now, bybitLiqEvery) && len(bc.liqs) > 0 {
		s := bs.s
		b := make([]byte, 0, 96+len(bc.liqs)*96)
		b = append(b, `{"topic":"allLiquidation.`...)
		b = append(b, s.spec.name...)
		b = append(b, `","type":"snapshot","ts":`...)
		b = strconv.AppendInt(b, max(now.UnixMilli(), v.us/1000), 10)
		b = append(b, `,"data":[`...)
		for i, r := range bc.liqs {
			if i > 0 {
				b = append(b, ',')
			}
			side := "Sell"
			if r.maker {
				side = "Buy"
			}
			b = append(b, `{"T":`...)
			b = strconv.AppendInt(b, r.us/1000, 10)
			b = append(b, `,"s":"`...)
			b = append(b, s.spec.name...)
			b = append(b, `","S":"`...)
			b = append(b, side...)
			b = append(b, `","v":"`...)
			b = appendBybitDec(b, r.qty, v.decs.qty)
			b = append(b, `","p":"`...)
			b = appendBybitDec(b, r.price, v.decs.px)
			b = append(b, `"}`...)
		}
		b = append(b, "]}"...)
		bc.liqs = nil
		f.hub.publish(&Message{Stream: bc.liqKey, Symbol: s.spec.name, Kind: KindStats, Ms: b})
	}
	f.join(bc.liqKey, nil)
}

// BookAt returns symbol's book in category right after push u of its
// orderbook topics (0: the last push), as a client that applied every
// message of orderbook.{depth}.{symbol} up to the one with that u holds it
// (its best depth levels a side). Every depth of a symbol shares one
// numbering in the simulator; the bybit-restart fault starts it again at 1,
// after which BookAt answers for the new one, and for a u the new one has
// not reached, for the numberings restarts ended. Levels are written as Bybit
// writes them; LastUpdateID is u.
func (b *Bybit) BookAt(symbol, category string, u int64) (BookState, error) {
	ci, err := categoryIndex(category)
	if err != nil {
		return BookState{}, err
	}
	bs := b.feed.idx[symbol]
	if bs == nil {
		return BookState{}, fmt.Errorf("sim: symbol %q: %w", symbol, ErrUnknownSymbol)
	}
	u, mkt, err := b.feed.marketID(bs, ci, u)
	if err != nil {
		return BookState{}, err
	}
	_, book, err := b.srv.market.rebuild(bs.s, mkt, false)
	if err != nil {
		return BookState{}, err
	}
	st := BookState{Symbol: bs.s.spec.name, LastUpdateID: u}
	d := b.srv.market.decs(bs.s)
	st.Bids = bybitLevels(book[bidSide], d)
	st.Asks = bybitLevels(book[askSide], d)
	return st, nil
}

// bybitLevels converts a side, worst first, to Levels best first.
func bybitLevels(lv []level, d bybitDecs) []Level {
	out := make([]Level, 0, len(lv))
	for i := len(lv) - 1; i >= 0; i-- {
		out = append(out, Level{Price: string(appendBybitDec(nil, lv[i].price, d.px)),
			Qty: string(appendBybitDec(nil, lv[i].qty, d.qty))})
	}
	return out
}

func categoryIndex(category string) (int, error) {
	for i, c := range bybitCategories {
		if c == category {
			return i, nil
		}
	}
	return 0, checkCategory(category)
}
