// Package sim is a Binance-compatible exchange simulator: a TLS server
// with the WebSocket market streams and the REST market-data API of Binance
// spot and, on a listener of its own (Config.Venues), of Binance USD-M
// futures, driven by one deterministic market, with injectable faults and
// ground truth for tests.
//
// It shares no protocol code with the client side of feedkeeper: it writes
// the wire format with its own code, so that one misunderstanding of the
// protocol cannot hide on both sides.
package sim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// Server is a running simulator. Create it with Start; Close stops it and
// releases every goroutine, connection and listener it made.
type Server struct {
	cfg      Config
	log      *slog.Logger
	certs    *certs
	market   *market
	hub      *hub
	faults   *faults
	ln       *listener
	http     *http.Server
	usdm     *USDM     // nil unless Config.Venues lists it
	bybit    *Bybit    // nil unless Config.Venues lists it
	okx      *OKX      // nil unless Config.Venues lists it
	coinbase *Coinbase // nil unless Config.Venues lists it
	// frontends are those of usdm, bybit and okx that started.
	frontends []*frontend

	// kraken is nil unless Config.Venues lists it.
	kraken *Kraken

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // engine, HTTP server, connections

	// trackMu orders every wg.Add of a connection before Close's Wait:
	// once closing is set no connection is added.
	trackMu sync.Mutex
	closing bool

	connID        atomic.Uint64
	malformedTurn atomic.Uint32
	burst         chan int
	attempts      *attemptBudget
	closeOnce     sync.Once
}

// Start validates cfg, generates or loads the certificates, builds the
// market, and starts listening. The returned server is serving.
func Start(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c, err := loadCerts(cfg.CertDir)
	if err != nil {
		return nil, err
	}
	m, err := newMarket(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:    cfg,
		log:    slog.Default().With("component", "sim"),
		certs:  c,
		market: m,
		hub:    newHub(),
		faults: newFaults(cfg.Seed),
		burst:  make(chan int, 16),
	}
	s.attempts = newAttemptBudget(cfg.ConnAttemptLimit, cfg.ConnAttemptWindow)
	s.faults.set(cfg.Faults)
	tlsCfg := &tls.Config{
		Certificates: []tls.Certificate{c.server},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	}
	s.ln, err = newListener(cfg.Addr, VenueBinance, s.faults, c, tlsCfg)
	if err != nil {
		return nil, fmt.Errorf("sim: listen %s: %w", cfg.Addr, err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())

	mux := http.NewServeMux()
	mux.HandleFunc("/ws", s.serveWS)
	mux.HandleFunc("/ws/", s.serveWS)
	mux.HandleFunc("/stream", s.serveWS)
	mux.Handle("/api/", newREST(m, s.faults, cfg))
	s.registerAdmin(mux)
	mux.Handle("/sim/", newTruth(m))
	s.registerStreamTruth(mux)
	s.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
	}

	if err := s.startFrontends(tlsCfg); err != nil {
		s.cancel()
		_ = s.ln.Close()
		for _, f := range s.frontends {
			f.close()
		}
		return nil, err
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.log.Error("serve", "err", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		s.run()
	}()
	return s, nil
}

// track counts a connection in wg unless Close has begun: a connection is
// hijacked from the HTTP server, whose Shutdown does not wait for it.
func (s *Server) track() bool {
	s.trackMu.Lock()
	defer s.trackMu.Unlock()
	if s.closing {
		return false
	}
	s.wg.Add(1)
	return true
}

// Addr is the address the server listens on (host:port).
func (s *Server) Addr() string { return s.ln.addr }

// WSURL is the base of the WebSocket endpoints: wss://127.0.0.1:port.
// Streams are served at /ws, /ws/<stream> and /stream?streams=….
func (s *Server) WSURL() string { return "wss://" + s.ln.addr }

// RESTURL is the base of the REST API: https://127.0.0.1:port.
func (s *Server) RESTURL() string { return "https://" + s.ln.addr }

// CAPEM returns the PEM of the CA that signed the server's certificate.
func (s *Server) CAPEM() []byte { return append([]byte{}, s.certs.caPEM...) }

// CertPool returns a pool holding only the simulator's CA.
func (s *Server) CertPool() *x509.CertPool { return s.certs.pool.Clone() }

// Config returns the configuration in force, defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Symbols traded by the market, upper case.
func (s *Server) Symbols() []string { return s.market.symbols() }

// Close stops the market, closes every connection and the listener, and
// waits for all of it. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.trackMu.Lock()
		s.closing = true
		s.trackMu.Unlock()
		s.cancel()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.http.Shutdown(ctx) // closes the listener and idle REST connections
		s.http.Close()
		_ = s.ln.Close()
		for _, c := range s.hub.snapshot() {
			c.abortQuiet()
		}
		for _, f := range s.frontends {
			f.close()
		}
	})
	s.wg.Wait()
	return nil
}

// SetFaults replaces the active faults. A fault aimed at a venue the
// server does not serve (Fault.Venue, Config.Venues) is refused.
func (s *Server) SetFaults(list ...Fault) error {
	for i, f := range list {
		if err := s.checkFault(f); err != nil {
			return fmt.Errorf("sim: fault %d: %w", i, err)
		}
	}
	s.faults.set(canonicalFaults(list))
	return nil
}

// AddFault adds one fault rule.
func (s *Server) AddFault(f Fault) error {
	if err := s.checkFault(f); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	f.Venue = f.canonicalVenue()
	s.faults.add(f)
	return nil
}

// checkFault validates f and refuses it when it is aimed at a venue not
// served.
func (s *Server) checkFault(f Fault) error {
	if err := f.validate(); err != nil {
		return err
	}
	return s.cfg.checkServed(f)
}

// canonicalFaults is list with each Venue in the order of Venues.
func canonicalFaults(list []Fault) []Fault {
	out := make([]Fault, len(list))
	for i, f := range list {
		f.Venue = f.canonicalVenue()
		out[i] = f
	}
	return out
}

// Faults lists the active fault rules (Times shows what is left).
func (s *Server) Faults() []Fault { return s.faults.list() }

// FaultCounts says how often each fault kind has fired, at every venue.
func (s *Server) FaultCounts() map[FaultKind]int64 { return s.faults.counts() }

// Fire carries out a fault once, now: a connection fault on every open
// connection of the venues it applies to (Fault.Venue; a venue's own kind
// on that venue's), a server fault at once (refuse on the listeners of
// those venues), and any other fault on its next opportunity at those
// venues (Times 1 unless given).
func (s *Server) Fire(f Fault) error {
	if f.Prob == 0 && f.Every == 0 && f.Times == 0 {
		f.Times = 1
	}
	if err := s.checkFault(f); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	f.Venue = f.canonicalVenue()
	now := time.Now()
	switch faultClasses[f.Kind] {
	case classConn:
		a := aimOf(f)
		hit := map[string]bool{}
		for _, c := range s.allConns() {
			if v := c.venue(); a.at(v) {
				c.applyFault(f, now)
				hit[v] = true
			}
		}
		s.faults.fired[f.Kind].Add(1)
		for v := range hit {
			s.faults.countVenue(v, f.Kind)
		}
	case classServer:
		s.applyServerFault(f)
		s.faults.fired[f.Kind].Add(1)
	default:
		s.faults.add(f)
	}
	return nil
}

// listeners lists the listener of every venue served, by venue.
func (s *Server) listeners() []*listener {
	out := []*listener{s.ln}
	for _, f := range s.frontends {
		out = append(out, f.ln)
	}
	return out
}

func (s *Server) applyServerFault(f Fault) {
	switch f.Kind {
	case FaultRefuse:
		d := f.Duration
		if d == 0 {
			d = 2 * time.Second
		}
		a := aimOf(f)
		for _, l := range s.listeners() {
			if a.at(l.venue) {
				l.refuse(d)
				s.faults.countVenue(l.venue, f.Kind)
			}
		}
	case FaultBurst:
		n := f.Count
		if n == 0 {
			n = 100000
		}
		select {
		case s.burst <- n:
		default:
		}
	default:
		s.applyMarketFault(f)
	}
}

// Advance makes the market perform n updates now, on top of its own rate.
func (s *Server) Advance(n int) { s.market.advance(time.Now(), n, s.hub) }

// BookAt returns the full book of symbol right after update id (0: now).
func (s *Server) BookAt(symbol string, id int64) (BookState, error) {
	if id == 0 {
		last, _, _, err := s.market.lastIDs(symbol)
		if err != nil {
			return BookState{}, err
		}
		id = last
	}
	return s.market.bookAt(symbol, id)
}

// AggTrades returns the aggregate trades of symbol with IDs from..to inclusive.
func (s *Server) AggTrades(symbol string, from, to int64) ([]AggTrade, error) {
	return s.market.aggTrades(symbol, from, to)
}

// LastIDs returns the last update, aggregate trade and trade IDs of symbol.
func (s *Server) LastIDs(symbol string) (update, aggTrade, trade int64, err error) {
	return s.market.lastIDs(symbol)
}

// Conns describes the open WebSocket connections.
func (s *Server) Conns() []ConnStats { return s.hub.stats() }

// run drives the market at the configured rate and applies server faults
// on their schedule until the server closes.
func (s *Server) run() {
	const step = 5 * time.Millisecond
	t := time.NewTicker(step)
	defer t.Stop()
	start := time.Now()
	var done int64
	rng := s.faults.rng(1 << 61)
	for {
		select {
		case <-s.ctx.Done():
			return
		case n := <-s.burst:
			s.market.advance(time.Now(), n, s.hub)
		case now := <-t.C:
			if s.cfg.Rate > 0 {
				due := int64(now.Sub(start).Seconds()*float64(s.cfg.Rate)) - done
				if due > int64(s.cfg.Rate) { // fell behind by more than a second: do not catch up
					done += due - int64(s.cfg.Rate)
					due = int64(s.cfg.Rate)
				}
				if due > 0 {
					s.market.advance(now, int(due), s.hub)
					done += due
				}
			}
			s.market.tick(now, s.hub)
			if f, ok := s.faults.hitAt(anyVenue, classServer, rng, now, nil); ok {
				s.applyServerFault(f)
			}
		}
	}
}

// urlStreams reads the streams a Binance WebSocket URL subscribes: those
// of /ws/<stream>/<stream>… (raw), or those of /stream?streams=a/b…
// (combined).
func urlStreams(path, rawQuery string) (streams []string, combined bool) {
	switch {
	case path == "/stream":
		combined = true
		if v := rawQueryValue(rawQuery, "streams"); v != "" {
			streams = strings.Split(v, "/")
		}
	case strings.HasPrefix(path, "/ws/"):
		if rest := strings.Trim(strings.TrimPrefix(path, "/ws/"), "/"); rest != "" {
			streams = strings.Split(rest, "/")
		}
	}
	return streams, combined
}

// serveWS upgrades /ws, /ws/<streams> and /stream?streams= and runs the
// connection until it ends.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if ok, retry := s.attempts.attempt(wsClientIP(r.RemoteAddr), time.Now()); !ok {
		writeTooManyAttempts(w, s.cfg.ConnAttemptLimit, s.cfg.ConnAttemptWindow, retry)
		return
	}
	q := r.URL.Query()
	micros, ok := parseTimeUnit(q)
	if !ok {
		writeInvalidTimeUnit(w)
		return
	}
	streams, combined := urlStreams(r.URL.Path, r.URL.RawQuery)
	if len(streams) > s.cfg.MaxStreams {
		http.Error(w, `{"code":-1100,"msg":"Too many streams."}`, http.StatusBadRequest)
		return
	}
	if s.shuttingDown(w) {
		return
	}
	nc, rw, _, err := ws.HTTPUpgrader{}.Upgrade(r, w)
	if err != nil {
		return // the upgrader has answered with the HTTP error
	}
	if !s.track() {
		nc.Close() // the server closed during the handshake
		return
	}
	defer s.wg.Done()
	c := s.newConn(nc, rw.Reader, r)
	c.micros = micros
	c.combined.Store(combined)
	s.hub.add(c)
	if _, bad := firstInvalidStream(streams); bad {
		// A malformed name in the URL: subscribe nothing and close at once.
		// Binance was seen answering a bad name in /stream?streams= with a
		// close frame 1008 whose reason is {"code":-1,"msg":"Illegal format
		// ws or stream"} (https://github.com/ccxt/binance-api-node/issues/121,
		// 2018); the docs say nothing.
		streams = nil
		c.end(1008, `{"code":-1,"msg":"Illegal format ws or stream"}`, "invalid stream in URL")
	}
	if err := s.hub.subscribe(c, streams, s.cfg.MaxStreams); err != nil {
		s.hub.remove(c)
		nc.Close()
		c.cancel()
		return
	}
	c.serve()
	nc.Close()
	s.hub.remove(c)
	c.mu.Lock()
	reason := c.endReason
	c.mu.Unlock()
	s.log.Debug("connection closed", "conn", c.id, "remote", c.remote, "reason", reason)
}
