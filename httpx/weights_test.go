package httpx

import (
	"testing"
	"time"
)

// at is a moment s seconds into window k of d (aligned on the Unix epoch).
func at(k int64, d time.Duration, s float64) time.Time {
	return time.Unix(0, k*int64(d)+int64(s*float64(time.Second)))
}

// admitNow admits a request of weight w at now and fails if it must wait.
func admitNow(t *testing.T, ws *weights, now time.Time, w int) ticket {
	t.Helper()
	tk, wait, err := ws.admit(now, w)
	if err != nil || wait != 0 {
		t.Fatalf("weight %d at %v: wait %v, err %v; windows %+v", w, now, wait, err, ws.wins)
	}
	return tk
}

// mustWait fails unless a request of weight w at now must wait.
func mustWait(t *testing.T, ws *weights, now time.Time, w int) {
	t.Helper()
	if _, wait, err := ws.admit(now, w); err != nil || wait == 0 {
		t.Fatalf("weight %d at %v admitted (err %v); windows %+v: the count was lost", w, now, err, ws.wins)
	}
}

// TestWindowChangeKeepsTheCount: a limit learned after the first requests
// (Binance: from exchangeInfo's answer) with another window must not
// forget the weight those requests used, or the client goes over.
func TestWindowChangeKeepsTheCount(t *testing.T) {
	const minute, five = time.Minute, 5 * time.Second
	ws := &weights{limit: 6000, window: minute, skew: time.Second}
	now := at(1000, minute, 59.7) // 0.3 s before the minute ends: the report cannot correct
	tk := admitNow(t, ws, now, 20)
	ws.done(tk, -1, now.Add(10*time.Millisecond))
	ws.setLimit(40, five)
	if ws.skew != five/10 {
		t.Fatalf("skew %v, want %v", ws.skew, five/10)
	}
	// 20 are counted: 20 more fit, the next 4 do not
	now = now.Add(20 * time.Millisecond)
	for range 5 {
		tk := admitNow(t, ws, now, 4)
		ws.done(tk, -1, now)
	}
	mustWait(t, ws, now, 4)
}

// TestSlowAnswerCountsInTheLaterWindow: a request admitted well inside a
// window whose answer comes after the window ended may have been counted
// by the venue in the next one; its report cannot correct the first.
func TestSlowAnswerCountsInTheLaterWindow(t *testing.T) {
	const five = 5 * time.Second
	ws := &weights{limit: 40, window: five, skew: 500 * time.Millisecond}
	tk := admitNow(t, ws, at(10, five, 2), 36)
	// answered 3.5 s later, in window 11, by the venue's count of window 11
	ws.done(tk, 36, at(11, five, 0.5))
	if u := ws.find(10); u == nil || u.used != 36 {
		t.Fatalf("window 10 count %+v: a report of uncertain window lowered or lost it", u)
	}
	mustWait(t, ws, at(11, five, 1), 8)
	admitNow(t, ws, at(11, five, 1), 4)

	// a quick answer inside one window is the truth and corrects the count
	ws = &weights{limit: 40, window: five, skew: 500 * time.Millisecond}
	tk = admitNow(t, ws, at(20, five, 1), 30)
	ws.done(tk, 10, at(20, five, 1.1))
	admitNow(t, ws, at(20, five, 1.2), 30)
}
