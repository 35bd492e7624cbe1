package monitor_test

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/monitor"
	"github.com/feedkeeper/feedkeeper/sim"
)

func TestEstimateOffsetUsesTheShortestRoundTrip(t *testing.T) {
	const skew = 3 * time.Second
	// the answer is read at the start of each round trip, which then lasts
	// delays[i]: only a short round trip gives a good midpoint
	delays := []time.Duration{40 * time.Millisecond, 2 * time.Millisecond, 30 * time.Millisecond}
	i := 0
	o, err := monitor.EstimateOffset(context.Background(), len(delays), func(context.Context) (time.Time, error) {
		now := time.Now().Add(skew)
		time.Sleep(delays[i])
		i++
		return now, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.RTT < 2*time.Millisecond || o.RTT > 20*time.Millisecond {
		t.Fatalf("RTT %v: not the shortest round trip", o.RTT)
	}
	// read at the start: the midpoint is RTT/2 late
	if d := o.Offset - (skew - o.RTT/2); d < -2*time.Millisecond || d > 2*time.Millisecond {
		t.Fatalf("offset %v, want about %v", o.Offset, skew-o.RTT/2)
	}
	if o.At.IsZero() {
		t.Fatal("no sample time")
	}

	calls := 0
	_, err = monitor.EstimateOffset(context.Background(), 2, func(context.Context) (time.Time, error) {
		calls++
		return time.Time{}, errors.New("HTTP 503")
	})
	if err == nil || calls != 2 {
		t.Fatalf("every sample failed: %v after %d calls", err, calls)
	}
	// one failure among successes is skipped
	calls = 0
	o, err = monitor.EstimateOffset(context.Background(), 3, func(context.Context) (time.Time, error) {
		calls++
		if calls == 1 {
			return time.Time{}, errors.New("timeout")
		}
		return time.Now().Add(-time.Second), nil
	})
	if err != nil || o.Offset > -990*time.Millisecond || o.Offset < -1010*time.Millisecond {
		t.Fatalf("offset %v, %v", o.Offset, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := monitor.EstimateOffset(ctx, 3, func(context.Context) (time.Time, error) { return time.Now(), nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

// TestClockOffsetFromTheVenue estimates the offset to the simulator's
// /api/v3/time as the Monitor does on its own, and checks that exchange
// latency is corrected by it.
func TestClockOffsetFromTheVenue(t *testing.T) {
	s := startSim(t, sim.Config{})
	var rp atomic.Pointer[rig]
	serverTime := func(ctx context.Context) (time.Time, error) {
		if r := rp.Load(); r != nil {
			return r.serverTime(ctx)
		}
		return time.Time{}, errors.New("not open yet")
	}
	r := newRig(t, s, rigConfig{streams: []string{"btcusdt@aggTrade"},
		mon: monitor.Config{ServerTime: serverTime, ClockInterval: 100 * time.Millisecond, ClockSamples: 3}})
	rp.Store(r)
	m := r.waitMetric(t, 10*time.Second, "feedkeeper_clock_offset_timestamp_seconds", nil, "an estimate", atLeast(1))
	off, rtt := m.v(t, "feedkeeper_clock_offset_seconds"), m.v(t, "feedkeeper_clock_offset_rtt_seconds")
	if off < -0.05 || off > 0.05 || rtt <= 0 || rtt > 1 {
		t.Fatalf("offset %vs rtt %vs to a simulator on this machine", off, rtt)
	}
	first := m.v(t, "feedkeeper_clock_offset_timestamp_seconds")
	r.waitMetric(t, 10*time.Second, "feedkeeper_clock_offset_timestamp_seconds", nil, "a new estimate", func(x float64) bool { return x > first })

}

// TestObserveCorrectsClockOffset observes an event stamped by a venue
// clock 2s ahead of ours: the latency is what it really was, 1ms.
func TestObserveCorrectsClockOffset(t *testing.T) {
	mon, err := monitor.New(monitor.Config{Addr: "127.0.0.1:0", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	mon.SetClockOffset(monitor.Offset{Offset: 2 * time.Second, RTT: time.Millisecond, At: time.Now()})
	if mon.ClockOffset() != 2*time.Second {
		t.Fatal("offset not kept")
	}
	recv := time.Now()
	ev := &feed.Event{Type: feed.TypeTrade, Venue: "binance", Symbol: "BTCUSDT", ID: 1, Price: 100, Qty: 1,
		ExchangeTime: recv.Add(2*time.Second - time.Millisecond).UnixNano(), ReceiveTime: recv.UnixNano()}
	mon.ObserveAt(ev, recv.Add(50*time.Microsecond))
	r := &rig{mon: mon, http: newClient(t)}
	m := r.scrape(t)
	for name, want := range map[string]float64{"feedkeeper_exchange_latency_seconds": 0.001, "feedkeeper_sink_latency_seconds": 0.00005} {
		var h *dto.Histogram
		for _, mt := range m[name].GetMetric() {
			h = mt.GetHistogram()
		}
		if h == nil || h.GetSampleCount() != 1 || math.Abs(h.GetSampleSum()-want) > 1e-9 {
			t.Fatalf("%s: %v, want one sample of %v", name, h, want)
		}
	}
	if m.v(t, "feedkeeper_clock_offset_seconds") != 2 || m.v(t, "feedkeeper_clock_offset_rtt_seconds") != 0.001 {
		t.Fatal("offset gauges")
	}
}
