package monitor

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedkeeper/feedkeeper/feed"
)

// reading is one read of the gateway's counters: the process's (with
// Config.Venues, the venues' summed) and each venue's, in the order of
// Config.Venues.
type reading struct {
	st     feed.GatewayStats
	ok     bool // a gateway is set (SetGateway or Config.Gateway)
	venues []feed.GatewayStats
}

func (m *Monitor) read() reading {
	var r reading
	r.st, r.ok = m.gatewayStats()
	if len(m.cfg.Venues) > 0 {
		r.venues = make([]feed.GatewayStats, len(m.cfg.Venues))
		for i, v := range m.cfg.Venues {
			r.venues[i] = v.Gateway()
		}
	}
	return r
}

// venueIndex returns the index of the venue named name in Config.Venues,
// or -1.
func (m *Monitor) venueIndex(name string) int {
	return slices.IndexFunc(m.cfg.Venues, func(v VenueMetrics) bool { return v.Name == name })
}

// venueNames lists the venues a /readyz?venue= may name.
func (m *Monitor) venueNames() []string {
	if len(m.cfg.Venues) == 0 {
		if m.cfg.Venue == "" {
			return nil
		}
		return []string{m.cfg.Venue}
	}
	names := make([]string, len(m.cfg.Venues))
	for i, v := range m.cfg.Venues {
		names[i] = v.Name
	}
	return names
}

// perVenueBooks reports whether the venues name their own books
// (VenueMetrics.BookSymbols), which then replace Config.BookSymbols.
func (m *Monitor) perVenueBooks() bool {
	for _, v := range m.cfg.Venues {
		if len(v.BookSymbols) > 0 {
			return true
		}
	}
	return false
}

// venueView is one venue's row of the dashboard: its state and figures,
// from its own counters.
type venueView struct {
	Name     string    `json:"name"`
	Ready    bool      `json:"ready"`
	NotReady []Problem `json:"not_ready,omitempty"`

	ConnsUp    int     `json:"conns_up"`
	Conns      int     `json:"conns"`
	Connects   int64   `json:"connects"`
	Reconnects int64   `json:"reconnects"`
	Stale      int64   `json:"stale"`
	Rotations  int64   `json:"rotations"`
	Events     int64   `json:"events"`
	EventsRate float64 `json:"events_rate"`
	FramesRate float64 `json:"frames_rate"`
	BytesRate  float64 `json:"bytes_rate"`
	Skipped    int64   `json:"skipped"` // frames malformed, unknown, binary or dropped

	ExchP50 *float64 `json:"exch_p50"` // ms over the last interval; nil: no events
	ExchP99 *float64 `json:"exch_p99"`
	LagS    float64  `json:"lag_s"`   // the most any of its connections lags (the gateway's lag watch); 0 when off
	Lagging int      `json:"lagging"` // its connections lagging past the gateway's bound

	Gaps        int64 `json:"gaps"`
	Missing     int64 `json:"missing"`
	Backfilled  int64 `json:"backfilled"`
	Unfilled    int64 `json:"unfilled"`
	Books       int   `json:"books"` // books it keeps (VenueMetrics.BookSymbols, or those loaded so far)
	BooksInSync int64 `json:"books_in_sync"`
	Resyncs     int64 `json:"resyncs"`

	REST  *restView `json:"rest,omitempty"`
	Dials *dialView `json:"dials,omitempty"`
}

// restView is a venue's REST client, from httpx.Stats.
type restView struct {
	Requests     int64 `json:"requests"`
	Retries      int64 `json:"retries"`
	Failures     int64 `json:"failures"`
	RateLimited  int64 `json:"rate_limited"`
	Bans         int64 `json:"bans"`
	Forbidden    int64 `json:"forbidden"`
	ServerErrors int64 `json:"server_errors"`
	NetErrors    int64 `json:"net_errors"`
	WeightUsed   int   `json:"weight_used"`
	WeightLimit  int   `json:"weight_limit"`
	Banned       bool  `json:"banned"`
}

// dialView is a venue's connection-attempt budget, from wsconn.BudgetStats.
type dialView struct {
	Used     int     `json:"used"`
	Limit    int     `json:"limit"`
	WindowS  float64 `json:"window_s"`
	Waiting  int     `json:"waiting"`
	Attempts int64   `json:"attempts"`
	Waits    int64   `json:"waits"`
}

// venuePrev is what the sampler keeps of a venue from one tick to the next.
type venuePrev struct {
	events, frames, bytes int64
	exch                  []uint64
}

// venueViews returns the rows of Config.Venues; rate turns a counter and
// its previous value into a rate.
func (s *sampler) venueViews(rd *reading, ready Readiness, books []bookView, rate func(cur int64, prev *int64) float64) []venueView {
	m := s.m
	if len(m.cfg.Venues) == 0 {
		return nil
	}
	if s.prevVenue == nil {
		s.prevVenue = make([]venuePrev, len(m.cfg.Venues))
	}
	out := make([]venueView, len(m.cfg.Venues))
	for i, vm := range m.cfg.Venues {
		st, prev := &rd.venues[i], &s.prevVenue[i]
		v := venueView{Name: vm.Name, Events: st.Events, Gaps: st.Gaps, Missing: st.Missing,
			Backfilled: st.Backfilled, Unfilled: st.Unfilled, BooksInSync: st.BooksInSync, Resyncs: st.BookResyncs,
			Skipped: st.Malformed + st.Unknown + st.Binary}
		var frames, bytes int64
		for j := range st.Sessions {
			cs := &st.Sessions[j]
			v.Conns++
			if connUp(cs.Status) {
				v.ConnsUp++
			}
			v.Connects += cs.Connects
			v.Reconnects += cs.Reconnects
			v.Stale += cs.Stale
			v.Rotations += cs.Rotations
			v.Skipped += cs.Dropped
			frames += cs.Frames
			bytes += cs.Bytes
		}
		for j := range st.Lag {
			l := &st.Lag[j]
			v.LagS = max(v.LagS, l.Lag.Seconds())
			if l.Lagging {
				v.Lagging++
			}
		}
		v.EventsRate = rate(st.Events, &prev.events)
		v.FramesRate = rate(frames, &prev.frames)
		v.BytesRate = rate(bytes, &prev.bytes)
		var exch []uint64
		exch, prev.exch = interval(m.obs.exch.cumulativeOf(vm.Name), prev.exch)
		v.ExchP50, v.ExchP99 = quantileMS(exch, exchangeBuckets, 0.5), quantileMS(exch, exchangeBuckets, 0.99)

		v.Books = len(vm.BookSymbols)
		if v.Books == 0 {
			loaded := 0
			for _, b := range books {
				if b.Venue == vm.Name && b.Syncs > 0 {
					loaded++
				}
			}
			v.Books = max(loaded, int(st.BooksInSync))
		}
		if vm.REST != nil {
			r := vm.REST()
			v.REST = &restView{Requests: r.Requests, Retries: r.Retries, Failures: r.Failures, RateLimited: r.RateLimited,
				Bans: r.Bans, Forbidden: r.Forbidden, ServerErrors: r.ServerErrors, NetErrors: r.NetErrors,
				WeightUsed: r.WeightUsed, WeightLimit: r.WeightLimit, Banned: !r.BannedUntil.IsZero()}
		}
		if vm.Dials != nil {
			d := vm.Dials()
			v.Dials = &dialView{Used: d.Used, Limit: d.Limit, WindowS: d.Window.Seconds(), Waiting: d.Waiting,
				Attempts: d.Attempts, Waits: d.Waits}
		}
		v.Ready = true
		for _, p := range ready.NotReady {
			if p.Venue == vm.Name {
				v.Ready = false
				v.NotReady = append(v.NotReady, p)
			}
		}
		out[i] = v
	}
	return out
}

// venueProblems checks one venue of Config.Venues: its connections, its
// lag and, when it names them (VenueMetrics.BookSymbols), its books.
func (m *Monitor) venueProblems(vm *VenueMetrics, st *feed.GatewayStats, books []bookView, now time.Time) []Problem {
	var ps []Problem
	if len(st.Sessions) == 0 {
		ps = append(ps, Problem{Check: "connection", Venue: vm.Name, Detail: "no connections"})
	}
	ps = append(ps, connProblems(st, vm.Name, func(i int) string { return vm.Name + "#" + strconv.Itoa(i) }, now)...)
	if n := len(vm.BookSymbols); n > 0 && st.BooksInSync < int64(n) {
		ps = append(ps, Problem{Check: "books", Venue: vm.Name, Detail: fmt.Sprintf("%d of %d order books in sync", st.BooksInSync, n)})
		var mine []bookView
		for _, b := range books {
			if b.Venue == vm.Name {
				mine = append(mine, b)
			}
		}
		ps = append(ps, bookProblems(mine)...)
	}
	return ps
}

// connProblems names the connections of st that are down or lagging.
func connProblems(st *feed.GatewayStats, venue string, name func(int) string, now time.Time) []Problem {
	var ps []Problem
	for i := range st.Sessions {
		s := &st.Sessions[i]
		if !connUp(s.Status) {
			d := s.Status.String()
			if s.Connects == 0 {
				d += ", never connected"
			}
			ps = append(ps, Problem{Check: "connection", Venue: venue, Conn: name(i), Detail: d})
		}
	}
	for i := range st.Lag {
		if l := &st.Lag[i]; l.Lagging {
			ps = append(ps, Problem{Check: "lag", Venue: venue, Conn: name(i), Detail: fmt.Sprintf("lagging %v behind the venue, for %v; %d replacements so far",
				l.Lag.Round(time.Millisecond), now.Sub(l.Since).Round(time.Second), l.Replacements)})
		}
	}
	return ps
}

// unknownVenueError is the answer to /readyz?venue= naming no venue of the
// process.
func (m *Monitor) unknownVenueError(name string) string {
	names := m.venueNames()
	if len(names) == 0 {
		return fmt.Sprintf("unknown venue %q: this monitor names no venue", name)
	}
	return fmt.Sprintf("unknown venue %q: this process runs %s", name, strings.Join(names, ", "))
}

// venueReadyCollector exports each venue's readiness as the dashboard last
// found it (once every SampleInterval).
type venueReadyCollector struct {
	m    *Monitor
	desc *prometheus.Desc
}

func newVenueReadyCollector(m *Monitor) *venueReadyCollector {
	return &venueReadyCollector{m: m, desc: prometheus.NewDesc(namespace+"_venue_ready",
		"1 while the venue is ready (its connections up and keeping up, its books in sync), as /readyz?venue= answers; updated every sample of the dashboard.",
		[]string{"venue"}, nil)}
}

func (c *venueReadyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *venueReadyCollector) Collect(ch chan<- prometheus.Metric) {
	vs := c.m.venuesReady.Load()
	if vs == nil {
		return
	}
	for _, v := range *vs {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, b2f(v.Ready), v.Venue)
	}
}
