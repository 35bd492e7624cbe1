package sim

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// usdmFeed makes the USD-M streams from the market's history: every tick it
// reads the aggregate trades and book changes made since the last one, and
// publishes what the subscribed streams are due. It only reads the market
// (under its lock), so the spot front-end and the ground truth are
// unaffected. Only run's goroutine touches its state.
type usdmFeed struct {
	m    *market
	hub  *hub
	fs   *faults
	tick time.Duration
	rng  *rand.Rand // pu-break decisions
	syms []*usdmSym

	markNext [2]time.Time // 3s and 1s schedules of the mark price streams
}

// usdmSym is one symbol's stream state.
type usdmSym struct {
	s     *symState
	hash  uint64
	names [utForceOrder + 1]string

	aggNext  int64 // next aggregate trade for <s>@aggTrade; 0 while nobody subscribes
	depth    [3]usdmDepth
	tickerOn bool
	ticker   [4]int64 // last bookTicker sent: bid, bid qty, ask, ask qty (1e-8)

	liqNext int64     // next aggregate trade to look at for liquidations; 0: off
	liq     *aggRec   // latest liquidation of the current window
	liqAt   time.Time // end of the current window
}

// usdmDepth is one diff depth stream of a symbol.
type usdmDepth struct {
	from int64 // market update ID the next event starts after; 0 while nobody subscribes
	next time.Time
}

// usdmDepthEvery are the update speeds of <s>@depth, <s>@depth@500ms and
// <s>@depth@100ms ("Update Speed: 250ms, 500ms, 100ms"), in the order of
// utDepth, utDepth500, utDepth100.
var usdmDepthEvery = [3]time.Duration{250 * time.Millisecond, 500 * time.Millisecond, 100 * time.Millisecond}

// Update speeds of the mark price streams ("Update Speed: 3000ms or
// 1000ms") and of the liquidation streams ("Update Speed: 1000ms").
var (
	usdmMarkEvery  = [2]time.Duration{3 * time.Second, time.Second}
	usdmForceEvery = time.Second
)

var allMarkNames = [2]string{"!markPrice@arr", "!markPrice@arr@1s"}

// fundingEvery is the funding interval of the simulated perpetuals: 00:00,
// 08:00 and 16:00 UTC.
const fundingEvery = 8 * time.Hour

// liquidationShare: one aggregate trade in liquidationShare is the fill of
// a liquidation order.
const liquidationShare = 10

func newUSDMFeed(m *market, h *hub, fs *faults, tick time.Duration) *usdmFeed {
	f := &usdmFeed{m: m, hub: h, fs: fs, tick: tick, rng: fs.rng(0x5553444d)} // "USDM"
	for _, s := range m.syms {
		ss := &usdmSym{s: s, hash: nameHash(s.spec.name)}
		low := strings.ToLower(s.spec.name)
		ss.names[utAggTrade] = low + "@aggTrade"
		ss.names[utDepth] = low + "@depth"
		ss.names[utDepth500] = low + "@depth@500ms"
		ss.names[utDepth100] = low + "@depth@100ms"
		ss.names[utBookTicker] = low + "@bookTicker"
		ss.names[utMark3s] = low + "@markPrice"
		ss.names[utMark1s] = low + "@markPrice@1s"
		ss.names[utForceOrder] = low + "@forceOrder"
		f.syms = append(f.syms, ss)
	}
	return f
}

// run publishes until ctx ends.
func (f *usdmFeed) run(ctx context.Context) {
	everyTick(ctx, f.tick, f.step)
}

func (f *usdmFeed) wants(stream string) bool {
	any, _ := f.hub.wants(stream)
	return any
}

// step publishes what is due at now.
func (f *usdmFeed) step(now time.Time) {
	ms := now.UnixMilli()
	var arr [2][]byte // !markPrice@arr and !markPrice@arr@1s
	var markDue [2]bool
	for j := range f.markNext {
		markDue[j] = dueAt(&f.markNext[j], now, usdmMarkEvery[j])
		if markDue[j] && f.wants(allMarkNames[j]) {
			arr[j] = []byte{'['}
		}
	}
	allForce := f.wants("!forceOrder@arr")
	for _, ss := range f.syms {
		f.aggTrades(ss, ms)
		f.bookTicker(ss, ms)
		for j := range ss.depth {
			f.depth(ss, j, now)
		}
		for j := range arr {
			name := ss.names[utMark3s+usdmType(j)]
			one := markDue[j] && f.wants(name)
			if !one && arr[j] == nil {
				continue
			}
			body := f.markPrice(ss, now)
			if one {
				f.hub.publish(&Message{Stream: name, Symbol: ss.s.spec.name, Kind: KindStats, Ms: body})
			}
			if arr[j] != nil {
				if len(arr[j]) > 1 {
					arr[j] = append(arr[j], ',')
				}
				arr[j] = append(arr[j], body...)
			}
		}
		f.liquidations(ss, now, allForce)
	}
	for j, b := range arr {
		if b != nil {
			f.hub.publish(&Message{Stream: allMarkNames[j], Kind: KindStats, Ms: append(b, ']')})
		}
	}
}

// aggTrades publishes the aggregate trades made since the last tick.
func (f *usdmFeed) aggTrades(ss *usdmSym, ms int64) {
	name := ss.names[utAggTrade]
	if !f.wants(name) {
		ss.aggNext = 0
		return
	}
	m, s := f.m, ss.s
	m.mu.Lock()
	next := s.nextAgg
	if ss.aggNext == 0 { // the stream starts with the first trade after the subscription
		ss.aggNext = next
		m.mu.Unlock()
		return
	}
	from := max(ss.aggNext, m.oldestAgg(s))
	recs := s.aggRange(from, next-1)
	m.mu.Unlock()
	ss.aggNext = next
	for i := range recs {
		id := from + int64(i)
		body := appendUSDMAggTrade(make([]byte, 0, 192), s.spec.name, max(ms, recs[i].us/1000), id, &recs[i])
		f.hub.publish(&Message{Stream: name, Symbol: s.spec.name, Kind: KindAggTrade, ID: id, Ms: body})
	}
}

// bookTicker publishes the best bid and ask when they changed.
func (f *usdmFeed) bookTicker(ss *usdmSym, ms int64) {
	name := ss.names[utBookTicker]
	if !f.wants(name) {
		ss.tickerOn = false
		return
	}
	m, s := f.m, ss.s
	m.mu.Lock()
	t, sc, last, us := s.top(), s.sc, s.lastUpdate, m.lastUs
	m.mu.Unlock()
	e8 := [4]int64{sc.priceE8(t[0]), sc.qtyE8(t[1]), sc.priceE8(t[2]), sc.qtyE8(t[3])}
	if ss.tickerOn && e8 == ss.ticker {
		return
	}
	ss.tickerOn, ss.ticker = true, e8
	id := USDMUpdateID(last)
	body := appendUSDMBookTicker(make([]byte, 0, 192), s.spec.name, max(ms, us/1000), us/1000, id, e8)
	f.hub.publish(&Message{Stream: name, Symbol: s.spec.name, Kind: KindBookTicker, ID: id, Ms: body})
}

// depth publishes diff depth stream j of ss when it is due and the book
// changed: every change since the previous event, each level at its
// latest quantity. U is the USD-M ID of the first change, u of the last,
// pu the u of the previous event of the stream, sent or not. When the
// changes since the previous event are no longer all in the market's
// history (a burst larger than Config.History), the event starts at the
// oldest one kept and its pu is not the previous u: a gap clients can
// only repair with a new snapshot.
func (f *usdmFeed) depth(ss *usdmSym, j int, now time.Time) {
	name := ss.names[utDepth+usdmType(j)]
	d := &ss.depth[j]
	if !f.wants(name) {
		*d = usdmDepth{}
		return
	}
	if !dueAt(&d.next, now, usdmDepthEvery[j]) && d.from != 0 {
		return
	}
	m, s := f.m, ss.s
	m.mu.Lock()
	last := s.lastUpdate
	if d.from == 0 || last == d.from { // just subscribed, or nothing changed: nothing to send
		d.from = last
		m.mu.Unlock()
		return
	}
	from := max(d.from, s.firstUpdate, last-s.changeCap)
	pend := s.changesSince(from, last)
	us := m.lastUs
	m.mu.Unlock()
	d.from = last

	if _, hit := f.fs.hit(classMessage, f.rng, now, func(k FaultKind) bool { return k == FaultPUBreak }); hit {
		return // lost on the server's side: the next event's pu is this one's u
	}
	bids, asks := sidesOf(pend)
	u := USDMUpdateID(last)
	body := appendUSDMDepth(make([]byte, 0, 128+(len(bids)+len(asks))*48), s.spec.name, max(now.UnixMilli(), us/1000), us/1000,
		USDMUpdateID(from+1), u, USDMUpdateID(from), bids, asks)
	f.hub.publish(&Message{Stream: name, Symbol: s.spec.name, Kind: KindDepth, ID: u, Ms: body})
}

// markPrice encodes a markPriceUpdate of ss at now: the mark price is the
// middle of the book; the index price sits a few millionths away from it,
// moving every three seconds; the funding rate is the 0.01% interest rate
// plus an eighth of the premium.
func (f *usdmFeed) markPrice(ss *usdmSym, now time.Time) []byte {
	s := ss.s
	mark, index, rate, next := markValues(f.m, s, now)
	b := make([]byte, 0, 224)
	b = append(b, `{"e":"markPriceUpdate","E":`...)
	b = strconv.AppendInt(b, now.UnixMilli(), 10)
	b = append(b, `,"s":"`...)
	b = append(b, s.spec.name...)
	b = append(b, `","p":`...)
	b = appendQuotedE8(b, mark)
	b = append(b, `,"i":`...)
	b = appendQuotedE8(b, index)
	b = append(b, `,"P":`...)
	b = appendQuotedE8(b, index)
	b = append(b, `,"r":`...)
	b = appendQuotedE8(b, rate)
	b = append(b, `,"T":`...)
	b = strconv.AppendInt(b, next, 10)
	return append(b, '}')
}

// isLiquidation reports whether aggregate trade id of a symbol (name hash
// h) is the fill of a liquidation order.
func isLiquidation(h uint64, id int64) bool { return mix64(uint64(id)^h)%liquidationShare == 0 }

// liquidations follows the liquidations of ss and publishes, at the end of
// every 1000 ms window, the latest one of the window: "Only the latest one
// liquidation order within 1000ms will be pushed as the snapshot. If no
// liquidation happens in the interval of 1000ms, no stream will be pushed."
func (f *usdmFeed) liquidations(ss *usdmSym, now time.Time, all bool) {
	name := ss.names[utForceOrder]
	one := f.wants(name)
	if !one && !all {
		ss.liqNext, ss.liq, ss.liqAt = 0, nil, time.Time{}
		return
	}
	m, s := f.m, ss.s
	m.mu.Lock()
	next := s.nextAgg
	if ss.liqNext != 0 {
		for id := max(ss.liqNext, m.oldestAgg(s)); id < next; id++ {
			if isLiquidation(ss.hash, id) {
				r := *s.aggAt(id)
				ss.liq = &r
			}
		}
	}
	m.mu.Unlock()
	ss.liqNext = next
	if !dueAt(&ss.liqAt, now, usdmForceEvery) || ss.liq == nil {
		return
	}
	body := appendUSDMForceOrder(make([]byte, 0, 256), s.spec.name, max(now.UnixMilli(), ss.liq.us/1000), ss.liq)
	ss.liq = nil
	if one {
		f.hub.publish(&Message{Stream: name, Symbol: s.spec.name, Kind: KindStats, Ms: body})
	}
	if all {
		f.hub.publish(&Message{Stream: "!forceOrder@arr", Symbol: s.spec.name, Kind: KindStats, Ms: body})
	}
}

// appendUSDMAggTrade appends an aggTrade event ("Aggregate Trade Streams"):
// {"e":"aggTrade","E":…,"s":…,"a":…,"p":…,"q":…,"nq":…,"f":…,"l":…,"T":…,"m":…}.
// The simulator has no RPI orders, so "nq" (the quantity without them)
// equals "q".
func appendUSDMAggTrade(b []byte, sym string, ms, id int64, r *aggRec) []byte {
	b = append(b, `{"e":"aggTrade","E":`...)
	b = strconv.AppendInt(b, ms, 10)
	b = append(b, `,"s":"`...)
	b = append(b, sym...)
	b = append(b, `","a":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `,"p":`...)
	b = appendQuotedE8(b, r.price)
	b = append(b, `,"q":`...)
	b = appendQuotedE8(b, r.qty)
	b = append(b, `,"nq":`...)
	b = appendQuotedE8(b, r.qty)
	b = append(b, `,"f":`...)
	b = strconv.AppendInt(b, r.first, 10)
	b = append(b, `,"l":`...)
	b = strconv.AppendInt(b, r.last, 10)
	b = append(b, `,"T":`...)
	b = strconv.AppendInt(b, r.us/1000, 10)
	b = append(b, `,"m":`...)
	b = appendBool(b, r.maker)
	return append(b, '}')
}

// appendUSDMBookTicker appends a bookTicker event ("Individual Symbol Book
// Ticker Streams"): {"e":"bookTicker","u":…,"E":…,"T":…,"s":…,"b":…,"B":…,"a":…,"A":…}.
func appendUSDMBookTicker(b []byte, sym string, e, t, u int64, top [4]int64) []byte {
	b = append(b, `{"e":"bookTicker","u":`...)
	b = strconv.AppendInt(b, u, 10)
	b = append(b, `,"E":`...)
	b = strconv.AppendInt(b, e, 10)
	b = append(b, `,"T":`...)
	b = strconv.AppendInt(b, t, 10)
	b = append(b, `,"s":"`...)
	b = append(b, sym...)
	for i, k := range [...]string{`","b":`, `,"B":`, `,"a":`, `,"A":`} {
		b = append(b, k...)
		b = appendQuotedE8(b, top[i])
	}
	return append(b, '}')
}

// appendUSDMDepth appends a depthUpdate event ("Diff. Book Depth Streams"):
// {"e":"depthUpdate","E":…,"T":…,"s":…,"U":…,"u":…,"pu":…,"b":[…],"a":[…]},
// levels in units of 1e-8, best first.
func appendUSDMDepth(b []byte, sym string, e, t, first, last, prev int64, bids, asks []level) []byte {
	b = append(b, `{"e":"depthUpdate","E":`...)
	b = strconv.AppendInt(b, e, 10)
	b = append(b, `,"T":`...)
	b = strconv.AppendInt(b, t, 10)
	b = append(b, `,"s":"`...)
	b = append(b, sym...)
	b = append(b, `","U":`...)
	b = strconv.AppendInt(b, first, 10)
	b = append(b, `,"u":`...)
	b = strconv.AppendInt(b, last, 10)
	b = append(b, `,"pu":`...)
	b = strconv.AppendInt(b, prev, 10)
	b = append(b, `,"b":`...)
	b = appendLevels(b, unitScale, bids)
	b = append(b, `,"a":`...)
	b = appendLevels(b, unitScale, asks)
	return append(b, '}')
}

// appendUSDMForceOrder appends a forceOrder event ("Liquidation Order
// Streams") for the liquidation filled by aggregate trade r: the taker's
// side, a LIMIT IOC order FILLED at the trade's price and quantity.
func appendUSDMForceOrder(b []byte, sym string, ms int64, r *aggRec) []byte {
	side := "BUY"
	if r.maker { // the buyer was the maker: the liquidation sold
		side = "SELL"
	}
	b = append(b, `{"e":"forceOrder","E":`...)
	b = strconv.AppendInt(b, ms, 10)
	b = append(b, `,"o":{"s":"`...)
	b = append(b, sym...)
	b = append(b, `","S":"`...)
	b = append(b, side...)
	b = append(b, `","o":"LIMIT","f":"IOC","q":`...)
	b = appendQuotedE8(b, r.qty)
	b = append(b, `,"p":`...)
	b = appendQuotedE8(b, r.price)
	b = append(b, `,"ap":`...)
	b = appendQuotedE8(b, r.price)
	b = append(b, `,"X":"FILLED","l":`...)
	b = appendQuotedE8(b, r.qty)
	b = append(b, `,"z":`...)
	b = appendQuotedE8(b, r.qty)
	b = append(b, `,"T":`...)
	b = strconv.AppendInt(b, r.us/1000, 10)
	return append(b, `}}`...)
}
