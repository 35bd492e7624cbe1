package sim

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// startSim starts a simulator for one test and closes it at the end.
func startSim(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Symbols == nil {
		cfg.Symbols = []string{"BTCUSDT", "ETHUSDT"}
	}
	if cfg.Levels == 0 {
		cfg.Levels = 100
	}
	if cfg.Rate == 0 {
		cfg.Rate = 2000
	}
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func dialer(s *Server) *websocket.Dialer {
	return &websocket.Dialer{
		TLSClientConfig:  &tls.Config{RootCAs: s.CertPool()},
		HandshakeTimeout: 5 * time.Second,
	}
}

func dial(t testing.TB, s *Server, path string) *websocket.Conn {
	t.Helper()
	c, resp, err := dialer(s).Dial(s.WSURL()+path, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	resp.Body.Close()
	t.Cleanup(func() { c.Close() })
	return c
}

// readJSON reads the next text frame into v, failing the test after d.
func readJSON(t testing.TB, c *websocket.Conn, d time.Duration, v any) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	_, msg, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := json.Unmarshal(msg, v); err != nil {
		t.Fatalf("decode %s: %v", msg, err)
	}
}

// readUntil reads frames until one decodes into a map for which ok is true.
func readUntil(t testing.TB, c *websocket.Conn, d time.Duration, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		c.SetReadDeadline(deadline)
		_, msg, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var m map[string]any
		if json.Unmarshal(msg, &m) == nil && ok(m) {
			return m
		}
	}
}

func request(t testing.TB, c *websocket.Conn, req string) map[string]any {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(req)); err != nil {
		t.Fatal(err)
	}
	return readUntil(t, c, 5*time.Second, func(m map[string]any) bool {
		_, r := m["result"]
		_, e := m["error"]
		return r || e
	})
}

func TestRawStream(t *testing.T) {
	s := startSim(t, Config{})
	c := dial(t, s, "/ws/btcusdt@aggTrade")
	var last int64
	for i := 0; i < 50; i++ {
		var ev struct {
			E  string `json:"e"`
			S  string `json:"s"`
			A  int64  `json:"a"`
			P  string `json:"p"`
			Q  string `json:"q"`
			Em int64  `json:"E"`
		}
		readJSON(t, c, 5*time.Second, &ev)
		if ev.E != "aggTrade" || ev.S != "BTCUSDT" || ev.P == "" || ev.Q == "" || ev.Em == 0 {
			t.Fatalf("unexpected event %+v", ev)
		}
		if last != 0 && ev.A != last+1 {
			t.Fatalf("aggTrade IDs not contiguous: %d after %d", ev.A, last)
		}
		last = ev.A
	}
}

func TestCombinedStreamAndMicroseconds(t *testing.T) {
	s := startSim(t, Config{})
	c := dial(t, s, "/stream?streams=btcusdt@aggTrade/ethusdt@bookTicker&timeUnit=MICROSECOND")
	seen := map[string]bool{}
	for len(seen) < 2 {
		var w struct {
			Stream string          `json:"stream"`
			Data   json.RawMessage `json:"data"`
		}
		readJSON(t, c, 5*time.Second, &w)
		seen[w.Stream] = true
		switch w.Stream {
		case "btcusdt@aggTrade":
			var ev map[string]json.RawMessage
			if err := json.Unmarshal(w.Data, &ev); err != nil {
				t.Fatal(err)
			}
			var e int64
			json.Unmarshal(ev["E"], &e)
			if now := time.Now().UnixMicro(); e < now-10e6 || e > now+10e6 {
				t.Fatalf("event time %d is not in microseconds (now %d)", e, now)
			}
		case "ethusdt@bookTicker":
			var ev map[string]any
			json.Unmarshal(w.Data, &ev)
			if ev["s"] != "ETHUSDT" || ev["b"] == nil || ev["A"] == nil {
				t.Fatalf("bad bookTicker %s", w.Data)
			}
		default:
			t.Fatalf("unexpected stream %q", w.Stream)
		}
	}
}

func TestSubscriptionRequests(t *testing.T) {
	s := startSim(t, Config{})
	c := dial(t, s, "/ws")
	if r := request(t, c, `{"method":"SUBSCRIBE","params":["btcusdt@aggTrade","ethusdt@trade"],"id":1}`); r["result"] != nil || r["id"] != 1.0 {
		t.Fatalf("subscribe: %v", r)
	}
	if r := request(t, c, `{"method":"LIST_SUBSCRIPTIONS","id":"abc"}`); fmt.Sprint(r["result"]) != "[btcusdt@aggTrade ethusdt@trade]" || r["id"] != "abc" {
		t.Fatalf("list: %v", r)
	}
	readUntil(t, c, 5*time.Second, func(m map[string]any) bool { return m["e"] == "aggTrade" })
	if r := request(t, c, `{"method":"GET_PROPERTY","params":["combined"],"id":2}`); r["result"] != false {
		t.Fatalf("get_property: %v", r)
	}
	time.Sleep(time.Second) // stay under 5 messages a second
	if r := request(t, c, `{"method":"SET_PROPERTY","params":["combined",true],"id":3}`); r["result"] != nil || r["id"] != 3.0 {
		t.Fatalf("set_property: %v", r)
	}
	readUntil(t, c, 5*time.Second, func(m map[string]any) bool { return m["stream"] == "ethusdt@trade" && m["data"] != nil })
	if r := request(t, c, `{"method":"UNSUBSCRIBE","params":["ethusdt@trade"],"id":null}`); r["result"] != nil || r["id"] != nil {
		t.Fatalf("unsubscribe: %v", r)
	}
	if r := request(t, c, `{"method":"LIST_SUBSCRIPTIONS","id":4}`); fmt.Sprint(r["result"]) != "[btcusdt@aggTrade]" {
		t.Fatalf("list after unsubscribe: %v", r)
	}
}

func TestRequestErrors(t *testing.T) {
	s := startSim(t, Config{MaxIncoming: 1000})
	c := dial(t, s, "/ws")
	cases := []struct {
		req  string
		code float64
		id   any
		msg  string
	}{
		{`{"method":"SUBSCRIBE","params":["btcusdt@aggTrade"],"id":1`, 3, nil, "Invalid JSON"},
		{`not json`, 3, nil, "Invalid JSON: expected value at line 1 column"},
		{`{"method":"SUBSCRIBEE","params":[],"id":7}`, 2, 7.0, "unknown variant `SUBSCRIBEE`"},
		{`{"params":[],"id":8}`, 2, 8.0, "missing field `method`"},
		{`{"method":"SUBSCRIBE","params":[],"id":1.5}`, 2, nil, "request ID"},
		{`{"method":"SUBSCRIBE","params":[],"id":"this-has-dashes"}`, 2, nil, "request ID"},
		{`{"method":"SUBSCRIBE","params":[],"id":"0123456789012345678901234567890123456"}`, 2, nil, "request ID"},
		{`{"method":"SUBSCRIBE","params":[1,2],"id":9}`, 2, 9.0, "Invalid request"},
		{`{"method":"SET_PROPERTY","params":["combined","yes"],"id":10}`, 1, 10.0, "Invalid value type: expected Boolean"},
		{`{"method":"SET_PROPERTY","params":["compressed",true],"id":11}`, 0, 11.0, "Unknown property"},
		{`{"method":"SET_PROPERTY","params":[5,true],"id":12}`, 2, 12.0, "property name must be a string"},
		{`{"method":"GET_PROPERTY","params":["combined",true],"id":13}`, 2, 13.0, "too many parameters"},
		{`[1,2,3]`, 2, nil, "Invalid request"},
	}
	for _, tc := range cases {
		r := request(t, c, tc.req)
		e, _ := r["error"].(map[string]any)
		if e == nil || e["code"] != tc.code || r["id"] != tc.id || !strings.Contains(fmt.Sprint(e["msg"]), tc.msg) {
			t.Errorf("%s: got %v, want code %v id %v msg ~%q", tc.req, r, tc.code, tc.id, tc.msg)
		}
	}
	// the connection is still usable after all that
	if r := request(t, c, `{"method":"LIST_SUBSCRIPTIONS","id":99}`); r["id"] != 99.0 {
		t.Fatalf("connection unusable after bad requests: %v", r)
	}
}

func TestTooManyIncomingMessages(t *testing.T) {
	s := startSim(t, Config{})
	c := dial(t, s, "/ws")
	for i := 0; i < 6; i++ {
		c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"method":"LIST_SUBSCRIPTIONS","id":%d}`, i)))
	}
	err := readUntilError(c, 5*time.Second)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 1008 {
		t.Fatalf("want close 1008, got %v", err)
	}
}

// readUntilError reads until the connection fails and returns the error.
func readUntilError(c *websocket.Conn, d time.Duration) error {
	c.SetReadDeadline(time.Now().Add(d))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			return err
		}
	}
}

func TestStreamLimit(t *testing.T) {
	s := startSim(t, Config{})
	names := make([]string, 1025)
	for i := range names {
		names[i] = fmt.Sprintf("sym%d@aggTrade", i)
	}
	params, _ := json.Marshal(names)
	c := dial(t, s, "/ws")
	r := request(t, c, `{"method":"SUBSCRIBE","params":`+string(params)+`,"id":1}`)
	if e, _ := r["error"].(map[string]any); e == nil || e["code"] != 4.0 {
		t.Fatalf("1025 streams: got %v, want error code 4", r)
	}
	params, _ = json.Marshal(names[:1024])
	if r := request(t, c, `{"method":"SUBSCRIBE","params":`+string(params)+`,"id":2}`); r["error"] != nil {
		t.Fatalf("1024 streams refused: %v", r)
	}
	_, resp, err := dialer(s).Dial(s.WSURL()+"/stream?streams="+strings.Join(names, "/"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("1025 streams in the URL: err %v resp %v, want HTTP 400", err, resp)
	}
}

func TestServerPingAndPongTimeout(t *testing.T) {
	s := startSim(t, Config{PingInterval: 250 * time.Millisecond, PongTimeout: 500 * time.Millisecond}) // pongs count towards 5 messages a second
	// gorilla answers pings with the same payload while reading: kept alive
	good := dial(t, s, "/ws/btcusdt@aggTrade")
	var pings atomic.Int32
	good.SetPingHandler(func(p string) error {
		pings.Add(1)
		return good.WriteControl(websocket.PongMessage, []byte(p), time.Now().Add(time.Second))
	})
	goodErr := make(chan error, 1)
	go func() {
		good.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
		goodErr <- readUntilError(good, 1500*time.Millisecond)
	}()
	// a client that never answers is dropped
	bad := dial(t, s, "/ws/btcusdt@aggTrade")
	bad.SetPingHandler(func(string) error { return nil })
	start := time.Now()
	err := readUntilError(bad, 5*time.Second)
	if time.Since(start) > 2*time.Second || isTimeout(err) {
		t.Fatalf("silent client not dropped in time: %v after %v", err, time.Since(start))
	}
	if err := <-goodErr; !isTimeout(err) {
		t.Fatalf("answering client dropped: %v", err)
	}
	if pings.Load() < 4 {
		t.Fatalf("only %d pings in 1.5 s at a 250 ms interval", pings.Load())
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestConnectionLifetime(t *testing.T) {
	s := startSim(t, Config{MaxLifetime: 500 * time.Millisecond})
	c := dial(t, s, "/ws/btcusdt@aggTrade")
	start := time.Now()
	err := readUntilError(c, 5*time.Second)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 1001 {
		t.Fatalf("want close 1001, got %v", err)
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > 2*time.Second {
		t.Fatalf("closed after %v, lifetime 500ms", d)
	}
}

func TestOversizedClientFrame(t *testing.T) {
	s := startSim(t, Config{MaxFrame: 1024})
	c := dial(t, s, "/ws")
	c.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("x"), 4096))
	err := readUntilError(c, 5*time.Second)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 1009 {
		t.Fatalf("want close 1009, got %v", err)
	}
}

func TestClientCloseHandshake(t *testing.T) {
	s := startSim(t, Config{})
	c := dial(t, s, "/ws/btcusdt@aggTrade")
	c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "bye"), time.Now().Add(time.Second))
	err := readUntilError(c, 5*time.Second)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 1000 {
		t.Fatalf("want the close echoed with 1000, got %v", err)
	}
	waitFor(t, 3*time.Second, func() bool { return len(s.Conns()) == 0 })
}

func waitFor(t testing.TB, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTLSOnly(t *testing.T) {
	s := startSim(t, Config{})
	// plain HTTP on the TLS port gets no API answer
	resp, err := http.Get("http://" + s.Addr() + "/api/v3/ping")
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatalf("plain HTTP served: %s", body)
		}
	}
	// the system roots do not trust the simulator
	if _, _, err := (&websocket.Dialer{}).Dial(s.WSURL()+"/ws", nil); err == nil {
		t.Fatal("connected without trusting the simulator's CA")
	}
	// its own CA does, for 127.0.0.1 and localhost
	for _, host := range []string{"127.0.0.1", "localhost"} {
		_, port, _ := net.SplitHostPort(s.Addr())
		c, _, err := dialer(s).Dial("wss://"+net.JoinHostPort(host, port)+"/ws", nil)
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		c.Close()
	}
}

func TestAdminEndpoints(t *testing.T) {
	s := startSim(t, Config{})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CertPool()}}}
	defer client.CloseIdleConnections()
	do := func(method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, s.RESTURL()+path, strings.NewReader(body))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if code, m := do("PUT", "/sim/faults", `[{"kind":"drop","every":"10s"},{"kind":"depth-drop","p":0.5}]`); code != 200 || len(m["faults"].([]any)) != 2 {
		t.Fatalf("PUT: %d %v", code, m)
	}
	if code, m := do("POST", "/sim/faults", `{"kind":"close","code":1008,"times":1}`); code != 200 || len(m["faults"].([]any)) != 3 {
		t.Fatalf("POST: %d %v", code, m)
	}
	if code, m := do("POST", "/sim/faults", `{"kind":"nonsense","p":1}`); code != 400 || !strings.Contains(fmt.Sprint(m["error"]), "unknown fault") {
		t.Fatalf("bad fault accepted: %d %v", code, m)
	}
	if code, m := do("POST", "/sim/faults", `{"kind":"drop","p":1,"every":"1s"}`); code != 400 {
		t.Fatalf("ambiguous fault accepted: %d %v", code, m)
	}
	if code, _ := do("DELETE", "/sim/faults", ""); code != 200 || len(s.Faults()) != 0 {
		t.Fatalf("DELETE left %v", s.Faults())
	}
	c := dial(t, s, "/ws/btcusdt@aggTrade")
	waitFor(t, 3*time.Second, func() bool { return len(s.Conns()) == 1 })
	if code, m := do("POST", "/sim/fire", `{"kind":"close","code":1011,"reason":"boom"}`); code != 200 {
		t.Fatalf("fire: %d %v", code, m)
	}
	err := readUntilError(c, 5*time.Second)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 1011 || ce.Text != "boom" {
		t.Fatalf("want close 1011 boom, got %v", err)
	}
	if code, m := do("GET", "/sim/conns", ""); code != 200 || m["conns"] == nil {
		t.Fatalf("conns: %d %v", code, m)
	}
}

func TestCloseReleasesEverything(t *testing.T) {
	s, err := Start(Config{Symbols: []string{"BTCUSDT"}, Levels: 50, Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var conns []*websocket.Conn
	for i := 0; i < 20; i++ {
		c, _, err := dialer(s).Dial(s.WSURL()+"/ws/btcusdt@aggTrade", nil)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	for _, c := range conns {
		if err := readUntilError(c, 5*time.Second); isTimeout(err) {
			t.Fatal("a connection survived Close")
		}
		c.Close()
	}
	s.Close() // twice is fine
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.Addr()); err == nil {
		t.Fatal("still listening after Close")
	}
}
