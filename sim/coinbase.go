package sim

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// VenueCoinbase is the Coinbase Advanced Trade front-end: the public
// market-data WebSocket at / and the public REST routes under
// /api/v3/brokerage/.
const VenueCoinbase = "coinbase"

// Faults of the Coinbase front-end. The common connection faults apply to
// its connections; depth-drop leaves an l2_data update out and
// trade-gap a market_trades message, and each consumes its sequence_num,
// so the gap shows as the real service's drops do.
const (
	// FaultCoinbaseSeqJump: a message's sequence_num is one more than it
	// should be (one number skipped on the connection, as when a message
	// was dropped: "Sequence numbers that are greater than one integer
	// value from the previous number indicate that a message has been
	// dropped"). Prob is per message, decided per connection.
	FaultCoinbaseSeqJump FaultKind = "coinbase-seq-jump"
	// FaultCoinbaseNoHeartbeat: the heartbeats channel stops for Duration
	// (default 10s); the other channels go on. Prob is per heartbeat.
	FaultCoinbaseNoHeartbeat FaultKind = "coinbase-no-heartbeat"
	// FaultCoinbaseProductOffline: a product's status turns "offline"
	// for Duration (default 10s): REST products say status "offline",
	// trading_disabled true; the status channel sends an update with
	// "status":"offline" and a status_message, and another with "online"
	// when it ends. Meanwhile the product's l2_data, market_trades and
	// ticker are silent while the market goes on underneath, as a venue
	// whose book changed while the product was offline (orders cancelled,
	// auction): l2_data resumes with updates from the book as it is then,
	// not a snapshot, so only a client that asks for the book again holds
	// the right one; the trades the market made meanwhile did not happen
	// on Coinbase (trading disabled): never sent, and left out of the
	// front-end's trades (REST, and the truth of Coinbase.Trades). Prob is
	// per product per second.
	FaultCoinbaseProductOffline FaultKind = "coinbase-product-offline"
)

func init() {
	for _, k := range []FaultKind{FaultCoinbaseSeqJump, FaultCoinbaseNoHeartbeat, FaultCoinbaseProductOffline} {
		faultClasses[k] = classMessage
	}
}

// CoinbaseConfig sets up the Coinbase front-end. The zero value has the
// limits of the real service (Advanced Trade "WebSocket Overview",
// "WebSocket Channels", "WebSocket Rate Limits").
type CoinbaseConfig struct {
	// Addr is the TCP address of its listener. Default "127.0.0.1:0".
	Addr string
	// SubscribeTimeout: "a subscribe message must be sent within 5
	// seconds" of connecting, or the connection is closed (1000, the
	// reason "subscribe timeout"). Default 5s.
	SubscribeTimeout time.Duration
	// ChannelIdle: "Most channels close within 60-90 seconds if no
	// updates are sent. To keep connections open, subscribe to the
	// heartbeats channel." A channel of a connection without heartbeats
	// that was sent nothing for this long is dropped from its
	// subscriptions, silently. Default 60s.
	ChannelIdle time.Duration
	// MaxIncoming: "8 messages per second per IP" for unauthenticated
	// connections; over it the connection is closed (1008). Default 8.
	MaxIncoming int
	// ConnPerSecond: connections per second per IP (the coinbase-app page
	// says 8/s); over it the upgrade is answered 429. Default 8.
	ConnPerSecond int
	// RESTPerSecond: public REST requests per second per IP; over it
	// HTTP 429. Advanced Trade publishes no figure for public routes; the
	// Exchange's public limit is 10/s. Default 10.
	RESTPerSecond int
	// TradesEvery: market_trades "batched every 250 ms". Default 250ms.
	TradesEvery time.Duration
	// HeartbeatEvery: heartbeats "every second". Default 1s.
	HeartbeatEvery time.Duration
	// StreamTick is how often l2_data and ticker look at the market.
	// Default 50ms.
	StreamTick time.Duration
}

func (c CoinbaseConfig) withDefaults() CoinbaseConfig {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	c.SubscribeTimeout = orDefault(c.SubscribeTimeout, 5*time.Second)
	c.ChannelIdle = orDefault(c.ChannelIdle, 60*time.Second)
	c.MaxIncoming = orDefault(c.MaxIncoming, 8)
	c.ConnPerSecond = orDefault(c.ConnPerSecond, 8)
	c.RESTPerSecond = orDefault(c.RESTPerSecond, 10)
	c.TradesEvery = orDefault(c.TradesEvery, 250*time.Millisecond)
	c.HeartbeatEvery = orDefault(c.HeartbeatEvery, time.Second)
	c.StreamTick = orDefault(c.StreamTick, 50*time.Millisecond)
	return c
}

func (c CoinbaseConfig) validate() error {
	if err := atLeast("Coinbase", time.Millisecond, "is below 1ms", []named[time.Duration]{{"SubscribeTimeout", c.SubscribeTimeout}, {"ChannelIdle", c.ChannelIdle}, {"TradesEvery", c.TradesEvery}, {"HeartbeatEvery", c.HeartbeatEvery}}); err != nil {
		return err
	}
	if err := checkTick("Coinbase.StreamTick", c.StreamTick); err != nil {
		return err
	}
	return atLeast("Coinbase", 1, "must be at least 1", []named[int]{{"MaxIncoming", c.MaxIncoming}, {"ConnPerSecond", c.ConnPerSecond}, {"RESTPerSecond", c.RESTPerSecond}})
}

// Coinbase is the Coinbase Advanced Trade front-end, written from
// Coinbase's documentation and served on a listener of its own over the
// simulator's market. Every market symbol is a product BASE-QUOTE
// (BTCUSDT → "BTC-USDT"); market_trades trade_ids are the market's trade
// IDs, as decimal strings.
//
// sequence_num: Coinbase documents it on the envelope of every message
// and says a number more than one above the previous shows a dropped
// message; it does not say its scope. Here it counts the envelopes sent
// on one connection, every channel together, from 0 (the first
// subscriptions reply is 0, as in Coinbase's samples): each message is the
// previous one's sequence_num + 1.
//
// The server owns it: Server.Close stops it.
type Coinbase struct {
	*frontend
	cfg      CoinbaseConfig
	feed     *cbFeed
	rest     *cbREST
	attempts *attemptBudget
	prods    []*cbProduct
	byID     map[string]*cbProduct
	closed   cbClosed // l2_data histories of closed connections (coinbase_truth.go)
}

// cbProduct is one product of the front-end.
type cbProduct struct {
	id string
	s  *symState

	mu           sync.Mutex
	offlineUntil time.Time
	offSpans     [][2]int64 // the times (µs) it was offline, from..until, the last cbOffSpans
}

// cbOffSpans is how many offline spans of a product are kept.
const cbOffSpans = 64

func (p *cbProduct) offline(now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return now.Before(p.offlineUntil)
}

// goOffline takes the product offline from now until until.
func (p *cbProduct) goOffline(now, until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.offSpans); n > 0 && now.Before(p.offlineUntil) {
		p.offSpans[n-1][1] = until.UnixMicro() // still offline: longer
	} else {
		if n == cbOffSpans {
			p.offSpans = append(p.offSpans[:0], p.offSpans[1:]...)
		}
		p.offSpans = append(p.offSpans, [2]int64{now.UnixMicro(), until.UnixMicro()})
	}
	p.offlineUntil = until
}

// tradedOffline says whether the market's trade at us (µs) fell while the
// product was offline: trading disabled, it did not happen on Coinbase,
// which neither streams it nor lists it.
func (p *cbProduct) tradedOffline(us int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, sp := range p.offSpans {
		if us >= sp[0] && us < sp[1] {
			return true
		}
	}
	return false
}

func startCoinbase(s *Server, tlsCfg *tls.Config) (*Coinbase, error) {
	cfg := s.cfg.Coinbase.withDefaults()
	f, err := newFrontend(s, VenueCoinbase, cfg.Addr, tlsCfg)
	if err != nil {
		return nil, err
	}
	cb := &Coinbase{frontend: f, cfg: cfg, byID: map[string]*cbProduct{}}
	// No application ping is documented; the server's WebSocket pings
	// keep their defaults.
	cb.conn.MaxIncoming = cfg.MaxIncoming
	cb.conn.MaxStreams = 1000
	cb.attempts = newAttemptBudget(cfg.ConnPerSecond, time.Second)
	for _, sym := range s.market.syms {
		p := &cbProduct{id: sym.spec.base + "-" + sym.spec.quote, s: sym}
		cb.prods = append(cb.prods, p)
		cb.byID[p.id] = p
	}
	cb.feed = newCBFeed(cb)
	cb.forget = func(c *wsConn) { cb.feed.forget(c); cb.closed.keep(c) }
	cb.handle = func(c *wsConn, body []byte) { c.cb.handle(c, body) }
	cb.rest = newCBREST(cb)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", cb.serveWS)
	mux.Handle("/api/v3/brokerage/", cb.rest)
	mux.Handle("GET /products/{id}/trades", cb.rest) // the Exchange API's, for trade backfill by id
	mux.HandleFunc("GET /sim/book", cb.serveTruthBook)
	mux.HandleFunc("GET /sim/trades", cb.serveTruthTrades)
	cb.start(mux, cb.feed.run)
	return cb, nil
}

// WSURL is the WebSocket endpoint, wss://127.0.0.1:port (the real one is
// wss://advanced-trade-ws.coinbase.com, at its root).
func (cb *Coinbase) WSURL() string { return "wss://" + cb.ln.addr }

// RESTURL is the base of the REST API: https://127.0.0.1:port, routes
// under /api/v3/brokerage/ as on https://api.coinbase.com, and the
// Exchange API's /products/{id}/trades as on
// https://api.exchange.coinbase.com.
func (cb *Coinbase) RESTURL() string { return "https://" + cb.ln.addr }

// Config returns the front-end's configuration, defaults filled in.
func (cb *Coinbase) Config() CoinbaseConfig { return cb.cfg }

// Products lists the product ids served.
func (cb *Coinbase) Products() []string {
	out := make([]string, len(cb.prods))
	for i, p := range cb.prods {
		out[i] = p.id
	}
	return out
}

func (cb *Coinbase) product(id string) (*cbProduct, error) {
	p := cb.byID[id]
	if p == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownSymbol, id)
	}
	return p, nil
}

// CoinbaseBook is a product's full book as a client that applied every
// l2_data event up to one point holds it: best first, prices and
// quantities as the channel writes them.
type CoinbaseBook struct {
	ProductID string  `json:"product_id"`
	UpdateID  int64   `json:"update_id"` // the market update the book is at
	Bids      []Level `json:"bids"`
	Asks      []Level `json:"asks"`
}

// BookAt returns productID's book right after market update updateID
// (ErrHistoryGone, ErrNotYet outside the history).
func (cb *Coinbase) BookAt(productID string, updateID int64) (CoinbaseBook, error) {
	p, err := cb.product(productID)
	if err != nil {
		return CoinbaseBook{}, err
	}
	_, book, err := cb.srv.market.rebuild(p.s, updateID, false)
	if err != nil {
		return CoinbaseBook{}, err
	}
	b := CoinbaseBook{ProductID: productID, UpdateID: updateID}
	for sd, dst := range []*[]Level{&b.Bids, &b.Asks} {
		lv := book[sd]
		*dst = make([]Level, 0, len(lv))
		for i := len(lv) - 1; i >= 0; i-- {
			*dst = append(*dst, Level{Price: string(appendOKXNum(nil, lv[i].price)), Qty: string(appendOKXNum(nil, lv[i].qty))})
		}
	}
	return b, nil
}

// ErrNoSuchSequence: the connection did not send an l2_data message of
// the product with that sequence_num (or it is no longer remembered).
var ErrNoSuchSequence = fmt.Errorf("sim: no l2_data message with that sequence_num: %w", ErrHistoryGone)

// BookAtSequence returns productID's book as the client of connection
// connID (ConnStats.ID) holds it after applying the l2_data message with
// sequence_num seq. The last 4096 l2_data messages of each connection are
// remembered.
func (cb *Coinbase) BookAtSequence(connID uint64, productID string, seq int64) (CoinbaseBook, error) {
	for _, c := range cb.hub.snapshot() {
		if c.id != connID || c.cb == nil {
			continue
		}
		id, ok := c.cb.updateAt(productID, seq)
		if !ok {
			return CoinbaseBook{}, fmt.Errorf("conn %d %s sequence_num %d: %w", connID, productID, seq, ErrNoSuchSequence)
		}
		return cb.BookAt(productID, id)
	}
	return CoinbaseBook{}, fmt.Errorf("conn %d: %w", connID, ErrNoSuchSequence)
}

// CoinbaseTrade is one trade as market_trades writes it: Side is the
// taker's, "BUY" or "SELL"; Time RFC 3339 with microseconds.
type CoinbaseTrade struct {
	TradeID   string `json:"trade_id"`
	ProductID string `json:"product_id"`
	Price     string `json:"price"`
	Size      string `json:"size"`
	Side      string `json:"side"`
	Time      string `json:"time"`
}

// Trades returns productID's trades with ids from..to inclusive, oldest
// first; a range past the last trade is cut there, one before the oldest
// kept fails with ErrHistoryGone.
func (cb *Coinbase) Trades(productID string, from, to int64) ([]CoinbaseTrade, error) {
	p, err := cb.product(productID)
	if err != nil {
		return nil, err
	}
	cb.srv.market.mu.Lock()
	oldest := cb.srv.market.oldestTrade(p.s)
	if from < oldest {
		cb.srv.market.mu.Unlock()
		return nil, fmt.Errorf("trades %s from %d: %w (oldest kept %d)", productID, from, ErrHistoryGone, oldest)
	}
	to = min(to, p.s.nextTrade-1)
	var out []CoinbaseTrade
	for id := from; id <= to; id++ {
		if r := p.s.tradeAt(id); !p.tradedOffline(r.us) {
			out = append(out, cbTrade(p.id, id, r))
		}
	}
	cb.srv.market.mu.Unlock()
	return out, nil
}

// LastTradeID returns the trade_id of productID's latest trade (one below
// the first it will make, before any).
func (cb *Coinbase) LastTradeID(productID string) (int64, error) {
	p, err := cb.product(productID)
	if err != nil {
		return 0, err
	}
	_, _, last, err := cb.srv.market.lastIDs(p.s.spec.name)
	return last, err
}

func cbTrade(product string, id int64, r *tradeRec) CoinbaseTrade {
	return CoinbaseTrade{TradeID: strconv.FormatInt(id, 10), ProductID: product, Price: string(appendOKXNum(nil, r.price)),
		Size: string(appendOKXNum(nil, r.qty)), Side: cbSide(r.maker), Time: time.UnixMicro(r.us).UTC().Format("2006-01-02T15:04:05.000000Z")}
}

// cbSide is the taker's side: the buyer was the maker, so the taker sold.
func cbSide(buyerMaker bool) string {
	if buyerMaker {
		return "SELL"
	}
	return "BUY"
}

func (cb *Coinbase) serveTruthBook(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var b CoinbaseBook
	var err error
	if v := q.Get("sequence_num"); v != "" {
		seq, err1 := strconv.ParseInt(v, 10, 64)
		conn, err2 := strconv.ParseUint(q.Get("conn"), 10, 64)
		if err1 != nil || err2 != nil {
			writeTruthError(w, &paramError{"sequence_num/conn", v + "/" + q.Get("conn"), "are not integers"})
			return
		}
		b, err = cb.BookAtSequence(conn, q.Get("product_id"), seq)
	} else {
		id, perr := strconv.ParseInt(q.Get("update_id"), 10, 64)
		if perr != nil {
			writeTruthError(w, &paramError{"update_id", q.Get("update_id"), "is not an integer"})
			return
		}
		b, err = cb.BookAt(q.Get("product_id"), id)
	}
	if err != nil {
		writeTruthError(w, err)
		return
	}
	writeTruthJSON(w, http.StatusOK, b)
}

func (cb *Coinbase) serveTruthTrades(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, to, err := truthRange(q, nil)
	if err != nil {
		writeTruthError(w, err)
		return
	}
	ts, err := cb.Trades(q.Get("product_id"), from, to)
	writeTruthList(w, ts, err)
}

// cbConn is the Coinbase side of one WebSocket connection.
type cbConn struct {
	cb         *Coinbase
	subscribed chan struct{} // closed at the first valid subscribe
	once       sync.Once

	// writer goroutine only
	seq int64
	rng *rand.Rand

	mu      sync.Mutex
	l2seq   []cbSeqPoint // the l2_data messages sent: sequence_num → market update
	seqNext int64        // the sequence_num the next envelope gets (for readers)
}

type cbSeqPoint struct {
	product  string
	seq, upd int64
	at       int64 // when it was sent, ns
	stamp    int64 // the message's timestamp, ns
}

func (cc *cbConn) updateAt(product string, seq int64) (int64, bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for _, p := range cc.l2seq {
		if p.seq == seq && p.product == product {
			return p.upd, true
		}
	}
	return 0, false
}

var cbEventsKey = []byte(`"events":`)

// stamp writes the connection's next sequence_num into an envelope m
// (the feed leaves it out: `{"channel":…,"timestamp":…,"events":…}`);
// other payloads pass unchanged.
func (cc *cbConn) stamp(c *wsConn, m *Message) []byte {
	p := m.Ms
	i := indexBytes(p, cbEventsKey)
	if i < 0 {
		return p
	}
	fs := cc.cb.srv.faults
	if fs.active[classMessage].Load() {
		if _, hit := fs.hit(classMessage, cc.rng, time.Now(), func(k FaultKind) bool { return k == FaultCoinbaseSeqJump }); hit {
			cc.seq++
		}
	}
	seq := cc.seq
	cc.seq++
	if m.Kind == KindDepth || m.Kind == KindPartial {
		cc.mu.Lock()
		if len(cc.l2seq) >= 4096 {
			cc.l2seq = append(cc.l2seq[:0], cc.l2seq[2048:]...)
		}
		cc.l2seq = append(cc.l2seq, cbSeqPoint{m.Symbol, seq, m.ID, time.Now().UnixNano(), m.At})
		cc.mu.Unlock()
	}
	out := make([]byte, 0, len(p)+24)
	out = append(out, p[:i]...)
	out = append(out, `"sequence_num":`...)
	out = strconv.AppendInt(out, seq, 10)
	out = append(out, ',')
	return append(out, p[i:]...)
}

// skip consumes a sequence_num for a message a fault left out.
func (cc *cbConn) skip() { cc.seq++ }

func indexBytes(b, sub []byte) int {
	for i := 0; i+len(sub) <= len(b); i++ {
		if string(b[i:i+len(sub)]) == string(sub) {
			return i
		}
	}
	return -1
}

// serveWS upgrades the root path and runs the connection until it ends.
func (cb *Coinbase) serveWS(w http.ResponseWriter, r *http.Request) {
	s := cb.srv
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		http.Error(w, "WebSocket upgrade expected", http.StatusBadRequest)
		return
	}
	if ok, _ := cb.attempts.attempt(wsClientIP(r.RemoteAddr), time.Now()); !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"error":"too many requests"}`))
		return
	}
	if s.shuttingDown(w) {
		return
	}
	c, ok := cb.accept(w, r)
	if !ok {
		return
	}
	defer s.wg.Done()
	cc := &cbConn{cb: cb, subscribed: make(chan struct{}), rng: s.faults.rng(0x4342 ^ c.id)}
	c.cb = cc
	cb.hub.add(c)
	done := make(chan struct{})
	var watch sync.WaitGroup
	watch.Add(1)
	go func() {
		defer watch.Done()
		cc.watch(c, done)
	}()
	c.serve()
	close(done)
	watch.Wait()
	cb.release(c)
}

// watch closes c when no subscribe came within SubscribeTimeout, and
// drops the channels that were sent nothing for ChannelIdle while c has
// no heartbeats subscription.
func (cc *cbConn) watch(c *wsConn, done <-chan struct{}) {
	deadline := time.NewTimer(cc.cb.cfg.SubscribeTimeout)
	defer deadline.Stop()
	idle := cc.cb.cfg.ChannelIdle
	t := time.NewTicker(max(min(idle/10, time.Second), time.Millisecond))
	defer t.Stop()
	type seen struct {
		sent int64
		at   time.Time
	}
	last := map[string]seen{}
	for {
		select {
		case <-done:
			return
		case <-c.ctx.Done():
			return
		case <-deadline.C:
			select {
			case <-cc.subscribed:
			default:
				c.end(1000, "subscribe timeout", "no subscribe within "+cc.cb.cfg.SubscribeTimeout.String())
				return
			}
		case now := <-t.C:
			subs := cc.cb.hub.list(c)
			hb := false
			for _, st := range subs {
				hb = hb || st == "heartbeats"
			}
			if hb {
				clear(last)
				continue
			}
			c.stats.statsMu.Lock()
			var drop []string
			for _, st := range subs {
				var n int64
				if x := c.stats.streams[st]; x != nil {
					n = x.Sent
				}
				l, ok := last[st]
				if !ok || l.sent != n {
					last[st] = seen{n, now}
				} else if now.Sub(l.at) >= idle {
					drop = append(drop, st)
					delete(last, st)
				}
			}
			c.stats.statsMu.Unlock()
			if len(drop) > 0 {
				cc.cb.hub.unsubscribe(c, drop)
			}
		}
	}
}

// cbChannels are the channels served and whether they take product ids.
var cbChannels = map[string]bool{"level2": true, "market_trades": true, "ticker": true, "status": true, "heartbeats": false}

// stream names the hub stream of a channel and product ("level2:BTC-USD",
// "heartbeats").
func cbStream(channel, product string) string {
	if product == "" {
		return channel
	}
	return channel + ":" + product
}

// handle answers one message of the client: subscribe or unsubscribe, one
// channel each ("WebSocket Overview": "you must send a message for each
// channel").
func (cc *cbConn) handle(c *wsConn, body []byte) {
	var req struct {
		Type       string          `json:"type"`
		ProductIDs []string        `json:"product_ids"`
		Channel    json.RawMessage `json:"channel"`
		Channels   json.RawMessage `json:"channels"`
		JWT        string          `json:"jwt"`
	}
	fail := func(msg string) {
		b := append([]byte(`{"type":"error","message":`), appendJSONString(nil, msg)...)
		c.sendFrame(ws.OpText, append(b, '}'))
	}
	if err := json.Unmarshal(body, &req); err != nil {
		fail("Failed to parse message: " + err.Error())
		return
	}
	if req.Type != "subscribe" && req.Type != "unsubscribe" {
		fail("Failed to subscribe: unknown message type " + strconv.Quote(req.Type))
		return
	}
	if len(req.Channels) > 0 {
		fail("Failed to subscribe: one channel per message: use \"channel\", not \"channels\"")
		return
	}
	var channel string
	if json.Unmarshal(req.Channel, &channel) != nil || channel == "" {
		fail("Failed to subscribe: channel must be a string naming one channel, got " + string(req.Channel))
		return
	}
	needs, ok := cbChannels[channel]
	if !ok {
		if channel == "user" || channel == "futures_balance_summary" {
			fail("Failed to subscribe: channel " + channel + " requires authentication")
			return
		}
		fail("Failed to subscribe: unknown channel " + strconv.Quote(channel))
		return
	}
	var streams []string
	if needs {
		for _, id := range req.ProductIDs {
			if cc.cb.byID[id] == nil {
				fail("Failed to subscribe: unknown product id " + strconv.Quote(id))
				return
			}
			streams = append(streams, cbStream(channel, id))
		}
		if len(streams) == 0 && req.Type == "subscribe" {
			fail("Failed to subscribe: channel " + channel + " needs product_ids")
			return
		}
		if len(streams) == 0 { // "unsubscribe with no product ids drops the whole channel"
			for _, st := range cc.cb.hub.list(c) {
				if len(st) > len(channel) && st[:len(channel)+1] == channel+":" {
					streams = append(streams, st)
				}
			}
		}
	} else {
		streams = []string{channel}
	}
	if req.Type == "unsubscribe" {
		cc.cb.feed.cancelPending(c, streams)
		cc.cb.hub.unsubscribe(c, streams)
		cc.ack(c)
		return
	}
	cc.once.Do(func() { close(cc.subscribed) })
	for _, st := range streams {
		if channel == "level2" || channel == "market_trades" || channel == "ticker" || channel == "status" {
			// a snapshot first, then updates: the feed subscribes c at
			// the point its snapshot is taken
			cc.cb.feed.addPending(c, st)
			continue
		}
		if err := cc.cb.hub.subscribe(c, []string{st}, c.conf().MaxStreams); err != nil {
			fail("Failed to subscribe: too many subscriptions")
			return
		}
	}
	cc.ack(c)
}

// ack sends the subscriptions message: every channel of c with its
// product ids, pending snapshots included.
func (cc *cbConn) ack(c *wsConn) {
	subs := map[string][]string{}
	add := func(st string) {
		ch, prod := st, ""
		for i := range st {
			if st[i] == ':' {
				ch, prod = st[:i], st[i+1:]
				break
			}
		}
		if ch == "heartbeats" {
			subs[ch] = append(subs[ch], "")
			return
		}
		for _, p := range subs[ch] {
			if p == prod {
				return
			}
		}
		subs[ch] = append(subs[ch], prod)
	}
	for _, st := range cc.cb.hub.list(c) {
		add(st)
	}
	for _, st := range cc.cb.feed.pendingOf(c) {
		add(st)
	}
	if _, ok := subs["heartbeats"]; ok {
		subs["heartbeats"] = []string{}
	}
	events, _ := json.Marshal([]map[string]any{{"subscriptions": subs}})
	b := cbEnvelope("subscriptions", time.Now())
	b = append(b, events...)
	c.enqueue(&Message{Stream: "subscriptions", Kind: KindControl, Ms: append(b, '}')})
}

// cbEnvelope starts a message: {"channel":…,"client_id":"","timestamp":…,"events":
// (sequence_num is written per connection, see cbConn.stamp).
func cbEnvelope(channel string, now time.Time) []byte {
	b := make([]byte, 0, 256)
	b = append(b, `{"channel":"`...)
	b = append(b, channel...)
	b = append(b, `","client_id":"","timestamp":"`...)
	b = cbAppendTime(b, now)
	return append(b, `","events":`...)
}

// cbAppendTime writes t in RFC 3339 with nine fractional digits, as the
// envelopes' timestamps ("2023-02-09T20:32:50.714964855Z").
func cbAppendTime(b []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000000Z")
}
