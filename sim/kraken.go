package sim

import (
	"context"

	"crypto/tls"
	"fmt"
	"github.com/gobwas/ws"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// VenueKraken is the Kraken spot front-end: the public WebSocket v2 of
// ws.kraken.com (/v2) and the public REST API of api.kraken.com
// (/0/public/…), written from Kraken's documentation (docs.kraken.com,
// "Spot WebSocket v2" and "Spot REST").
const VenueKraken = "kraken"

// Faults of the Kraken front-end (Config.Venues lists VenueKraken). The
// message faults are decided once per feed step (KrakenConfig.BookTick) of
// a symbol, for every subscriber. depth-drop, depth-dup and depth-reorder
// apply per connection to the book updates, trade-gap to trade messages,
// and the connection faults to its connections, as on the other
// front-ends.
const (
	// FaultKrakenBadChecksum: the book updates of one step carry a
	// checksum that is not the CRC32 of the book they leave (the book
	// itself is right; the next update's checksum is right again). Prob is
	// per step with a changed book.
	FaultKrakenBadChecksum FaultKind = "kraken-bad-checksum"
	// FaultKrakenMaintenance: the engine goes into maintenance: every
	// connection gets {"channel":"status","type":"update","data":[{…,
	// "system":"maintenance",…}]} (spot-websocket-v2/status) and, Duration
	// later (default 10s), the same with "system":"online". Market data
	// keeps flowing: maintenance stops order entry, not the feed.
	FaultKrakenMaintenance FaultKind = "kraken-maintenance"
	// FaultKrakenExponent: the book, trade and ticker messages of one step
	// write every price and quantity in exponent form (4.52852e+04,
	// 1e-08), as JSON allows and as Kraken writes some numbers (the
	// instrument channel's "qty_increment": 1e-08). The values are the
	// same; a client that reads them as decimals is unaffected.
	FaultKrakenExponent FaultKind = "kraken-exponent"
	// FaultKrakenTradeGap: one trade of a step is not sent on the trade
	// channel to anybody (its trade_id is skipped), while REST
	// /0/public/Trades has it, as users of the real feed saw
	// (krakenfx/api-go#36).
	FaultKrakenTradeGap FaultKind = "kraken-trade-gap"
	// FaultKrakenRateLimit: a REST request is answered
	// {"error":["EGeneral:Too many requests"],"result":{}} as over the
	// rate limit. Decided per request.
	FaultKrakenRateLimit FaultKind = "kraken-rate-limit"
	// FaultKrakenPairDecimals: an answer of /0/public/AssetPairs gives
	// pair_decimals and lot_decimals Count (default 1) above the pair's
	// precisions, tick_size and ordermin written at them, for the pair
	// Symbol (its market name, "BTCUSDT"; default every pair): a REST
	// listing out of step with the instrument channel and the feed, which
	// keep the pair's own precisions (the checksum's, "Book checksum
	// (WebSocket v2)"). Decided per AssetPairs request.
	FaultKrakenPairDecimals FaultKind = "kraken-pair-decimals"
)

func init() {
	for k, c := range map[FaultKind]faultClass{
		FaultKrakenBadChecksum: classMessage, FaultKrakenMaintenance: classMessage,
		FaultKrakenExponent: classMessage, FaultKrakenTradeGap: classMessage,
		FaultKrakenRateLimit: classREST, FaultKrakenPairDecimals: classREST,
	} {
		faultClasses[k] = c
	}
}

// KrakenConfig sets up the Kraken front-end. The zero value has the
// defaults below.
type KrakenConfig struct {
	// Addr is the TCP address of its listener. Default "127.0.0.1:0".
	Addr string
	// BookTick is how often the feed looks at the market for book changes
	// and trades: the latency of the book, trade and ticker channels.
	// Default 10ms.
	BookTick time.Duration
	// Heartbeat: "{"channel":"heartbeat"} … approximately once per second
	// in the absence of any other channel updates", to connections with a
	// subscription (spot-websocket-v2/heartbeat). Default 1s.
	Heartbeat time.Duration
	// MaxLifetime closes a connection (1001) after this long. Kraken
	// documents none. Default 24h.
	MaxLifetime time.Duration
	// RESTBurst requests per client IP may come at once; the allowance
	// refills by one every RESTRefill. Over it: {"error":["EGeneral:Too
	// many requests"]}. Kraken's support page says about one public
	// request a second stays within limits and bursts are throttled.
	// Defaults 15 and 1s.
	RESTBurst  int
	RESTRefill time.Duration
	// History is how many book changes per symbol BookAt can go back.
	// Default 100000.
	History int
}

func (c KrakenConfig) withDefaults() KrakenConfig {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	c.BookTick = orDefault(c.BookTick, 10*time.Millisecond)
	c.Heartbeat = orDefault(c.Heartbeat, time.Second)
	c.MaxLifetime = orDefault(c.MaxLifetime, 24*time.Hour)
	c.RESTBurst = orDefault(c.RESTBurst, 15)
	c.RESTRefill = orDefault(c.RESTRefill, time.Second)
	c.History = orDefault(c.History, 100000)
	return c
}

func (c KrakenConfig) validate() error {
	if err := atLeast("Kraken", 1, "must be positive", []named[time.Duration]{{"Heartbeat", c.Heartbeat}, {"MaxLifetime", c.MaxLifetime}, {"RESTRefill", c.RESTRefill}}); err != nil {
		return err
	}
	if err := checkTick("Kraken.BookTick", c.BookTick); err != nil {
		return err
	}
	return atLeast("Kraken", 1, "must be at least 1", []named[int]{{"RESTBurst", c.RESTBurst}, {"History", c.History}})
}

// Kraken is the Kraken spot front-end, served on a listener of its own
// over the simulator's market. The market's symbols are Kraken pairs
// written BASE/QUOTE on WebSocket v2 ("BTC/USDT"); REST names them with
// Kraken's XBT and XDG ("XBTUSDT", wsname "XBT/USDT"). Book messages
// carry a timestamp that rises by at least 1µs per change of a symbol's
// book: BookAt finds a book by it. trade_id is the market's trade ID,
// sequential per pair.
//
// The server owns it: Server.Close stops it.
type Kraken struct {
	*frontend
	cfg  KrakenConfig
	feed *krakenFeed
	rest *krakenREST

	connMu sync.Mutex
	conns  map[*wsConn]*krakenConn
}

// krakenConn is the Kraken side of a wsConn.
type krakenConn struct {
	// subs are the subscriptions, hub keys; the reader's own.
	subs    map[string]bool
	anySubs atomic.Bool
	sent    int64 // messages sent at the last heartbeat check; heartbeat's own
}

// startKraken starts the front-end on its own listener.
func startKraken(s *Server, tlsCfg *tls.Config) (*Kraken, error) {
	cfg := s.cfg.Kraken.withDefaults()
	f, err := newFrontend(s, VenueKraken, cfg.Addr, tlsCfg)
	if err != nil {
		return nil, err
	}
	k := &Kraken{frontend: f, cfg: cfg, conns: make(map[*wsConn]*krakenConn)}
	// Kraken's keep-alive is the client's {"method":"ping"} and the
	// server's heartbeat channel; no ping frames are documented.
	k.conn.PingInterval = 100 * 365 * 24 * time.Hour
	k.conn.PongTimeout = k.conn.PingInterval
	k.conn.MaxLifetime = cfg.MaxLifetime
	k.conn.MaxIncoming = max(s.cfg.MaxIncoming, 100) // the documented limit is dynamic
	k.conn.MaxStreams = 1 << 20
	k.feed = newKrakenFeed(k, s.market, s.faults)
	k.handle = k.handleRequest
	k.forget = func(c *wsConn) {
		k.feed.dropConn(c)
		k.connMu.Lock()
		delete(k.conns, c)
		k.connMu.Unlock()
	}
	k.rest = newKrakenREST(k)

	mux := http.NewServeMux()
	mux.HandleFunc("/v2", k.serveWS)
	mux.Handle("/0/", k.rest)
	mux.HandleFunc("GET /sim/book", k.serveTruthBook)
	mux.HandleFunc("GET /sim/trades", k.serveTruthTrades)
	k.start(mux, k.feed.run, k.heartbeats)
	return k, nil
}

// WSURL is the base of the WebSocket route: wss://127.0.0.1:port (the
// public stream is at /v2).
func (k *Kraken) WSURL() string { return "wss://" + k.ln.addr }

// RESTURL is the base of the REST API (/0/public/…): https://127.0.0.1:port.
func (k *Kraken) RESTURL() string { return "https://" + k.ln.addr }

// Config returns the front-end's configuration, defaults filled in.
func (k *Kraken) Config() KrakenConfig { return k.cfg }

func (k *Kraken) serveWS(w http.ResponseWriter, r *http.Request) {
	s := k.srv
	if s.shuttingDown(w) {
		return
	}
	c, ok := k.accept(w, r)
	if !ok {
		return
	}
	defer s.wg.Done()
	kc := &krakenConn{subs: make(map[string]bool)}
	k.connMu.Lock()
	k.conns[c] = kc
	k.connMu.Unlock()
	k.hub.add(c)
	// "status" is "published … on initial connection and any changes to
	// the status" (spot-websocket-v2/status).
	c.sendFrame(ws.OpText, krakenStatus(c.id, k.feed.system()))
	c.serve()
	k.release(c)
}

func (k *Kraken) connOf(c *wsConn) *krakenConn {
	k.connMu.Lock()
	defer k.connMu.Unlock()
	return k.conns[c]
}

// heartbeats sends {"channel":"heartbeat"} every Heartbeat to each
// connection with a subscription that was sent nothing since the last
// one.
func (k *Kraken) heartbeats(ctx context.Context) {
	everyTick(ctx, k.cfg.Heartbeat, func(time.Time) {
		for _, c := range k.hub.snapshot() {
			kc := k.connOf(c)
			if kc == nil {
				continue
			}
			sent := c.stats.sent.Load()
			if kc.anySubs.Load() && sent == kc.sent {
				c.sendFrame(ws.OpText, []byte(`{"channel":"heartbeat"}`))
				sent = c.stats.sent.Load()
			}
			kc.sent = sent
		}
	})
}

// krakenStatus is the status message of connection id with system state
// system ("online", "maintenance", "cancel_only", "post_only").
func krakenStatus(id uint64, system string) []byte {
	b := []byte(`{"channel":"status","type":"update","data":[{"api_version":"v2","connection_id":`)
	// connection_id is a 64-bit unsigned number (13834774380200032777 in
	// the documented example): set the top bit, as there
	b = strconv.AppendUint(b, 1<<63|mix64(id)>>1, 10)
	b = append(b, `,"system":"`...)
	b = append(b, system...)
	return append(b, `","version":"2.0.0"}]}`...)
}

// KrakenWSName is the v2 symbol of a market symbol: "BTC/USDT".
func (k *Kraken) KrakenWSName(symbol string) (string, error) {
	ks := k.feed.bySym[symbol]
	if ks == nil {
		return "", fmt.Errorf("sim: symbol %q: %w", symbol, ErrUnknownSymbol)
	}
	return ks.wsName, nil
}

// krakenAsset is Kraken's REST name of an asset: XBT for BTC, XDG for
// DOGE ("XBT/USD" in v1 and REST, "BTC/USD" in v2).
func krakenAsset(a string) string {
	switch a {
	case "BTC":
		return "XBT"
	case "DOGE":
		return "XDG"
	}
	return a
}

// KrakenTrade is one trade as the Kraken front-end publishes it: ID its
// trade_id, Price and Qty as the trade channel writes them (at the pair's
// precisions, trailing zeros dropped), Side the taker's ("buy", "sell"),
// Time in microseconds.
type KrakenTrade struct {
	ID     int64  `json:"trade_id"`
	Symbol string `json:"symbol"`
	Price  string `json:"price"`
	Qty    string `json:"qty"`
	Side   string `json:"side"`
	Time   int64  `json:"time_us"`
}

// Trades returns the trades of pair (v2 "BTC/USDT" or the market's
// "BTCUSDT") with trade_id from..to, oldest first. A range older than the
// history kept fails with ErrHistoryGone.
func (k *Kraken) Trades(pair string, from, to int64) ([]KrakenTrade, error) {
	ks := k.feed.lookup(pair)
	if ks == nil {
		return nil, fmt.Errorf("sim: pair %q: %w", pair, ErrUnknownSymbol)
	}
	m, s := k.srv.market, ks.s
	m.mu.Lock()
	defer m.mu.Unlock()
	lo, hi := m.oldestTrade(s), s.nextTrade-1
	if from < lo && lo > s.firstTrade {
		return nil, fmt.Errorf("trades %s from %d: %w (oldest kept %d)", ks.wsName, from, ErrHistoryGone, lo)
	}
	d := decsOf(s)
	var out []KrakenTrade
	for id := max(from, lo); id <= min(to, hi); id++ {
		r := s.tradeAt(id)
		out = append(out, KrakenTrade{ID: id, Symbol: ks.wsName, Price: krNum(r.price, d.px), Qty: krNum(r.qty, d.qty),
			Side: krSide(r), Time: r.us})
	}
	return out, nil
}

func krSide(r *tradeRec) string {
	if r.maker {
		return "sell"
	}
	return "buy"
}

// serveTruthBook answers GET /sim/book?symbol=BTC/USDT[&ts=µs].
func (k *Kraken) serveTruthBook(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ts, _, err := truthID(q.Get("ts"), "ts")
	if err != nil {
		writeTruthError(w, err)
		return
	}
	book, err := k.BookAt(q.Get("symbol"), ts)
	if err != nil {
		writeTruthError(w, err)
		return
	}
	writeTruthJSON(w, http.StatusOK, book)
}

// serveTruthTrades answers GET /sim/trades?symbol=BTC/USDT&from=ID&to=ID.
func (k *Kraken) serveTruthTrades(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, to, err := truthRange(q, func() int64 { return 1<<63 - 1 })
	if err != nil {
		writeTruthError(w, err)
		return
	}
	trades, err := k.Trades(q.Get("symbol"), from, to)
	writeTruthList(w, trades, err)
}

// krNum writes v (1e-8 units) as Kraken v2 writes a JSON number: at most
// dec decimals, trailing zeros and a trailing point dropped ("0.566" among
// 4-decimal prices in the documented MATIC/USD book).
func krNum(v int64, dec int) string { return string(appendKrNum(nil, v, dec)) }

func appendKrNum(b []byte, v int64, dec int) []byte {
	s := krFixed(v, dec)
	if strings.IndexByte(s, '.') >= 0 {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	return append(b, s...)
}

// krFixed writes v (1e-8 units) with exactly dec decimals (0..8).
func krFixed(v int64, dec int) string {
	dec = min(max(dec, 0), 8)
	full := string(appendE8(nil, v)) // "123.45000000"
	dot := strings.IndexByte(full, '.')
	if dec == 0 {
		return full[:dot]
	}
	return full[:dot+1+dec]
}

// krExp rewrites a plain decimal ("45285.2", "0.00027625") in exponent
// form ("4.52852e+04", "2.7625e-04"); zero stays "0".
func krExp(plain string) string {
	neg := strings.HasPrefix(plain, "-")
	plain = strings.TrimPrefix(plain, "-")
	intPart, frac, _ := strings.Cut(plain, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	if digits == "" {
		return "0"
	}
	// exponent of the first significant digit
	exp := len(strings.TrimLeft(intPart, "0")) - 1
	if strings.TrimLeft(intPart, "0") == "" {
		exp = -(len(frac) - len(strings.TrimLeft(frac, "0")) + 1)
	}
	digits = strings.TrimRight(digits, "0")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	b.WriteByte(digits[0])
	if len(digits) > 1 {
		b.WriteByte('.')
		b.WriteString(digits[1:])
	}
	b.WriteByte('e')
	if exp < 0 {
		b.WriteByte('-')
		exp = -exp
	} else {
		b.WriteByte('+')
	}
	if exp < 10 {
		b.WriteByte('0')
	}
	b.WriteString(strconv.Itoa(exp))
	return b.String()
}
