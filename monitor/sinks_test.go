package monitor_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/monitor"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/sink"
	natssink "github.com/feedkeeper/feedkeeper/sink/nats"
)

// TestReadyzFollowsSinks streams trades into a NATS sink on a real server,
// stops the server and starts it again from its store: /readyz says the
// NATS sink is not ready, and why, while it is down, and is ready again
// once the sink has delivered what it held.
func TestReadyzFollowsSinks(t *testing.T) {
	store := t.TempDir()
	startNATS := func(port int) *natssink.Server {
		t.Helper()
		srv, err := natssink.StartServer(natssink.ServerConfig{Name: "readyz", StoreDir: store, Port: port, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		return srv
	}
	srv := startNATS(0)
	url := srv.ClientURL()
	port, _ := strconv.Atoi(url[strings.LastIndexByte(url, ':')+1:])
	ns, err := natssink.Open(natssink.Config{URLs: []string{url}, AckTimeout: 500 * time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.CloseNow() })

	s := startSim(t, sim.Config{Rate: 100, Symbols: []string{"BTCUSDT"}})
	r := newRig(t, s, rigConfig{
		streams: []string{"btcusdt@aggTrade"},
		mon:     monitor.Config{Sinks: map[string]sink.Sink{"nats": ns}, SinkStall: time.Second, SinkWindow: 2 * time.Second},
		handler: func(ev *feed.Event) { ns.Write(ev) },
	})
	waitFor(t, 10*time.Second, "ready", func() bool { code, _ := readyz(t, r); return code == 200 })
	waitFor(t, 10*time.Second, "trades in NATS", func() bool { return ns.Stats().Delivered > 10 })

	srv.Close()
	var rd monitor.Readiness
	waitFor(t, 10*time.Second, "the NATS sink not ready", func() bool {
		var code int
		code, rd = readyz(t, r)
		return code == 503 && sinkProblem(rd, "nats", "unreachable") && sinkProblem(rd, "nats", "none delivered")
	})
	t.Logf("server stopped: %+v", rd.NotReady)
	if m := r.scrape(t); m.v(t, "feedkeeper_sink_ready", "sink=nats") != 0 || m.v(t, "feedkeeper_sink_pending_events", "sink=nats") == 0 {
		t.Fatal("metrics: the NATS sink ready, or nothing pending, while its server is down")
	}
	for _, p := range rd.NotReady {
		if p.Check != "sink" {
			t.Fatalf("problem %+v besides the sink's", p)
		}
	}
	// the dashboard's snapshot says the same
	waitFor(t, 5*time.Second, "the snapshot to show the sink", func() bool {
		_, body := r.get(t, "/api/snapshot")
		return strings.Contains(body, `"sink":"nats"`) && strings.Contains(body, `"ready":false`)
	})

	startNATS(port)
	waitFor(t, 20*time.Second, "ready again", func() bool {
		var code int
		code, rd = readyz(t, r)
		return code == 200
	})
	if st := ns.Stats(); st.Lost != 0 || st.Dropped != 0 {
		t.Fatalf("sink %+v: events lost in the outage", st)
	}
	m := r.scrape(t)
	if m.v(t, "feedkeeper_sink_ready", "sink=nats") != 1 || m.v(t, "feedkeeper_sink_delivered_events_total", "sink=nats") == 0 ||
		m.v(t, "feedkeeper_sink_lost_events_total", "sink=nats") != 0 {
		t.Fatal("metrics: the NATS sink not ready, nothing delivered, or events lost after the restart")
	}
}

// TestReadyzSinkLosses: a sink that refuses events is not ready for
// SinkWindow after the last refusal, then ready again.
func TestReadyzSinkLosses(t *testing.T) {
	ns, err := natssink.Open(natssink.Config{Server: natssink.ServerConfig{DontListen: true, Logger: quiet()},
		Buffer: sink.Buffer{Events: 1, Policy: sink.Drop}, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.CloseNow() })
	m, err := monitor.New(monitor.Config{Addr: "127.0.0.1:0", Logger: quiet(),
		Sinks: map[string]sink.Sink{"nats": ns}, SinkWindow: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rd := m.Ready()
	if sinkProblem(rd, "nats", "") {
		t.Fatalf("an idle sink is not ready: %+v", rd)
	}
	ev := feed.Event{Type: feed.TypeTrade, Venue: "binance", Symbol: "BTCUSDT", ID: 1, Aggregated: true}
	refused := 0
	for i := range 1000 {
		ev.ID = int64(i + 1)
		if ns.Write(&ev) != nil {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("the sink kept up with 1000 events through a buffer of one")
	}
	if rd = m.Ready(); !sinkProblem(rd, "nats", "refused") {
		t.Fatalf("after %d refusals: %+v", refused, rd)
	}
	waitFor(t, 5*time.Second, "the refusals to age out", func() bool { return !sinkProblem(m.Ready(), "nats", "") })
}

// sinkProblem reports whether rd holds a problem of sink name whose detail
// contains what.
func sinkProblem(rd monitor.Readiness, name, what string) bool {
	for _, p := range rd.NotReady {
		if p.Check == "sink" && p.Sink == name && strings.Contains(p.Detail, what) {
			return true
		}
	}
	return false
}
