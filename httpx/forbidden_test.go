package httpx_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/httpx"
)

// lockedBuffer collects log lines from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

func forbid(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(http.StatusForbidden)
	fmt.Fprint(w, "<html><body>403 Forbidden: request blocked</body></html>")
}

func Test403IsItsOwnErrorAndHoldsEveryCall(t *testing.T) {
	v := newVenue(t, &venue{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			forbid(w)
			return
		}
		fmt.Fprint(w, `{"ok":true}`)
	}})
	var logs lockedBuffer
	c, err := httpx.New(httpx.Config{BaseURL: v.srv.URL, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		BackoffMin: time.Millisecond, BackoffMax: 10 * time.Millisecond,
		ForbiddenBackoff: 300 * time.Millisecond, ForbiddenBackoffMax: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	err = get(c)
	var ae *httpx.APIError
	if !errors.Is(err, httpx.ErrForbidden) || !errors.As(err, &ae) || ae.Status != http.StatusForbidden ||
		errors.Is(err, httpx.ErrRateLimited) || errors.Is(err, httpx.ErrBanned) || errors.Is(err, httpx.ErrExhausted) {
		t.Fatalf("first call: %v", err)
	}
	if v.requests() != 1 {
		t.Fatalf("%d requests: a 403 was tried again", v.requests())
	}
	// while the block lasts, calls fail at once without a request
	start := time.Now()
	for range 3 {
		err := get(c)
		var fe *httpx.ForbiddenError
		if !errors.Is(err, httpx.ErrForbidden) || !errors.As(err, &fe) || time.Until(fe.Until) <= 0 || errors.Is(err, httpx.ErrBanned) {
			t.Fatalf("a call during the block: %v", err)
		}
	}
	if v.requests() != 1 || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("%d requests in %v during the block, want none at once", v.requests()-1, time.Since(start))
	}
	st := c.Stats()
	if st.Forbidden != 1 || st.RateLimited != 0 || st.Bans != 0 || !st.BannedUntil.IsZero() || st.Waits != 0 || st.Retries != 0 ||
		st.Failures != 4 || st.ForbiddenUntil.IsZero() {
		t.Fatalf("stats %+v", st)
	}
	if d := time.Until(st.ForbiddenUntil); d > 300*time.Millisecond || d < 150*time.Millisecond {
		t.Fatalf("block ends in %v, want about 300ms", d)
	}
	time.Sleep(time.Until(st.ForbiddenUntil) + 10*time.Millisecond)
	if err := get(c); err != nil {
		t.Fatalf("after the block: %v", err)
	}
	if st := c.Stats(); !st.ForbiddenUntil.IsZero() {
		t.Fatalf("block still in force after an answer: %+v", st)
	}
	if n := logs.count("HTTP 403"); n != 1 {
		t.Fatalf("%d log lines about the 403, want 1:\n%s", n, logs.b.String())
	}
	if n := logs.count("firewall block over"); n != 1 {
		t.Fatalf("%d log lines about the end of the block, want 1", n)
	}
}

// Test403StreakDoublesTheBlock: each 403 in a row doubles the block, up to
// the maximum, a longer Retry-After is honoured, one line is logged for
// the streak, and an answer ends it.
func Test403StreakDoublesTheBlock(t *testing.T) {
	var mu sync.Mutex
	deny, retryAfter := true, ""
	v := newVenue(t, &venue{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		d, ra := deny, retryAfter
		mu.Unlock()
		if d {
			if ra != "" {
				w.Header().Set("Retry-After", ra)
			}
			forbid(w)
			return
		}
		fmt.Fprint(w, `{"ok":true}`)
	}})
	var logs lockedBuffer
	c, err := httpx.New(httpx.Config{BaseURL: v.srv.URL, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		ForbiddenBackoff: 100 * time.Millisecond, ForbiddenBackoffMax: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var blocks []time.Duration
	for range 3 {
		start := time.Now()
		if err := get(c); !errors.Is(err, httpx.ErrForbidden) {
			t.Fatalf("got %v", err)
		}
		until := c.Stats().ForbiddenUntil
		blocks = append(blocks, until.Sub(start))
		time.Sleep(time.Until(until) + 10*time.Millisecond)
	}
	for i, want := range []time.Duration{100, 200, 250} {
		if lo := want * time.Millisecond; blocks[i] < lo || blocks[i] > lo+100*time.Millisecond {
			t.Fatalf("blocks %v, want about 100, 200, 250 ms", blocks)
		}
	}
	mu.Lock()
	retryAfter = "1"
	mu.Unlock()
	start := time.Now()
	if err := get(c); !errors.Is(err, httpx.ErrForbidden) {
		t.Fatalf("got %v", err)
	}
	if d := c.Stats().ForbiddenUntil.Sub(start); d < time.Second {
		t.Fatalf("block of %v with Retry-After 1", d)
	}
	if n := logs.count("HTTP 403"); n != 1 {
		t.Fatalf("%d log lines for one streak of 403s, want 1", n)
	}
	if st := c.Stats(); st.Forbidden != 4 || st.RateLimited != 0 || st.Bans != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Test403BurstIsOneBlock: calls in flight when the firewall starts
// answering 403 are one block: it is not lengthened per call, and logged
// once.
func Test403BurstIsOneBlock(t *testing.T) {
	in := make(chan struct{})
	var once sync.Once
	var arrived sync.WaitGroup
	arrived.Add(4)
	v := newVenue(t, &venue{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		once.Do(func() {
			go func() { arrived.Wait(); close(in) }()
		})
		<-in
		forbid(w)
	}})
	var logs lockedBuffer
	c, err := httpx.New(httpx.Config{BaseURL: v.srv.URL, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		ForbiddenBackoff: 200 * time.Millisecond, ForbiddenBackoffMax: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := get(c); !errors.Is(err, httpx.ErrForbidden) {
				t.Errorf("got %v", err)
			}
		})
	}
	wg.Wait()
	st := c.Stats()
	if st.Forbidden != 4 || st.Requests != 4 {
		t.Fatalf("stats %+v", st)
	}
	if d := st.ForbiddenUntil.Sub(start); d > 200*time.Millisecond+time.Second/2 {
		t.Fatalf("a block of %v after one burst of 403s, want about 200ms", d)
	}
	if n := logs.count("HTTP 403"); n != 1 {
		t.Fatalf("%d log lines for one burst of 403s, want 1", n)
	}
}
