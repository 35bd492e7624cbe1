package sim

import (
	"bytes"
	"context"
	"hash/crc32"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"
)

// okxFeed makes the OKX channels from the market's history: every tick it
// reads the trades and book changes made since the last one and publishes
// what the subscribed channels are due. It only reads the market. Only
// run's goroutine touches the channel state; mu guards the requests the
// connections' readers leave for it (pending snapshots, kicks).
type okxFeed struct {
	o    *OKX
	m    *market
	hub  *hub
	fs   *faults
	rng  *rand.Rand
	ins  []*okxInstFeed
	byID map[string]*okxInstFeed

	mu      sync.Mutex
	pending []okxPending
	kicked  map[string]bool

	liqAt time.Time // next push of liquidation-orders, run's own
}

// okxPending is a books subscription waiting for its snapshot.
type okxPending struct {
	c      *wsConn
	stream string
}

// okxInstFeed is one instrument's channel state.
type okxInstFeed struct {
	in    *okxInst
	names struct{ trades, tradesAll, books, books5, bbo, tickers, funding, mark, oi string }

	tradesNext, allNext int64 // next aggregate trade for trades / trades-all; 0 while nobody subscribes

	books     okxBooks
	books5    okxSnap
	bbo       okxSnap
	tickers   okxSnap
	markNext  time.Time
	markLast  int64
	markSent  time.Time
	fundNext  time.Time
	oiNext    time.Time
	oiLastVal int64
	liqNext   int64    // next aggregate trade looked at for liquidation-orders; 0: off
	liqs      []aggRec // liquidations not yet pushed
}

// okxBooks is the books channel of one instrument.
type okxBooks struct {
	from     int64 // market update ID of the last update published; 0 while nobody subscribes
	lastSeq  int64 // seqId of the last update published (or lost)
	next     time.Time
	lastSent time.Time
}

// okxSnap is a channel that sends whole snapshots when they change.
type okxSnap struct {
	last     []byte
	next     time.Time
	lastSent time.Time
}

// Push intervals (WS / Order book channel, Tickers channel, Mark price
// channel, Open interest channel).
const (
	okxBooksEvery   = 100 * time.Millisecond // books, books5: "every 100 ms"
	okxTickersEvery = 100 * time.Millisecond // "The fastest rate is 1 update/100ms"
	okxMarkEvery    = 200 * time.Millisecond // "every 200ms when there is a change … every 10 seconds when there is no change"
	okxMarkIdle     = 10 * time.Second
	okxOIEvery      = 3 * time.Second // "every 3 seconds when there is a change"
	okxBooksLevels  = 400
	okxChecksumTop  = 25
)

func newOKXFeed(o *OKX) *okxFeed {
	f := &okxFeed{o: o, m: o.srv.market, hub: o.hub, fs: o.srv.faults, rng: o.srv.faults.rng(0x4f4b58), byID: map[string]*okxInstFeed{}, kicked: map[string]bool{}} // "OKX"
	for _, in := range o.insts {
		x := &okxInstFeed{in: in}
		x.names.trades = "trades:" + in.id
		x.names.tradesAll = "trades-all:" + in.id
		x.names.books = "books:" + in.id
		x.names.books5 = "books5:" + in.id
		x.names.bbo = "bbo-tbt:" + in.id
		x.names.tickers = "tickers:" + in.id
		x.names.funding = "funding-rate:" + in.id
		x.names.mark = "mark-price:" + in.id
		x.names.oi = "open-interest:" + in.id
		f.ins = append(f.ins, x)
		f.byID[in.id] = x
	}
	return f
}

// addPending asks for a books snapshot for c, after which c is subscribed.
func (f *okxFeed) addPending(c *wsConn, stream string) {
	f.mu.Lock()
	f.pending = append(f.pending, okxPending{c, stream})
	f.mu.Unlock()
}

// cancelPending drops c's pending snapshots of streams.
func (f *okxFeed) cancelPending(c *wsConn, streams []string) {
	f.mu.Lock()
	f.pending = slices.DeleteFunc(f.pending, func(p okxPending) bool { return p.c == c && slices.Contains(streams, p.stream) })
	f.mu.Unlock()
}

// forget drops what c still waits for; once it returns, the feed no
// longer subscribes c (the caller then removes c from the hub).
func (f *okxFeed) forget(c *wsConn) {
	f.mu.Lock()
	f.pending = slices.DeleteFunc(f.pending, func(p okxPending) bool { return p.c == c })
	f.mu.Unlock()
}

// kick makes a snapshot channel send its current state at the next tick
// (for a new subscriber).
func (f *okxFeed) kick(stream string) {
	f.mu.Lock()
	f.kicked[stream] = true
	f.mu.Unlock()
}

func (f *okxFeed) run(ctx context.Context) {
	everyTick(ctx, f.o.cfg.StreamTick, f.step)
}

func (f *okxFeed) wants(stream string) bool {
	any, _ := f.hub.wants(stream)
	return any
}

func (f *okxFeed) step(now time.Time) {
	f.mu.Lock()
	var kicked map[string]bool // nil when nothing was kicked
	if len(f.kicked) > 0 {
		kicked, f.kicked = f.kicked, map[string]bool{}
	}
	hasPending := len(f.pending) > 0
	f.mu.Unlock()
	for _, x := range f.ins {
		f.trades(x, now)
		f.tradesAll(x, now)
		f.books(x, now, hasPending)
		f.snapshots(x, now, kicked)
		if x.in.swap {
			f.markPrice(x, now, kicked[x.names.mark])
			f.fundingRate(x, now, kicked[x.names.funding])
			f.openInterest(x, now, kicked[x.names.oi])
		}
	}
	f.liquidations(now)
}

// appendOKXArg appends {"arg":{"channel":…,"instId":…}.
func appendOKXArg(b []byte, channel, instID string) []byte {
	b = append(b, `{"arg":{"channel":"`...)
	b = append(b, channel...)
	b = append(b, `","instId":"`...)
	b = append(b, instID...)
	return append(b, `"}`...)
}

func appendOKXQuoted(b []byte, v int64) []byte {
	b = append(b, '"')
	b = appendOKXNum(b, v)
	return append(b, '"')
}

func appendOKXMs(b []byte, ms int64) []byte {
	b = append(b, '"')
	b = strconv.AppendInt(b, ms, 10)
	return append(b, '"')
}

func okxSide(maker bool) string {
	if maker { // the buyer was the maker: the taker sold
		return "sell"
	}
	return "buy"
}

// trades publishes the aggregate trades made since the last tick: "one
// message per (taker order, price, source)", tradeId the last trade of the
// aggregation and count how many (WS / Trades channel: "tradeId 123 with
// count 3 covers 123, 122, 121").
func (f *okxFeed) trades(x *okxInstFeed, now time.Time) {
	name := x.names.trades
	if !f.wants(name) {
		x.tradesNext = 0
		return
	}
	m, s := f.m, x.in.s
	m.mu.Lock()
	next := s.nextAgg
	if x.tradesNext == 0 {
		x.tradesNext = next
		m.mu.Unlock()
		return
	}
	recs := s.aggRange(max(x.tradesNext, m.oldestAgg(s)), next-1)
	m.mu.Unlock()
	x.tradesNext = next
	for i := range recs {
		r := &recs[i]
		b := appendOKXArg(make([]byte, 0, 256), "trades", x.in.id)
		b = append(b, `,"data":[{"instId":"`...)
		b = append(b, x.in.id...)
		b = append(b, `","tradeId":"`...)
		b = strconv.AppendInt(b, r.last, 10)
		b = append(b, `","px":`...)
		b = appendOKXQuoted(b, r.price)
		b = append(b, `,"sz":`...)
		b = appendOKXQuoted(b, x.in.sz(r.qty))
		b = append(b, `,"side":"`...)
		b = append(b, okxSide(r.maker)...)
		b = append(b, `","ts":`...)
		b = appendOKXMs(b, r.us/1000)
		b = append(b, `,"count":"`...)
		b = strconv.AppendInt(b, r.last-r.first+1, 10)
		b = append(b, `","source":"0"}]}`...)
		f.hub.publish(&Message{Stream: name, Symbol: x.in.id, Kind: KindTrade, ID: r.last, Ms: b})
	}
}

// tradesAll publishes every trade since the last tick, one per message
// (WS / All trades channel, on /ws/v5/business).
func (f *okxFeed) tradesAll(x *okxInstFeed, now time.Time) {
	name := x.names.tradesAll
	if !f.wants(name) {
		x.allNext = 0
		return
	}
	m, s := f.m, x.in.s
	m.mu.Lock()
	next := s.nextTrade
	if x.allNext == 0 {
		x.allNext = next
		m.mu.Unlock()
		return
	}
	from := max(x.allNext, m.oldestTrade(s))
	recs := make([]tradeRec, 0, next-from)
	for id := from; id < next; id++ {
		recs = append(recs, *s.tradeAt(id))
	}
	m.mu.Unlock()
	x.allNext = next
	for i := range recs {
		r, id := &recs[i], from+int64(i)
		b := appendOKXArg(make([]byte, 0, 256), "trades-all", x.in.id)
		b = append(b, `,"data":[{"instId":"`...)
		b = append(b, x.in.id...)
		b = append(b, `","tradeId":"`...)
		b = strconv.AppendInt(b, id, 10)
		b = append(b, `","px":`...)
		b = appendOKXQuoted(b, r.price)
		b = append(b, `,"sz":`...)
		b = appendOKXQuoted(b, x.in.sz(r.qty))
		b = append(b, `,"side":"`...)
		b = append(b, okxSide(r.maker)...)
		b = append(b, `","source":"0","ts":`...)
		b = appendOKXMs(b, r.us/1000)
		b = append(b, `}]}`...)
		f.hub.publish(&Message{Stream: name, Symbol: x.in.id, Kind: KindTrade, ID: id, Ms: b})
	}
}

// okxOrders is the order count a level shows: made up, but the same for
// the same level in every message.
func okxOrders(price, qty int64) int64 { return 1 + int64(mix64(uint64(price)^uint64(qty)<<1)%12) }

// appendLevels appends levels (1e-8 units, best first) as
// [["px","sz","0","orders"],…]: sizes in the instrument's unit, the
// deprecated third field "0", and an order count ("0" for a deleted
// level).
func (in *okxInst) appendLevels(b []byte, lv []level) []byte {
	b = append(b, '[')
	for i, l := range lv {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = appendOKXQuoted(b, l.price)
		b = append(b, ',')
		b = appendOKXQuoted(b, in.sz(l.qty))
		b = append(b, `,"0","`...)
		if l.qty == 0 {
			b = append(b, '0')
		} else {
			b = strconv.AppendInt(b, okxOrders(l.price, l.qty), 10)
		}
		b = append(b, `"]`...)
	}
	return append(b, ']')
}

// okxChecksum is the legacy books checksum (WS / Order book channel,
// "Checksum", up to 2026-06-22): CRC32 (IEEE) of
// bid1.px:bid1.sz:ask1.px:ask1.sz:… over the first 25 levels of each side
// (a shorter side's missing entries skipped), as a signed 32-bit integer.
// bids and asks are best first, in 1e-8 units.
func (in *okxInst) checksum(bids, asks []level) int32 {
	var b []byte
	for i := 0; i < okxChecksumTop && (i < len(bids) || i < len(asks)); i++ {
		for _, sd := range [2][]level{bids, asks} {
			if i < len(sd) {
				if len(b) > 0 {
					b = append(b, ':')
				}
				b = appendOKXNum(b, sd[i].price)
				b = append(b, ':')
				b = appendOKXNum(b, in.sz(sd[i].qty))
			}
		}
	}
	return int32(crc32.ChecksumIEEE(b))
}

// topE8 copies the best n levels of each side of s, best first, in 1e-8
// units; the caller holds m.mu.
func topE8(s *symState, n int) (bids, asks []level) {
	bids = s.sc.appendE8Levels(nil, s.book[bidSide].top(nil, n))
	asks = s.sc.appendE8Levels(nil, s.book[askSide].top(nil, n))
	return bids, asks
}

// books publishes the books channel of x: every 100 ms the changes since
// the previous update, chained by prevSeqId; after KeepAlive without a
// change an update with seqId == prevSeqId and empty sides; then the
// snapshots new subscribers wait for, taken at the point of the stream
// the next update continues from.
func (f *okxFeed) books(x *okxInstFeed, now time.Time, hasPending bool) {
	name := x.names.books
	d := &x.books
	var waiting []*wsConn
	if hasPending {
		f.mu.Lock()
		f.pending = slices.DeleteFunc(f.pending, func(p okxPending) bool {
			if p.stream == name {
				waiting = append(waiting, p.c)
				return true
			}
			return false
		})
		f.mu.Unlock()
	}
	subscribed := f.wants(name)
	if !subscribed && len(waiting) == 0 {
		*d = okxBooks{}
		return
	}
	if subscribed && d.from != 0 && dueAt(&d.next, now, okxBooksEvery) {
		f.booksUpdate(x, now)
	}
	if len(waiting) == 0 {
		return
	}
	m, s, in := f.m, x.in.s, x.in
	if d.from == 0 { // the first subscriber: the channel starts here
		m.mu.Lock()
		d.from = s.lastUpdate
		m.mu.Unlock()
		d.lastSeq, d.lastSent, d.next = in.seqOf(d.from), now, now.Add(okxBooksEvery)
	} else {
		// the changes since the last update go to the subscribers now,
		// so that the snapshot and the channel meet at d.from
		f.booksUpdate(x, now)
	}
	_, book, err := m.rebuild(s, d.from, false)
	if err != nil {
		f.mu.Lock()
		for _, c := range waiting {
			f.pending = append(f.pending, okxPending{c, name})
		}
		f.mu.Unlock()
		return
	}
	bs, as := side{lv: book[bidSide]}, side{ask: true, lv: book[askSide]}
	bids, asks := bs.top(nil, okxBooksLevels), as.top(nil, okxBooksLevels)
	m.mu.Lock()
	us := m.lastUs
	m.mu.Unlock()
	sum := int32(0)
	if f.o.cfg.LegacyChecksum {
		sum = in.checksum(bids, asks)
	}
	b := appendOKXArg(make([]byte, 0, 64+(len(bids)+len(asks))*40), "books", in.id)
	b = append(b, `,"action":"snapshot","data":[{"asks":`...)
	b = in.appendLevels(b, asks)
	b = append(b, `,"bids":`...)
	b = in.appendLevels(b, bids)
	b = append(b, `,"ts":`...)
	b = appendOKXMs(b, max(us/1000, 0))
	b = append(b, `,"checksum":`...)
	b = strconv.AppendInt(b, int64(sum), 10)
	b = append(b, `,"prevSeqId":-1,"seqId":`...)
	b = strconv.AppendInt(b, d.lastSeq, 10)
	b = append(b, `}]}`...)
	msg := &Message{Stream: name, Symbol: in.id, Kind: KindPartial, ID: d.lastSeq, Ms: b}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range waiting {
		if c.ctx.Err() != nil {
			continue
		}
		c.enqueue(msg)
		if err := f.hub.subscribe(c, []string{name}, f.o.cfg.MaxChannels); err != nil {
			c.end(4008, "The number of subscribed channels exceeds the maximum limit.", "too many channels")
		}
	}
}

// booksUpdate publishes one update of x's books channel (or a keep-alive)
// when one is due.
func (f *okxFeed) booksUpdate(x *okxInstFeed, now time.Time) {
	d, in := &x.books, x.in
	m, s := f.m, in.s
	m.mu.Lock()
	last := s.lastUpdate
	if last == d.from {
		us := m.lastUs
		m.mu.Unlock()
		if now.Sub(d.lastSent) >= f.o.cfg.KeepAlive {
			// "OKX will send a message with 'asks': [], 'bids': [] … seqId
			// is the same as the last sent message and prevSeqId equals
			// to seqId."
			f.publishBooks(x, now, nil, nil, d.lastSeq, d.lastSeq, 0, us)
			d.lastSent = now
		}
		return
	}
	from := d.from
	lost := false
	if oldest := max(s.firstUpdate, last-s.changeCap); from < oldest {
		from, lost = oldest, true // the changes since d.from are no longer all kept
	}
	pend := s.changesSince(from, last)
	var topB, topA []level
	if f.o.cfg.LegacyChecksum {
		topB, topA = topE8(s, okxChecksumTop)
	}
	us := m.lastUs
	m.mu.Unlock()

	prev := d.lastSeq
	if lost {
		prev = in.seqOf(from)
	}
	fault, hit := f.fs.hit(classMessage, f.rng, now, func(k FaultKind) bool {
		return k == FaultOKXSeqBreak || k == FaultOKXSeqReset || k == FaultOKXBadChecksum && f.o.cfg.LegacyChecksum
	})
	if hit && fault.Kind == FaultOKXSeqReset && prev > 2 {
		// "The sequence number may be reset due to maintenance … an
		// incremental message with seqId smaller than prevSeqId"
		in.reset(last, 1+f.rng.Int64N(min(prev-1, 10)))
	}
	seq := in.seqOf(last)
	d.from, d.lastSeq, d.lastSent = last, seq, now
	if hit && fault.Kind == FaultOKXSeqBreak {
		return // lost on the server's side: the next update's prevSeqId is this seqId
	}
	bids, asks := sidesOf(pend)
	sum := int32(0)
	if f.o.cfg.LegacyChecksum {
		sum = in.checksum(topB, topA)
		if hit && fault.Kind == FaultOKXBadChecksum {
			sum ^= 0x5a5a5a5a
		}
	}
	f.publishBooks(x, now, bids, asks, prev, seq, sum, us)
}

func (f *okxFeed) publishBooks(x *okxInstFeed, now time.Time, bids, asks []level, prev, seq int64, sum int32, us int64) {
	in := x.in
	b := appendOKXArg(make([]byte, 0, 160+(len(bids)+len(asks))*40), "books", in.id)
	b = append(b, `,"action":"update","data":[{"asks":`...)
	b = in.appendLevels(b, asks)
	b = append(b, `,"bids":`...)
	b = in.appendLevels(b, bids)
	b = append(b, `,"ts":`...)
	b = appendOKXMs(b, max(now.UnixMilli(), us/1000))
	b = append(b, `,"checksum":`...)
	b = strconv.AppendInt(b, int64(sum), 10)
	b = append(b, `,"prevSeqId":`...)
	b = strconv.AppendInt(b, prev, 10)
	b = append(b, `,"seqId":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `}]}`...)
	f.hub.publish(&Message{Stream: x.names.books, Symbol: in.id, Kind: KindDepth, ID: seq, Ms: b})
}

// snapshots publishes books5 (every 100 ms when the 5 levels changed),
// bbo-tbt (every tick when the best levels changed) and tickers (every
// 100 ms when the last trade or the best levels changed); books5 and
// bbo-tbt resend after KeepAlive without a change ("for the channel that
// always updates snapshot data, OKX will send the latest snapshot").
func (f *okxFeed) snapshots(x *okxInstFeed, now time.Time, kicked map[string]bool) {
	in := x.in
	for _, ch := range []struct {
		name, channel string
		st            *okxSnap
		every         time.Duration
		depth         int
	}{
		{x.names.bbo, "bbo-tbt", &x.bbo, 0, 1},
		{x.names.books5, "books5", &x.books5, okxBooksEvery, 5},
	} {
		if !f.wants(ch.name) {
			*ch.st = okxSnap{}
			continue
		}
		force := kicked[ch.name]
		if ch.every > 0 && !dueAt(&ch.st.next, now, ch.every) && !force {
			continue
		}
		f.m.mu.Lock()
		bids, asks := topE8(in.s, ch.depth)
		last, us := in.s.lastUpdate, f.m.lastUs
		f.m.mu.Unlock()
		body := in.appendLevels([]byte(`{"asks":`), asks)
		body = append(body, `,"bids":`...)
		body = in.appendLevels(body, bids)
		if !force && bytes.Equal(body, ch.st.last) && now.Sub(ch.st.lastSent) < f.o.cfg.KeepAlive {
			continue
		}
		ch.st.last, ch.st.lastSent = body, now
		b := appendOKXArg(make([]byte, 0, len(body)+160), ch.channel, in.id)
		b = append(b, `,"data":[`...)
		b = append(b, body...)
		if ch.depth == 5 {
			b = append(b, `,"instId":"`...)
			b = append(b, in.id...)
			b = append(b, '"')
		}
		b = append(b, `,"ts":`...)
		b = appendOKXMs(b, us/1000)
		b = append(b, `,"seqId":`...)
		b = strconv.AppendInt(b, in.seqOf(last), 10)
		b = append(b, `}]}`...)
		kind := KindPartial
		if ch.depth == 1 {
			kind = KindBookTicker
		}
		f.hub.publish(&Message{Stream: ch.name, Symbol: in.id, Kind: kind, ID: in.seqOf(last), Ms: b})
	}
	f.tickers(x, now, kicked[x.names.tickers])
}

// tickers publishes the tickers channel: last trade, best bid and ask,
// and the 24-hour figures of the trades the market still holds.
func (f *okxFeed) tickers(x *okxInstFeed, now time.Time, force bool) {
	st, in := &x.tickers, x.in
	if !f.wants(x.names.tickers) {
		*st = okxSnap{}
		return
	}
	if !dueAt(&st.next, now, okxTickersEvery) && !force {
		return
	}
	m, s := f.m, in.s
	m.mu.Lock()
	bids, asks := topE8(s, 1)
	var last aggRec
	var open, high, low, vol, volCcy int64
	dayAgo := now.Add(-24 * time.Hour).UnixMicro()
	if lo := m.oldestAgg(s); lo < s.nextAgg {
		last = *s.aggAt(s.nextAgg - 1)
		for id := s.nextAgg - 1; id >= lo && id >= s.nextAgg-2000; id-- {
			r := s.aggAt(id)
			if r.us < dayAgo {
				break
			}
			open = r.price
			if r.price > high {
				high = r.price
			}
			if low == 0 || r.price < low {
				low = r.price
			}
			vol += r.qty
			volCcy += quoteE8(r.price, r.qty)
		}
	}
	m.mu.Unlock()
	var top [4]int64
	if len(bids) > 0 {
		top[0], top[1] = bids[0].price, in.sz(bids[0].qty)
	}
	if len(asks) > 0 {
		top[2], top[3] = asks[0].price, in.sz(asks[0].qty)
	}
	body := []byte(`{"instType":"`)
	body = append(body, in.instType()...)
	body = append(body, `","instId":"`...)
	body = append(body, in.id...)
	body = append(body, `","last":`...)
	body = appendOKXQuoted(body, last.price)
	body = append(body, `,"lastSz":`...)
	body = appendOKXQuoted(body, in.sz(last.qty))
	for i, k := range [...]string{`,"bidPx":`, `,"bidSz":`, `,"askPx":`, `,"askSz":`} {
		body = append(body, k...)
		body = appendOKXQuoted(body, top[i])
	}
	for _, kv := range []struct {
		k string
		v int64
	}{{`,"open24h":`, open}, {`,"high24h":`, high}, {`,"low24h":`, low}, {`,"sodUtc0":`, open}, {`,"sodUtc8":`, open}} {
		body = append(body, kv.k...)
		body = appendOKXQuoted(body, kv.v)
	}
	// "vol24h: 24h trading volume, with a unit of contract (derivatives)
	// or base currency (spot); volCcy24h: in base currency (derivatives)
	// or quote currency (spot)"
	v24, c24 := vol, volCcy
	if in.swap {
		v24, c24 = in.sz(vol), vol
	}
	body = append(body, `,"vol24h":`...)
	body = appendOKXQuoted(body, v24)
	body = append(body, `,"volCcy24h":`...)
	body = appendOKXQuoted(body, c24)
	if !force && bytes.Equal(body, st.last) {
		return
	}
	st.last, st.lastSent = body, now
	b := appendOKXArg(make([]byte, 0, len(body)+120), "tickers", in.id)
	b = append(b, `,"data":[`...)
	b = append(b, body...)
	b = append(b, `,"ts":`...)
	b = appendOKXMs(b, now.UnixMilli())
	b = append(b, `}]}`...)
	f.hub.publish(&Message{Stream: x.names.tickers, Symbol: in.id, Kind: KindStats, Ms: b})
}

// markPrice publishes mark-price: every 200 ms when it changed, else
// every 10 s. The mark price is the middle of the book.
func (f *okxFeed) markPrice(x *okxInstFeed, now time.Time, force bool) {
	if !f.wants(x.names.mark) {
		x.markNext, x.markLast, x.markSent = time.Time{}, 0, time.Time{}
		return
	}
	if !dueAt(&x.markNext, now, okxMarkEvery) && !force {
		return
	}
	mark, _, _, _ := markValues(f.m, x.in.s, now)
	if !force && mark == x.markLast && now.Sub(x.markSent) < okxMarkIdle {
		return
	}
	x.markLast, x.markSent = mark, now
	b := appendOKXArg(make([]byte, 0, 200), "mark-price", x.in.id)
	b = append(b, `,"data":[{"instType":"SWAP","instId":"`...)
	b = append(b, x.in.id...)
	b = append(b, `","markPx":`...)
	b = appendOKXQuoted(b, mark)
	b = append(b, `,"ts":`...)
	b = appendOKXMs(b, now.UnixMilli())
	b = append(b, `}]}`...)
	f.hub.publish(&Message{Stream: x.names.mark, Symbol: x.in.id, Kind: KindStats, Ms: b})
}

// fundingRate publishes funding-rate every OKXConfig.FundingEvery ("data
// will be pushed in 30s to 90s"), on an 8-hour funding interval.
func (f *okxFeed) fundingRate(x *okxInstFeed, now time.Time, force bool) {
	if !f.wants(x.names.funding) {
		x.fundNext = time.Time{}
		return
	}
	if !dueAt(&x.fundNext, now, f.o.cfg.FundingEvery) && !force {
		return
	}
	_, _, rate, next := markValues(f.m, x.in.s, now)
	b := appendOKXArg(make([]byte, 0, 400), "funding-rate", x.in.id)
	b = append(b, `,"data":[{"formulaType":"noRate","fundingRate":`...)
	b = appendOKXQuoted(b, rate)
	b = append(b, `,"fundingTime":`...)
	b = appendOKXMs(b, next)
	b = append(b, `,"impactValue":"","instId":"`...)
	b = append(b, x.in.id...)
	b = append(b, `","instType":"SWAP","interestRate":"0.0001","maxFundingRate":"0.00375","method":"current_period","minFundingRate":"-0.00375","nextFundingRate":"","nextFundingTime":`...)
	b = appendOKXMs(b, next+fundingEvery.Milliseconds())
	b = append(b, `,"premium":`...)
	b = appendOKXQuoted(b, (rate-10000)*8)
	b = append(b, `,"settFundingRate":`...)
	b = appendOKXQuoted(b, 10000)
	b = append(b, `,"settState":"settled","ts":`...)
	b = appendOKXMs(b, now.UnixMilli())
	b = append(b, `}]}`...)
	f.hub.publish(&Message{Stream: x.names.funding, Symbol: x.in.id, Kind: KindStats, Ms: b})
}

// openInterest publishes open-interest every 3 s when it changed: a
// made-up figure that follows the volume traded.
func (f *okxFeed) openInterest(x *okxInstFeed, now time.Time, force bool) {
	if !f.wants(x.names.oi) {
		x.oiNext, x.oiLastVal = time.Time{}, 0
		return
	}
	if !dueAt(&x.oiNext, now, okxOIEvery) && !force {
		return
	}
	m, s := f.m, x.in.s
	m.mu.Lock()
	n := s.nextTrade
	m.mu.Unlock()
	oiCcy := (100000 + n%50000) * 1e6 // base currency, 1e-8 units
	if !force && oiCcy == x.oiLastVal {
		return
	}
	x.oiLastVal = oiCcy
	mark, _, _, _ := markValues(m, s, now)
	b := appendOKXArg(make([]byte, 0, 300), "open-interest", x.in.id)
	b = append(b, `,"data":[{"instId":"`...)
	b = append(b, x.in.id...)
	b = append(b, `","instType":"SWAP","oi":`...)
	b = appendOKXQuoted(b, x.in.sz(oiCcy))
	b = append(b, `,"oiCcy":`...)
	b = appendOKXQuoted(b, oiCcy)
	b = append(b, `,"oiUsd":`...)
	b = appendOKXQuoted(b, quoteE8(mark, oiCcy))
	b = append(b, `,"ts":`...)
	b = appendOKXMs(b, now.UnixMilli())
	b = append(b, `}]}`...)
	f.hub.publish(&Message{Stream: x.names.oi, Symbol: x.in.id, Kind: KindStats, Ms: b})
}
