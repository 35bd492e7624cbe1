package monitor_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/time/rate"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/monitor"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue/binance"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startSim(t testing.TB, cfg sim.Config) *sim.Server { return simtest.Start(t, cfg) }

// rig is a simulator, a gateway streaming from it over TLS as `feedkeeper
// run` does, and a Monitor watching the gateway.
type rig struct {
	sim  *sim.Server
	gw   *feed.Gateway
	rest *httpx.Client
	mon  *monitor.Monitor
	http *http.Client
	// opened is when the gateway was opened.
	opened time.Time
	// handled counts events the handler saw, slow makes it slower.
	handled atomic.Int64
	slow    atomic.Int64 // ns of sleep per event
}

type rigConfig struct {
	streams  []string
	perConn  int
	session  wsconn.Config
	recovery bool
	rcfg     feed.RecoveryConfig
	mon      monitor.Config
	// beforeOpen runs after the symbols are loaded, before the gateway opens.
	beforeOpen func()
	// handler, if set, also gets every event (a sink's Write).
	handler func(*feed.Event)
	// lag is the gateway's lag watch; its ClockOffset is the Monitor's.
	lag feed.LagConfig
}

func newRig(t testing.TB, s *sim.Server, rc rigConfig) *rig {
	t.Helper()
	r := &rig{sim: s}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, s.CAPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := httpx.TLSConfig(caFile)
	if err != nil {
		t.Fatal(err)
	}
	r.rest, err = httpx.New(binance.RESTConfig(httpx.Config{BaseURL: s.RESTURL(), TLS: tlsCfg, Logger: quiet(),
		BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.rest.Close)
	syms, err := binance.LoadSymbols(context.Background(), r.rest, binance.SymbolsOfStreams(rc.streams))
	if err != nil {
		t.Fatal(err)
	}
	if rc.perConn == 0 {
		rc.perConn = 1024
	}
	venue, err := binance.NewSpot(binance.SpotConfig{WSURL: s.WSURL(), Symbols: syms, StreamsPerConn: rc.perConn})
	if err != nil {
		t.Fatal(err)
	}

	mc := rc.mon
	if mc.Addr == "" {
		mc.Addr = "127.0.0.1:0"
	}
	mc.Venue = "binance"
	mc.REST = r.rest.Stats
	if mc.SampleInterval == 0 {
		mc.SampleInterval = 100 * time.Millisecond
	}
	mc.Logger = quiet()
	r.mon, err = monitor.New(mc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.mon.Close() })
	r.http = newClient(t)

	sc := rc.session
	if sc.BackoffMin == 0 {
		sc.BackoffMin = 5 * time.Millisecond
		sc.BackoffMax = 100 * time.Millisecond
	}
	gc := feed.GatewayConfig{
		Venue: venue, Streams: rc.streams, TLS: tlsCfg, Session: sc, Logger: quiet(),
		Dials: rate.NewLimiter(1000, 100), Subscribes: rate.NewLimiter(1000, 100),
		Handler: func(ev *feed.Event) {
			if rc.handler != nil {
				rc.handler(ev)
			}
			r.mon.Observe(ev)
			r.handled.Add(1)
			if d := r.slow.Load(); d > 0 {
				time.Sleep(time.Duration(d))
			}
		},
	}
	gc.Lag = rc.lag
	gc.Lag.ClockOffset = r.mon.ClockOffset
	if rc.recovery {
		rec, err := binance.NewRecovery(r.rest, syms, false)
		if err != nil {
			t.Fatal(err)
		}
		gc.Recovery = rec
		gc.RecoveryConfig = rc.rcfg
	}
	if rc.beforeOpen != nil {
		rc.beforeOpen()
	}
	r.opened = time.Now()
	r.gw, err = feed.OpenGateway(gc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.gw.Close() })
	r.mon.SetGateway(r.gw.Stats)
	return r
}

// serverTime asks the simulator for its clock, as Binance's /api/v3/time.
func (r *rig) serverTime(ctx context.Context) (time.Time, error) {
	var v struct {
		ServerTime int64 `json:"serverTime"`
	}
	if _, err := r.rest.Get(ctx, "/api/v3/time", nil, &v); err != nil {
		return time.Time{}, err
	}
	// the venue's clock reads whole ms: its time is, on average, half a ms later
	return time.UnixMilli(v.ServerTime).Add(500 * time.Microsecond), nil
}

// newClient returns an HTTP client whose idle connections are closed when
// the test ends.
func newClient(t testing.TB) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// scrape is one read of /metrics.
type scrape map[string]*dto.MetricFamily

func (r *rig) scrape(t testing.TB) scrape {
	t.Helper()
	resp, err := r.http.Get(r.mon.URL() + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	return fams
}

// value returns the value of series name{labels…} ("k=v" pairs; every
// series that matches is summed), and whether there was one.
func (s scrape) value(name string, labels ...string) (float64, bool) {
	f := s[name]
	if f == nil {
		return 0, false
	}
	var sum float64
	found := false
next:
	for _, m := range f.GetMetric() {
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			ok := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					ok = true
				}
			}
			if !ok {
				continue next
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum, found
}

// v is value for a series that must exist.
func (s scrape) v(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	x, ok := s.value(name, labels...)
	if !ok {
		t.Fatalf("no series %s%v", name, labels)
	}
	return x
}

// waitMetric scrapes until cond holds for the value of a series.
func (r *rig) waitMetric(t testing.TB, d time.Duration, name string, labels []string, what string, cond func(float64) bool) scrape {
	t.Helper()
	var last float64
	var s scrape
	deadline := time.Now().Add(d)
	for {
		s = r.scrape(t)
		x, ok := s.value(name, labels...)
		if ok && cond(x) {
			return s
		}
		last = x
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s%v = %v", d, what, name, labels, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *rig) get(t testing.TB, path string) (int, string) {
	t.Helper()
	resp, err := r.http.Get(r.mon.URL() + strings.TrimPrefix(path, "/"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func atLeast(n float64) func(float64) bool { return func(x float64) bool { return x >= n } }

func label(k string, v any) string { return fmt.Sprintf("%s=%v", k, v) }
