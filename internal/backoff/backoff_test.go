package backoff

import (
	"context"
	"testing"
	"time"
)

func TestExp(t *testing.T) {
	for _, tc := range []struct {
		base, limit time.Duration
		n           int
		want        time.Duration
	}{
		{100 * time.Millisecond, 30 * time.Second, 0, 100 * time.Millisecond},
		{100 * time.Millisecond, 30 * time.Second, -3, 100 * time.Millisecond},
		{100 * time.Millisecond, 30 * time.Second, 3, 800 * time.Millisecond},
		{100 * time.Millisecond, 30 * time.Second, 8, 25600 * time.Millisecond},
		{100 * time.Millisecond, 30 * time.Second, 9, 30 * time.Second},
		{100 * time.Millisecond, 30 * time.Second, 62, 30 * time.Second},
		{100 * time.Millisecond, 30 * time.Second, 1000, 30 * time.Second},
		{time.Hour, time.Duration(1<<63 - 1), 40, time.Duration(1<<63 - 1)}, // would overflow
		{time.Minute, time.Second, 0, time.Second},
		{0, time.Second, 5, 0},
	} {
		if got := Exp(tc.base, tc.limit, tc.n); got != tc.want {
			t.Errorf("Exp(%v, %v, %d) = %v, want %v", tc.base, tc.limit, tc.n, got, tc.want)
		}
	}
}

func TestJitterBounds(t *testing.T) {
	for _, d := range []time.Duration{1, 2, 3, 7, time.Millisecond, 30 * time.Second} {
		seenLow, seenHigh := false, false
		for range 2000 {
			f := Full(d)
			if f < 1 || f > d {
				t.Fatalf("Full(%v) = %v, want in [1ns, %v]", d, f, d)
			}
			h := Half(d)
			if h < d/2 || h > d {
				t.Fatalf("Half(%v) = %v, want in [%v, %v]", d, h, d/2, d)
			}
			seenLow = seenLow || h < d*3/4+1
			seenHigh = seenHigh || h > d*3/4
		}
		if d > 3 && (!seenLow || !seenHigh) {
			t.Errorf("Half(%v) does not spread over [d/2, d]: low %v high %v", d, seenLow, seenHigh)
		}
	}
	if Full(0) != 0 || Half(1) != 1 || Half(0) != 0 {
		t.Errorf("Full(0) = %v, Half(1) = %v, Half(0) = %v; want them unchanged", Full(0), Half(1), Half(0))
	}
}

func TestSleep(t *testing.T) {
	if !Sleep(context.Background(), time.Millisecond) {
		t.Error("Sleep of 1ms on a live context: false")
	}
	if !Sleep(context.Background(), 0) {
		t.Error("Sleep of 0 on a live context: false")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, 0) {
		t.Error("Sleep of 0 on an ended context: true")
	}
	start := time.Now()
	if Sleep(ctx, time.Hour) {
		t.Error("Sleep of 1h on an ended context: true")
	}
	if e := time.Since(start); e > time.Second {
		t.Errorf("Sleep on an ended context took %v", e)
	}
}
