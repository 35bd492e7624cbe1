package monitor_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/monitor"
	"github.com/feedkeeper/feedkeeper/sim"
)

func TestNewRefusesOpenAddressWithoutToken(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "feeds.example.com:9464", "10.1.2.3:9464"} {
		_, err := monitor.New(monitor.Config{Addr: addr, Logger: quiet()})
		if !errors.Is(err, monitor.ErrTokenRequired) || !strings.Contains(err.Error(), addr) {
			t.Errorf("%s: %v, want ErrTokenRequired naming the address", addr, err)
		}
	}
	if _, err := monitor.New(monitor.Config{Addr: "nonsense", Logger: quiet()}); err == nil || !strings.Contains(err.Error(), "Addr") {
		t.Errorf("bad address: %v", err)
	}
	m, err := monitor.New(monitor.Config{Addr: "0.0.0.0:0", Token: "s3cret", Logger: quiet()})
	if err != nil {
		t.Fatalf("0.0.0.0 with a token: %v", err)
	}
	m.Close()
	m, err = monitor.New(monitor.Config{Addr: "localhost:0", Logger: quiet()})
	if err != nil {
		t.Fatalf("localhost without a token: %v", err)
	}
	m.Close()
}

func TestTokenIsCheckedOnEveryPath(t *testing.T) {
	m, err := monitor.New(monitor.Config{Addr: "127.0.0.1:0", Token: "s3cret", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := newClient(t)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	do := func(path string, hdr map[string]string) *http.Response {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		req, _ := http.NewRequestWithContext(ctx, "GET", m.URL()+strings.TrimPrefix(path, "/"), nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	paths := []string{"/metrics", "/healthz", "/readyz", "/", "/app.js", "/vendor/uPlot.iife.min.js", "/events", "/api/snapshot", "/api/history", "/nothing-here"}
	for _, p := range paths {
		if resp := do(p, nil); resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s without a token: %s", p, resp.Status)
		}
		if resp := do(p, map[string]string{"Authorization": "Bearer wrong"}); resp.StatusCode != 401 {
			t.Errorf("%s with a wrong token: %s", p, resp.Status)
		}
		resp := do(p, map[string]string{"Authorization": "Bearer s3cret"})
		want := 200
		switch p {
		case "/readyz":
			want = 503 // no gateway
		case "/nothing-here":
			want = 404
		}
		if resp.StatusCode != want {
			t.Errorf("%s with the token: %s, want %d", p, resp.Status, want)
		}
	}
	// the dashboard in a browser: ?token= once, a cookie afterwards
	if resp := do("/?token=wrong", nil); resp.StatusCode != 401 {
		t.Errorf("wrong ?token=: %s", resp.Status)
	}
	resp := do("/?token=s3cret&x=1", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/?x=1" {
		t.Fatalf("?token=: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	if resp := do("//evil.example.com/?token=s3cret", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("?token= on //host: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		cookie = ck
	}
	if cookie == nil || !cookie.HttpOnly || strings.Contains(cookie.Value, "s3cret") {
		t.Fatalf("cookie %+v", cookie)
	}
	for _, p := range []string{"/", "/api/snapshot", "/metrics"} {
		if resp := do(p, map[string]string{"Cookie": cookie.Name + "=" + cookie.Value}); resp.StatusCode != 200 {
			t.Errorf("%s with the cookie: %s", p, resp.Status)
		}
	}
	if resp := do("/", map[string]string{"Cookie": cookie.Name + "=s3cret"}); resp.StatusCode != 401 {
		t.Errorf("a forged cookie: %s", resp.Status)
	}
}

func TestLoopbackRefusesOtherHostNames(t *testing.T) {
	m, err := monitor.New(monitor.Config{Addr: "127.0.0.1:0", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := newClient(t)
	for host, want := range map[string]int{"": 200, "localhost:9464": 200, "evil.example.com": 403, "evil.example.com:9464": 403} {
		req, _ := http.NewRequest("GET", m.URL()+"healthz", nil)
		if host != "" {
			req.Host = host
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %q: %s, want %d", host, resp.Status, want)
		}
	}
}

// readyz returns /readyz's status and body.
func readyz(t testing.TB, r *rig) (int, monitor.Readiness) {
	t.Helper()
	code, body := r.get(t, "/readyz")
	var rd monitor.Readiness
	if err := json.Unmarshal([]byte(body), &rd); err != nil {
		t.Fatalf("/readyz body %q: %v", body, err)
	}
	if rd.Ready != (code == 200) || (code != 200 && code != 503) {
		t.Fatalf("/readyz %d with %+v", code, rd)
	}
	return code, rd
}

func TestReadyzFollowsConnections(t *testing.T) {
	s := startSim(t, sim.Config{})
	r := newRig(t, s, rigConfig{
		streams:    []string{"btcusdt@aggTrade"},
		beforeOpen: func() { s.Fire(sim.Fault{Kind: sim.FaultRefuse, Duration: 1500 * time.Millisecond}) },
		mon: monitor.Config{Checks: map[string]func() error{
			"sink": func() error { return nil },
		}},
	})
	code, rd := readyz(t, r)
	if code != 503 || len(rd.NotReady) != 1 || rd.NotReady[0].Check != "connection" || rd.NotReady[0].Conn != "binance#0" ||
		!strings.Contains(rd.NotReady[0].Detail, "never connected") {
		t.Fatalf("before the first connection: %d %+v", code, rd)
	}
	waitFor(t, 10*time.Second, "ready", func() bool { code, _ := readyz(t, r); return code == 200 })
	if r.scrape(t).v(t, "feedkeeper_conn_dial_errors_total") < 1 {
		t.Fatal("refused connection attempts not counted")
	}

	// a connection down and unable to come back
	waitFor(t, 5*time.Second, "the server to see the connection", func() bool { return len(s.Conns()) == 1 })
	s.Fire(sim.Fault{Kind: sim.FaultRefuse, Duration: 1500 * time.Millisecond})
	s.Fire(sim.Fault{Kind: sim.FaultDrop})
	waitFor(t, 5*time.Second, "not ready while down", func() bool {
		code, rd := readyz(t, r)
		return code == 503 && len(rd.NotReady) == 1 && rd.NotReady[0].Detail == "connecting"
	})
	waitFor(t, 10*time.Second, "ready again", func() bool { code, _ := readyz(t, r); return code == 200 })

	if code, body := r.get(t, "/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
}

func TestReadyzChecksBooksAndExtraChecks(t *testing.T) {
	s := startSim(t, sim.Config{})
	r := newRig(t, s, rigConfig{
		streams: []string{"btcusdt@aggTrade"},
		mon: monitor.Config{Books: 2, Checks: map[string]func() error{
			"sink": func() error { return errors.New("jetstream: no responders") },
		}},
	})
	r.waitMetric(t, 10*time.Second, "feedkeeper_conn_up", nil, "connected", atLeast(1))
	code, rd := readyz(t, r)
	if code != 503 || len(rd.NotReady) != 2 ||
		rd.NotReady[0] != (monitor.Problem{Check: "books", Detail: "0 of 2 order books in sync"}) ||
		rd.NotReady[1] != (monitor.Problem{Check: "sink", Detail: "jetstream: no responders"}) {
		t.Fatalf("%d %+v", code, rd)
	}
}

// sseEvent is one server-sent event.
type sseEvent struct{ name, data string }

func readEvent(t testing.TB, br *bufio.Reader) (sseEvent, error) {
	t.Helper()
	var ev sseEvent
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.data != "" {
				return ev, nil
			}
		case strings.HasPrefix(line, "event: "):
			ev.name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			ev.data = line[len("data: "):]
		}
	}
}

func TestEventsStream(t *testing.T) {
	m, err := monitor.New(monitor.Config{Addr: "127.0.0.1:0", Logger: quiet(), SampleInterval: 30 * time.Millisecond, History: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	time.Sleep(250 * time.Millisecond) // a full history
	c := newClient(t)
	c.Timeout = 0
	open := func(ctx context.Context) (*http.Response, *bufio.Reader) {
		req, _ := http.NewRequestWithContext(ctx, "GET", m.URL()+"events", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
			t.Fatalf("/events: %s %q", resp.Status, ct)
		}
		return resp, bufio.NewReader(resp.Body)
	}

	ctx, cancel := context.WithCancel(context.Background())
	resp, br := open(ctx)
	ev, err := readEvent(t, br)
	if err != nil {
		t.Fatal(err)
	}
	var init struct {
		History []struct{ T int64 } `json:"history"`
		Last    struct{ T int64 }   `json:"last"`
	}
	if err := json.Unmarshal([]byte(ev.data), &init); err != nil || ev.name != "init" || len(init.History) != 5 || init.Last.T == 0 {
		t.Fatalf("first event %q: %v %+v", ev.name, err, init)
	}
	var prev int64
	for range 3 {
		ev, err := readEvent(t, br)
		if err != nil {
			t.Fatal(err)
		}
		var snap struct {
			T     int64 `json:"t"`
			Ready bool  `json:"ready"`
			Point struct {
				T int64 `json:"t"`
			} `json:"point"`
			Process struct {
				Goroutines int64 `json:"goroutines"`
				Heap       int64 `json:"heap"`
			} `json:"process"`
		}
		if err := json.Unmarshal([]byte(ev.data), &snap); err != nil || ev.name != "" {
			t.Fatalf("event %q: %v", ev.name, err)
		}
		if snap.T <= prev || snap.Point.T != snap.T || snap.Process.Goroutines == 0 || snap.Process.Heap == 0 {
			t.Fatalf("snapshot %+v after %d", snap, prev)
		}
		prev = snap.T
	}
	// the client goes: the handler ends (goleak checks it)
	cancel()
	resp.Body.Close()

	// Close ends the streams still open
	resp, br = open(context.Background())
	defer resp.Body.Close()
	if _, err := readEvent(t, br); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		var err error
		for err == nil {
			_, err = readEvent(t, br)
		}
		done <- err
	}()
	start := time.Now()
	m.Close()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("the stream is still open after Close")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v with a stream open", d)
	}
}

func TestHistoryRanges(t *testing.T) {
	m, err := monitor.New(monitor.Config{Addr: "127.0.0.1:0", Logger: quiet(), SampleInterval: 20 * time.Millisecond, History: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := newClient(t)
	get := func(q string) (int, string) {
		t.Helper()
		resp, err := c.Get(m.URL() + "api/history" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		if _, err := bufio.NewReader(resp.Body).WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b.String()
	}
	type view struct {
		Range  string              `json:"range"`
		StepMS int64               `json:"step_ms"`
		Points []struct{ T int64 } `json:"points"`
	}
	read := func(q string) view {
		t.Helper()
		code, body := get(q)
		var v view
		if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil {
			t.Fatalf("%s: %d %q", q, code, body)
		}
		return v
	}
	waitFor(t, 5*time.Second, "25 samples", func() bool { return len(read("?range=1h").Points) >= 3 })
	for _, c := range []struct {
		q, rng string
		step   int64
		max    int
	}{{"", "5m", 20, 5}, {"?range=5m", "5m", 20, 5}, {"?range=1h", "1h", 200, 361}, {"?range=all", "all", 1200, 721}} {
		v := read(c.q)
		if v.Range != c.rng || v.StepMS != c.step || len(v.Points) == 0 || len(v.Points) > c.max {
			t.Errorf("%q: range %s, step %d ms, %d points", c.q, v.Range, v.StepMS, len(v.Points))
		}
	}
	if code, body := get("?range=1d"); code != 400 || !strings.Contains(body, `"1d"`) {
		t.Errorf("range=1d: %d %q", code, body)
	}
}
