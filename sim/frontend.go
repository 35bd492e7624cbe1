package sim

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/gobwas/ws"
)

// frontend is what every protocol front-end served on a listener of its
// own (USD-M, Bybit, OKX) has alike: the TLS listener, the HTTP server on
// it, the hub of its WebSocket connections and their connection limits.
// What differs by venue (routes, messages, limits, faults) stays in the
// front-end's own files. The server owns it: Server.Close calls close and
// then waits on the server's wg, which counts its goroutines and
// connections.
type frontend struct {
	venue string
	srv   *Server
	conn  Config // the connection limits of its WebSocket connections
	ln    *listener
	http  *http.Server
	hub   *hub
	// handle answers a request (a text frame) of a client.
	handle func(c *wsConn, body []byte)
	// forget, when set, drops what the front-end's feed holds of a
	// connection that ended (after its socket closed, before it leaves the
	// hub).
	forget func(c *wsConn)
}

// newFrontend makes the front-end of venue with the server's connection
// limits (the caller overrides those the venue sets) and listens on addr.
func newFrontend(s *Server, venue, addr string, tlsCfg *tls.Config) (*frontend, error) {
	ln, err := newListener(addr, venue, s.faults, s.certs, tlsCfg)
	if err != nil {
		return nil, fmt.Errorf("sim: %s: listen %s: %w", venue, addr, err)
	}
	return &frontend{venue: venue, srv: s, conn: s.cfg, ln: ln, hub: newHub()}, nil
}

// start adds GET /sim/conns to mux, serves mux on the listener and runs
// each of loops until the server's context ends.
func (f *frontend) start(mux *http.ServeMux, loops ...func(context.Context)) {
	s := f.srv
	mux.HandleFunc("GET /sim/conns", func(w http.ResponseWriter, _ *http.Request) { writeTruthJSON(w, http.StatusOK, f.Conns()) })
	f.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          s.http.ErrorLog,
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
	}
	s.wg.Add(1 + len(loops))
	go func() {
		defer s.wg.Done()
		if err := f.http.Serve(f.ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.log.Error("serve", "venue", f.venue, "err", err)
		}
	}()
	for _, loop := range loops {
		go func() {
			defer s.wg.Done()
			loop(s.ctx)
		}()
	}
}

// everyTick calls step with the time of each tick of a ticker of period d
// until ctx ends.
func everyTick(ctx context.Context, d time.Duration, step func(now time.Time)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			step(now)
		}
	}
}

// close stops the listener and the connections; the server's Close waits
// for them.
func (f *frontend) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if f.http != nil {
		_ = f.http.Shutdown(ctx)
		f.http.Close()
	}
	_ = f.ln.Close()
	for _, c := range f.hub.snapshot() {
		c.abortQuiet()
	}
}

// Addr is the address the front-end listens on (host:port).
func (f *frontend) Addr() string { return f.ln.addr }

// Conns describes the front-end's open WebSocket connections.
func (f *frontend) Conns() []ConnStats { return f.hub.stats() }

// accept upgrades r to a WebSocket connection of the front-end, counted in
// the server's wg: the caller defers s.wg.Done, adds the connection to the
// hub, and ends with release. It reports false when the upgrade failed
// (the upgrader has answered) or the server is closing.
func (f *frontend) accept(w http.ResponseWriter, r *http.Request) (*wsConn, bool) {
	nc, rw, _, err := ws.HTTPUpgrader{}.Upgrade(r, w)
	if err != nil {
		return nil, false
	}
	if !f.srv.track() {
		nc.Close()
		return nil, false
	}
	c := f.srv.newConn(nc, rw.Reader, r)
	c.fe = f
	return c, true
}

// release closes c's socket once it has been served, drops it from the
// feed and the hub, and logs why it ended.
func (f *frontend) release(c *wsConn) {
	c.nc.Close()
	if f.forget != nil {
		f.forget(c)
	}
	f.hub.remove(c)
	c.mu.Lock()
	reason := c.endReason
	c.mu.Unlock()
	f.srv.log.Debug("connection closed", "venue", f.venue, "conn", c.id, "remote", c.remote, "reason", reason)
}

// newConn makes the connection state of an upgraded socket nc whose
// buffered reader is br; the caller owns it.
func (s *Server) newConn(nc net.Conn, br *bufio.Reader, r *http.Request) *wsConn {
	c := &wsConn{
		id:           s.connID.Add(1),
		srv:          s,
		nc:           nc,
		br:           br,
		bw:           bufio.NewWriterSize(nc, 32<<10),
		remote:       r.RemoteAddr,
		path:         r.URL.RequestURI(),
		opened:       time.Now(),
		notify:       make(chan struct{}, 1),
		closeWritten: make(chan struct{}),
	}
	c.stats.streams = make(map[string]*StreamStats)
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	return c
}

// shuttingDown answers 503 and reports true once the server is closing.
func (s *Server) shuttingDown(w http.ResponseWriter) bool {
	if s.ctx.Err() == nil {
		return false
	}
	http.Error(w, "shutting down", http.StatusServiceUnavailable)
	return true
}

// stats describes the connections of h.
func (h *hub) stats() []ConnStats {
	conns := h.snapshot()
	out := make([]ConnStats, 0, len(conns))
	for _, c := range conns {
		out = append(out, c.snapshotStats())
	}
	return out
}

// conf is the configuration whose connection limits apply to c.
func (c *wsConn) conf() *Config {
	if c.fe != nil {
		return &c.fe.conn
	}
	return &c.srv.cfg
}

// hub is the hub c is subscribed in.
func (c *wsConn) hub() *hub {
	if c.fe != nil {
		return c.fe.hub
	}
	return c.srv.hub
}

// allConns lists the open WebSocket connections of every front-end.
func (s *Server) allConns() []*wsConn {
	out := s.hub.snapshot()
	for _, f := range s.frontends {
		out = append(out, f.hub.snapshot()...)
	}
	return out
}

// startFrontends starts the front-ends Config.Venues lists beside spot, in
// a fixed order; on an error those started are in s.frontends for the
// caller to close. The random sources a front-end makes while it starts
// are its venue's (see faults.startVenue).
func (s *Server) startFrontends(tlsCfg *tls.Config) error {
	defer s.faults.startVenue("")
	if s.cfg.serves(VenueBinanceUSDM) {
		s.faults.startVenue(VenueBinanceUSDM)
		u, err := startUSDM(s, tlsCfg)
		if err != nil {
			return err
		}
		s.usdm = u
		s.frontends = append(s.frontends, u.frontend)
	}
	if s.cfg.serves(VenueBybit) {
		s.faults.startVenue(VenueBybit)
		b, err := startBybit(s, tlsCfg)
		if err != nil {
			return err
		}
		s.bybit = b
		s.frontends = append(s.frontends, b.frontend)
	}
	if s.cfg.serves(VenueOKX) {
		s.faults.startVenue(VenueOKX)
		o, err := startOKX(s, tlsCfg)
		if err != nil {
			return err
		}
		s.okx = o
		s.frontends = append(s.frontends, o.frontend)
	}
	if s.cfg.serves(VenueKraken) {
		s.faults.startVenue(VenueKraken)
		k, err := startKraken(s, tlsCfg)
		if err != nil {
			return err
		}
		s.kraken = k
		s.frontends = append(s.frontends, k.frontend)
	}
	if s.cfg.serves(VenueCoinbase) {
		s.faults.startVenue(VenueCoinbase)
		cb, err := startCoinbase(s, tlsCfg)
		if err != nil {
			return err
		}
		s.coinbase = cb
		s.frontends = append(s.frontends, cb.frontend)
	}
	return nil
}

// named is a setting of a front-end's configuration, for its validate.
type named[T int | time.Duration] struct {
	name string
	v    T
}

// atLeast reports the first of settings below least, as
// "sim: <section>.<name>: <value> <what>".
func atLeast[T int | time.Duration](section string, least T, what string, settings []named[T]) error {
	for _, n := range settings {
		if n.v < least {
			return fmt.Errorf("sim: %s.%s: %v %s", section, n.name, n.v, what)
		}
	}
	return nil
}

// checkTick refuses a publishing period outside 1ms..1s; name is the
// setting's, "<section>.<name>".
func checkTick(name string, d time.Duration) error {
	if d < time.Millisecond || d > time.Second {
		return fmt.Errorf("sim: %s: %v is outside 1ms..1s", name, d)
	}
	return nil
}
