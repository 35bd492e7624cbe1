package sim

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"
)

// cbFeed makes the Coinbase channels from the market's history. Only
// run's goroutine touches the channel state; mu guards the snapshots the
// connections' readers ask for.
type cbFeed struct {
	cb  *Coinbase
	m   *market
	hub *hub
	fs  *faults
	rng *rand.Rand
	ps  []*cbProdFeed

	mu      sync.Mutex
	pending []okxPending

	hbCounter   int64
	hbNext      time.Time
	hbStopUntil time.Time
	offNext     time.Time
	tradesNext  time.Time
}

type cbProdFeed struct {
	p                          *cbProduct
	l2, trades, ticker, status string
	statusLast                 string // the status last published: "online", "offline"; "" before any
	l2From                     int64  // market update of the last l2_data sent; 0 while nobody subscribes
	tradeNext                  int64  // next trade id for market_trades; 0 while nobody subscribes
	tickerLast                 []byte
}

// cbSnapshotTrades is how many recent trades the market_trades snapshot
// holds (Coinbase sends "the last 50 trades").
const cbSnapshotTrades = 50

func newCBFeed(cb *Coinbase) *cbFeed {
	f := &cbFeed{cb: cb, m: cb.srv.market, hub: cb.hub, fs: cb.srv.faults, rng: cb.srv.faults.rng(0x434246)}
	for _, p := range cb.prods {
		f.ps = append(f.ps, &cbProdFeed{p: p, l2: cbStream("level2", p.id), trades: cbStream("market_trades", p.id), ticker: cbStream("ticker", p.id),
			status: cbStream("status", p.id)})
	}
	return f
}

func (f *cbFeed) addPending(c *wsConn, stream string) {
	f.mu.Lock()
	f.pending = append(f.pending, okxPending{c, stream})
	f.mu.Unlock()
}

func (f *cbFeed) pendingOf(c *wsConn) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, p := range f.pending {
		if p.c == c {
			out = append(out, p.stream)
		}
	}
	return out
}

func (f *cbFeed) cancelPending(c *wsConn, streams []string) {
	f.mu.Lock()
	f.pending = slices.DeleteFunc(f.pending, func(p okxPending) bool { return p.c == c && slices.Contains(streams, p.stream) })
	f.mu.Unlock()
}

func (f *cbFeed) forget(c *wsConn) {
	f.mu.Lock()
	f.pending = slices.DeleteFunc(f.pending, func(p okxPending) bool { return p.c == c })
	f.mu.Unlock()
}

func (f *cbFeed) run(ctx context.Context) { everyTick(ctx, f.cb.cfg.StreamTick, f.step) }

func (f *cbFeed) wants(stream string) bool {
	any, _ := f.hub.wants(stream)
	return any
}

// takePending removes and returns the connections waiting for stream.
func (f *cbFeed) takePending(stream string) []*wsConn {
	var out []*wsConn
	f.mu.Lock()
	f.pending = slices.DeleteFunc(f.pending, func(p okxPending) bool {
		if p.stream == stream {
			out = append(out, p.c)
			return true
		}
		return false
	})
	f.mu.Unlock()
	return out
}

// join sends msg to each of waiting and subscribes it to stream.
func (f *cbFeed) join(waiting []*wsConn, stream string, msg *Message) {
	for _, c := range waiting {
		if c.ctx.Err() != nil {
			continue
		}
		c.enqueue(msg)
		if err := f.hub.subscribe(c, []string{stream}, c.conf().MaxStreams); err != nil {
			c.end(1008, "too many subscriptions", "too many subscriptions")
		}
	}
}

func (f *cbFeed) step(now time.Time) {
	f.heartbeats(now)
	if dueAt(&f.offNext, now, time.Second) && f.fs.active[classMessage].Load() {
		for _, x := range f.ps {
			if ft, hit := f.fs.hit(classMessage, f.rng, now, func(k FaultKind) bool { return k == FaultCoinbaseProductOffline }); hit {
				x.p.goOffline(now, now.Add(orDefault(ft.Duration, 10*time.Second)))
			}
		}
	}
	tradesDue := dueAt(&f.tradesNext, now, f.cb.cfg.TradesEvery)
	for _, x := range f.ps {
		off := f.statusCh(x, now)
		f.level2(x, now, off)
		f.marketTrades(x, now, tradesDue)
		f.tickerCh(x, now, off)
	}
}

// statusCh publishes the product's status when it changes, and to a new
// subscriber a snapshot first ("WebSocket Channels": Status channel,
// {"type":"snapshot","products":[{"product_type":"SPOT","id":…,
// "base_currency":…,"quote_currency":…,"base_increment":…,
// "quote_increment":…,"display_name":…,"status":…,"status_message":…,
// "min_market_funds":…}]}), one product a message. It reports whether
// the product is offline.
func (f *cbFeed) statusCh(x *cbProdFeed, now time.Time) bool {
	off := x.p.offline(now)
	st, why := "online", ""
	if off {
		st, why = "offline", "Trading is temporarily disabled for "+x.p.id
	}
	msg := func(typ string) *Message {
		f.m.mu.Lock()
		sp := x.p.s.spec
		f.m.mu.Unlock()
		b := cbEnvelope("status", now)
		b = append(b, `[{"type":"`...)
		b = append(b, typ...)
		b = append(b, `","products":[{"product_type":"SPOT","id":"`...)
		b = append(b, x.p.id...)
		b = append(b, `","base_currency":"`+sp.base+`","quote_currency":"`+sp.quote+`","base_increment":"`...)
		b = appendOKXNum(b, pow10(sp.stepExp+8))
		b = append(b, `","quote_increment":"`...)
		b = appendOKXNum(b, pow10(sp.tickExp+8))
		b = append(b, `","display_name":"`+sp.base+"/"+sp.quote+`","status":"`+st+`","status_message":`...)
		b = appendJSONString(b, why)
		b = append(b, `,"min_market_funds":"1"}]}]}`...)
		return &Message{Stream: x.status, Symbol: x.p.id, Kind: KindControl, Ms: b}
	}
	if x.statusLast != "" && st != x.statusLast && f.wants(x.status) {
		f.hub.publish(msg("update"))
	}
	x.statusLast = st
	if waiting := f.takePending(x.status); len(waiting) > 0 {
		f.join(waiting, x.status, msg("snapshot"))
	}
	return off
}

// heartbeats sends one message per HeartbeatEvery with an incrementing
// heartbeat_counter (an integer, as the AsyncAPI gives it) and
// current_time in Go's time.String form.
func (f *cbFeed) heartbeats(now time.Time) {
	if !dueAt(&f.hbNext, now, f.cb.cfg.HeartbeatEvery) {
		return
	}
	if f.fs.active[classMessage].Load() && !now.Before(f.hbStopUntil) {
		if ft, hit := f.fs.hit(classMessage, f.rng, now, func(k FaultKind) bool { return k == FaultCoinbaseNoHeartbeat }); hit {
			f.hbStopUntil = now.Add(orDefault(ft.Duration, 10*time.Second))
		}
	}
	f.hbCounter++ // counts while stopped, so the gap shows
	if now.Before(f.hbStopUntil) || !f.wants("heartbeats") {
		return
	}
	b := cbEnvelope("heartbeats", now)
	b = append(b, `[{"current_time":`...)
	b = appendJSONString(b, now.UTC().String())
	b = append(b, `,"heartbeat_counter":`...)
	b = strconv.AppendInt(b, f.hbCounter, 10)
	b = append(b, `}]}`...)
	f.hub.publish(&Message{Stream: "heartbeats", Kind: KindStats, ID: f.hbCounter, Ms: b})
}

func appendCBLevels(b []byte, lv []level, side string, evTime []byte, first bool) ([]byte, bool) {
	for _, l := range lv {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, `{"side":"`...)
		b = append(b, side...)
		b = append(b, `","event_time":"`...)
		b = append(b, evTime...)
		b = append(b, `","price_level":"`...)
		b = appendOKXNum(b, l.price)
		b = append(b, `","new_quantity":"`...)
		b = appendOKXNum(b, l.qty)
		b = append(b, `"}`...)
	}
	return b, first
}

// l2Message writes one l2_data message of typ "snapshot" or "update".
func (x *cbProdFeed) l2Message(typ string, now time.Time, evTime []byte, bids, asks []level, upd int64) *Message {
	b := cbEnvelope("l2_data", now)
	b = append(b, `[{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","product_id":"`...)
	b = append(b, x.p.id...)
	b = append(b, `","updates":[`...)
	first := true
	b, first = appendCBLevels(b, bids, "bid", evTime, first)
	b, _ = appendCBLevels(b, asks, "offer", evTime, first)
	b = append(b, `]}]}`...)
	kind := KindDepth
	if typ == "snapshot" {
		kind = KindPartial
	}
	return &Message{Stream: x.l2, Symbol: x.p.id, Kind: kind, ID: upd, At: now.UnixNano(), Ms: b}
}

// level2 publishes each tick the book changes since the last l2_data
// message as one update (absolute new_quantity, "0" removes a level:
// "Level 2 order book" channel), then the snapshots new subscribers wait
// for, taken at the point the next update continues from.
func (f *cbFeed) level2(x *cbProdFeed, now time.Time, off bool) {
	waiting := f.takePending(x.l2)
	subscribed := f.wants(x.l2)
	if !subscribed && len(waiting) == 0 {
		x.l2From = 0
		return
	}
	m, s := f.m, x.p.s
	m.mu.Lock()
	last, us := s.lastUpdate, m.lastUs
	if x.l2From != 0 && last != x.l2From && !off {
		from := max(x.l2From, s.firstUpdate, last-s.changeCap)
		pend := s.changesSince(from, last)
		m.mu.Unlock()
		bids, asks := sidesOf(pend)
		f.hub.publish(x.l2Message("update", now, cbAppendTime(nil, time.UnixMicro(us)), bids, asks, last))
	} else {
		m.mu.Unlock()
	}
	x.l2From = last
	if len(waiting) == 0 {
		return
	}
	_, book, err := m.rebuild(s, last, false)
	if err != nil {
		for _, c := range waiting {
			f.addPending(c, x.l2)
		}
		return
	}
	bs, as := side{lv: book[bidSide]}, side{ask: true, lv: book[askSide]}
	bids, asks := bs.top(nil, len(book[bidSide])), as.top(nil, len(book[askSide]))
	// snapshot levels carry event_time epoch zero, as in captured samples
	f.join(waiting, x.l2, x.l2Message("snapshot", now, []byte("1970-01-01T00:00:00Z"), bids, asks, last))
}

// marketTrades publishes every TradesEvery the trades made since the last
// batch ("Market trades": batched every 250 ms), and to a new subscriber
// first a snapshot of the last trades.
func (f *cbFeed) marketTrades(x *cbProdFeed, now time.Time, due bool) {
	waiting := f.takePending(x.trades)
	subscribed := f.wants(x.trades)
	if !subscribed && len(waiting) == 0 {
		x.tradeNext = 0
		return
	}
	m, s := f.m, x.p.s
	if (due || len(waiting) > 0) && x.tradeNext != 0 {
		m.mu.Lock()
		from, next := max(x.tradeNext, m.oldestTrade(s)), s.nextTrade
		var ts []CoinbaseTrade
		for id := next - 1; id >= from; id-- { // newest first, as Coinbase sends them
			// made while the product was offline: not Coinbase's; those
			// made before it went offline are still sent
			if r := s.tradeAt(id); !x.p.tradedOffline(r.us) {
				ts = append(ts, cbTrade(x.p.id, id, r))
			}
		}
		m.mu.Unlock()
		x.tradeNext = next
		if len(ts) > 0 {
			f.hub.publish(x.tradesMessage("update", now, ts, next-1))
		}
	}
	if len(waiting) == 0 {
		return
	}
	m.mu.Lock()
	next := s.nextTrade
	var ts []CoinbaseTrade
	for id := next - 1; id >= max(next-cbSnapshotTrades, m.oldestTrade(s)); id-- {
		if r := s.tradeAt(id); !x.p.tradedOffline(r.us) {
			ts = append(ts, cbTrade(x.p.id, id, r))
		}
	}
	m.mu.Unlock()
	x.tradeNext = next
	msg := x.tradesMessage("snapshot", now, ts, next-1)
	msg.Kind = KindControl // the snapshot is not a gap candidate for trade faults
	f.join(waiting, x.trades, msg)
}

func (x *cbProdFeed) tradesMessage(typ string, now time.Time, ts []CoinbaseTrade, last int64) *Message {
	b := cbEnvelope("market_trades", now)
	b = append(b, `[{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","trades":[`...)
	for i, t := range ts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"trade_id":"`...)
		b = append(b, t.TradeID...)
		b = append(b, `","product_id":"`...)
		b = append(b, t.ProductID...)
		b = append(b, `","price":"`...)
		b = append(b, t.Price...)
		b = append(b, `","size":"`...)
		b = append(b, t.Size...)
		b = append(b, `","side":"`...)
		b = append(b, t.Side...)
		b = append(b, `","time":"`...)
		b = append(b, t.Time...)
		b = append(b, `"}`...)
	}
	b = append(b, `]}]}`...)
	return &Message{Stream: x.trades, Symbol: x.p.id, Kind: KindTrade, ID: last, Ms: b}
}

// tickerCh publishes ticker when the last trade or the best levels
// changed; a new subscriber gets a snapshot first.
func (f *cbFeed) tickerCh(x *cbProdFeed, now time.Time, off bool) {
	waiting := f.takePending(x.ticker)
	if !f.wants(x.ticker) && len(waiting) == 0 {
		x.tickerLast = nil
		return
	}
	m, s := f.m, x.p.s
	m.mu.Lock()
	bids, asks := topE8(s, 1)
	var last tradeRec
	if s.nextTrade > m.oldestTrade(s) {
		last = *s.tradeAt(s.nextTrade - 1)
	}
	m.mu.Unlock()
	var top [4]int64
	if len(bids) > 0 {
		top[0], top[1] = bids[0].price, bids[0].qty
	}
	if len(asks) > 0 {
		top[2], top[3] = asks[0].price, asks[0].qty
	}
	body := []byte(`{"type":"ticker","product_id":"`)
	body = append(body, x.p.id...)
	body = append(body, `","price":"`...)
	body = appendOKXNum(body, last.price)
	body = append(body, '"')
	for i, k := range [...]string{`,"best_bid":"`, `,"best_bid_quantity":"`, `,"best_ask":"`, `,"best_ask_quantity":"`} {
		body = append(body, k...)
		body = appendOKXNum(body, top[i])
		body = append(body, '"')
	}
	body = append(body, '}')
	msg := func(typ string) *Message {
		b := cbEnvelope("ticker", now)
		b = append(b, `[{"type":"`...)
		b = append(b, typ...)
		b = append(b, `","tickers":[`...)
		b = append(b, body...)
		b = append(b, `]}]}`...)
		return &Message{Stream: x.ticker, Symbol: x.p.id, Kind: KindStats, Ms: b}
	}
	if string(body) != string(x.tickerLast) && x.tickerLast != nil && !off {
		f.hub.publish(msg("update"))
	}
	x.tickerLast = body
	if len(waiting) > 0 {
		f.join(waiting, x.ticker, msg("snapshot"))
	}
}
