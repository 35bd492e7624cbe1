package sim

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// VenueOKX is the OKX v5 front-end: public WebSocket /ws/v5/public and
// /ws/v5/business, public REST /api/v5/.
const VenueOKX = "okx"

// OKXConfig sets up the OKX front-end. The zero value has the limits of the
// real service (OKX API v5 docs, "Overview / WebSocket" and "Rate limits").
type OKXConfig struct {
	// Addr is the TCP address of its listener. Default "127.0.0.1:0".
	Addr string
	// IdleTimeout: "The connection will break automatically if the
	// subscription is not established or data has not been pushed for
	// more than 30 seconds" (Overview / WebSocket / Connect). A connection
	// that neither sent a message nor was sent one for this long is closed
	// with 4004 "No data received in 30s.". Default 30s.
	IdleTimeout time.Duration
	// KeepAlive: "If there are no updates to the depth for an extended
	// period (Around 60 seconds)" the books channel sends an update whose
	// seqId equals prevSeqId with empty sides, and books5/bbo-tbt resend
	// their snapshot (WS / Order book channel, "Sequence ID"). Default 60s.
	KeepAlive time.Duration
	// LegacyChecksum sends the CRC32 checksum of the top 25 levels in the
	// books channel, as OKX did before 2026-06-23; by default checksum is
	// 0, as OKX sends it since ("Order Book Channels Checksum Field
	// Deprecation").
	LegacyChecksum bool
	// MaxRequestsPerHour: "Subscription/unsubscription/login requests: 480
	// times per hour per connection". A request over it gets error 60014
	// "Requests too frequent.". Default 480.
	MaxRequestsPerHour int
	// MaxArgsBytes: "The total length of multiple channels cannot exceed
	// 64 KB". A request whose args are longer is answered with a 1009
	// close. Default 65536.
	MaxArgsBytes int
	// MaxChannels is the most channels one connection may hold; over it
	// the connection is closed with 4008. OKX publishes no number (it
	// advises fewer than 30 book channels per connection); default 1000.
	MaxChannels int
	// ConnPerSecond: "Connection limit: 3 requests per second (based on
	// IP)". Upgrades over it are answered with HTTP 429. Default 3.
	ConnPerSecond int
	// FundingEvery is how often funding-rate pushes ("data will be pushed
	// in 30s to 90s"). Default 30s.
	FundingEvery time.Duration
	// StreamTick is how often the front-end looks at the market: the
	// latency of bbo-tbt. Default 10ms.
	StreamTick time.Duration
}

func (c OKXConfig) withDefaults() OKXConfig {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	c.IdleTimeout = orDefault(c.IdleTimeout, 30*time.Second)
	c.KeepAlive = orDefault(c.KeepAlive, 60*time.Second)
	c.MaxRequestsPerHour = orDefault(c.MaxRequestsPerHour, 480)
	c.MaxArgsBytes = orDefault(c.MaxArgsBytes, 64<<10)
	c.MaxChannels = orDefault(c.MaxChannels, 1000)
	c.ConnPerSecond = orDefault(c.ConnPerSecond, 3)
	c.FundingEvery = orDefault(c.FundingEvery, 30*time.Second)
	c.StreamTick = orDefault(c.StreamTick, 10*time.Millisecond)
	return c
}

func (c OKXConfig) validate() error {
	if err := atLeast("OKX", time.Millisecond, "is below 1ms", []named[time.Duration]{{"IdleTimeout", c.IdleTimeout}, {"KeepAlive", c.KeepAlive}, {"FundingEvery", c.FundingEvery}}); err != nil {
		return err
	}
	if err := checkTick("OKX.StreamTick", c.StreamTick); err != nil {
		return err
	}
	return atLeast("OKX", 1, "must be at least 1", []named[int]{{"MaxRequestsPerHour", c.MaxRequestsPerHour}, {"MaxArgsBytes", c.MaxArgsBytes}, {"MaxChannels", c.MaxChannels}, {"ConnPerSecond", c.ConnPerSecond}})
}

// OKX is the OKX v5 front-end, written from OKX's API v5 documentation and
// served on a listener of its own over the simulator's market. Every
// market symbol is two instruments: spot (BTCUSDT → "BTC-USDT", sizes in
// base currency) and a linear perpetual swap ("BTC-USDT-SWAP", sizes in
// contracts of ctVal base currency). Both trade on the symbol's one book
// and trades; trade IDs are the market's trade IDs; the books channel's
// seqId is the market's update ID until an okx-seq-reset fault restarts
// it lower.
//
// The server owns it: Server.Close stops it.
type OKX struct {
	*frontend
	cfg      OKXConfig
	feed     *okxFeed
	rest     *okxREST
	attempts *attemptBudget
	insts    []*okxInst
	byID     map[string]*okxInst
}

// okxInst is one instrument of the front-end.
type okxInst struct {
	id   string // "BTC-USDT", "BTC-USDT-SWAP"
	swap bool
	s    *symState
	// mult converts base-currency quantities (1e-8 units) to what the
	// instrument writes: 1 for spot, 1/ctVal contracts for swaps.
	mult     int64
	ctValExp int // ctVal = 10^ctValExp (swaps)

	mu     sync.Mutex // guards epochs and seen (the feed writes, ground truth reads)
	epochs []okxEpoch
	seen   int64 // the latest market update given a seqId
}

// okxEpoch is a stretch of the books channel's seqIds: from market update
// from on, seqId = update ID − offset. An okx-seq-reset starts a new one.
type okxEpoch struct{ from, offset int64 }

// seqOf is the seqId the books channel gives market update id.
func (in *okxInst) seqOf(id int64) int64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.seen = max(in.seen, id)
	return id - in.epochs[len(in.epochs)-1].offset
}

// updateOf maps a seqId back to a market update ID, newest epoch first.
func (in *okxInst) updateOf(seq int64) (int64, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for i := len(in.epochs) - 1; i >= 0; i-- {
		ep := in.epochs[i]
		id := seq + ep.offset
		if id >= ep.from && (i == len(in.epochs)-1 && id <= in.seen || i < len(in.epochs)-1 && id < in.epochs[i+1].from) {
			return id, true
		}
	}
	if ep := in.epochs[len(in.epochs)-1]; seq+ep.offset > in.seen { // not reached yet: rebuild says so
		return seq + ep.offset, true
	}
	return 0, false
}

// reset starts a new epoch at market update id whose seqId is seq.
func (in *okxInst) reset(id, seq int64) {
	in.mu.Lock()
	in.epochs = append(in.epochs, okxEpoch{from: id, offset: id - seq})
	in.mu.Unlock()
}

// sz converts a base-currency quantity (1e-8) to the instrument's size (1e-8).
func (in *okxInst) sz(qtyE8 int64) int64 { return satMul(qtyE8, in.mult) }

func (in *okxInst) instType() string {
	if in.swap {
		return "SWAP"
	}
	return "SPOT"
}

// newOKXInsts maps the market's symbols to OKX instruments.
func newOKXInsts(m *market) []*okxInst {
	var out []*okxInst
	for _, s := range m.syms {
		base := s.spec.base + "-" + s.spec.quote
		spot := &okxInst{id: base, s: s, mult: 1, epochs: []okxEpoch{{}}}
		// ctVal = 10^(step+3), at most 1: BTC (step 1e-5) 0.01 BTC, as on
		// OKX; lotSz = step/ctVal, so every market quantity is a whole
		// number of lots.
		exp := min(0, s.spec.stepExp+3)
		swap := &okxInst{id: base + "-SWAP", swap: true, s: s, mult: pow10(-exp), ctValExp: exp, epochs: []okxEpoch{{}}}
		out = append(out, spot, swap)
	}
	return out
}

// startOKX starts the front-end on its own listener; the server's wg
// tracks its goroutines and connections.
func startOKX(s *Server, tlsCfg *tls.Config) (*OKX, error) {
	cfg := s.cfg.OKX.withDefaults()
	f, err := newFrontend(s, VenueOKX, cfg.Addr, tlsCfg)
	if err != nil {
		return nil, err
	}
	o := &OKX{frontend: f, cfg: cfg, byID: map[string]*okxInst{}}
	// OKX sends no WebSocket pings; its clients send the text "ping"
	// ("Overview / WebSocket / Connect"), and its limits are per hour,
	// checked on requests (see handle).
	o.conn.PingInterval = 100 * 365 * 24 * time.Hour
	o.conn.PongTimeout = o.conn.PingInterval
	o.conn.MaxLifetime = o.conn.PingInterval
	o.conn.MaxIncoming = 100
	o.conn.MaxStreams = o.cfg.MaxChannels
	o.conn.MaxFrame = max(s.cfg.MaxFrame, o.cfg.MaxArgsBytes+4096)
	o.attempts = newAttemptBudget(o.cfg.ConnPerSecond, time.Second)
	o.insts = newOKXInsts(s.market)
	for _, in := range o.insts {
		o.byID[in.id] = in
	}
	o.feed = newOKXFeed(o)
	o.forget = o.feed.forget
	o.handle = func(c *wsConn, body []byte) { c.okx.handle(c, body) }
	o.rest = newOKXREST(o)

	mux := http.NewServeMux()
	mux.HandleFunc("/ws/v5/public", o.serveWS)
	mux.HandleFunc("/ws/v5/business", o.serveWS)
	mux.Handle("/api/v5/", o.rest)
	mux.HandleFunc("GET /sim/book", o.serveTruthBook)
	mux.HandleFunc("GET /sim/trades", o.serveTruthTrades)
	mux.HandleFunc("GET /sim/liquidations", o.serveTruthLiquidations)
	o.start(mux, o.feed.run)
	return o, nil
}

// WSURL is the base of the WebSocket routes, wss://127.0.0.1:port: the
// public channels at /ws/v5/public, trades-all at /ws/v5/business.
func (o *OKX) WSURL() string { return "wss://" + o.ln.addr }

// RESTURL is the base of the REST API (/api/v5/…): https://127.0.0.1:port.
func (o *OKX) RESTURL() string { return "https://" + o.ln.addr }

// Config returns the front-end's configuration, defaults filled in.
func (o *OKX) Config() OKXConfig { return o.cfg }

// Instruments lists the instIds served, spot and swap of every symbol.
func (o *OKX) Instruments() []string {
	out := make([]string, len(o.insts))
	for i, in := range o.insts {
		out[i] = in.id
	}
	return out
}

// ErrUnknownInstrument: an instId the front-end does not serve.
var ErrUnknownInstrument = errors.New("sim: unknown instrument")

func (o *OKX) inst(instID string) (*okxInst, error) {
	in := o.byID[instID]
	if in == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownInstrument, instID)
	}
	return in, nil
}

// OKXBook is an instrument's full book at one seqId, as a client that
// applied every books message up to the one with that seqId holds it:
// prices and sizes as the channel writes them (swap sizes in contracts),
// best first.
type OKXBook struct {
	InstID string  `json:"instId"`
	SeqID  int64   `json:"seqId"`
	Bids   []Level `json:"bids"`
	Asks   []Level `json:"asks"`
}

// LastSeqID returns the seqId of instID's book now.
func (o *OKX) LastSeqID(instID string) (int64, error) {
	in, err := o.inst(instID)
	if err != nil {
		return 0, err
	}
	last, _, _, err := o.srv.market.lastIDs(in.s.spec.name)
	if err != nil {
		return 0, err
	}
	return in.seqOf(last), nil
}

// LastTradeID returns the tradeId of instID's latest trade (one below
// the first it will make, before any).
func (o *OKX) LastTradeID(instID string) (int64, error) {
	in, err := o.inst(instID)
	if err != nil {
		return 0, err
	}
	_, _, last, err := o.srv.market.lastIDs(in.s.spec.name)
	return last, err
}

// BookAt returns instID's book right after the books update whose seqId
// is seqID (any seqId of the current numbering, or of an earlier one an
// okx-seq-reset ended when it does not collide with a later one). It fails
// with ErrHistoryGone past the history kept and ErrNotYet for a seqId not
// reached.
func (o *OKX) BookAt(instID string, seqID int64) (OKXBook, error) {
	in, err := o.inst(instID)
	if err != nil {
		return OKXBook{}, err
	}
	id, ok := in.updateOf(seqID)
	if !ok {
		return OKXBook{}, fmt.Errorf("book %s at seqId %d: %w", instID, seqID, ErrHistoryGone)
	}
	_, book, err := o.srv.market.rebuild(in.s, id, false)
	if err != nil {
		return OKXBook{}, err
	}
	b := OKXBook{InstID: instID, SeqID: seqID}
	for sd, dst := range []*[]Level{&b.Bids, &b.Asks} {
		lv := book[sd]
		*dst = make([]Level, 0, len(lv))
		for i := len(lv) - 1; i >= 0; i-- {
			*dst = append(*dst, Level{Price: string(appendOKXNum(nil, lv[i].price)), Qty: string(appendOKXNum(nil, in.sz(lv[i].qty)))})
		}
	}
	return b, nil
}

// OKXTrade is one trade (one fill) as OKX numbers and writes it: Side is
// the taker's, "buy" or "sell"; Sz in contracts for swaps; Ts in ms.
type OKXTrade struct {
	TradeID int64  `json:"tradeId,string"`
	Px      string `json:"px"`
	Sz      string `json:"sz"`
	Side    string `json:"side"`
	Ts      int64  `json:"ts,string"`
}

// Trades returns instID's trades with tradeIds from..to inclusive, oldest
// first: the trades channel's message with tradeId t and count n holds
// t-n+1..t. A range past the last trade is cut there; one before the
// oldest kept fails with ErrHistoryGone.
func (o *OKX) Trades(instID string, from, to int64) ([]OKXTrade, error) {
	in, err := o.inst(instID)
	if err != nil {
		return nil, err
	}
	ts, err := o.srv.market.tradesRange(in.s.spec.name, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]OKXTrade, len(ts))
	for i, t := range ts {
		qty, _ := parseE8(t.Qty)
		px, _ := parseE8(t.Price)
		side := "buy"
		if t.BuyerMaker {
			side = "sell"
		}
		out[i] = OKXTrade{TradeID: t.ID, Px: string(appendOKXNum(nil, px)), Sz: string(appendOKXNum(nil, in.sz(qty))), Side: side, Ts: t.Time}
	}
	return out, nil
}

// parseE8 reads a decimal with at most eight decimals as 1e-8 units.
func parseE8(s string) (int64, error) {
	whole, frac, _ := strings.Cut(s, ".")
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, err
	}
	frac = (frac + "00000000")[:8]
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, err
	}
	return w*1e8 + f, nil
}

// appendOKXNum writes a 1e-8 quantity as OKX does: no trailing zeros
// ("42219.9", "8477", "0.12060306").
func appendOKXNum(b []byte, v int64) []byte {
	b = appendE8(b, v)
	i := len(b)
	for b[i-1] == '0' {
		i--
	}
	if b[i-1] == '.' {
		i--
	}
	return b[:i]
}

func (o *OKX) serveTruthBook(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	seq, err := strconv.ParseInt(q.Get("seqId"), 10, 64)
	if err != nil {
		writeTruthError(w, &paramError{"seqId", q.Get("seqId"), "is not an integer"})
		return
	}
	b, err := o.BookAt(q.Get("instId"), seq)
	if err != nil {
		writeTruthError(w, err)
		return
	}
	writeTruthJSON(w, http.StatusOK, b)
}

func (o *OKX) serveTruthTrades(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, to, err := truthRange(q, nil)
	if err != nil {
		writeTruthError(w, err)
		return
	}
	ts, err := o.Trades(q.Get("instId"), from, to)
	writeTruthList(w, ts, err)
}

// okxConn is the OKX side of one WebSocket connection.
type okxConn struct {
	o        *OKX
	business bool   // /ws/v5/business
	connID   string // "connId" of the replies
	lastIn   atomic.Int64
	requests []time.Time // subscribe/unsubscribe requests of the last hour; reader only
}

// serveWS upgrades /ws/v5/public and /ws/v5/business and runs the
// connection until it ends.
func (o *OKX) serveWS(w http.ResponseWriter, r *http.Request) {
	s := o.srv
	if ok, _ := o.attempts.attempt(wsClientIP(r.RemoteAddr), time.Now()); !ok {
		// "Connection limit: 3 requests per second (based on IP)"
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"code":"50011","msg":"Too Many Requests","data":[]}`))
		return
	}
	if s.shuttingDown(w) {
		return
	}
	c, ok := o.accept(w, r)
	if !ok {
		return
	}
	defer s.wg.Done()
	oc := &okxConn{o: o, business: r.URL.Path == "/ws/v5/business", connID: fmt.Sprintf("%08x", uint32(mix64(c.id)))}
	oc.lastIn.Store(c.opened.UnixNano())
	c.okx = oc
	o.hub.add(c)
	done := make(chan struct{})
	var idle sync.WaitGroup
	idle.Add(1)
	go func() {
		defer idle.Done()
		oc.watchIdle(c, done)
	}()
	c.serve()
	close(done)
	idle.Wait()
	o.release(c)
}

// watchIdle closes c with 4004 once IdleTimeout passes with no message
// from the client and none sent to it.
func (oc *okxConn) watchIdle(c *wsConn, done <-chan struct{}) {
	limit := oc.o.cfg.IdleTimeout
	t := time.NewTicker(max(limit/20, time.Millisecond))
	defer t.Stop()
	sent, quietSince := c.stats.sent.Load(), time.Now()
	for {
		select {
		case <-done:
			return
		case <-c.ctx.Done():
			return
		case now := <-t.C:
			if n := c.stats.sent.Load(); n != sent {
				sent, quietSince = n, now
			}
			since := max(quietSince.UnixNano(), oc.lastIn.Load())
			if now.UnixNano()-since >= int64(limit) {
				// the close OKX sends (reported on its private WebSocket):
				// 4004 "No data received in 30s."
				c.end(4004, "No data received in "+limit.String()+".", "idle")
				return
			}
		}
	}
}
