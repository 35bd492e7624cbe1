package monitor

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

const namespace = "feedkeeper"

// A family is one metric read from a snapshot of type S: a plain series,
// or one series per value of a label, each with its own accessor.
type family[S any] struct {
	name, help string
	typ        prometheus.ValueType
	label      string // "" for a plain series
	series     []series[S]
	desc       *prometheus.Desc
}

type series[S any] struct {
	value string // of the label
	get   func(*S) float64
}

func counter[S any](name, help string, get func(*S) int64) family[S] {
	return family[S]{name: name, help: help, typ: prometheus.CounterValue,
		series: []series[S]{{get: func(s *S) float64 { return float64(get(s)) }}}}
}

func gauge[S any](name, help string, get func(*S) float64) family[S] {
	return family[S]{name: name, help: help, typ: prometheus.GaugeValue, series: []series[S]{{get: get}}}
}

func counterBy[S any](name, help, label string, ss ...series[S]) family[S] {
	return family[S]{name: name, help: help, typ: prometheus.CounterValue, label: label, series: ss}
}

func by[S any](value string, get func(*S) int64) series[S] {
	return series[S]{value: value, get: func(s *S) float64 { return float64(get(s)) }}
}

// gatewayFamilies are read from feed.GatewayStats. A field added to it is
// one line here.
var gatewayFamilies = []family[feed.GatewayStats]{
	counter("events_total", "Events delivered to the handler.", func(s *feed.GatewayStats) int64 { return s.Events }),
	counter("duplicates_total", "Events dropped as already delivered (overlaps of rotations and reconnects).", func(s *feed.GatewayStats) int64 { return s.Duplicates }),
	counter("gaps_total", "Gaps found in exchange sequences.", func(s *feed.GatewayStats) int64 { return s.Gaps }),
	counter("missing_ids_total", "Sequence IDs missing in those gaps.", func(s *feed.GatewayStats) int64 { return s.Missing }),
	counterBy("frames_skipped_total", "Frames not turned into events, by reason.", "reason",
		by("malformed", func(s *feed.GatewayStats) int64 { return s.Malformed }),
		by("unknown", func(s *feed.GatewayStats) int64 { return s.Unknown }),
		by("binary", func(s *feed.GatewayStats) int64 { return s.Binary }),
		by("dropped", func(s *feed.GatewayStats) int64 {
			var n int64
			for i := range s.Sessions {
				n += s.Sessions[i].Dropped
			}
			return n
		}),
	),
	counter("error_replies_total", "Error replies of the venue to our requests.", func(s *feed.GatewayStats) int64 { return s.Replies }),
	counter("server_shutdowns_total", "Shutdown announcements of the venue.", func(s *feed.GatewayStats) int64 { return s.Shutdowns }),

	counter("trade_gaps_total", "Gaps found in trade IDs (recovered or announced).", func(s *feed.GatewayStats) int64 { return s.TradeGaps }),
	counter("trade_ids_missing_total", "Trade IDs missing in those gaps: backfilled plus unfillable.", func(s *feed.GatewayStats) int64 { return s.TradeMissing }),
	counter("trades_backfilled_total", "Trades recovered over REST and delivered.", func(s *feed.GatewayStats) int64 { return s.Backfilled }),
	counter("unfillable_gaps_total", "Trade gaps that could not be recovered (announced by gap events).", func(s *feed.GatewayStats) int64 { return s.Unfilled }),
	counter("unfillable_ids_total", "Trade IDs in unfillable gaps.", func(s *feed.GatewayStats) int64 { return s.UnfilledIDs }),
	gauge("backfill_pending", "Symbols whose trade gaps are being recovered now.", func(s *feed.GatewayStats) float64 { return float64(s.BackfillPending) }),
	counter("held_trades_overflow_total", "Live trades not held during a backfill (buffer full) and fetched over REST instead.", func(s *feed.GatewayStats) int64 { return s.HeldOverflow }),
	counter("book_syncs_total", "Order books loaded from a snapshot.", func(s *feed.GatewayStats) int64 { return s.BookSyncs }),
	counter("book_resyncs_total", "Order books thrown away and synced again (updates missing, crossed, failed verification).", func(s *feed.GatewayStats) int64 { return s.BookResyncs }),
	counter("stale_snapshots_total", "Book snapshots refused as older than the updates held.", func(s *feed.GatewayStats) int64 { return s.StaleSnapshots }),
	gauge("books_in_sync", "Order books in sync now.", func(s *feed.GatewayStats) float64 { return float64(s.BooksInSync) }),
	counter("book_diffs_overflow_total", "Book updates dropped while a snapshot was awaited (buffer full).", func(s *feed.GatewayStats) int64 { return s.DiffOverflow }),
	counterBy("book_verifications_total", "Comparisons of a book in sync with a fresh snapshot, by result.", "result",
		by("match", func(s *feed.GatewayStats) int64 { return s.VerifyMatches }),
		by("mismatch", func(s *feed.GatewayStats) int64 { return s.VerifyMismatches }),
		by("skipped", func(s *feed.GatewayStats) int64 { return s.VerifySkipped }),
	),
	counter("recovery_errors_total", "REST calls of the recovery (backfill, snapshots) that failed.", func(s *feed.GatewayStats) int64 { return s.RecoveryErrors }),
	counter("backfill_lag_retries_total", "Trade pages asked again because the venue's REST history had not caught up with its stream.", func(s *feed.GatewayStats) int64 { return s.LagRetries }),
	gauge("refused_streams", "Streams the venue refuses now (asked for again with backoff).", func(s *feed.GatewayStats) float64 { return float64(s.RefusedStreams) }),
	counter("subscribe_refusals_total", "Subscribe requests the venue refused, or whose streams it did not list.", func(s *feed.GatewayStats) int64 { return s.Refusals }),
	counter("resubscribes_total", "Refused subscribe requests sent again.", func(s *feed.GatewayStats) int64 { return s.Resubscribes }),
}

// connFamilies are read from each wsconn.Stats, labelled conn.
var connFamilies = []family[wsconn.Stats]{
	gauge("conn_up", "1 when the connection is up (connected or rotating).", func(s *wsconn.Stats) float64 { return b2f(connUp(s.Status)) }),
	{name: "conn_state", help: "The connection's state: 1 for the current one.", typ: prometheus.GaugeValue, label: "state", series: []series[wsconn.Stats]{
		stateSeries(wsconn.StatusConnecting), stateSeries(wsconn.StatusConnected), stateSeries(wsconn.StatusRotating), stateSeries(wsconn.StatusClosed),
	}},
	counter("conn_connects_total", "Connections made and subscribed.", func(s *wsconn.Stats) int64 { return s.Connects }),
	counter("conn_reconnects_total", "Connections that ended and were replaced (any reason; see stale, close codes, slow consumer actions).", func(s *wsconn.Stats) int64 { return s.Reconnects }),
	counter("conn_dial_errors_total", "Failed connection attempts.", func(s *wsconn.Stats) int64 { return s.DialErrors }),
	counter("conn_dials_limited_total", "Connection attempts the venue refused for too many attempts (HTTP 429/418).", func(s *wsconn.Stats) int64 { return s.LimitedDials }),
	counter("conn_tls_resumed_total", "Connections whose TLS session was resumed.", func(s *wsconn.Stats) int64 { return s.Resumed }),
	counter("conn_frames_total", "Data frames read.", func(s *wsconn.Stats) int64 { return s.Frames }),
	counter("conn_frames_direct_total", "Data frames the connection's reader handed to the consumer itself, nothing being queued (the others went through the queue: the consumer was busy or slow, or a rotation was under way).", func(s *wsconn.Stats) int64 { return s.Direct }),
	counter("conn_bytes_total", "Bytes of data frames read.", func(s *wsconn.Stats) int64 { return s.Bytes }),
	counter("conn_pings_total", "Pings received from the server.", func(s *wsconn.Stats) int64 { return s.Pings }),
	counter("conn_pongs_total", "Pongs received for our pings.", func(s *wsconn.Stats) int64 { return s.Pongs }),
	counter("conn_stale_total", "Connections declared stale (silent past the stale timeout) and replaced.", func(s *wsconn.Stats) int64 { return s.Stale }),
	counter("conn_rotations_total", "Replacements done make-before-break: planned (lifetime, server shutdown) and for lagging.", func(s *wsconn.Stats) int64 { return s.Rotations }),
	counter("conn_shutdowns_total", "Shutdown announcements that started a rotation.", func(s *wsconn.Stats) int64 { return s.Shutdowns }),
	gauge("conn_queue_frames", "Frames waiting for the consumer now.", func(s *wsconn.Stats) float64 { return float64(s.Queued) }),
	counterBy("conn_slow_consumer_actions_total", "What the slow-consumer policy did: frames dropped (drop) or connections given up (block).", "action",
		by("drop_frame", func(s *wsconn.Stats) int64 { return s.Dropped }),
		by("disconnect", func(s *wsconn.Stats) int64 { return s.SlowDisconnects }),
	),
}

// lagFamilies are read from each feed.ConnLag (the gateway's lag watch),
// labelled conn like connFamilies.
var lagFamilies = []family[feed.ConnLag]{
	gauge("conn_lag_seconds", "How far behind the venue the connection's events arrive: receive time minus event time, corrected by the clock offset.", func(s *feed.ConnLag) float64 { return s.Lag.Seconds() }),
	gauge("conn_lagging", "1 while the connection lags past the gateway's bound (from its lagging status event to caught_up).", func(s *feed.ConnLag) float64 { return b2f(s.Lagging) }),
	counter("conn_lag_episodes_total", "Times the connection lagged past the bound for long enough to be reported.", func(s *feed.ConnLag) int64 { return s.Episodes }),
	counter("conn_lag_replacements_total", "Connections replaced for lagging.", func(s *feed.ConnLag) int64 { return s.Replacements }),
}

// restFamilies are read from httpx.Stats.
var restFamilies = []family[httpx.Stats]{
	counter("rest_requests_total", "REST requests sent (every attempt).", func(s *httpx.Stats) int64 { return s.Requests }),
	counter("rest_retries_total", "REST attempts made again after a failure that may pass.", func(s *httpx.Stats) int64 { return s.Retries }),
	counter("rest_rate_limited_total", "REST answers 429 (rate limited).", func(s *httpx.Stats) int64 { return s.RateLimited }),
	counter("rest_bans_total", "REST answers 418 (IP banned).", func(s *httpx.Stats) int64 { return s.Bans }),
	counter("rest_server_errors_total", "REST answers 5xx.", func(s *httpx.Stats) int64 { return s.ServerErrors }),
	counter("rest_bad_bodies_total", "REST 2xx answers cut short or that did not decode.", func(s *httpx.Stats) int64 { return s.BadBodies }),
	counter("rest_network_errors_total", "REST attempts that got no answer.", func(s *httpx.Stats) int64 { return s.NetErrors }),
	counter("rest_failures_total", "REST calls that returned an error.", func(s *httpx.Stats) int64 { return s.Failures }),
	counter("rest_limiter_waits_total", "REST calls that waited for weight or a 429's pause.", func(s *httpx.Stats) int64 { return s.Waits }),
	{name: "rest_limiter_wait_seconds_total", help: "Time REST calls spent waiting for weight or a 429's pause.", typ: prometheus.CounterValue,
		series: []series[httpx.Stats]{{get: func(s *httpx.Stats) float64 { return s.WaitTime.Seconds() }}}},
	gauge("rest_weight_used", "Request weight used in the venue's current window, as last known.", func(s *httpx.Stats) float64 { return float64(s.WeightUsed) }),
	gauge("rest_weight_used_max", "The highest used weight the venue reported.", func(s *httpx.Stats) float64 { return float64(s.MaxWeightUsed) }),
	gauge("rest_weight_limit", "Request weight allowed per window (0: not enforced).", func(s *httpx.Stats) float64 { return float64(s.WeightLimit) }),
	gauge("rest_banned", "1 while a 418 ban is in force.", func(s *httpx.Stats) float64 { return b2f(!s.BannedUntil.IsZero()) }),
	counter("rest_forbidden_total", "REST answers 403 (the venue's firewall).", func(s *httpx.Stats) int64 { return s.Forbidden }),
	gauge("rest_forbidden", "1 while calls are held after a 403.", func(s *httpx.Stats) float64 { return b2f(s.ForbiddenUntil.After(time.Now())) }),
	counter("rest_failovers_total", "REST attempts sent to another host than the first.", func(s *httpx.Stats) int64 { return s.Failovers }),
}

// dialFamilies are read from the connection-attempt budget.
var dialFamilies = []family[wsconn.BudgetStats]{
	gauge("dial_budget_limit", "Connection attempts the budget allows per window.", func(s *wsconn.BudgetStats) float64 { return float64(s.Limit) }),
	gauge("dial_budget_window_seconds", "The budget's sliding window.", func(s *wsconn.BudgetStats) float64 { return s.Window.Seconds() }),
	gauge("dial_budget_used", "Connection attempts in the current window.", func(s *wsconn.BudgetStats) float64 { return float64(s.Used) }),
	gauge("dial_budget_waiting", "Connection attempts waiting for the budget now.", func(s *wsconn.BudgetStats) float64 { return float64(s.Waiting) }),
	counter("dial_budget_attempts_total", "Connection attempts let through by the budget.", func(s *wsconn.BudgetStats) int64 { return s.Attempts }),
	counter("dial_budget_waits_total", "Connection attempts that had to wait for the budget.", func(s *wsconn.BudgetStats) int64 { return s.Waits }),
	{name: "dial_budget_wait_seconds_total", help: "Time connection attempts spent waiting for the budget.", typ: prometheus.CounterValue,
		series: []series[wsconn.BudgetStats]{{get: func(s *wsconn.BudgetStats) float64 { return s.WaitTime.Seconds() }}}},
}

func stateSeries(st wsconn.Status) series[wsconn.Stats] {
	return series[wsconn.Stats]{value: st.String(), get: func(s *wsconn.Stats) float64 { return b2f(s.Status == st) }}
}

func connUp(st wsconn.Status) bool {
	return st == wsconn.StatusConnected || st == wsconn.StatusRotating
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// describe builds the families' descriptors, with lead labels before the
// family's own.
func describe[S any](fams []family[S], constLabels prometheus.Labels, lead ...string) []family[S] {
	out := make([]family[S], len(fams))
	for i, f := range fams {
		labels := append([]string(nil), lead...)
		if f.label != "" {
			labels = append(labels, f.label)
		}
		f.desc = prometheus.NewDesc(namespace+"_"+f.name, f.help, labels, constLabels)
		out[i] = f
	}
	return out
}

func collect[S any](ch chan<- prometheus.Metric, fams []family[S], s *S, lead ...string) {
	var buf [4]string
	for i := range fams {
		f := &fams[i]
		labels := append(buf[:0], lead...)
		for _, se := range f.series {
			lv := labels
			if f.label != "" {
				lv = append(labels, se.value)
			}
			ch <- prometheus.MustNewConstMetric(f.desc, f.typ, se.get(s), lv...)
		}
	}
}

// statsCollector exports the gateway's and the REST client's counters,
// read when scraped.
type statsCollector struct {
	gateway func() (feed.GatewayStats, bool)
	rest    func() httpx.Stats
	dials   func() wsconn.BudgetStats
	conns   *connTracker

	gw          []family[feed.GatewayStats]
	conn        []family[wsconn.Stats]
	lag         []family[feed.ConnLag]
	restF       []family[httpx.Stats]
	dialF       []family[wsconn.BudgetStats]
	closeCodes  *prometheus.Desc
	disconnects *prometheus.Desc
	uptime      *prometheus.Desc
}

func newStatsCollector(gateway func() (feed.GatewayStats, bool), rest func() httpx.Stats, dials func() wsconn.BudgetStats,
	constLabels prometheus.Labels, conns *connTracker) *statsCollector {
	return &statsCollector{
		gateway: gateway,
		rest:    rest,
		dials:   dials,
		dialF:   describe(dialFamilies, constLabels),
		conns:   conns,
		gw:      describe(gatewayFamilies, constLabels),
		conn:    describe(connFamilies, constLabels, "conn"),
		lag:     describe(lagFamilies, constLabels, "conn"),
		restF:   describe(restFamilies, constLabels),
		closeCodes: prometheus.NewDesc(namespace+"_conn_close_codes_total",
			"Close frames received from the server, by code.", []string{"conn", "code"}, constLabels),
		disconnects: prometheus.NewDesc(namespace+"_conn_disconnects_total",
			"Connections that ended, by reason: close_frame, stale, too_large, too_slow, rotated, shutdown, replaced, network, closed.", []string{"conn", "reason"}, constLabels),
		uptime: prometheus.NewDesc(namespace+"_conn_uptime_seconds",
			"How long the current connection has been up (0 when down).", []string{"conn"}, constLabels),
	}
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range c.gw {
		ch <- f.desc
	}
	for _, f := range c.conn {
		ch <- f.desc
	}
	for _, f := range c.lag {
		ch <- f.desc
	}
	ch <- c.closeCodes
	ch <- c.disconnects
	ch <- c.uptime
	if c.rest != nil {
		for _, f := range c.restF {
			ch <- f.desc
		}
	}
	if c.dials != nil {
		for _, f := range c.dialF {
			ch <- f.desc
		}
	}
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	if st, ok := c.gateway(); ok {
		collect(ch, c.gw, &st)
		up := c.conns.update(st.Sessions, time.Now())
		for i := range st.Sessions {
			s := &st.Sessions[i]
			conn := strconv.Itoa(i)
			collect(ch, c.conn, s, conn)
			ch <- prometheus.MustNewConstMetric(c.uptime, prometheus.GaugeValue, up[i].Seconds(), conn)
			for code, n := range s.CloseCodes {
				ch <- prometheus.MustNewConstMetric(c.closeCodes, prometheus.CounterValue, float64(n), conn, strconv.Itoa(code))
			}
			for reason, n := range s.Disconnects {
				ch <- prometheus.MustNewConstMetric(c.disconnects, prometheus.CounterValue, float64(n), conn, reason)
			}
		}
		for i := range st.Lag {
			collect(ch, c.lag, &st.Lag[i], strconv.Itoa(i))
		}
	}
	if c.dials != nil {
		st := c.dials()
		collect(ch, c.dialF, &st)
	}
	if c.rest != nil {
		st := c.rest()
		collect(ch, c.restF, &st)
	}
}

// connTracker works out how long each session has been up from the
// snapshots it is shown. A session is up from the first snapshot that sees
// it up after it was down, or after its Reconnects count moved (it went
// down and came back between two snapshots). A planned rotation (Connects
// moves, Reconnects does not) keeps it up: the replacement subscribed
// before the old connection closed, and no data stopped.
type connTracker struct {
	mu    sync.Mutex
	conns []trackedConn
}

type trackedConn struct {
	reconnects int64
	since      time.Time // zero while down
}

// update returns each session's uptime.
func (t *connTracker) update(sessions []wsconn.Stats, now time.Time) []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.conns) < len(sessions) {
		t.conns = append(t.conns, trackedConn{})
	}
	up := make([]time.Duration, len(sessions))
	for i := range sessions {
		s, tc := &sessions[i], &t.conns[i]
		switch {
		case !connUp(s.Status):
			tc.since = time.Time{}
		case tc.since.IsZero() || s.Reconnects != tc.reconnects:
			tc.since = now
		}
		tc.reconnects = s.Reconnects
		if !tc.since.IsZero() && now.After(tc.since) {
			up[i] = now.Sub(tc.since)
		}
	}
	return up
}
