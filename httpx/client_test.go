package httpx_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/feedkeeper/feedkeeper/httpx"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// venue is a scripted REST server: answer decides each answer from the
// request's number (1, 2, …); weight is counted per window as a venue
// does, and reported in X-Used.
type venue struct {
	srv    *httptest.Server
	window time.Duration
	limit  int
	others int // weight other clients use at the start of each window
	answer func(n int, w http.ResponseWriter, r *http.Request)

	mu      sync.Mutex
	n       int
	at      []time.Time
	used    map[int64]int // weight per window
	over    int           // requests counted past the limit
	maxUsed int
}

func newVenue(t *testing.T, v *venue) *venue {
	t.Helper()
	v.used = map[int64]int{}
	if v.window == 0 {
		v.window = time.Minute
	}
	v.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.mu.Lock()
		v.n++
		n := v.n
		now := time.Now()
		v.at = append(v.at, now)
		k := now.UnixNano() / int64(v.window)
		if _, ok := v.used[k]; !ok {
			v.used[k] = v.others
		}
		v.used[k]++
		used := v.used[k]
		v.maxUsed = max(v.maxUsed, used)
		if v.limit > 0 && used > v.limit {
			v.over++
		}
		v.mu.Unlock()
		w.Header().Set("X-Used", strconv.Itoa(used))
		if v.limit > 0 && used > v.limit {
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"code":-1003,"msg":"Too much request weight used"}`, http.StatusTooManyRequests)
			return
		}
		if v.answer != nil {
			v.answer(n, w, r)
			return
		}
		fmt.Fprint(w, `{"ok":true}`)
	}))
	t.Cleanup(v.srv.Close)
	return v
}

func (v *venue) requests() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.n
}

func (v *venue) times() []time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]time.Time(nil), v.at...)
}

func newClient(t *testing.T, cfg httpx.Config) *httpx.Client {
	t.Helper()
	cfg.Logger = quiet()
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin, cfg.BackoffMax = time.Millisecond, 10*time.Millisecond
	}
	c, err := httpx.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func get(c *httpx.Client) error {
	var v struct{ OK bool }
	_, err := c.Get(context.Background(), "/x", nil, &v)
	if err == nil && !v.OK {
		err = errors.New("answer not decoded")
	}
	return err
}

func TestWeightLimitHoldsCallsUntilNextWindow(t *testing.T) {
	v := newVenue(t, &venue{window: time.Second, limit: 10})
	c := newClient(t, httpx.Config{BaseURL: v.srv.URL, WeightLimit: 10, WeightWindow: time.Second,
		ClockSkew: 200 * time.Millisecond, UsedWeightHeader: "X-Used"})
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 8 {
				if err := get(c); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := c.Stats()
	t.Logf("32 calls in %v: %d waits, max weight %d", time.Since(start).Round(time.Millisecond), st.Waits, st.MaxWeightUsed)
	if v.over != 0 || st.RateLimited != 0 || v.maxUsed > 10 || st.MaxWeightUsed > 10 {
		t.Fatalf("the venue counted %d requests over the limit (max %d), the client saw %d 429s", v.over, v.maxUsed, st.RateLimited)
	}
	if st.Waits == 0 || len(v.used) < 4 {
		t.Fatalf("%d waits over %d windows: the limit did not hold calls back", st.Waits, len(v.used))
	}
}

func TestUsedWeightHeaderCorrectsTheCount(t *testing.T) {
	// other clients on the same IP use 7 of the 10 at the start of each window
	v := newVenue(t, &venue{window: time.Second, limit: 10, others: 7})
	c := newClient(t, httpx.Config{BaseURL: v.srv.URL, WeightLimit: 10, WeightWindow: time.Second,
		ClockSkew: 200 * time.Millisecond, UsedWeightHeader: "X-Used"})
	for range 6 {
		if err := get(c); err != nil {
			t.Fatal(err)
		}
	}
	if st := c.Stats(); v.over != 0 || st.Waits == 0 {
		t.Fatalf("%d requests over the limit, %d waits: the client did not follow the venue's count", v.over, st.Waits)
	}
}

func Test429PausesEveryCall(t *testing.T) {
	v := newVenue(t, &venue{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"code":-1003,"msg":"Too much request weight used"}`, http.StatusTooManyRequests)
			return
		}
		fmt.Fprint(w, `{"ok":true}`)
	}})
	c := newClient(t, httpx.Config{BaseURL: v.srv.URL})
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 100 * time.Millisecond) // the first call meets the 429
			if err := get(c); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	at := v.times()
	if len(at) != 4 {
		t.Fatalf("%d requests, want 4 (one 429, three answers)", len(at))
	}
	for _, ti := range at[1:] {
		if d := ti.Sub(at[0]); d < 950*time.Millisecond {
			t.Fatalf("a request %v after the 429 with Retry-After 1", d)
		}
	}
	if st := c.Stats(); st.RateLimited != 1 || st.Retries != 1 || st.Waits < 2 {
		t.Fatalf("stats %+v", st)
	}
}

func Test418StopsEveryCallUntilRetryAfter(t *testing.T) {
	v := newVenue(t, &venue{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"code":-1003,"msg":"Way too much request weight used; IP banned"}`, http.StatusTeapot)
			return
		}
		fmt.Fprint(w, `{"ok":true}`)
	}})
	c := newClient(t, httpx.Config{BaseURL: v.srv.URL})
	err := get(c)
	var ae *httpx.APIError
	if !errors.Is(err, httpx.ErrBanned) || !errors.As(err, &ae) || ae.Status != http.StatusTeapot || ae.RetryAfter != time.Second {
		t.Fatalf("first call: %v", err)
	}
	err = get(c)
	var be *httpx.BanError
	if !errors.Is(err, httpx.ErrBanned) || !errors.As(err, &be) || time.Until(be.Until) <= 0 || v.requests() != 1 {
		t.Fatalf("a call during the ban: %v, %d requests (want 1: none sent)", err, v.requests())
	}
	if st := c.Stats(); st.Bans != 1 || st.BannedUntil.IsZero() || st.Retries != 0 {
		t.Fatalf("stats %+v", st)
	}
	time.Sleep(time.Until(be.Until) + 10*time.Millisecond)
	if err := get(c); err != nil {
		t.Fatalf("after the ban: %v", err)
	}
}

func TestTransientFailuresAreRetried(t *testing.T) {
	fail := map[string]func(w http.ResponseWriter){
		"5xx": func(w http.ResponseWriter) {
			http.Error(w, `{"code":-1008,"msg":"Server is currently overloaded"}`, http.StatusServiceUnavailable)
		},
		"truncated body": func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`{"ok":tr`))
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		},
		"invalid JSON": func(w http.ResponseWriter) { fmt.Fprint(w, `{"ok":tr`) },
		"no answer": func(w http.ResponseWriter) {
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
		},
	}
	for name, f := range fail {
		t.Run(name, func(t *testing.T) {
			v := newVenue(t, &venue{answer: func(n int, w http.ResponseWriter, r *http.Request) {
				if n <= 2 {
					f(w)
					return
				}
				fmt.Fprint(w, `{"ok":true}`)
			}})
			c := newClient(t, httpx.Config{BaseURL: v.srv.URL})
			if err := get(c); err != nil {
				t.Fatal(err)
			}
			if st := c.Stats(); st.Retries != 2 || st.Requests != 3 || st.Failures != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestAttemptsAreBounded(t *testing.T) {
	v := newVenue(t, &venue{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"code":-1000,"msg":"An unknown error occurred"}`, http.StatusInternalServerError)
	}})
	c := newClient(t, httpx.Config{BaseURL: v.srv.URL, MaxAttempts: 3})
	err := get(c)
	var ae *httpx.APIError
	if !errors.Is(err, httpx.ErrExhausted) || !errors.As(err, &ae) || ae.Status != 500 || ae.Code != -1000 {
		t.Fatalf("got %v", err)
	}
	if v.requests() != 3 {
		t.Fatalf("%d requests, want 3", v.requests())
	}
}

func TestClientErrorsAreNotRetried(t *testing.T) {
	v := newVenue(t, &venue{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"code":-1121,"msg":"Invalid symbol."}`, http.StatusBadRequest)
	}})
	c := newClient(t, httpx.Config{BaseURL: v.srv.URL})
	err := get(c)
	var ae *httpx.APIError
	if !errors.As(err, &ae) || ae.Code != -1121 || ae.Msg != "Invalid symbol." || errors.Is(err, httpx.ErrExhausted) {
		t.Fatalf("got %v", err)
	}
	if v.requests() != 1 {
		t.Fatalf("%d requests, want 1", v.requests())
	}
}

func TestWaitBeyondDeadlineFailsAtOnce(t *testing.T) {
	v := newVenue(t, &venue{})
	c := newClient(t, httpx.Config{BaseURL: v.srv.URL, WeightLimit: 1, WeightWindow: time.Hour})
	if err := get(c); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_, err := c.Get(ctx, "/x", nil, new(any))
	if !errors.Is(err, httpx.ErrRateLimited) || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("after %v: %v", time.Since(start), err)
	}
	if _, err := c.Do(context.Background(), httpx.Request{Path: "/x", Weight: 2}, func([]byte) error { return nil }); !errors.Is(err, httpx.ErrRateLimited) {
		t.Fatalf("a request heavier than the limit: %v", err)
	}
}

func TestCancelStopsACall(t *testing.T) {
	v := newVenue(t, &venue{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}})
	c := newClient(t, httpx.Config{BaseURL: v.srv.URL})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Get(ctx, "/x", nil, new(any))
	if !errors.Is(err, context.Canceled) || time.Since(start) > time.Second || v.requests() != 1 {
		t.Fatalf("after %v and %d requests: %v", time.Since(start), v.requests(), err)
	}
}

func TestSlowAnswerTimesOutAndIsRetried(t *testing.T) {
	v := newVenue(t, &venue{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
			return
		}
		fmt.Fprint(w, `{"ok":true}`)
	}})
	c := newClient(t, httpx.Config{BaseURL: v.srv.URL, Timeout: 100 * time.Millisecond})
	if err := get(c); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Retries != 1 || st.NetErrors != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestHTTP2(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"ok":%v}`, r.ProtoMajor == 2)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	c := newClient(t, httpx.Config{BaseURL: srv.URL, TLS: &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}})
	for range 3 {
		if err := get(c); err != nil {
			t.Fatal(err)
		}
	}
	if st := c.Stats(); st.HTTP2 != 3 {
		t.Fatalf("%d answers over HTTP/2, want 3", st.HTTP2)
	}
	c.Close()
}

func TestConfigIsValidated(t *testing.T) {
	for _, cfg := range []httpx.Config{
		{BaseURL: "ftp://x"},
		{BaseURL: "https://x", MaxAttempts: -1},
		{BaseURL: "https://x", WeightLimit: -5},
		{BaseURL: "https://x", BackoffMin: time.Second, BackoffMax: time.Millisecond},
		{BaseURL: "https://x", WeightWindow: time.Second, ClockSkew: 2 * time.Second},
		{BaseURL: "https://x", TLS: &tls.Config{InsecureSkipVerify: true}},
	} {
		if _, err := httpx.New(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}
