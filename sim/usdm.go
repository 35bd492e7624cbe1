package sim

import (
	"crypto/tls"
	"net/http"
	"strings"
	"time"
)

// USDM is the Binance USD-M futures front-end: the WebSocket market streams
// of fstream.binance.com (routes /public and /market, and the legacy /ws and
// /stream) and the public REST API of fapi.binance.com (/fapi/v1/), written
// from Binance's USDⓈ-M documentation, served on a listener of its own over
// the simulator's market. Its diff depth streams number updates with IDs of
// their own (see USDMUpdateID): BookAt and LastUpdateID speak those IDs.
// Aggregate trade IDs are the market's.
//
// The server owns it: Server.Close stops it.
type USDM struct {
	*frontend
	cfg  USDMConfig
	rest *usdmREST
	feed *usdmFeed
}

// startUSDM starts the front-end on its own listener; the server's wg
// tracks its goroutines and connections.
func startUSDM(s *Server, tlsCfg *tls.Config) (*USDM, error) {
	cfg := s.cfg.USDM.withDefaults()
	f, err := newFrontend(s, VenueBinanceUSDM, cfg.Addr, tlsCfg)
	if err != nil {
		return nil, err
	}
	u := &USDM{frontend: f, cfg: cfg}
	u.conn.PingInterval = u.cfg.PingInterval
	u.conn.PongTimeout = u.cfg.PongTimeout
	u.conn.MaxLifetime = u.cfg.MaxLifetime
	u.conn.MaxIncoming = u.cfg.MaxIncoming
	u.conn.MaxStreams = u.cfg.MaxStreams
	u.handle = u.handleRequest
	u.rest = newUSDMREST(s.market, s.faults, u.cfg, s.cfg)
	u.feed = newUSDMFeed(s.market, u.hub, s.faults, u.cfg.StreamTick)

	mux := http.NewServeMux()
	for _, p := range []string{"/ws", "/ws/", "/stream", "/public/ws", "/public/ws/", "/public/stream", "/market/ws", "/market/ws/", "/market/stream"} {
		mux.HandleFunc(p, u.serveWS)
	}
	mux.Handle("/fapi/", u.rest)
	mux.HandleFunc("GET /sim/book", u.serveTruthBook)
	mux.Handle("/sim/", newTruth(s.market))
	u.start(mux, u.feed.run)
	return u, nil
}

// WSURL is the base of the WebSocket routes, wss://127.0.0.1:port: streams
// are served at /public/ws/<stream>, /public/stream?streams=…,
// /market/ws/<stream>, /market/stream?streams=…, and the legacy /ws/… and
// /stream?… (which serve the /public streams only).
func (u *USDM) WSURL() string { return "wss://" + u.ln.addr }

// RESTURL is the base of the REST API (/fapi/v1/…): https://127.0.0.1:port.
func (u *USDM) RESTURL() string { return "https://" + u.ln.addr }

// Config returns the front-end's configuration, defaults filled in.
func (u *USDM) Config() USDMConfig { return u.cfg }

// LastUpdateID returns the USD-M update ID of symbol's book now: the
// lastUpdateId GET /fapi/v1/depth would answer.
func (u *USDM) LastUpdateID(symbol string) (int64, error) {
	last, _, _, err := u.srv.market.lastIDs(symbol)
	if err != nil {
		return 0, err
	}
	return USDMUpdateID(last), nil
}

// BookAt returns the full book of symbol right after USD-M update id (0:
// now), as a client that applied every diff depth event up to the one
// whose u is id holds it. LastUpdateID of the answer is the last USD-M
// update ID at or before id.
func (u *USDM) BookAt(symbol string, id int64) (BookState, error) {
	var engine int64
	if id == 0 {
		last, _, _, err := u.srv.market.lastIDs(symbol)
		if err != nil {
			return BookState{}, err
		}
		engine = last
	} else {
		engine = marketUpdateID(id)
	}
	b, err := u.srv.market.bookAt(symbol, engine)
	if err != nil {
		return BookState{}, err
	}
	b.LastUpdateID = USDMUpdateID(b.LastUpdateID)
	return b, nil
}

// AggTrades returns the aggregate trades of symbol with IDs from..to
// inclusive, as the aggTrade stream and GET /fapi/v1/aggTrades give them.
func (u *USDM) AggTrades(symbol string, from, to int64) ([]AggTrade, error) {
	return u.srv.market.aggTrades(symbol, from, to)
}

// USDMUpdateID maps an update ID of the market to the ID the USD-M front-end
// gives the same book change. Binance's futures diff depth events do not
// follow each other by one ("U" of an event is not the previous "u" + 1:
// other updates of the book take IDs in between; the "How to manage a local
// order book correctly" page chains events by "pu" only), so the mapping
// leaves a hole of 1 to 7 IDs, chosen by a hash, before every update.
func USDMUpdateID(id int64) int64 { return id*8 + 1 + int64(mix64(uint64(id))%7) }

// marketUpdateID is the market update ID of the last change at or before
// USD-M update id.
func marketUpdateID(id int64) int64 {
	e := id / 8
	if USDMUpdateID(e) > id {
		e--
	}
	return e
}

// mix64 is a 64-bit finalizer (splitmix64's).
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// serveTruthBook answers GET /sim/book?symbol=…[&id=N] with USD-M update IDs.
func (u *USDM) serveTruthBook(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s, err := truthSymbol(u.srv.market, q.Get("symbol"))
	if err != nil {
		writeTruthError(w, err)
		return
	}
	id, _, err := truthID(q.Get("id"), "id")
	if err != nil {
		writeTruthError(w, err)
		return
	}
	book, err := u.BookAt(s.spec.name, id)
	if err != nil {
		writeTruthError(w, err)
		return
	}
	writeTruthJSON(w, http.StatusOK, book)
}

// usdmRoute is the route of a WebSocket connection: which streams it is
// sent.
type usdmRoute uint8

const (
	routeLegacy usdmRoute = iota // /ws, /stream: the /public streams only
	routePublic                  // /public/…
	routeMarket                  // /market/…
)

// serveWS upgrades the stream routes and runs the connection until it ends.
func (u *USDM) serveWS(w http.ResponseWriter, r *http.Request) {
	s := u.srv
	if ok, retry := s.attempts.attempt(wsClientIP(r.RemoteAddr), time.Now()); !ok {
		writeTooManyAttempts(w, s.cfg.ConnAttemptLimit, s.cfg.ConnAttemptWindow, retry)
		return
	}
	path, route := r.URL.Path, routeLegacy
	switch {
	case strings.HasPrefix(path, "/public/"):
		path, route = path[len("/public"):], routePublic
	case strings.HasPrefix(path, "/market/"):
		path, route = path[len("/market"):], routeMarket
	}
	streams, combined := urlStreams(path, r.URL.RawQuery)
	if len(streams) > u.cfg.MaxStreams {
		http.Error(w, `{"code":-1100,"msg":"Too many streams."}`, http.StatusBadRequest)
		return
	}
	if s.shuttingDown(w) {
		return
	}
	c, ok := u.accept(w, r)
	if !ok {
		return
	}
	defer s.wg.Done()
	c.usdm = u
	c.route = route
	c.combined.Store(combined)
	u.hub.add(c)
	keys, bad := usdmKeys(streams, route)
	if bad != "" {
		// as on spot (see serveWS in server.go): a malformed name in the
		// URL subscribes nothing and closes the connection
		keys = nil
		c.end(1008, `{"code":-1,"msg":"Illegal format ws or stream"}`, "invalid stream in URL")
	}
	if err := u.hub.subscribe(c, keys, u.cfg.MaxStreams); err != nil {
		u.hub.remove(c)
		c.nc.Close()
		c.cancel()
		return
	}
	c.serve()
	u.release(c)
}
