package wsconn

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestBudgetNeverExceedsItsWindow has many goroutines spend a small budget
// as fast as they can, and checks every attempt time the budget granted:
// no interval of length Window holds more than Limit of them, and none of
// them comes sooner than the pace allows once the burst is spent.
func TestBudgetNeverExceedsItsWindow(t *testing.T) {
	const limit, window, workers, per = 8, 200 * time.Millisecond, 12, 4 // 48 attempts: 6 windows
	b, err := NewBudget(BudgetConfig{Limit: limit, Window: window, Burst: 4, Interval: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var at []int64 // under b.mu
	b.granted = func(ns int64) { at = append(at, ns) }
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range per {
				if err := b.Wait(context.Background()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if len(at) != workers*per {
		t.Fatalf("%d attempts granted, want %d", len(at), workers*per)
	}
	if !slices.IsSorted(at) {
		t.Fatal("attempts granted out of time order")
	}
	for i := limit; i < len(at); i++ {
		if d := time.Duration(at[i] - at[i-limit]); d <= window {
			t.Fatalf("attempts %d and %d only %v apart: %d attempts in a window of %v", i-limit, i, d, limit+1, window)
		}
	}
	// the pace holds too: any k+1 consecutive attempts span at least
	// (k+1-Burst) intervals of 10ms
	for j := range at {
		for i := j + 1; i < len(at); i++ {
			want := time.Duration(i-j+1-4) * 10 * time.Millisecond
			if d := time.Duration(at[i] - at[j]); d < want-time.Microsecond {
				t.Fatalf("attempts %d to %d within %v, want at least %v with a burst of 4 and a pace of 10ms", j, i, d, want)
			}
		}
	}
	// 48 attempts, 8 per 200ms: the 41st cannot come before 5 windows
	if minimal := 5 * window; elapsed < minimal {
		t.Fatalf("48 attempts in %v, below the %v the window allows", elapsed, minimal)
	}
	st := b.Stats()
	t.Logf("48 attempts in %v; stats %+v", elapsed.Round(time.Millisecond), st)
	if st.Attempts != workers*per || st.Waits == 0 || st.WaitTime <= 0 || st.Used == 0 || st.Used > limit || st.Waiting != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestBudgetServesWaitersInOrder checks that a waiter that came first is
// granted first.
func TestBudgetServesWaitersInOrder(t *testing.T) {
	b, err := NewBudget(BudgetConfig{Limit: 100, Window: 10 * time.Second, Burst: 1, Interval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			if err := b.Wait(context.Background()); err != nil {
				t.Error(err)
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
		})
		// let waiter i queue before i+1 arrives
		for deadline := time.Now().Add(time.Second); b.Stats().Waiting != i+1 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}
	wg.Wait()
	if !slices.Equal(order, []int{0, 1, 2, 3, 4}) {
		t.Fatalf("served in order %v", order)
	}
}
