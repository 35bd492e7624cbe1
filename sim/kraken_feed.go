package sim

import (
	"context"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// krakenDepths are the depths of the book channel: "depth … Possible
// values: 10, 25, 100, 500, 1000", default 10 (spot-websocket-v2/book).
var krakenDepths = [5]int{10, 25, 100, 500, 1000}

// krakenChecksumLevels: the checksum covers "the top 10 price levels" of
// each side, whatever the subscribed depth (guides/websockets/book-checksum-v2).
const krakenChecksumLevels = 10

// krakenTradeSnapshot: the trade channel's snapshot is "the most recent 50
// trades" (spot-websocket-v2/trade).
const krakenTradeSnapshot = 50

// krakenMaintenance is how long kraken-maintenance lasts without a
// Duration.
const krakenMaintenance = 10 * time.Second

// krakenFeed makes the Kraken channels from the market every BookTick.
// Only run's goroutine touches the stream state; mu guards the numbering
// BookAt reads and the system state; pendMu the subscriptions waiting for
// their first message.
type krakenFeed struct {
	k     *Kraken
	m     *market
	fs    *faults
	rng   *rand.Rand
	syms  []*krakenSym
	bySym map[string]*krakenSym // by market symbol, v2 symbol and REST names

	mu         sync.Mutex
	sys        string // "online" or "maintenance"
	maintUntil time.Time

	pendMu  sync.Mutex
	pending map[string][]krPending
}

type krPending struct {
	c    *wsConn
	snap bool // the subscriber wants the snapshot
}

type krakenSym struct {
	s                *symState
	wsName           string // "BTC/USDT"
	altname, restKey string // "XBTUSDT"
	wsV1             string // "XBT/USDT"
	bookKeys         [5]string
	tradeKey         string
	tickKeys         [2]string // event_trigger trades, bbo

	// numbering, guarded by feed.mu: ts (µs) of the last book change, mkt
	// its market update ID; hist the last History changes.
	ts, mkt int64
	hist    []krHist
	histN   int64

	books       [5]krBook
	instDecs    bybitDecs // the precisions the instrument channel last gave; the feed's own
	instTrading bool      // … and whether its status was online
	instSeen    bool
	readNext    int64 // next market trade ID read for trade and ticker; 0: off
	tick        krTick
	lastTop     [4]int64
	lastPrice   int64
}

type krHist struct{ ts, mkt int64 }

type krBook struct {
	on         bool
	bids, asks []level // the top depth levels the subscribers hold, 1e-8 units
}

// krTick is what the ticker accumulates from the trades it saw since its
// first subscriber: Kraken's are over 24 hours.
type krTick struct {
	on              bool
	vol             int64 // 1e-8 units
	quote           float64
	low, high, open int64
}

func newKrakenFeed(k *Kraken, m *market, fs *faults) *krakenFeed {
	f := &krakenFeed{k: k, m: m, fs: fs, rng: fs.rng(0x4b52414b), // "KRAK"
		bySym: make(map[string]*krakenSym), sys: "online", pending: make(map[string][]krPending)}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.syms {
		ks := &krakenSym{s: s, wsName: s.spec.base + "/" + s.spec.quote}
		ks.altname = krakenAsset(s.spec.base) + krakenAsset(s.spec.quote)
		ks.restKey = ks.altname
		ks.wsV1 = krakenAsset(s.spec.base) + "/" + krakenAsset(s.spec.quote)
		for j, d := range krakenDepths {
			ks.bookKeys[j] = "book." + strconv.Itoa(d) + "." + ks.wsName
		}
		ks.tradeKey = "trade." + ks.wsName
		ks.tickKeys = [2]string{"ticker.trades." + ks.wsName, "ticker.bbo." + ks.wsName}
		ks.mkt = s.lastUpdate
		ks.ts = m.lastUs
		ks.hist = make([]krHist, k.cfg.History)
		ks.record()
		f.syms = append(f.syms, ks)
		for _, n := range []string{s.spec.name, ks.wsName, ks.altname} {
			f.bySym[n] = ks
		}
	}
	return f
}

func (ks *krakenSym) record() {
	ks.hist[ks.histN%int64(len(ks.hist))] = krHist{ks.ts, ks.mkt}
	ks.histN++
}

// lookup finds a pair by its v2 symbol, REST altname or market symbol.
func (f *krakenFeed) lookup(name string) *krakenSym { return f.bySym[name] }

// system is the engine's state the status channel reports.
func (f *krakenFeed) system() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sys
}

func (f *krakenFeed) run(ctx context.Context) { everyTick(ctx, f.k.cfg.BookTick, f.step) }

func (f *krakenFeed) addPending(c *wsConn, key string, snap bool) {
	f.pendMu.Lock()
	f.pending[key] = append(f.pending[key], krPending{c, snap})
	f.pendMu.Unlock()
}

// unsubscribe takes c off key, pending or subscribed.
func (f *krakenFeed) unsubscribe(c *wsConn, key string) {
	f.pendMu.Lock()
	defer f.pendMu.Unlock()
	f.dropLocked(c, key)
	f.k.hub.unsubscribe(c, []string{key})
}

func (f *krakenFeed) dropLocked(c *wsConn, key string) {
	f.pending[key] = slices.DeleteFunc(f.pending[key], func(p krPending) bool { return p.c == c })
	if len(f.pending[key]) == 0 {
		delete(f.pending, key)
	}
}

// dropConn forgets c's pending subscriptions.
func (f *krakenFeed) dropConn(c *wsConn) {
	f.pendMu.Lock()
	defer f.pendMu.Unlock()
	for k := range f.pending {
		f.dropLocked(c, k)
	}
}

func (f *krakenFeed) wanted(key string) bool {
	if any, _ := f.k.hub.wants(key); any {
		return true
	}
	return len(f.pending[key]) > 0
}

// join sends the connections waiting for key first (when they asked for
// a snapshot and it is not nil) and subscribes them. The caller holds
// pendMu.
func (f *krakenFeed) join(key string, first *Message) {
	list := f.pending[key]
	if len(list) == 0 {
		return
	}
	delete(f.pending, key)
	for _, p := range list {
		if p.c.ctx.Err() != nil {
			continue
		}
		if first != nil && p.snap {
			p.c.enqueue(first)
		}
		_ = f.k.hub.subscribe(p.c, []string{key}, p.c.conf().MaxStreams)
	}
}

func (f *krakenFeed) step(now time.Time) {
	f.pendMu.Lock()
	defer f.pendMu.Unlock()
	f.maintenance(now)
	f.k.instrumentUpdates()
	for _, ks := range f.syms {
		f.stepSym(ks, now)
	}
}

// maintenance starts and ends kraken-maintenance, telling every
// connection on the status channel.
func (f *krakenFeed) maintenance(now time.Time) {
	f.mu.Lock()
	sys := f.sys
	switch {
	case sys == "maintenance" && !now.Before(f.maintUntil):
		f.sys = "online"
	case sys == "online":
		if fl, hit := f.fs.hit(classMessage, f.rng, now, func(k FaultKind) bool { return k == FaultKrakenMaintenance }); hit {
			f.sys = "maintenance"
			f.maintUntil = now.Add(orDefault(fl.Duration, krakenMaintenance))
		}
	}
	changed := f.sys != sys
	sys = f.sys
	f.mu.Unlock()
	if changed {
		for _, c := range f.k.hub.snapshot() {
			c.sendFrame(ws.OpText, krakenStatus(c.id, sys))
		}
	}
}

// krView is what one step reads of a symbol's market.
type krView struct {
	last, us   int64
	bids, asks []level // best first, 1e-8 units
	trades     []tradeRec
	tradeFrom  int64
	nextTrade  int64
	top        [4]int64
	d          bybitDecs
}

func (f *krakenFeed) stepSym(ks *krakenSym, now time.Time) {
	m, s := f.m, ks.s
	n := 0
	for j, d := range krakenDepths {
		if f.wanted(ks.bookKeys[j]) {
			n = max(n, d)
		}
	}
	readTrades := f.wanted(ks.tradeKey) || f.wanted(ks.tickKeys[0]) || f.wanted(ks.tickKeys[1])
	if !readTrades {
		ks.readNext, ks.tick = 0, krTick{}
	}
	var v krView
	m.mu.Lock()
	v.last, v.us, v.d = s.lastUpdate, m.lastUs, decsOf(s)
	if n > 0 {
		v.bids = s.sc.appendE8Levels(nil, s.book[bidSide].top(nil, n))
		v.asks = s.sc.appendE8Levels(nil, s.book[askSide].top(nil, n))
	}
	v.nextTrade = s.nextTrade
	if readTrades {
		from := ks.readNext
		if from == 0 || len(f.pending[ks.tradeKey]) > 0 {
			from = min(max(from, 1), s.nextTrade-krakenTradeSnapshot)
			if ks.readNext == 0 {
				from = s.nextTrade - krakenTradeSnapshot
			}
		}
		v.tradeFrom = max(from, m.oldestTrade(s))
		for id := v.tradeFrom; id < s.nextTrade; id++ {
			v.trades = append(v.trades, *s.tradeAt(id))
		}
	}
	t := s.top()
	v.top = [4]int64{s.sc.priceE8(t[0]), s.sc.qtyE8(t[1]), s.sc.priceE8(t[2]), s.sc.qtyE8(t[3])}
	m.mu.Unlock()

	// decided only for a pair with subscribers, so that a rule's Times
	// count messages somebody gets
	exp := false
	if n > 0 || readTrades {
		_, exp = f.fs.hit(classMessage, f.rng, now, func(k FaultKind) bool { return k == FaultKrakenExponent })
	}
	if v.last != ks.mkt {
		f.mu.Lock()
		ks.ts = max(v.us, ks.ts+1)
		ks.mkt = v.last
		ks.record()
		f.mu.Unlock()
	}
	f.books(ks, &v, now, exp)
	if readTrades {
		f.trades(ks, &v, exp)
	}
}

// books publishes the book channel at each depth with subscribers: an
// update of the levels that changed among the top depth (no delete for
// a level pushed out of the top depth: "the client must truncate", book
// checksum guide), with the checksum of the top 10 a side after it.
func (f *krakenFeed) books(ks *krakenSym, v *krView, now time.Time, exp bool) {
	bad := false
	decided := false
	for j, d := range krakenDepths {
		key, bk := ks.bookKeys[j], &ks.books[j]
		if !f.wanted(key) {
			*bk = krBook{}
			continue
		}
		bids, asks := v.bids[:min(d, len(v.bids))], v.asks[:min(d, len(v.asks))]
		ck := krakenChecksum(bids, asks, v.d)
		if bk.on {
			db, da := krDiff(bk.bids, bids, false, d), krDiff(bk.asks, asks, true, d)
			if len(db)+len(da) > 0 {
				if !decided {
					decided = true
					_, bad = f.fs.hit(classMessage, f.rng, now, func(k FaultKind) bool { return k == FaultKrakenBadChecksum })
				}
				c := ck
				if bad {
					c ^= 0x5a5a5a5a
				}
				f.k.hub.publish(krBookMessage(ks, key, false, ks.ts, db, da, c, v.d, exp))
			}
		}
		bk.on, bk.bids, bk.asks = true, bids, asks
		if len(f.pending[key]) > 0 {
			f.join(key, krBookMessage(ks, key, true, ks.ts, bids, asks, ck, v.d, exp))
		}
	}
}

// krDiff returns the levels of cur not in prev at the same quantity, and
// qty 0 for the prices of prev that cur lacks, unless cur holds depth
// levels and the price is beyond its worst (out of scope: the client
// truncates). Best first.
func krDiff(prev, cur []level, ask bool, depth int) []level {
	out := diffLevels(prev, cur, ask)
	if len(cur) < depth || len(cur) == 0 {
		return out
	}
	worst := cur[len(cur)-1].price
	return slices.DeleteFunc(out, func(l level) bool {
		if l.qty != 0 {
			return false
		}
		if ask {
			return l.price > worst
		}
		return l.price < worst
	})
}

// krakenChecksum is the book checksum (guides/websockets/book-checksum-v2):
// CRC32 of the top 10 asks ascending then the top 10 bids descending, each
// level its price then its quantity written at the pair's precisions with
// the point and the leading zeros removed. bids and asks are best first.
func krakenChecksum(bids, asks []level, d bybitDecs) uint32 {
	var b []byte
	for _, side := range [2][]level{asks, bids} {
		for _, l := range side[:min(krakenChecksumLevels, len(side))] {
			b = append(b, krCkPart(l.price, d.px)...)
			b = append(b, krCkPart(l.qty, d.qty)...)
		}
	}
	return crc32.ChecksumIEEE(b)
}

func krCkPart(v int64, dec int) string {
	s := strings.TrimLeft(strings.Replace(krFixed(v, dec), ".", "", 1), "0")
	if s == "" {
		return "0"
	}
	return s
}

func krTime(us int64) string {
	return time.UnixMicro(us).UTC().Format("2006-01-02T15:04:05.000000Z")
}

func appendKrVal(b []byte, v int64, dec int, exp bool) []byte {
	if exp {
		return append(b, krExp(krNum(v, dec))...)
	}
	return appendKrNum(b, v, dec)
}

// krBookMessage encodes a book message (spot-websocket-v2/book):
// {"channel":"book","type":"snapshot"|"update","data":[{"symbol":…,
// "bids":[{"price":…,"qty":…}],"asks":[…],"checksum":…,"timestamp":…}]}.
func krBookMessage(ks *krakenSym, key string, snapshot bool, ts int64, bids, asks []level, ck uint32, d bybitDecs, exp bool) *Message {
	typ, kind := "update", KindDepth
	if snapshot {
		typ, kind = "snapshot", KindPartial
	}
	b := make([]byte, 0, 160+(len(bids)+len(asks))*40)
	b = append(b, `{"channel":"book","type":"`...)
	b = append(b, typ...)
	b = append(b, `","data":[{"symbol":"`...)
	b = append(b, ks.wsName...)
	side := func(name string, lv []level) {
		b = append(b, `","`...)
		b = append(b, name...)
		b = append(b, `":[`...)
		for i, l := range lv {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"price":`...)
			b = appendKrVal(b, l.price, d.px, exp)
			b = append(b, `,"qty":`...)
			b = appendKrVal(b, l.qty, d.qty, exp)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	side("bids", bids)
	b = append(b, `,"asks":[`...)
	for i, l := range asks {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"price":`...)
		b = appendKrVal(b, l.price, d.px, exp)
		b = append(b, `,"qty":`...)
		b = appendKrVal(b, l.qty, d.qty, exp)
		b = append(b, '}')
	}
	b = append(b, `],"checksum":`...)
	b = strconv.AppendUint(b, uint64(ck), 10)
	b = append(b, `,"timestamp":"`...)
	b = append(b, krTime(ts)...)
	b = append(b, `"}]}`...)
	return &Message{Stream: key, Symbol: ks.s.spec.name, Kind: kind, ID: ts, Ms: b}
}

// trades publishes the trade channel (all the step's trades in one
// update, trade_id the market's) and the ticker channel.
func (f *krakenFeed) trades(ks *krakenSym, v *krView, exp bool) {
	fresh := v.trades
	if ks.readNext != 0 {
		fresh = v.trades[max(ks.readNext-v.tradeFrom, 0):]
	} else {
		fresh = nil
	}
	first := v.nextTrade - int64(len(fresh))
	if !ks.tick.on {
		ks.tick = krTick{on: true, low: 1<<63 - 1}
	}
	for _, r := range fresh {
		t := &ks.tick
		if t.open == 0 {
			t.open = r.price
		}
		t.vol += r.qty
		t.quote += float64(r.price) * float64(r.qty) / 1e8
		t.low, t.high = min(t.low, r.price), max(t.high, r.price)
	}
	if len(v.trades) > 0 {
		ks.lastPrice = v.trades[len(v.trades)-1].price
	}
	ks.readNext = v.nextTrade

	if f.wanted(ks.tradeKey) {
		if len(fresh) > 0 {
			skip := -1
			if _, hit := f.fs.hit(classMessage, f.rng, time.Now(), func(k FaultKind) bool { return k == FaultKrakenTradeGap }); hit {
				skip = f.rng.IntN(len(fresh))
			}
			if m := krTradeMessage(ks, "update", fresh, first, skip, v.d, exp); m != nil {
				f.k.hub.publish(m)
			}
		}
		if len(f.pending[ks.tradeKey]) > 0 {
			snap := v.trades[max(len(v.trades)-krakenTradeSnapshot, 0):]
			f.join(ks.tradeKey, krTradeMessage(ks, "snapshot", snap, v.nextTrade-int64(len(snap)), -1, v.d, exp))
		}
	}
	topChanged := v.top != ks.lastTop
	ks.lastTop = v.top
	for i, key := range ks.tickKeys {
		if !f.wanted(key) {
			continue
		}
		if (i == 0 && len(fresh) > 0) || (i == 1 && topChanged) {
			f.k.hub.publish(krTickerMessage(ks, key, "update", v, exp))
		}
		if len(f.pending[key]) > 0 {
			f.join(key, krTickerMessage(ks, key, "snapshot", v, exp))
		}
	}
}

// krTradeMessage encodes a trade message (spot-websocket-v2/trade) of
// recs, whose first has trade_id first, leaving out recs[skip]. side is
// the taker's; ord_type the taker order's.
func krTradeMessage(ks *krakenSym, typ string, recs []tradeRec, first int64, skip int, d bybitDecs, exp bool) *Message {
	if len(recs) == 0 && typ == "update" {
		return nil
	}
	b := make([]byte, 0, 96+len(recs)*180)
	b = append(b, `{"channel":"trade","type":"`...)
	b = append(b, typ...)
	b = append(b, `","data":[`...)
	n := 0
	for i := range recs {
		if i == skip {
			continue
		}
		r := &recs[i]
		if n > 0 {
			b = append(b, ',')
		}
		n++
		id := first + int64(i)
		ord := krOrdType(ks, id)
		b = append(b, `{"symbol":"`...)
		b = append(b, ks.wsName...)
		b = append(b, `","side":"`...)
		b = append(b, krSide(r)...)
		b = append(b, `","price":`...)
		b = appendKrVal(b, r.price, d.px, exp)
		b = append(b, `,"qty":`...)
		b = appendKrVal(b, r.qty, d.qty, exp)
		b = append(b, `,"ord_type":"`...)
		b = append(b, ord...)
		b = append(b, `","trade_id":`...)
		b = strconv.AppendInt(b, id, 10)
		b = append(b, `,"timestamp":"`...)
		b = append(b, krTime(r.us)...)
		b = append(b, `"}`...)
	}
	if n == 0 && typ == "update" {
		return nil
	}
	b = append(b, "]}"...)
	return &Message{Stream: ks.tradeKey, Symbol: ks.s.spec.name, Kind: KindTrade, ID: first + int64(len(recs)) - 1, Ms: b}
}

// krTickerMessage encodes a ticker message (spot-websocket-v2/ticker).
// volume, vwap, low, high and change are over the trades the feed saw
// since the ticker's first subscriber, not 24 hours.
func krTickerMessage(ks *krakenSym, key, typ string, v *krView, exp bool) *Message {
	t := &ks.tick
	last := ks.lastPrice
	if last == 0 {
		last = (v.top[0] + v.top[2]) / 2
	}
	low, high, open := t.low, t.high, t.open
	if open == 0 {
		low, high, open = last, last, last
	}
	vwap := last
	if t.vol > 0 {
		vwap = int64(t.quote / float64(t.vol) * 1e8)
	}
	change := last - open
	pct := 0.0
	if open != 0 {
		pct = float64(change) / float64(open) * 100
	}
	b := make([]byte, 0, 400)
	b = append(b, `{"channel":"ticker","type":"`...)
	b = append(b, typ...)
	b = append(b, `","data":[{"symbol":"`...)
	b = append(b, ks.wsName...)
	b = append(b, '"')
	for _, fv := range []struct {
		k   string
		v   int64
		dec int
	}{{"bid", v.top[0], v.d.px}, {"bid_qty", v.top[1], v.d.qty}, {"ask", v.top[2], v.d.px}, {"ask_qty", v.top[3], v.d.qty},
		{"last", last, v.d.px}, {"volume", t.vol, v.d.qty}, {"vwap", vwap, v.d.px}, {"low", low, v.d.px}, {"high", high, v.d.px}} {
		b = append(b, `,"`...)
		b = append(b, fv.k...)
		b = append(b, `":`...)
		b = appendKrVal(b, fv.v, fv.dec, exp)
	}
	b = append(b, `,"change":`...)
	if change < 0 {
		b = append(b, '-')
	}
	b = appendKrVal(b, max(change, -change), v.d.px, exp)
	b = append(b, `,"change_pct":`...)
	b = strconv.AppendFloat(b, pct, 'f', 2, 64)
	b = append(b, `,"timestamp":"`...)
	b = append(b, krTime(v.us)...)
	b = append(b, `"}]}`...)
	return &Message{Stream: key, Symbol: ks.s.spec.name, Kind: KindStats, Ms: b}
}

// BookAt returns pair's book (v2 symbol "BTC/USDT" or the market's
// "BTCUSDT") right after the book change whose messages carry timestamp
// ts (µs; 0: the last change), all its levels, best first, written as the
// book channel writes them. A client subscribed at depth N that applied
// every message up to one with that timestamp holds its top N levels a
// side. LastUpdateID is ts.
func (k *Kraken) BookAt(pair string, ts int64) (BookState, error) {
	ks := k.feed.lookup(pair)
	if ks == nil {
		return BookState{}, fmt.Errorf("sim: pair %q: %w", pair, ErrUnknownSymbol)
	}
	f := k.feed
	f.mu.Lock()
	n := int64(len(ks.hist))
	lo := max(ks.histN-n, 0)
	if ts == 0 {
		ts = ks.ts
	}
	at := func(i int64) krHist { return ks.hist[i%n] }
	if ts > ks.ts {
		f.mu.Unlock()
		return BookState{}, fmt.Errorf("book %s at %d: %w (last %d)", ks.wsName, ts, ErrNotYet, ks.ts)
	}
	i := lo + int64(sort.Search(int(ks.histN-lo), func(j int) bool { return at(lo+int64(j)).ts >= ts }))
	if i >= ks.histN || at(i).ts != ts {
		oldest := at(lo).ts
		f.mu.Unlock()
		if ts < oldest {
			return BookState{}, fmt.Errorf("book %s at %d: %w (oldest %d)", ks.wsName, ts, ErrHistoryGone, oldest)
		}
		return BookState{}, fmt.Errorf("book %s at %d: no book message has that timestamp: %w", ks.wsName, ts, ErrBadValue)
	}
	mkt := at(i).mkt
	f.mu.Unlock()
	_, book, err := k.srv.market.rebuild(ks.s, mkt, false)
	if err != nil {
		return BookState{}, err
	}
	d := k.srv.market.decs(ks.s)
	st := BookState{Symbol: ks.wsName, LastUpdateID: ts}
	for sd, dst := range []*[]Level{&st.Bids, &st.Asks} {
		lv := book[[]int{bidSide, askSide}[sd]]
		for i := len(lv) - 1; i >= 0; i-- {
			*dst = append(*dst, Level{Price: krNum(lv[i].price, d.px), Qty: krNum(lv[i].qty, d.qty)})
		}
	}
	return st, nil
}

// krOrdType is the taker order type of trade id, "limit" or "market",
// the same on the trade channel and in REST Trades.
func krOrdType(ks *krakenSym, id int64) string {
	if mix64(uint64(id)^nameHash(ks.wsName))%3 == 0 {
		return "market"
	}
	return "limit"
}
