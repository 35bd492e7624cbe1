package httpx_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/httpx"
)

// tlsHost is one base URL of an API on loopback, over TLS, whose answers
// can be switched between working, 5xx and no answer at all.
type tlsHost struct {
	srv  *httptest.Server
	mode atomic.Int32 // one of the host* constants
	hits atomic.Int64
	gate chan struct{} // hostHeld answers 502 once it is closed
}

const (
	hostOK   = iota
	host5xx  // answers 503
	hostDrop // closes the connection without an answer
	hostHeld // waits for gate, then answers 502
)

func newTLSHost(t *testing.T, name string) *tlsHost {
	t.Helper()
	h := &tlsHost{gate: make(chan struct{})}
	h.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.hits.Add(1)
		switch h.mode.Load() {
		case hostHeld:
			<-h.gate
			http.Error(w, "{}", http.StatusBadGateway)
		case host5xx:
			http.Error(w, `{"code":-1008,"msg":"Server is currently overloaded"}`, http.StatusServiceUnavailable)
		case hostDrop:
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
		default:
			fmt.Fprintf(w, `{"ok":true,"host":%q}`, name)
		}
	}))
	h.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes cut short by Close
	h.srv.StartTLS()
	t.Cleanup(h.srv.Close)
	return h
}

// roots trusts the certificate every httptest TLS server presents.
func roots(h *tlsHost) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(h.srv.Certificate())
	return &tls.Config{RootCAs: pool}
}

func getHost(t *testing.T, c *httpx.Client) string {
	t.Helper()
	var v struct {
		OK   bool
		Host string
	}
	if _, err := c.Get(t.Context(), "/api/v3/time", nil, &v); err != nil {
		t.Fatal(err)
	}
	if !v.OK {
		t.Fatal("answer not decoded")
	}
	return v.Host
}

func TestFailoverSkipsAFailingHostAndComesBack(t *testing.T) {
	for _, fail := range []int32{host5xx, hostDrop} {
		name := map[int32]string{host5xx: "5xx", hostDrop: "no answer"}[fail]
		t.Run(name, func(t *testing.T) {
			a, b, c3 := newTLSHost(t, "a"), newTLSHost(t, "b"), newTLSHost(t, "c")
			cl := newClient(t, httpx.Config{BaseURL: a.srv.URL, BaseURLs: []string{b.srv.URL, c3.srv.URL}, TLS: roots(a),
				HostCooldown: 300 * time.Millisecond, HostCooldownMax: time.Second})
			if got := getHost(t, cl); got != "a" {
				t.Fatalf("first call answered by %s, want a", got)
			}
			a.mode.Store(fail)
			// the failing attempt goes to a; the call is answered by b, and
			// later calls skip a while its cooldown lasts
			if got := getHost(t, cl); got != "b" {
				t.Fatalf("answered by %s, want b", got)
			}
			hits := a.hits.Load() // (the transport may try a dropped connection twice)
			for i := range 4 {
				if got := getHost(t, cl); got != "b" {
					t.Fatalf("call %d answered by %s, want b", i, got)
				}
			}
			if n := a.hits.Load(); n != hits {
				t.Fatalf("a got %d more requests while set aside", n-hits)
			}
			st := cl.Stats()
			if st.Hosts[0].Failures != 1 || st.Hosts[0].Skips != 1 || st.Hosts[0].SkippedUntil.IsZero() || st.Hosts[1].Requests != 5 ||
				st.Hosts[2].Requests != 0 || st.Failovers != 5 || st.Failures != 0 || st.Hosts[0].BaseURL != a.srv.URL {
				t.Fatalf("stats %+v", st)
			}
			// a recovers; once its cooldown is over, calls return to it
			a.mode.Store(hostOK)
			time.Sleep(350 * time.Millisecond)
			if got := getHost(t, cl); got != "a" {
				t.Fatalf("after the cooldown, answered by %s, want a", got)
			}
			if st := cl.Stats(); !st.Hosts[0].SkippedUntil.IsZero() {
				t.Fatalf("a still set aside after answering: %+v", st.Hosts[0])
			}
		})
	}
}

func TestFailoverCooldownDoublesAndIsBounded(t *testing.T) {
	a, b := newTLSHost(t, "a"), newTLSHost(t, "b")
	a.mode.Store(host5xx)
	cl := newClient(t, httpx.Config{BaseURL: a.srv.URL, BaseURLs: []string{b.srv.URL}, TLS: roots(a),
		HostCooldown: 100 * time.Millisecond, HostCooldownMax: 250 * time.Millisecond})
	var cooldowns []time.Duration
	for range 4 {
		start := time.Now()
		getHost(t, cl)
		until := cl.Stats().Hosts[0].SkippedUntil
		cooldowns = append(cooldowns, until.Sub(start))
		time.Sleep(time.Until(until) + 10*time.Millisecond)
	}
	// 100ms, 200ms, then capped at 250ms (measured from before the call)
	want := []time.Duration{100, 200, 250, 250}
	for i, d := range cooldowns {
		if lo := want[i] * time.Millisecond; d < lo || d > lo+150*time.Millisecond {
			t.Fatalf("cooldowns %v, want about %v ms", cooldowns, want)
		}
	}
	if st := cl.Stats(); st.Hosts[0].Failures != 4 || st.Hosts[0].Skips != 4 || st.Failures != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestFailoverConcurrentFailuresCountOnce: calls in flight when a host
// starts failing are one outage: its cooldown grows once, not per call.
func TestFailoverConcurrentFailuresCountOnce(t *testing.T) {
	a, b := newTLSHost(t, "a"), newTLSHost(t, "b")
	cl := newClient(t, httpx.Config{BaseURL: a.srv.URL, BaseURLs: []string{b.srv.URL}, TLS: roots(a),
		HostCooldown: time.Second, HostCooldownMax: time.Hour})
	getHost(t, cl)
	a.mode.Store(hostHeld)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { getHost(t, cl) })
	}
	for a.hits.Load() < 5 {
		time.Sleep(time.Millisecond)
	}
	close(a.gate)
	wg.Wait()
	st := cl.Stats()
	if st.Hosts[0].Failures != 4 || st.Hosts[0].Skips != 1 {
		t.Fatalf("4 concurrent failures: %+v, want 4 failures and one cooldown", st.Hosts[0])
	}
	if d := time.Until(st.Hosts[0].SkippedUntil); d > time.Second {
		t.Fatalf("cooldown of %v after one outage, want at most 1s", d)
	}
}

func TestFailoverEveryHostFailing(t *testing.T) {
	a, b := newTLSHost(t, "a"), newTLSHost(t, "b")
	a.mode.Store(host5xx)
	b.mode.Store(host5xx)
	cl := newClient(t, httpx.Config{BaseURL: a.srv.URL, BaseURLs: []string{b.srv.URL}, TLS: roots(a), MaxAttempts: 4,
		HostCooldown: time.Minute})
	var v any
	_, err := cl.Get(t.Context(), "/x", nil, &v)
	if err == nil || !strings.Contains(err.Error(), "HTTP 503") {
		t.Fatalf("got %v", err)
	}
	// a, b, then the one whose cooldown ends first (a), then b
	if a.hits.Load() != 2 || b.hits.Load() != 2 {
		t.Fatalf("a got %d and b %d attempts, want 2 each", a.hits.Load(), b.hits.Load())
	}
}

func TestOneHostIsNeverSetAside(t *testing.T) {
	a := newTLSHost(t, "a")
	a.mode.Store(host5xx)
	cl := newClient(t, httpx.Config{BaseURL: a.srv.URL, TLS: roots(a), MaxAttempts: 2})
	var v any
	if _, err := cl.Get(t.Context(), "/x", nil, &v); err == nil {
		t.Fatal("no error from a failing host")
	}
	a.mode.Store(hostOK)
	if got := getHost(t, cl); got != "a" {
		t.Fatal(got)
	}
	if st := cl.Stats(); st.Hosts[0].Failures != 2 || st.Hosts[0].Skips != 0 || st.Failovers != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestBaseURLsAreValidated(t *testing.T) {
	for _, c := range []struct {
		cfg  httpx.Config
		want string
	}{
		{httpx.Config{BaseURL: "https://a.example", BaseURLs: []string{"https://b.example", "ftp://c"}}, `BaseURLs[1] "ftp://c"`},
		{httpx.Config{BaseURL: "https://a.example", BaseURLs: []string{"https://a.example"}}, `BaseURLs[0] "https://a.example" repeats BaseURL`},
		{httpx.Config{}, `BaseURL ""`},
		{httpx.Config{BaseURL: "https://a.example?x=1"}, `BaseURL "https://a.example?x=1"`},
		{httpx.Config{BaseURL: "https://a.example", HostCooldown: time.Minute, HostCooldownMax: time.Second}, "HostCooldown 1m0s"},
		{httpx.Config{BaseURL: "https://a.example", ForbiddenBackoff: -time.Second}, "ForbiddenBackoff -1s"},
	} {
		if _, err := httpx.New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", c.cfg, err, c.want)
		}
	}
	// BaseURLs alone will do
	a := newTLSHost(t, "a")
	cl := newClient(t, httpx.Config{BaseURLs: []string{a.srv.URL}, TLS: roots(a)})
	if got := getHost(t, cl); got != "a" {
		t.Fatal(got)
	}
}

// TestServesSendsAPathOnlyToHostsThatServeIt: a host that does not serve
// a path (Binance's market-data host and historicalTrades) is passed over
// for it, and still takes the paths it serves.
func TestServesSendsAPathOnlyToHostsThatServeIt(t *testing.T) {
	a, b := newTLSHost(t, "a"), newTLSHost(t, "b")
	c, err := httpx.New(httpx.Config{BaseURL: a.srv.URL, BaseURLs: []string{b.srv.URL}, TLS: roots(a), Logger: quiet(),
		Serves: func(base, path string) bool { return base != a.srv.URL || path != "/api/v3/historicalTrades" }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var v struct{ Host string }
	if _, err := c.Get(t.Context(), "/api/v3/historicalTrades", nil, &v); err != nil || v.Host != "b" {
		t.Fatalf("historicalTrades from %q, %v", v.Host, err)
	}
	if got := getHost(t, c); got != "a" {
		t.Fatalf("time from %q", got)
	}
}
