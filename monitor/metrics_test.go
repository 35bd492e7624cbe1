package monitor_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/monitor"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

// TestConnectionMetricsFollowFaults fires the simulator's connection faults
// at a gateway of two connections and checks that each moves its metric.
func TestConnectionMetricsFollowFaults(t *testing.T) {
	s := startSim(t, sim.Config{})
	r := newRig(t, s, rigConfig{
		streams: []string{"btcusdt@aggTrade", "ethusdt@aggTrade", "btcusdt@bookTicker", "ethusdt@bookTicker"},
		perConn: 2,
		session: wsconn.Config{PingInterval: 200 * time.Millisecond, StaleTimeout: time.Second, ReadLimit: 64 << 10},
	})
	up := r.waitMetric(t, 10*time.Second, "feedkeeper_conn_up", nil, "both connections up", atLeast(2))
	if n := len(up["feedkeeper_conn_up"].GetMetric()); n != 2 {
		t.Fatalf("%d connections exported, want 2", n)
	}
	r.waitMetric(t, 5*time.Second, "feedkeeper_conn_frames_total", []string{label("conn", 1)}, "frames on conn 1", atLeast(5))
	m := r.waitMetric(t, 5*time.Second, "feedkeeper_conn_pongs_total", nil, "pongs", atLeast(1))
	for _, c := range []string{"0", "1"} {
		if m.v(t, "feedkeeper_conn_state", label("conn", c), "state=connected") != 1 ||
			m.v(t, "feedkeeper_conn_state", label("conn", c), "state=connecting") != 0 {
			t.Fatalf("conn %s: state series wrong", c)
		}
		if m.v(t, "feedkeeper_conn_bytes_total", label("conn", c)) == 0 {
			t.Fatalf("conn %s: no bytes", c)
		}
		if d, f := m.v(t, "feedkeeper_conn_frames_direct_total", label("conn", c)), m.v(t, "feedkeeper_conn_frames_total", label("conn", c)); d == 0 || d > f {
			t.Fatalf("conn %s: %v of %v frames handed over by the reader", c, d, f)
		}
	}
	if m.v(t, "feedkeeper_conn_connects_total", "conn=0") != 1 || m.v(t, "feedkeeper_conn_reconnects_total", "conn=0") != 0 {
		t.Fatal("connects/reconnects before any fault")
	}
	if _, ok := m.value("feedkeeper_conn_up", "venue=binance"); !ok {
		t.Fatal("no venue label")
	}

	// each step: the fault, then what must move, for both connections
	steps := []struct {
		name  string
		fault sim.Fault
		moves []string // metrics that must grow by at least 1 on each connection
		gw    []string // gateway metrics (name and labels) that must grow
	}{
		{"drop", sim.Fault{Kind: sim.FaultDrop},
			[]string{"feedkeeper_conn_reconnects_total", "feedkeeper_conn_connects_total", "feedkeeper_conn_disconnects_total|reason=network"}, nil},
		{"close 1008", sim.Fault{Kind: sim.FaultClose, Code: 1008, Reason: "too many requests"},
			[]string{"feedkeeper_conn_reconnects_total", "feedkeeper_conn_connects_total", "feedkeeper_conn_close_codes_total|code=1008",
				"feedkeeper_conn_disconnects_total|reason=close_frame"}, nil},
		{"malformed json", sim.Fault{Kind: sim.FaultMalformed, Variant: "json"},
			nil, []string{"feedkeeper_frames_skipped_total|reason=malformed"}},
		{"binary frame", sim.Fault{Kind: sim.FaultMalformed, Variant: "binary"},
			nil, []string{"feedkeeper_frames_skipped_total|reason=binary"}},
		{"oversize", sim.Fault{Kind: sim.FaultOversize, Size: 128 << 10},
			[]string{"feedkeeper_conn_reconnects_total", "feedkeeper_conn_connects_total", "feedkeeper_conn_disconnects_total|reason=too_large"}, nil},
		{"stall", sim.Fault{Kind: sim.FaultStall, Duration: 10 * time.Second},
			[]string{"feedkeeper_conn_stale_total", "feedkeeper_conn_reconnects_total", "feedkeeper_conn_disconnects_total|reason=stale"}, nil},
		{"shutdown", sim.Fault{Kind: sim.FaultShutdown, Duration: 2 * time.Second},
			[]string{"feedkeeper_conn_rotations_total", "feedkeeper_conn_shutdowns_total", "feedkeeper_conn_connects_total",
				"feedkeeper_conn_disconnects_total|reason=shutdown"},
			[]string{"feedkeeper_server_shutdowns_total", "feedkeeper_duplicates_total"}},
	}
	for _, st := range steps {
		before := r.scrape(t)
		r.waitMetric(t, 5*time.Second, "feedkeeper_conn_up", nil, st.name+": both connections up", atLeast(2))
		waitFor(t, 5*time.Second, st.name+": the server to see both connections", func() bool { return len(s.Conns()) == 2 })
		if err := s.Fire(st.fault); err != nil {
			t.Fatal(err)
		}
		for _, c := range []string{"0", "1"} {
			for _, mv := range st.moves {
				name, lbl, _ := strings.Cut(mv, "|")
				labels := []string{label("conn", c)}
				if lbl != "" {
					labels = append(labels, lbl)
				}
				was, _ := before.value(name, labels...)
				r.waitMetric(t, 10*time.Second, name, labels, st.name, atLeast(was+1))
			}
		}
		for _, mv := range st.gw {
			name, lbl, _ := strings.Cut(mv, "|")
			var labels []string
			if lbl != "" {
				labels = []string{lbl}
			}
			was, _ := before.value(name, labels...)
			r.waitMetric(t, 10*time.Second, name, labels, st.name, atLeast(was+1))
		}
		t.Logf("%s: moved %v %v", st.name, st.moves, st.gw)
	}
	after := r.waitMetric(t, 10*time.Second, "feedkeeper_conn_up", nil, "both connections back", atLeast(2))
	if after.v(t, "feedkeeper_conn_tls_resumed_total") < 1 {
		t.Fatal("no reconnect resumed its TLS session")
	}
	if up, since := after.v(t, "feedkeeper_conn_uptime_seconds", "conn=0"), time.Since(r.opened).Seconds(); up >= since/2 {
		t.Fatalf("uptime %.1fs not reset by the reconnects (%.1fs since open)", up, since)
	}
}

// TestGapsLatencyAndQuotes checks the sequence metrics, the latency
// histograms and the per-symbol figures Observe keeps.
func TestGapsLatencyAndQuotes(t *testing.T) {
	s := startSim(t, sim.Config{Rate: 1000})
	r := newRig(t, s, rigConfig{streams: []string{"btcusdt@aggTrade", "btcusdt@bookTicker", "ethusdt@aggTrade"}})
	m := r.waitMetric(t, 10*time.Second, "feedkeeper_symbol_events_total", []string{"symbol=BTCUSDT", "type=top_of_book"}, "quotes", atLeast(5))
	if m.v(t, "feedkeeper_gaps_total") != 0 || m.v(t, "feedkeeper_missing_ids_total") != 0 {
		t.Fatal("gaps before the fault")
	}
	if err := s.Fire(sim.Fault{Kind: sim.FaultTradeGap, Times: 3}); err != nil {
		t.Fatal(err)
	}
	m = r.waitMetric(t, 10*time.Second, "feedkeeper_gaps_total", nil, "gaps", atLeast(1))
	m = r.waitMetric(t, 10*time.Second, "feedkeeper_missing_ids_total", nil, "missing IDs", atLeast(3))
	if m.v(t, "feedkeeper_symbol_events_total", "type=gap") < 1 {
		t.Fatal("no gap event counted by symbol")
	}
	if m.v(t, "feedkeeper_symbol_events_total", "symbol=ETHUSDT", "type=trade") == 0 || m.v(t, "feedkeeper_events_total") == 0 {
		t.Fatal("events not counted")
	}
	for _, h := range []string{"feedkeeper_exchange_latency_seconds", "feedkeeper_sink_latency_seconds"} {
		if m.v(t, h, "type=trade", "venue=binance") == 0 {
			t.Fatalf("%s: no trade observed", h)
		}
	}
	if _, ok := m.value("feedkeeper_exchange_latency_seconds", "type=top_of_book"); ok {
		// bookTicker has no event time: only sink latency
		if m.v(t, "feedkeeper_exchange_latency_seconds", "type=top_of_book") != 0 {
			t.Fatal("exchange latency observed for events without an exchange time")
		}
	}
	if m.v(t, "feedkeeper_sink_latency_seconds", "type=top_of_book") == 0 {
		t.Fatal("no sink latency for quotes")
	}
	for _, f := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_open_fds"} {
		if m.v(t, f) <= 0 {
			t.Fatalf("%s not exported", f)
		}
	}

	// the dashboard's snapshot has the top of book and last trade
	var snap struct {
		Quotes []struct {
			Symbol, Bid, Ask, Last, Side string
			Trades                       int64
		} `json:"quotes"`
		Latency struct {
			ExchP99 *float64 `json:"exch_p99"`
		} `json:"latency"`
		Notices []struct{ Kind, Text string } `json:"notices"`
	}
	waitFor(t, 5*time.Second, "a snapshot with quotes, latency and the gap", func() bool {
		_, body := r.get(t, "/api/snapshot")
		snap.Quotes, snap.Notices, snap.Latency.ExchP99 = nil, nil, nil
		if err := json.Unmarshal([]byte(body), &snap); err != nil {
			t.Fatal(err)
		}
		gap := false
		for _, n := range snap.Notices {
			gap = gap || n.Kind == "gap"
		}
		return len(snap.Quotes) == 2 && snap.Quotes[0].Bid != "" && snap.Latency.ExchP99 != nil && gap
	})
	q := snap.Quotes[0]
	bid, _ := strconv.ParseFloat(q.Bid, 64)
	ask, _ := strconv.ParseFloat(q.Ask, 64)
	if q.Symbol != "BTCUSDT" || bid <= 0 || ask <= bid || q.Last == "" || q.Trades == 0 || (q.Side != "buy" && q.Side != "sell") {
		t.Fatalf("quote %+v", q)
	}
	if e := snap.Quotes[1]; e.Symbol != "ETHUSDT" || e.Bid != "" || e.Last == "" {
		t.Fatalf("ETHUSDT has trades only: %+v", e)
	}
}

// TestSlowConsumerMetrics makes the consumer slower than a burst: the Drop
// policy drops frames, the Block policy gives up the connection.
func TestSlowConsumerMetrics(t *testing.T) {
	t.Run("drop", func(t *testing.T) {
		s := startSim(t, sim.Config{Rate: -1})
		r := newRig(t, s, rigConfig{streams: []string{"btcusdt@aggTrade", "btcusdt@trade"},
			session: wsconn.Config{Slow: wsconn.Drop, QueueFrames: 64}})
		r.waitMetric(t, 10*time.Second, "feedkeeper_conn_up", nil, "connected", atLeast(1))
		simtest.WaitSubscribed(t, s, 1)
		r.slow.Store(int64(50 * time.Microsecond))
		if err := s.Fire(sim.Fault{Kind: sim.FaultBurst, Count: 20000}); err != nil {
			t.Fatal(err)
		}
		m := r.waitMetric(t, 20*time.Second, "feedkeeper_conn_slow_consumer_actions_total", []string{"action=drop_frame"}, "frames dropped", atLeast(1))
		if m.v(t, "feedkeeper_frames_skipped_total", "reason=dropped") < 1 {
			t.Fatal("dropped frames not counted as skipped")
		}
		r.slow.Store(0)
	})
	t.Run("block", func(t *testing.T) {
		s := startSim(t, sim.Config{Rate: -1})
		r := newRig(t, s, rigConfig{streams: []string{"btcusdt@aggTrade", "btcusdt@trade"},
			session: wsconn.Config{Slow: wsconn.Block, QueueFrames: 64, BlockTimeout: 20 * time.Millisecond}})
		r.waitMetric(t, 10*time.Second, "feedkeeper_conn_up", nil, "connected", atLeast(1))
		simtest.WaitSubscribed(t, s, 1)
		r.slow.Store(int64(time.Millisecond))
		if err := s.Fire(sim.Fault{Kind: sim.FaultBurst, Count: 20000}); err != nil {
			t.Fatal(err)
		}
		m := r.waitMetric(t, 20*time.Second, "feedkeeper_conn_slow_consumer_actions_total", []string{"action=disconnect"}, "a connection given up", atLeast(1))
		if m.v(t, "feedkeeper_conn_queue_frames") < 0 {
			t.Fatal("queue depth negative")
		}
		r.slow.Store(0)
		r.waitMetric(t, 10*time.Second, "feedkeeper_conn_reconnects_total", nil, "the reconnect", atLeast(1))
	})
}

// TestQueueDepth checks the queue gauge while the consumer is stuck.
func TestQueueDepth(t *testing.T) {
	s := startSim(t, sim.Config{Rate: 2000})
	r := newRig(t, s, rigConfig{streams: []string{"btcusdt@aggTrade"}, session: wsconn.Config{QueueFrames: 100000}})
	r.waitMetric(t, 10*time.Second, "feedkeeper_conn_up", nil, "connected", atLeast(1))
	simtest.WaitSubscribed(t, s, 1)
	r.slow.Store(int64(20 * time.Millisecond))
	r.waitMetric(t, 10*time.Second, "feedkeeper_conn_queue_frames", nil, "frames queued", atLeast(10))
	r.slow.Store(0)
	r.waitMetric(t, 10*time.Second, "feedkeeper_conn_queue_frames", nil, "the queue drained", func(x float64) bool { return x < 10 })
}

// TestRecoveryAndRESTMetrics checks the backfill, book-sync and REST
// metrics with a gateway that recovers what it misses.
func TestRecoveryAndRESTMetrics(t *testing.T) {
	s := startSim(t, sim.Config{Rate: 500})
	r := newRig(t, s, rigConfig{streams: []string{"btcusdt@aggTrade", "btcusdt@depth@100ms"}, recovery: true,
		// a ban longer than BlockWait: its gap is given up, not waited out
		rcfg: feed.RecoveryConfig{VerifyEvery: 300 * time.Millisecond, RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
			BlockWait: 100 * time.Millisecond},
		mon: monitor.Config{Books: 1}})
	m := r.waitMetric(t, 15*time.Second, "feedkeeper_books_in_sync", nil, "the book in sync", atLeast(1))
	if m.v(t, "feedkeeper_book_syncs_total") < 1 || m.v(t, "feedkeeper_rest_requests_total") < 2 {
		t.Fatal("book synced without a snapshot request")
	}
	waitFor(t, 5*time.Second, "ready", func() bool { code, _ := r.get(t, "/readyz"); return code == 200 })

	if err := s.Fire(sim.Fault{Kind: sim.FaultTradeGap, Times: 2}); err != nil {
		t.Fatal(err)
	}
	r.waitMetric(t, 10*time.Second, "feedkeeper_trades_backfilled_total", nil, "trades backfilled", atLeast(1))

	before := r.scrape(t)
	if err := s.Fire(sim.Fault{Kind: sim.FaultDepthDrop, Times: 1}); err != nil {
		t.Fatal(err)
	}
	r.waitMetric(t, 10*time.Second, "feedkeeper_book_resyncs_total", nil, "a resync", atLeast(before.v(t, "feedkeeper_book_resyncs_total")+1))
	r.waitMetric(t, 10*time.Second, "feedkeeper_book_verifications_total", []string{"result=match"}, "a verification", atLeast(1))

	// a resync whose first snapshot is older than the updates held
	r.waitMetric(t, 10*time.Second, "feedkeeper_books_in_sync", nil, "the book in sync again", atLeast(1))
	if err := s.Fire(sim.Fault{Kind: sim.FaultStaleSnapshot, Times: 1, Count: 2000}); err != nil {
		t.Fatal(err)
	}
	if err := s.Fire(sim.Fault{Kind: sim.FaultDepthDrop, Times: 1}); err != nil {
		t.Fatal(err)
	}
	r.waitMetric(t, 10*time.Second, "feedkeeper_stale_snapshots_total", nil, "a stale snapshot", atLeast(1))

	before = r.scrape(t)
	if err := s.Fire(sim.Fault{Kind: sim.FaultREST429, Times: 1, Duration: time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := s.Fire(sim.Fault{Kind: sim.FaultTradeGap, Times: 1}); err != nil {
		t.Fatal(err)
	}
	r.waitMetric(t, 10*time.Second, "feedkeeper_rest_rate_limited_total", nil, "a 429", atLeast(1))
	r.waitMetric(t, 10*time.Second, "feedkeeper_trades_backfilled_total", nil, "the backfill after the 429",
		atLeast(before.v(t, "feedkeeper_trades_backfilled_total")+1))
	m = r.scrape(t)
	if m.v(t, "feedkeeper_rest_retries_total") < 1 || m.v(t, "feedkeeper_rest_limiter_waits_total") < 1 {
		t.Fatal("the 429 was not waited out and retried")
	}

	if err := s.Fire(sim.Fault{Kind: sim.FaultREST418, Times: 1, Duration: time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := s.Fire(sim.Fault{Kind: sim.FaultTradeGap, Times: 1}); err != nil {
		t.Fatal(err)
	}
	r.waitMetric(t, 10*time.Second, "feedkeeper_rest_bans_total", nil, "a 418", atLeast(1))
	r.waitMetric(t, 10*time.Second, "feedkeeper_recovery_errors_total", nil, "the failed backfill", atLeast(1))
	m = r.waitMetric(t, 10*time.Second, "feedkeeper_unfillable_gaps_total", nil, "the gap given up", atLeast(1))
	if m.v(t, "feedkeeper_unfillable_ids_total") < 1 {
		t.Fatal("no unfillable IDs")
	}
}

// TestObserveKeepsNotices feeds a status event without a symbol: it shows
// in the dashboard's recent events.
func TestObserveKeepsNotices(t *testing.T) {
	mon, err := monitor.New(monitor.Config{Addr: "127.0.0.1:0", Logger: quiet(), SampleInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	mon.Observe(&feed.Event{Type: feed.TypeStatus, Status: feed.StatusDisconnected, Venue: "binance", Reason: "connection 1 down: EOF", ReceiveTime: time.Now().UnixNano()})
	r := &rig{mon: mon, http: newClient(t)}
	waitFor(t, 5*time.Second, "the notice in a snapshot", func() bool {
		_, body := r.get(t, "/api/snapshot")
		return strings.Contains(body, "disconnected: connection 1 down: EOF")
	})
}

// TestDialBudgetMetrics: the process-wide connection-attempt budget is
// visible: its limit, window, use and waits.
func TestDialBudgetMetrics(t *testing.T) {
	budget, err := wsconn.NewBudget(wsconn.BudgetConfig{Limit: 240, Window: 5 * time.Minute, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer budget.Close()
	for range 3 {
		if err := budget.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	mon, err := monitor.New(monitor.Config{Addr: "127.0.0.1:0", Logger: quiet(), Dials: budget.Stats})
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	r := &rig{mon: mon, http: newClient(t)}
	_, body := r.get(t, "/metrics")
	for _, want := range []string{"feedkeeper_dial_budget_limit 240", "feedkeeper_dial_budget_window_seconds 300",
		"feedkeeper_dial_budget_used 3", "feedkeeper_dial_budget_attempts_total 3", "feedkeeper_dial_budget_waits_total 0"} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics has no %q", want)
		}
	}
}
