package monitor

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/feedkeeper/feedkeeper/feed"
)

// Monitor serves metrics, health and the dashboard on one listener. New
// starts it; Close stops it.
type Monitor struct {
	cfg     Config
	log     *slog.Logger
	reg     *prometheus.Registry
	obs     *observer
	conns   *connTracker
	sampler *sampler
	sinks   sinkTracker
	ln      net.Listener
	srv     *http.Server
	started time.Time

	clockOffset, clockRTT, clockAt prometheus.Gauge
	clockErrors                    prometheus.Counter
	streams                        atomic.Int64 // dashboard streams open
	gateway                        atomic.Pointer[func() feed.GatewayStats]
	clock                          atomic.Pointer[Offset]           // the last estimate; nil: none
	venuesReady                    atomic.Pointer[[]VenueReadiness] // the last sample's; nil: none yet

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New validates cfg, listens on cfg.Addr and starts serving. An address
// beyond loopback without a Token is refused with ErrTokenRequired.
func New(cfg Config) (*Monitor, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	var constLabels prometheus.Labels
	if cfg.Venue != "" {
		constLabels = prometheus.Labels{"venue": cfg.Venue}
	}
	m := &Monitor{
		cfg:     cfg,
		log:     cfg.Logger,
		reg:     prometheus.NewRegistry(),
		obs:     newObserver(),
		conns:   &connTracker{},
		started: time.Now(),
		clockOffset: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "clock_offset_seconds",
			Help: "The venue's clock minus the local clock, as last estimated; exchange latency is corrected by it.", ConstLabels: constLabels}),
		clockRTT: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "clock_offset_rtt_seconds",
			Help: "Round trip of the sample the offset was estimated from (its uncertainty is half of it).", ConstLabels: constLabels}),
		clockAt: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "clock_offset_timestamp_seconds",
			Help: "When the offset was last estimated (unix time).", ConstLabels: constLabels}),
		clockErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "clock_offset_errors_total",
			Help: "Offset estimates that failed.", ConstLabels: constLabels}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.obs.events, m.obs.exch, m.obs.sink,
		m.clockOffset, m.clockRTT, m.clockAt, m.clockErrors,
	)
	if len(cfg.Venues) == 0 {
		m.reg.MustRegister(newStatsCollector(m.gatewayStats, cfg.REST, cfg.Dials, constLabels, m.conns))
	}
	for i, v := range cfg.Venues {
		if v.Gateway == nil || v.Name == "" {
			return nil, fmt.Errorf("monitor: Venues: %q without a name or a Gateway", v.Name)
		}
		if slices.ContainsFunc(cfg.Venues[:i], func(o VenueMetrics) bool { return o.Name == v.Name }) {
			return nil, fmt.Errorf("monitor: Venues: %q listed twice", v.Name)
		}
		gw := v.Gateway
		stats := func() (feed.GatewayStats, bool) { return gw(), true }
		if err := m.reg.Register(newStatsCollector(stats, v.REST, v.Dials, prometheus.Labels{"venue": v.Name}, &connTracker{})); err != nil {
			return nil, fmt.Errorf("monitor: Venues: %s: %w", v.Name, err)
		}
	}
	if len(cfg.Venues) > 0 {
		m.reg.MustRegister(newVenueReadyCollector(m))
	}
	if len(cfg.Sinks) > 0 {
		m.reg.MustRegister(newSinkCollector(m, constLabels))
	}
	if cfg.Gateway != nil {
		m.SetGateway(cfg.Gateway)
	}
	m.sampler = newSampler(m)

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("monitor: listen %s: %w", cfg.Addr, err)
	}
	m.ln = ln
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.srv = &http.Server{
		Handler:           m.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		BaseContext:       func(net.Listener) context.Context { return m.ctx },
		ErrorLog:          slog.NewLogLogger(m.log.Handler(), slog.LevelDebug),
	}
	m.wg.Add(2)
	go func() {
		defer m.wg.Done()
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("serve", "err", err)
		}
	}()
	go func() {
		defer m.wg.Done()
		m.sampler.run(m.ctx)
	}()
	if cfg.ServerTime != nil {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.trackClock()
		}()
	}
	m.log.Info("listening", "addr", ln.Addr().String(), "token", cfg.Token != "")
	return m, nil
}

// SetGateway sets (or replaces) the function that returns the gateway's
// counters, for a Monitor started before its gateway. Until there is one,
// /readyz reports that there is no gateway. Safe for concurrent use.
func (m *Monitor) SetGateway(stats func() feed.GatewayStats) {
	if stats == nil {
		m.gateway.Store(nil)
		return
	}
	m.gateway.Store(&stats)
}

// gatewayStats returns the gateway's counters, if there is a gateway.
func (m *Monitor) gatewayStats() (feed.GatewayStats, bool) {
	f := m.gateway.Load()
	if f == nil {
		return feed.GatewayStats{}, false
	}
	return (*f)(), true
}

// Addr returns the address the Monitor listens on (with the port chosen
// when cfg.Addr asked for port 0).
func (m *Monitor) Addr() string { return m.ln.Addr().String() }

// URL returns the dashboard's URL.
func (m *Monitor) URL() string { return "http://" + m.Addr() + "/" }

// Registry returns the Monitor's registry, for more collectors.
func (m *Monitor) Registry() *prometheus.Registry { return m.reg }

// Close stops the server: dashboard streams end, requests in flight get
// a moment to finish, and every goroutine of the Monitor has ended when it
// returns. Safe to call more than once.
func (m *Monitor) Close() error {
	m.closeOnce.Do(func() {
		m.cancel()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := m.srv.Shutdown(ctx); err != nil {
			m.srv.Close()
		}
		m.wg.Wait()
	})
	return nil
}

// Handler returns the Monitor's routes, behind the token check: /metrics,
// /healthz, /readyz (and /readyz?venue=name), the dashboard (/), its stream
// (/events), its snapshot (/api/snapshot) and the charts' history
// (/api/history). The package documentation describes the JSON of /readyz
// and of the snapshot.
func (m *Monitor) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(m.log.Handler(), slog.LevelWarn), MaxRequestsInFlight: 4, Timeout: 10 * time.Second,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", m.serveReady)
	mux.HandleFunc("GET /events", m.serveEvents)
	mux.HandleFunc("GET /api/snapshot", m.serveSnapshot)
	mux.HandleFunc("GET /api/history", m.serveHistory)
	mux.Handle("GET /", dashboard())
	return m.auth(mux)
}

const cookieName = "feedkeeper_token"

// auth checks the bearer token, or its cookie, on every path. Opening any
// page with ?token= sets the cookie (browsers cannot send a header on an
// EventSource) and redirects to the page without it. Without a token the
// Monitor listens on loopback only, and refuses Host names that are not
// loopback: a web page cannot reach it through DNS rebinding.
func (m *Monitor) auth(next http.Handler) http.Handler {
	if m.cfg.Token == "" {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, _, err := net.SplitHostPort(r.Host)
			if err != nil {
				host = r.Host
			}
			if !isLoopback(strings.Trim(host, "[]")) {
				http.Error(w, "forbidden: Host "+strconv.Quote(r.Host)+" is not loopback", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	want := []byte("Bearer " + m.cfg.Token)
	sum := sha256.Sum256([]byte("feedkeeper dashboard\x00" + m.cfg.Token))
	cookie := []byte(hex.EncodeToString(sum[:]))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) == 1 {
			next.ServeHTTP(w, r)
			return
		}
		if c, err := r.Cookie(cookieName); err == nil && subtle.ConstantTimeCompare([]byte(c.Value), cookie) == 1 {
			next.ServeHTTP(w, r)
			return
		}
		q := r.URL.Query()
		if t := q.Get("token"); t != "" && r.Method == http.MethodGet &&
			subtle.ConstantTimeCompare([]byte("Bearer "+t), want) == 1 {
			http.SetCookie(w, &http.Cookie{Name: cookieName, Value: string(cookie), Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			q.Del("token")
			to := r.URL.EscapedPath()
			if !strings.HasPrefix(to, "/") || strings.HasPrefix(to, "//") {
				to = "/" // never a redirect to another host
			}
			if len(q) > 0 {
				to += "?" + q.Encode()
			}
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="feedkeeper"`)
		http.Error(w, "unauthorized: a bearer token is required", http.StatusUnauthorized)
	})
}

// Problem is one reason the feed is not ready.
type Problem struct {
	Check string `json:"check"` // "gateway", "connection", "lag", "books", "sink", or a Config.Checks name
	// Venue is the venue the problem is of, with Config.Venues ("okx");
	// empty for what the venues share (the gateway, sinks, Checks) and in a
	// process that runs one venue.
	Venue  string `json:"venue,omitempty"`
	Conn   string `json:"conn,omitempty"`   // the connection, for "connection" and "lag"
	Sink   string `json:"sink,omitempty"`   // the sink's name in Config.Sinks, for "sink"
	Symbol string `json:"symbol,omitempty"` // the book's symbol, for "books"
	Detail string `json:"detail"`
}

// Readiness is the body of /readyz.
type Readiness struct {
	Ready    bool      `json:"ready"`
	NotReady []Problem `json:"not_ready,omitempty"`
	// Venues is each venue's own readiness, in the order of Config.Venues
	// (none without them): a venue is not ready while a Problem names it.
	Venues []VenueReadiness `json:"venues,omitempty"`
}

// VenueReadiness is whether one venue of Config.Venues is ready.
type VenueReadiness struct {
	Venue    string `json:"venue"`
	Ready    bool   `json:"ready"`
	Problems int    `json:"problems,omitempty"` // the Problems that name it
}

// Ready reports whether every connection is up and keeping up with the
// venue (not lagging by the gateway's lag watch), every book in sync, every
// sink delivering and every extra check passes, and what is not. With
// Config.Venues each venue is checked from its own counters, and its
// problems name it.
func (m *Monitor) Ready() Readiness {
	rd := m.read()
	return m.ready(&rd, m.obs.quotes(), time.Now())
}

// VenueReady is Ready for one venue: the problems that name it (not the
// sinks and Checks the venues share). In a process that runs one venue,
// that venue's readiness is Ready's. ok is false for a name that is not
// one of the process's venues.
func (m *Monitor) VenueReady(name string) (rd Readiness, ok bool) {
	all := m.Ready()
	return m.venueReadiness(all, name)
}

func (m *Monitor) venueReadiness(all Readiness, name string) (Readiness, bool) {
	if len(m.cfg.Venues) == 0 {
		return all, name != "" && name == m.cfg.Venue
	}
	if m.venueIndex(name) < 0 {
		return Readiness{}, false
	}
	out := Readiness{Ready: true}
	for _, p := range all.NotReady {
		if p.Venue == name {
			out.Ready = false
			out.NotReady = append(out.NotReady, p)
		}
	}
	return out, true
}

// ready checks what rd read and the books of qs.
func (m *Monitor) ready(rd *reading, qs []symbolQuote, now time.Time) Readiness {
	var ps []Problem
	if !rd.ok {
		ps = append(ps, Problem{Check: "gateway", Detail: "no gateway"})
	}
	var books []bookView
	if rd.ok || len(m.cfg.Venues) > 0 {
		books = m.books(qs, rd, now)
	}
	switch {
	case len(m.cfg.Venues) > 0:
		for i := range m.cfg.Venues {
			ps = append(ps, m.venueProblems(&m.cfg.Venues[i], &rd.venues[i], books, now)...)
		}
		// without the venues' own books, the books are checked together,
		// each problem naming the venue of the book when it is known
		if rd.ok && !m.perVenueBooks() && m.cfg.Books > 0 && rd.st.BooksInSync < int64(m.cfg.Books) {
			ps = append(ps, Problem{Check: "books", Detail: fmt.Sprintf("%d of %d order books in sync", rd.st.BooksInSync, m.cfg.Books)})
			for _, p := range bookProblems(books) {
				if m.venueIndex(p.Venue) < 0 {
					p.Venue = ""
				}
				ps = append(ps, p)
			}
		}
	case rd.ok:
		st := &rd.st
		if len(st.Sessions) == 0 {
			ps = append(ps, Problem{Check: "connection", Detail: "no connections"})
		}
		ps = append(ps, connProblems(st, "", m.connName, now)...)
		if m.cfg.Books > 0 && st.BooksInSync < int64(m.cfg.Books) {
			ps = append(ps, Problem{Check: "books", Detail: fmt.Sprintf("%d of %d order books in sync", st.BooksInSync, m.cfg.Books)})
			for _, p := range bookProblems(books) {
				p.Venue = ""
				ps = append(ps, p)
			}
		}
	}
	names := make([]string, 0, len(m.cfg.Checks))
	for n := range m.cfg.Checks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := m.cfg.Checks[n](); err != nil {
			ps = append(ps, Problem{Check: n, Detail: err.Error()})
		}
	}
	ps = append(ps, m.sinks.check(m.cfg.Sinks, m.cfg.SinkStall, m.cfg.SinkWindow, now)...)
	r := Readiness{Ready: len(ps) == 0, NotReady: ps}
	for _, v := range m.cfg.Venues {
		vr := VenueReadiness{Venue: v.Name}
		for _, p := range ps {
			if p.Venue == v.Name {
				vr.Problems++
			}
		}
		vr.Ready = vr.Problems == 0
		r.Venues = append(r.Venues, vr)
	}
	return r
}

// connName names connection i as the gateway's logs do (binance#0).
func (m *Monitor) connName(i int) string {
	if m.cfg.Venue == "" {
		return "#" + strconv.Itoa(i)
	}
	return m.cfg.Venue + "#" + strconv.Itoa(i)
}

// connNames names the n connections of the gateway's counters: with
// Venues, each by its venue and its number there (okx#1), the venues'
// connections being listed in the order of Venues, as the counters of a
// process that runs several venues list them; otherwise as connName.
func (m *Monitor) connNames(rd *reading) []string {
	n := len(rd.st.Sessions)
	names := make([]string, 0, n)
	for i, v := range m.cfg.Venues {
		for j := range rd.venues[i].Sessions {
			names = append(names, v.Name+"#"+strconv.Itoa(j))
		}
	}
	for i := len(names); i < n; i++ {
		names = append(names, m.connName(i))
	}
	return names[:n]
}

// serveReady answers /readyz: 200 when ready, 503 when not, with the
// Readiness as JSON. ?venue=okx answers for that venue only (VenueReady);
// a name that is not one of the process's venues gets 404.
func (m *Monitor) serveReady(w http.ResponseWriter, r *http.Request) {
	rd := m.Ready()
	if r.URL.Query().Has("venue") {
		name := r.URL.Query().Get("venue")
		var ok bool
		if rd, ok = m.venueReadiness(rd, name); !ok {
			http.Error(w, m.unknownVenueError(name), http.StatusNotFound)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !rd.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(rd)
}
