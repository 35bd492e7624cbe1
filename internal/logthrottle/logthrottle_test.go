package logthrottle

import (
	"sync"
	"testing"
	"time"
)

func TestLimiterBurstAndWindow(t *testing.T) {
	l := Limiter{Every: 10 * time.Second, Burst: 3}
	sec := int64(time.Second)
	type step struct {
		at   int64
		ok   bool
		held int64
	}
	for i, s := range []step{
		{0, true, 0}, // the first line always passes, even at 0
		{1 * sec, true, 0},
		{2 * sec, true, 0},
		{3 * sec, false, 0},
		{9 * sec, false, 0},
		{10 * sec, true, 2}, // a new window: the two held back are reported
		{11 * sec, true, 0},
		{12 * sec, true, 0},
		{13 * sec, false, 0},
		{30 * sec, true, 1},
	} {
		ok, held := l.AllowAt(s.at)
		if ok != s.ok || held != s.held {
			t.Errorf("step %d at %ds: got (%v, %d), want (%v, %d)", i, s.at/sec, ok, held, s.ok, s.held)
		}
	}
}

func TestLimiterZeroBurstIsOne(t *testing.T) {
	l := Limiter{Every: time.Hour}
	if ok, _ := l.Allow(); !ok {
		t.Fatal("first line held back")
	}
	for range 5 {
		if ok, _ := l.Allow(); ok {
			t.Fatal("a second line within Every let through")
		}
	}
}

func TestLimiterConcurrent(t *testing.T) {
	l := Limiter{Every: time.Hour, Burst: 5}
	var mu sync.Mutex
	passed := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if ok, _ := l.Allow(); ok {
					mu.Lock()
					passed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if passed != 5 {
		t.Errorf("%d lines let through by 8 goroutines within one window, want 5", passed)
	}
	if _, held := l.AllowAt(time.Now().Add(2 * time.Hour).UnixNano()); held != 795 {
		t.Errorf("held back %d, want 795", held)
	}
}
