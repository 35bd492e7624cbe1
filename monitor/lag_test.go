package monitor_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/monitor"
	"github.com/feedkeeper/feedkeeper/sim"
)

// TestLaggingConnectionIsNotReady: every connection the simulator serves
// is throttled far below what its streams need, the replacement too. While
// it lags, /readyz names the connection and the lag metrics say so; once
// the throttle is lifted and the backlog is through, the feed is ready
// again and the episode is over.
func TestLaggingConnectionIsNotReady(t *testing.T) {
	s := startSim(t, sim.Config{Rate: 1000})
	r := newRig(t, s, rigConfig{
		streams: []string{"btcusdt@aggTrade", "btcusdt@depth@100ms"},
		lag:     feed.LagConfig{MaxLag: 500 * time.Millisecond, LagFor: time.Second, ReplaceBackoff: time.Minute},
	})
	waitFor(t, 10*time.Second, "ready", func() bool { code, _ := readyz(t, r); return code == 200 })
	if v := r.scrape(t).v(t, "feedkeeper_conn_lagging", label("conn", 0)); v != 0 {
		t.Fatalf("conn_lagging %v on a healthy link", v)
	}

	// every check of every connection renews a 2s throttle
	if err := s.AddFault(sim.Fault{Kind: sim.FaultThrottle, Rate: 3000, Duration: 2 * time.Second, Prob: 1}); err != nil {
		t.Fatal(err)
	}
	var lagProblem monitor.Problem
	waitFor(t, 10*time.Second, "not ready for lag", func() bool {
		code, rd := readyz(t, r)
		for _, p := range rd.NotReady {
			if p.Check == "lag" {
				lagProblem = p
			}
		}
		return code == 503 && lagProblem.Check == "lag"
	})
	if lagProblem.Conn != "binance#0" || !strings.Contains(lagProblem.Detail, "behind the venue") {
		t.Fatalf("lag problem %+v", lagProblem)
	}
	sc := r.waitMetric(t, 10*time.Second, "feedkeeper_conn_lag_replacements_total", []string{label("conn", 0)}, "a replacement", atLeast(1))
	if v := sc.v(t, "feedkeeper_conn_lagging", label("conn", 0)); v != 1 {
		t.Fatalf("conn_lagging %v while lagging", v)
	}
	if v := sc.v(t, "feedkeeper_conn_lag_episodes_total", label("conn", 0)); v != 1 {
		t.Fatalf("conn_lag_episodes_total %v", v)
	}
	if v := sc.v(t, "feedkeeper_conn_lag_seconds", label("conn", 0)); v <= 0.5 {
		t.Fatalf("conn_lag_seconds %v while lagging", v)
	}
	// the old connection goes once its replacement delivers
	r.waitMetric(t, 10*time.Second, "feedkeeper_conn_disconnects_total", []string{label("conn", 0), label("reason", "replaced")},
		"the old connection closed as replaced", atLeast(1))
	// the dashboard shows it, and the status event is among its notices
	waitFor(t, 5*time.Second, "the dashboard's view", func() bool {
		_, body := r.get(t, "/api/snapshot")
		var snap struct {
			Conns []struct {
				Name    string  `json:"name"`
				Lagging bool    `json:"lagging"`
				LagS    float64 `json:"lag_s"`
			} `json:"conns"`
		}
		if err := json.Unmarshal([]byte(body), &snap); err != nil {
			t.Fatalf("/api/snapshot: %v", err)
		}
		return len(snap.Conns) == 1 && snap.Conns[0].Lagging && snap.Conns[0].LagS > 0.5 && strings.Contains(body, "lagging: connection binance#0")
	})
	// the replacement lags too: still not ready
	time.Sleep(1500 * time.Millisecond)
	if code, _ := readyz(t, r); code != 503 {
		t.Fatalf("/readyz %d while the replacement lags too", code)
	}

	if err := s.SetFaults(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "ready again", func() bool { code, _ := readyz(t, r); return code == 200 })
	sc = r.scrape(t)
	if v := sc.v(t, "feedkeeper_conn_lagging", label("conn", 0)); v != 0 {
		t.Fatalf("conn_lagging %v after catching up", v)
	}
	if v := sc.v(t, "feedkeeper_conn_lag_replacements_total", label("conn", 0)); v != 1 {
		t.Fatalf("replacements %v: want one within the backoff", v)
	}
}
