package wsconn_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

func newBudget(t testing.TB, cfg wsconn.BudgetConfig) *wsconn.Budget {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	b, err := wsconn.NewBudget(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestBudgetDefaults(t *testing.T) {
	b := newBudget(t, wsconn.BudgetConfig{})
	cfg := b.Config()
	if cfg.Limit != 240 || cfg.Window != 5*time.Minute || cfg.Burst != 10 || cfg.Interval != 625*time.Millisecond {
		t.Fatalf("defaults %+v, want 240 per 5m (80%% of Binance's 300), burst 10, one every 625ms", cfg)
	}
	// a mass disconnect of 100 connections: the burst goes at once, the
	// rest is paced, and the window is never reached
	if spent := cfg.Burst + int((2*time.Minute)/cfg.Interval); spent >= cfg.Limit {
		t.Fatalf("%d attempts in the first 2 minutes: the pace spends the window's budget too early", spent)
	}
}

func TestBudgetWaitEndsWithContext(t *testing.T) {
	var logs bytes.Buffer
	b := newBudget(t, wsconn.BudgetConfig{Limit: 2, Window: time.Hour, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for range 2 {
		if err := b.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := b.Wait(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("after %v: %v", time.Since(start), err)
	}
	// a context already ended fails at once, counting nothing
	done, stop := context.WithCancel(context.Background())
	stop()
	if err := b.Wait(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("ended context: %v", err)
	}
	st := b.Stats()
	if st.Attempts != 2 || st.Used != 2 || st.Limit != 2 || st.Waits != 1 || st.Canceled != 1 || st.Waiting != 0 || st.WaitTime < 40*time.Millisecond {
		t.Fatalf("stats %+v", st)
	}
	if n := strings.Count(logs.String(), "dial budget spent"); n != 1 {
		t.Fatalf("%d log lines about the spent budget, want 1:\n%s", n, logs.String())
	}
}

func TestBudgetCloseWakesWaiters(t *testing.T) {
	b := newBudget(t, wsconn.BudgetConfig{Limit: 1, Window: time.Hour})
	if err := b.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 3)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { errs <- b.Wait(context.Background()) })
	}
	for deadline := time.Now().Add(5 * time.Second); b.Stats().Waiting != 3; {
		if time.Now().After(deadline) {
			t.Fatalf("%d waiting, want 3", b.Stats().Waiting)
		}
		time.Sleep(time.Millisecond)
	}
	b.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, wsconn.ErrBudgetClosed) {
			t.Fatalf("a waiter got %v, want ErrBudgetClosed", err)
		}
	}
	if err := b.Wait(context.Background()); !errors.Is(err, wsconn.ErrBudgetClosed) {
		t.Fatalf("Wait after Close: %v", err)
	}
	b.Close() // twice is fine
	if st := b.Stats(); st.Canceled != 3 || st.Waiting != 0 || st.Attempts != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestBudgetCancelledWaiterPassesItsTurn: the first waiter gives up; the
// one behind it is then served on time.
func TestBudgetCancelledWaiterPassesItsTurn(t *testing.T) {
	b := newBudget(t, wsconn.BudgetConfig{Limit: 100, Window: time.Minute, Burst: 1, Interval: 100 * time.Millisecond})
	if err := b.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { first <- b.Wait(ctx) }()
	for b.Stats().Waiting != 1 {
		time.Sleep(time.Millisecond)
	}
	second := make(chan error, 1)
	go func() { second <- b.Wait(context.Background()) }()
	for b.Stats().Waiting != 2 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("first waiter: %v", err)
	}
	select {
	case err := <-second:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the second waiter was not served after the first gave up")
	}
}

func TestBudgetConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  wsconn.BudgetConfig
		want string
	}{
		{wsconn.BudgetConfig{Limit: -1}, "Limit -1"},
		{wsconn.BudgetConfig{Window: -time.Second}, "Window -1s"},
		{wsconn.BudgetConfig{Limit: 5, Burst: 6}, "Burst 6"},
		{wsconn.BudgetConfig{Interval: -time.Millisecond}, "Interval -1ms"},
	} {
		if _, err := wsconn.NewBudget(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %q", c.cfg, err, c.want)
		}
	}
}

func TestParseBudget(t *testing.T) {
	cfg, err := wsconn.ParseBudget("240/5m")
	if err != nil || cfg.Limit != 240 || cfg.Window != 5*time.Minute || cfg.Burst != 10 || cfg.Interval != 625*time.Millisecond {
		t.Fatalf("240/5m: %+v, %v", cfg, err)
	}
	for _, s := range []string{"", "240", "x/5m", "0/5m", "240/five", "240/-1m"} {
		if _, err := wsconn.ParseBudget(s); err == nil || !strings.Contains(err.Error(), `"`+s+`"`) {
			t.Errorf("%q: %v, want an error quoting it", s, err)
		}
	}
}

func TestBudgetWaitAllocatesNothing(t *testing.T) {
	b := newBudget(t, wsconn.BudgetConfig{Limit: 1 << 16, Window: time.Second, Burst: 1 << 16, Interval: time.Nanosecond})
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() { _ = b.Wait(ctx) }); n != 0 {
		t.Fatalf("%v allocations per attempt", n)
	}
	// waiting reuses pooled timers
	p := newBudget(t, wsconn.BudgetConfig{Limit: 1000, Window: time.Second, Burst: 1, Interval: 50 * time.Microsecond})
	_ = p.Wait(ctx)
	_ = p.Wait(ctx)
	if n := testing.AllocsPerRun(50, func() { _ = p.Wait(ctx) }); n > 0.1 && !raceEnabled {
		t.Fatalf("%v allocations per attempt that waited", n)
	}
	if p.Stats().Waits < 40 {
		t.Fatalf("%d waits: the attempts did not wait", p.Stats().Waits)
	}
}

func BenchmarkBudgetWait(b *testing.B) {
	bu := newBudget(b, wsconn.BudgetConfig{Limit: 1 << 16, Window: time.Millisecond, Burst: 1 << 16, Interval: time.Nanosecond})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_ = bu.Wait(ctx)
	}
}

// TestMassDisconnectIsPacedByTheSharedBudget: six sessions share a budget
// of 2 attempts back to back then one every 150ms; the server closes every
// connection at once; the six reconnects are spread by the pace, and the
// budget counts every connect and reconnect of them all.
func TestMassDisconnectIsPacedByTheSharedBudget(t *testing.T) {
	const sessions, interval = 6, 150 * time.Millisecond
	s := startSim(t, sim.Config{})
	b := newBudget(t, wsconn.BudgetConfig{Limit: 100, Window: time.Minute, Burst: 2, Interval: interval})
	recs := make([]*recorder, sessions)
	sess := make([]*wsconn.Session, sessions)
	for i := range recs {
		recs[i] = &recorder{}
		cfg := baseConfig(s, "/ws/btcusdt@aggTrade")
		cfg.Dials = b
		sess[i] = open(t, cfg, recs[i])
	}
	connected := func(n int) func() bool {
		return func() bool {
			for _, r := range recs {
				if r.count(wsconn.Connected) < n {
					return false
				}
			}
			return true
		}
	}
	waitFor(t, 10*time.Second, "every session connected", connected(1))
	simtest.WaitSubscribed(t, s, sessions)
	fired := time.Now()
	if err := s.Fire(sim.Fault{Kind: sim.FaultClose, Code: 1001, Reason: "going away"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "every session reconnected", connected(2))
	var first, last time.Time
	for _, r := range recs {
		r.mu.Lock()
		var n int
		for _, e := range r.events {
			if e.Kind == wsconn.Connected {
				if n++; n == 2 {
					at := time.Unix(0, e.Recv)
					if first.IsZero() || at.Before(first) {
						first = at
					}
					if at.After(last) {
						last = at
					}
				}
			}
		}
		r.mu.Unlock()
	}
	st := b.Stats()
	t.Logf("6 reconnects from %v to %v after the close; budget %+v", first.Sub(fired).Round(time.Millisecond), last.Sub(fired).Round(time.Millisecond), st)
	// the burst was spent by the first connects: at most 2 tokens came back
	// since, so the 6 redials need at least 3 more intervals
	if spread := last.Sub(first); spread < 3*interval-20*time.Millisecond {
		t.Fatalf("6 reconnects within %v: the shared budget did not pace them", spread)
	}
	if st.Attempts < 2*sessions || st.Waits == 0 || st.Used != int(st.Attempts) {
		t.Fatalf("budget stats %+v: want every connect and reconnect counted", st)
	}
	var waited time.Duration
	for _, x := range sess {
		waited += x.Stats().DialWait
	}
	if waited < st.WaitTime/2 {
		t.Fatalf("the sessions report %v waiting for the budget, the budget %v", waited, st.WaitTime)
	}
}

// TestRotationsCountAgainstTheBudget: a make-before-break rotation opens a
// connection like any other, through the budget.
func TestRotationsCountAgainstTheBudget(t *testing.T) {
	s := startSim(t, sim.Config{})
	b := newBudget(t, wsconn.BudgetConfig{Limit: 100, Window: time.Minute, Burst: 100, Interval: time.Millisecond})
	var r recorder
	cfg := baseConfig(s, "/ws/btcusdt@aggTrade")
	cfg.Dials = b
	cfg.Lifetime = time.Second
	cfg.RotateBefore = 500 * time.Millisecond
	sess := open(t, cfg, &r)
	waitFor(t, 10*time.Second, "2 rotations", func() bool { return sess.Stats().Rotations >= 2 })
	sess.Close()
	st, bs := sess.Stats(), b.Stats()
	if bs.Attempts < st.Connects || bs.Attempts > st.Connects+st.DialErrors || st.Connects < 3 {
		t.Fatalf("budget counted %d attempts; the session made %d connections and %d failed attempts (%d rotations)",
			bs.Attempts, st.Connects, st.DialErrors, st.Rotations)
	}
}
