package sim

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// VenueBybit is the Bybit v5 front-end: the public WebSocket streams of
// stream.bybit.com (/v5/public/spot, /v5/public/linear) and the public
// market REST API of api.bybit.com (/v5/market/…).
const VenueBybit = "bybit"

// Bybit categories the front-end serves ("category" of the v5 API, and the
// last element of the public WebSocket paths).
const (
	BybitSpot   = "spot"
	BybitLinear = "linear"
)

// Faults of the Bybit front-end (Config.Venues lists VenueBybit). The
// first three are decided once per book push of a (category, symbol) that
// has subscribers, for every subscriber of its orderbook topics at every
// depth; Prob is per push. depth-drop, depth-dup and depth-reorder apply to the
// orderbook deltas per connection, and trade-gap to publicTrade messages,
// as on the Binance front-ends; the connection faults apply to its
// connections too.
const (
	// FaultBybitNewSnapshot: the push is a "snapshot" (the whole top N, at
	// the next u) instead of a "delta": "if you receive a new snapshot
	// message, you will have to reset your local orderbook"
	// (docs/v5/websocket/public/orderbook.mdx).
	FaultBybitNewSnapshot FaultKind = "bybit-new-snapshot"
	// FaultBybitRestart: the service restarts: u starts again at 1 and the
	// push is a snapshot ("If you receive a message with u=1, it means a
	// service restart; overwrite your local orderbook"). BookAt then
	// answers for the new numbering.
	FaultBybitRestart FaultKind = "bybit-restart"
	// FaultBybitUGap: the delta is lost on the server's side: nobody gets
	// it, and the next delta's u is the previous one's plus 2. A client
	// that applies the next delta without resynchronizing holds a wrong
	// book.
	FaultBybitUGap FaultKind = "bybit-u-gap"
	// FaultBybitRateLimit: a REST request of the Bybit front-end is answered
	// HTTP 403 "access too frequent", as over the IP limit
	// (docs/v5/rate-limit/rate-limit.mdx). Decided per request.
	FaultBybitRateLimit FaultKind = "bybit-rate-limit"
)

func init() {
	for k, c := range map[FaultKind]faultClass{
		FaultBybitNewSnapshot: classMessage, FaultBybitRestart: classMessage, FaultBybitUGap: classMessage,
		FaultBybitRateLimit: classREST,
	} {
		faultClasses[k] = c
	}
}

// BybitConfig sets up the Bybit front-end. The zero value has the limits
// Bybit documents.
type BybitConfig struct {
	// Addr is the TCP address of its listener. Default "127.0.0.1:0".
	Addr string
	// IdleTimeout closes (1000) a connection that for this long sent no
	// request (ping, subscribe, …) and was sent no topic message: "In
	// general, if there is no "ping-pong" and no stream data sent from
	// server end, the connection will be cut off after 10 minutes"
	// (docs/v5/websocket/wss-authentication.mdx, which advises a ping
	// every 20 s). WebSocket ping frames do not count: the heartbeat Bybit
	// documents is the JSON {"op":"ping"} (hirokisan/bybit#127 found control
	// frames alone were not enough). Default 10 minutes.
	IdleTimeout time.Duration
	// MaxLifetime closes a connection (1001) after this long. Bybit
	// documents no lifetime for public streams. Default 24h.
	MaxLifetime time.Duration
	// BookTick is how often the order book topics are pushed. Bybit pushes
	// depth 1 every 10 ms, 50 every 20 ms, 200 every 100 ms and 1000 every
	// 200 ms; the simulator pushes every depth of a symbol at the same
	// moments, so that one u numbers the book at every depth (see
	// Bybit.BookAt). Default 20ms.
	BookTick time.Duration
	// SpotArgsPerRequest: "Spot can input up to 10 args for each
	// subscription request sent to one connection." Default 10.
	SpotArgsPerRequest int
	// ArgsChars: "for one public connection, you cannot have length of
	// "args" array over 21,000 characters" (the connect page): the topics
	// subscribed on a connection, their lengths added. Default 21000.
	ArgsChars int
	// RESTLimit requests per RESTWindow per client IP: "600 requests within
	// a 5-second window per IP". Over it: HTTP 403 "access too frequent"
	// for RESTBan ("wait for at least 10 minutes"). Defaults 600, 5s, 10m.
	RESTLimit  int
	RESTWindow time.Duration
	RESTBan    time.Duration
	// ConnAttemptLimit WebSocket connections per ConnAttemptWindow per
	// client IP: "Do not build over 500 connections in 5 minutes. This is
	// counted per WebSocket domain" (docs/v5/websocket/wss-authentication.mdx).
	// Over it the upgrade is answered HTTP 429 (Bybit does not say what it
	// answers). Defaults 500 and 5 minutes.
	ConnAttemptLimit  int
	ConnAttemptWindow time.Duration
	// MaxConnsPerIP open connections per client IP and category: "Do not
	// establish more than 1,000 connections per IP for market data. The
	// connection limits are counted separately for Spot, Linear, Inverse,
	// and Options markets" (docs/v5/rate-limit/rate-limit.mdx).
	// Over it the upgrade is answered HTTP 429 (Bybit does not say what it
	// answers). Default 1000.
	MaxConnsPerIP int
	// History is how many book pushes per category and symbol BookAt can
	// go back. Default 100000.
	History int
}

func (c BybitConfig) withDefaults() BybitConfig {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	c.IdleTimeout = orDefault(c.IdleTimeout, 10*time.Minute)
	c.MaxLifetime = orDefault(c.MaxLifetime, 24*time.Hour)
	c.BookTick = orDefault(c.BookTick, 20*time.Millisecond)
	c.SpotArgsPerRequest = orDefault(c.SpotArgsPerRequest, 10)
	c.ArgsChars = orDefault(c.ArgsChars, 21000)
	c.RESTLimit = orDefault(c.RESTLimit, 600)
	c.RESTWindow = orDefault(c.RESTWindow, 5*time.Second)
	c.RESTBan = orDefault(c.RESTBan, 10*time.Minute)
	c.History = orDefault(c.History, 100000)
	c.ConnAttemptLimit = orDefault(c.ConnAttemptLimit, 500)
	c.MaxConnsPerIP = orDefault(c.MaxConnsPerIP, 1000)
	c.ConnAttemptWindow = orDefault(c.ConnAttemptWindow, 5*time.Minute)
	return c
}

func (c BybitConfig) validate() error {
	if err := atLeast("Bybit", 1, "must be positive", []named[time.Duration]{{"IdleTimeout", c.IdleTimeout}, {"MaxLifetime", c.MaxLifetime}, {"RESTWindow", c.RESTWindow}, {"RESTBan", c.RESTBan}, {"ConnAttemptWindow", c.ConnAttemptWindow}}); err != nil {
		return err
	}
	if err := checkTick("Bybit.BookTick", c.BookTick); err != nil {
		return err
	}
	return atLeast("Bybit", 1, "must be at least 1", []named[int]{{"SpotArgsPerRequest", c.SpotArgsPerRequest}, {"ArgsChars", c.ArgsChars}, {"RESTLimit", c.RESTLimit}, {"History", c.History}, {"ConnAttemptLimit", c.ConnAttemptLimit}, {"MaxConnsPerIP", c.MaxConnsPerIP}})
}

// Bybit is the Bybit v5 front-end, written from Bybit's documentation
// (github.com/bybit-exchange/docs, docs/v5/…), served on a listener of its
// own over the simulator's market. Both categories trade the market's
// symbols. Its order book topics number their pushes with a u of their
// own per category and symbol (see BookAt); trade IDs are strings made
// from the market's trade IDs (see Trades).
//
// The server owns it: Server.Close stops it.
type Bybit struct {
	*frontend
	cfg  BybitConfig
	feed *bybitFeed
	rest *bybitREST

	attempts *attemptBudget
	openMu   sync.Mutex
	open     map[string]int // open connections by category and client IP
}

// bybitConn is the Bybit side of a wsConn.
type bybitConn struct {
	category string
	connID   string       // conn_id of the replies
	heard    atomic.Int64 // unix ns of the last request or data sent
	sent     int64        // messages sent at the last idle check; watchIdle's own
	closing  atomic.Bool  // the idle check has ended it
	// topics subscribed or waiting for the feed, and their joined length:
	// the reader's own
	topics []string
	chars  int
}

// startBybit starts the front-end on its own listener; the server's wg
// tracks its goroutines and connections.
func startBybit(s *Server, tlsCfg *tls.Config) (*Bybit, error) {
	cfg := s.cfg.Bybit.withDefaults()
	f, err := newFrontend(s, VenueBybit, cfg.Addr, tlsCfg)
	if err != nil {
		return nil, err
	}
	b := &Bybit{frontend: f, cfg: cfg}
	b.attempts = newAttemptBudget(b.cfg.ConnAttemptLimit, b.cfg.ConnAttemptWindow)
	b.open = make(map[string]int)
	// Bybit's heartbeat is the client's JSON ping; the server sends no
	// ping frames (none documented), so the watch's ping never fires.
	b.conn.PingInterval = 100 * 365 * 24 * time.Hour
	b.conn.PongTimeout = b.conn.PingInterval
	b.conn.MaxLifetime = b.cfg.MaxLifetime
	b.conn.MaxIncoming = max(s.cfg.MaxIncoming, 100) // no incoming limit documented
	b.conn.MaxStreams = 1 << 20                      // the limit is ArgsChars
	b.feed = newBybitFeed(s.market, b.hub, s.faults, b.cfg)
	b.forget = b.feed.dropConn
	b.handle = b.handleRequest
	b.rest = newBybitREST(b)

	mux := http.NewServeMux()
	mux.HandleFunc("/v5/public/spot", func(w http.ResponseWriter, r *http.Request) { b.serveWS(w, r, BybitSpot) })
	mux.HandleFunc("/v5/public/linear", func(w http.ResponseWriter, r *http.Request) { b.serveWS(w, r, BybitLinear) })
	mux.HandleFunc("/v5/public/misc/status", func(w http.ResponseWriter, r *http.Request) { b.serveWS(w, r, BybitStatus) })
	mux.Handle("/v5/", b.rest)
	mux.HandleFunc("GET /sim/book", b.serveTruthBook)
	mux.HandleFunc("GET /sim/trades", b.serveTruthTrades)
	b.start(mux, b.feed.run, b.watchIdle)
	return b, nil
}

// WSURL is the base of the WebSocket routes, wss://127.0.0.1:port: the
// public streams are at /v5/public/spot and /v5/public/linear, the system
// status (maintenance notices) at /v5/public/misc/status.
func (b *Bybit) WSURL() string { return "wss://" + b.ln.addr }

// RESTURL is the base of the REST API (/v5/market/…): https://127.0.0.1:port.
func (b *Bybit) RESTURL() string { return "https://" + b.ln.addr }

// Config returns the front-end's configuration, defaults filled in.
func (b *Bybit) Config() BybitConfig { return b.cfg }

// Conns describes the front-end's open WebSocket connections. Their
// subscriptions are hub keys, "category/topic".
func (b *Bybit) Conns() []ConnStats { return b.frontend.Conns() }

// checkCategory reads a category name.
func checkCategory(category string) error {
	if category != BybitSpot && category != BybitLinear {
		return fmt.Errorf("sim: category %q is not %s or %s: %w", category, BybitSpot, BybitLinear, errBadParam)
	}
	return nil
}

// serveWS upgrades /v5/public/{category} and runs the connection until it
// ends.
func (b *Bybit) serveWS(w http.ResponseWriter, r *http.Request, category string) {
	s := b.srv
	if ok, retry := b.attempts.attempt(wsClientIP(r.RemoteAddr), time.Now()); !ok {
		writeTooManyAttempts(w, b.cfg.ConnAttemptLimit, b.cfg.ConnAttemptWindow, retry)
		return
	}
	if s.shuttingDown(w) {
		return
	}
	slot := category + " " + wsClientIP(r.RemoteAddr)
	if !b.takeSlot(slot) {
		http.Error(w, "too many connections from "+wsClientIP(r.RemoteAddr)+" to "+category, http.StatusTooManyRequests)
		return
	}
	defer b.freeSlot(slot)
	c, ok := b.accept(w, r)
	if !ok {
		return
	}
	defer s.wg.Done()
	c.bybit = b
	c.by = &bybitConn{category: category}
	c.by.connID = uuidOf(c.id, 0x636f6e6e) // "conn"
	c.by.heard.Store(c.opened.UnixNano())
	b.hub.add(c)
	c.serve()
	b.release(c)
}

// takeSlot counts an open connection of slot, unless MaxConnsPerIP are.
func (b *Bybit) takeSlot(slot string) bool {
	b.openMu.Lock()
	defer b.openMu.Unlock()
	if b.open[slot] >= b.cfg.MaxConnsPerIP {
		return false
	}
	b.open[slot]++
	return true
}

func (b *Bybit) freeSlot(slot string) {
	b.openMu.Lock()
	defer b.openMu.Unlock()
	if b.open[slot]--; b.open[slot] <= 0 {
		delete(b.open, slot)
	}
}

// watchIdle closes the connections that sent nothing for IdleTimeout.
func (b *Bybit) watchIdle(ctx context.Context) {
	every := min(b.cfg.IdleTimeout/4, time.Second)
	everyTick(ctx, max(every, time.Millisecond), func(now time.Time) {
		for _, c := range b.hub.snapshot() {
			if sent := c.stats.sent.Load(); sent != c.by.sent {
				c.by.sent = sent // stream data went out: not idle
				c.by.heard.Store(now.UnixNano())
			}
			if now.UnixNano()-c.by.heard.Load() > int64(b.cfg.IdleTimeout) && !c.by.closing.Swap(true) {
				c.end(1000, "idle", "no request and no data within the idle timeout")
			}
		}
	})
}

// uuidOf makes a UUID-looking string from n and a salt: Bybit's trade IDs
// of futures and conn_id of its replies look like
// "20f43950-d8dd-5b31-9112-a178eb6023af" (docs/v5/websocket/public/trade.mdx).
func uuidOf(n uint64, salt uint64) string {
	hi, lo := mix64(n^salt), mix64(n+salt*0x9e3779b97f4a7c15)
	const hexd = "0123456789abcdef"
	var b [36]byte
	j := 0
	for i := 0; i < 32; i++ {
		if i == 8 || i == 12 || i == 16 || i == 20 {
			b[j] = '-'
			j++
		}
		var nib uint64
		if i < 16 {
			nib = hi >> (60 - 4*i) & 0xf
		} else {
			nib = lo >> (60 - 4*(i-16)) & 0xf
		}
		b[j] = hexd[nib]
		j++
	}
	return string(b[:])
}

// BybitTradeID is the trade ID ("i" of publicTrade, "execId" of
// recent-trade) the front-end gives the market's trade id in category:
// a decimal string on spot (as in the spot REST example,
// "2100000000007764263"), a UUID-looking string on linear. Neither can show
// a gap.
func BybitTradeID(category string, symbol string, id int64) string {
	if category == BybitSpot {
		return strconv.FormatInt(2100000000000000000+id, 10)
	}
	return uuidOf(uint64(id), nameHash(symbol))
}

// BybitTrade is one trade as the Bybit front-end publishes it: ID is the
// venue's (see BybitTradeID), Price and Size as Bybit writes them, Side the
// taker's ("Buy", "Sell"), Time in milliseconds, Seq the "seq" both
// publicTrade and recent-trade give it.
type BybitTrade struct {
	ID     string `json:"i"`
	Symbol string `json:"s"`
	Price  string `json:"p"`
	Size   string `json:"v"`
	Side   string `json:"S"`
	Time   int64  `json:"T"`
	Seq    int64  `json:"seq"` // cross sequence
}

// Trades returns the trades of symbol in category whose time is in
// fromMs..toMs (milliseconds, inclusive), oldest first, with the category's
// trade IDs. A range older than the history kept fails with ErrHistoryGone.
func (b *Bybit) Trades(symbol, category string, fromMs, toMs int64) ([]BybitTrade, error) {
	if err := checkCategory(category); err != nil {
		return nil, err
	}
	m := b.srv.market
	s, err := m.lookup(symbol)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	lo, hi := m.oldestTrade(s), s.nextTrade-1
	if hi < lo {
		return nil, nil
	}
	at := func(id int64) int64 { return s.tradeAt(id).us / 1000 }
	if at(lo) > fromMs && lo > s.firstTrade {
		return nil, fmt.Errorf("trades %s from %d ms: %w (oldest kept at %d ms)", s.spec.name, fromMs, ErrHistoryGone, at(lo))
	}
	first := visibleUpTo(lo, hi, fromMs-1, at) + 1
	last := visibleUpTo(lo, hi, toMs, at)
	var out []BybitTrade
	for id := first; id <= last; id++ {
		out = append(out, bybitTrade(category, s, decsOf(s), id, s.tradeAt(id)))
	}
	return out, nil
}

// bybitDecs are the decimals Bybit writes a symbol's prices and sizes with:
// its tick's and step's.
type bybitDecs struct{ px, qty int }

// decsOf reads s's decimals; the caller holds m.mu (the filters fault
// changes them).
func decsOf(s *symState) bybitDecs { return bybitDecs{-s.spec.tickExp, -s.spec.stepExp} }

// decs reads s's decimals under the market's lock.
func (m *market) decs(s *symState) bybitDecs {
	m.mu.Lock()
	defer m.mu.Unlock()
	return decsOf(s)
}

func bybitTrade(category string, s *symState, d bybitDecs, id int64, r *tradeRec) BybitTrade {
	side := "Buy"
	if r.maker {
		side = "Sell"
	}
	return BybitTrade{
		ID: BybitTradeID(category, s.spec.name, id), Symbol: s.spec.name,
		Price: string(appendBybitDec(nil, r.price, d.px)), Size: string(appendBybitDec(nil, r.qty, d.qty)),
		Side: side, Time: r.us / 1000, Seq: bybitTradeSeq(id),
	}
}

// serveTruthBook answers GET /sim/book?category=…&symbol=…[&u=N].
func (b *Bybit) serveTruthBook(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	u, _, err := truthID(q.Get("u"), "u")
	if err != nil {
		writeTruthError(w, err)
		return
	}
	book, err := b.BookAt(q.Get("symbol"), q.Get("category"), u)
	if err != nil {
		writeTruthError(w, err)
		return
	}
	writeTruthJSON(w, http.StatusOK, book)
}

// serveTruthTrades answers GET /sim/trades?category=…&symbol=…&from=MS&to=MS.
func (b *Bybit) serveTruthTrades(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, to, err := truthRange(q, func() int64 { return time.Now().UnixMilli() })
	if err != nil {
		writeTruthError(w, err)
		return
	}
	trades, err := b.Trades(q.Get("symbol"), q.Get("category"), from, to)
	writeTruthList(w, trades, err)
}

// appendBybitDec appends v (1e-8 units) as Bybit writes decimals: at least
// dec decimals (the symbol's tick or step), more only when v needs them.
func appendBybitDec(b []byte, v int64, dec int) []byte {
	dec = min(max(dec, 0), 8)
	full := appendE8(nil, v)
	n := len(full)
	for n > 0 && full[n-1] == '0' && n-1 > len(full)-9+dec {
		n--
	}
	if full[n-1] == '.' {
		n--
	}
	return append(b, full[:n]...)
}
