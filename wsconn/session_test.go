package wsconn_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"go.uber.org/goleak"

	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func startSim(t testing.TB, cfg sim.Config) *sim.Server { return simtest.Start(t, cfg) }

// recorder collects what a session delivers.
type recorder struct {
	mu     sync.Mutex
	data   [][]byte
	events []wsconn.Frame // everything but data, Data cleared
	slow   time.Duration
	// inside counts the calls under way; overlaps, the calls that began
	// while another was under way (the session must never make one)
	inside, overlaps atomic.Int32
}

func (r *recorder) handle(f *wsconn.Frame) {
	if r.inside.Add(1) > 1 {
		r.overlaps.Add(1)
	}
	defer r.inside.Add(-1)
	r.mu.Lock()
	slow := r.slow
	r.mu.Unlock()
	if slow > 0 {
		time.Sleep(slow)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if f.Kind == wsconn.Data {
		r.data = append(r.data, bytes.Clone(f.Data))
		return
	}
	ev := *f
	ev.Data = nil
	r.events = append(r.events, ev)
}

func (r *recorder) count(kind wsconn.FrameKind) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if kind == wsconn.Data {
		return len(r.data)
	}
	n := 0
	for _, e := range r.events {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

func (r *recorder) disconnectErrs() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, e := range r.events {
		if e.Kind == wsconn.Disconnected {
			errs = append(errs, e.Err)
		}
	}
	return errs
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	simtest.WaitFor(t, d, what, cond)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testBudget lets the tests reconnect quickly: 1000 attempts a second, far
// above what a venue allows.
var testBudget = func() *wsconn.Budget {
	b, err := wsconn.NewBudget(wsconn.BudgetConfig{Limit: 1000, Window: time.Second, Burst: 100, Interval: time.Millisecond,
		Logger: quietLogger()})
	if err != nil {
		panic(err)
	}
	return b
}()

func baseConfig(s *sim.Server, path string) wsconn.Config {
	return wsconn.Config{
		URL:         s.WSURL() + path,
		TLS:         &tls.Config{RootCAs: s.CertPool(), ClientSessionCache: tls.NewLRUClientSessionCache(16)},
		BackoffMin:  10 * time.Millisecond,
		BackoffMax:  200 * time.Millisecond,
		Dials:       testBudget,
		MessageRate: 4,
		Logger:      quietLogger(),
	}
}

func open(t testing.TB, cfg wsconn.Config, r *recorder) *wsconn.Session {
	t.Helper()
	sess, err := wsconn.Open(cfg, r.handle)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess
}

func subscribe(streams ...string) func() [][]byte {
	return func() [][]byte {
		b, _ := json.Marshal(map[string]any{"method": "SUBSCRIBE", "params": streams, "id": 1})
		return [][]byte{b}
	}
}

func TestReceivesAndResubscribesAfterDrop(t *testing.T) {
	s := startSim(t, sim.Config{})
	var r recorder
	cfg := baseConfig(s, "/ws")
	cfg.Subscribe = subscribe("btcusdt@aggTrade")
	sess := open(t, cfg, &r)
	waitFor(t, 5*time.Second, "data", func() bool { return r.count(wsconn.Data) > 10 })
	if err := s.Fire(sim.Fault{Kind: sim.FaultDrop}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "reconnect", func() bool { return r.count(wsconn.Connected) >= 2 })
	before := r.count(wsconn.Data)
	waitFor(t, 5*time.Second, "data after reconnect", func() bool { return r.count(wsconn.Data) > before+10 })
	st := sess.Stats()
	if st.Connects < 2 || st.Reconnects < 1 {
		t.Fatalf("stats after a drop: %+v", st)
	}
	if st.Resumed < 1 {
		t.Fatalf("the reconnect did not resume the TLS session: %+v", st)
	}
	sess.Close()
	if sess.Status() != wsconn.StatusClosed {
		t.Fatalf("status after Close: %v", sess.Status())
	}
}

func TestCloseCodeIsReported(t *testing.T) {
	s := startSim(t, sim.Config{})
	var r recorder
	sess := open(t, baseConfig(s, "/ws/btcusdt@aggTrade"), &r)
	waitFor(t, 5*time.Second, "connect", func() bool { return r.count(wsconn.Connected) == 1 })
	simtest.WaitSubscribed(t, s, 1)
	s.Fire(sim.Fault{Kind: sim.FaultClose, Code: 1008, Reason: "Too many requests"})
	waitFor(t, 5*time.Second, "disconnect", func() bool { return r.count(wsconn.Disconnected) == 1 })
	var ce *wsconn.CloseError
	if err := r.disconnectErrs()[0]; !errors.As(err, &ce) || ce.Code != 1008 || ce.Text != "Too many requests" || !ce.Policy() {
		t.Fatalf("disconnect reason %v, want a 1008 CloseError", err)
	}
	waitFor(t, 5*time.Second, "reconnect", func() bool { return r.count(wsconn.Connected) == 2 })
	if sess.Stats().CloseCodes[1008] != 1 {
		t.Fatalf("close code not counted: %+v", sess.Stats())
	}
}

func TestStallIsDetected(t *testing.T) {
	s := startSim(t, sim.Config{})
	var r recorder
	cfg := baseConfig(s, "/ws/btcusdt@aggTrade")
	cfg.PingInterval = 200 * time.Millisecond
	cfg.StaleTimeout = time.Second
	sess := open(t, cfg, &r)
	waitFor(t, 5*time.Second, "connect", func() bool { return r.count(wsconn.Connected) == 1 })
	simtest.WaitSubscribed(t, s, 1)
	start := time.Now()
	s.Fire(sim.Fault{Kind: sim.FaultStall})
	waitFor(t, 5*time.Second, "stale", func() bool { return r.count(wsconn.Disconnected) == 1 })
	if d := time.Since(start); d > cfg.StaleTimeout+time.Second {
		t.Fatalf("stall detected after %v; stale timeout %v", d, cfg.StaleTimeout)
	}
	if err := r.disconnectErrs()[0]; !errors.Is(err, wsconn.ErrStale) {
		t.Fatalf("reason %v, want ErrStale", err)
	}
	waitFor(t, 5*time.Second, "reconnect", func() bool { return r.count(wsconn.Connected) == 2 })
	if sess.Stats().Stale != 1 {
		t.Fatalf("stale not counted: %+v", sess.Stats())
	}
}

func TestWithheldPongsOnQuietConnection(t *testing.T) {
	s := startSim(t, sim.Config{Rate: -1, PingInterval: time.Hour})
	var r recorder
	cfg := baseConfig(s, "/ws/btcusdt@aggTrade") // no market: no data
	cfg.PingInterval = 200 * time.Millisecond
	cfg.StaleTimeout = time.Second
	sess := open(t, cfg, &r)
	waitFor(t, 5*time.Second, "connect", func() bool { return r.count(wsconn.Connected) == 1 })
	time.Sleep(2 * cfg.StaleTimeout) // pongs alone keep a quiet connection alive
	if n := r.count(wsconn.Disconnected); n != 0 || sess.Stats().Pongs == 0 {
		t.Fatalf("quiet but answering connection dropped (%d) or no pongs: %+v", n, sess.Stats())
	}
	s.Fire(sim.Fault{Kind: sim.FaultNoPong})
	waitFor(t, 5*time.Second, "stale", func() bool { return r.count(wsconn.Disconnected) == 1 })
	if err := r.disconnectErrs()[0]; !errors.Is(err, wsconn.ErrStale) {
		t.Fatalf("reason %v, want ErrStale", err)
	}
}

func TestServerPingsAnsweredWhileConsumerIsSlow(t *testing.T) {
	s := startSim(t, sim.Config{PingInterval: 300 * time.Millisecond, PongTimeout: 600 * time.Millisecond})
	r := recorder{slow: 20 * time.Millisecond}
	sess := open(t, baseConfig(s, "/ws/btcusdt@aggTrade"), &r)
	time.Sleep(2500 * time.Millisecond)
	st := sess.Stats()
	if st.Pings < 5 || st.Reconnects != 0 || st.Connects != 1 {
		t.Fatalf("with a slow consumer: %+v; want ≥ 5 pings answered and no reconnect", st)
	}
}

func TestReaderDeliversItselfUntilTheHandlerIsSlow(t *testing.T) {
	s := startSim(t, sim.Config{Rate: 200, PingInterval: 300 * time.Millisecond, PongTimeout: 3 * time.Second})
	var r recorder
	cfg := baseConfig(s, "/ws/btcusdt@aggTrade")
	cfg.BlockTimeout = 2 * time.Second // the watch looks every 400 ms
	sess := open(t, cfg, &r)
	waitFor(t, 5*time.Second, "frames", func() bool { return r.count(wsconn.Data) >= 50 })
	st := sess.Stats()
	// a fast handler: nearly every frame handed over by the reader
	if st.Direct < st.Frames*9/10 {
		t.Fatalf("%d of %d frames handed over by the reader with a fast handler", st.Direct, st.Frames)
	}
	// a slow one: once it took over half the reader's time, the reader reads ahead
	// into the queue, answering the server's pings
	r.mu.Lock()
	r.slow = 100 * time.Millisecond
	r.mu.Unlock()
	direct, pings := st.Direct, st.Pings
	waitFor(t, 5*time.Second, "frames read ahead", func() bool { return sess.Stats().Queued >= 20 })
	time.Sleep(1500 * time.Millisecond)
	st = sess.Stats()
	if st.Direct > direct+2 || st.Pings < pings+3 || st.Reconnects != 0 || st.Connects != 1 {
		t.Fatalf("with a slow handler: %d more frames handed over by the reader (want ≤ 2), %d more pings answered (want ≥ 3): %+v",
			st.Direct-direct, st.Pings-pings, st)
	}
	if n := r.overlaps.Load(); n != 0 {
		t.Fatalf("the handler was called %d times while it ran", n)
	}
	r.mu.Lock()
	r.slow = 0 // Close hands over what is queued
	r.mu.Unlock()
}

func TestRareServerPingsKeepConnection(t *testing.T) {
	// the server pings every 3 minutes, not 20 s: liveness comes from data and our pings
	s := startSim(t, sim.Config{PingInterval: 3 * time.Minute, PongTimeout: 10 * time.Minute})
	var r recorder
	cfg := baseConfig(s, "/ws/btcusdt@aggTrade")
	cfg.PingInterval = 200 * time.Millisecond
	cfg.StaleTimeout = 700 * time.Millisecond
	sess := open(t, cfg, &r)
	time.Sleep(2 * time.Second)
	if st := sess.Stats(); st.Connects != 1 || st.Reconnects != 0 {
		t.Fatalf("healthy connection replaced: %+v", st)
	}
}

func TestOversizedFrameIsRefused(t *testing.T) {
	s := startSim(t, sim.Config{})
	var r recorder
	cfg := baseConfig(s, "/ws/btcusdt@aggTrade")
	cfg.ReadLimit = 64 << 10
	open(t, cfg, &r)
	waitFor(t, 5*time.Second, "connect", func() bool { return r.count(wsconn.Connected) == 1 })
	simtest.WaitSubscribed(t, s, 1)
	s.Fire(sim.Fault{Kind: sim.FaultOversize, Size: 4 << 20})
	waitFor(t, 5*time.Second, "disconnect", func() bool { return r.count(wsconn.Disconnected) == 1 })
	if err := r.disconnectErrs()[0]; !errors.Is(err, wsconn.ErrFrameTooLarge) {
		t.Fatalf("reason %v, want ErrFrameTooLarge", err)
	}
	waitFor(t, 5*time.Second, "reconnect", func() bool { return r.count(wsconn.Connected) == 2 })
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range r.data {
		if len(d) > int(cfg.ReadLimit) {
			t.Fatalf("a %d-byte frame was delivered", len(d))
		}
	}
}

func TestMalformedFramesPassThroughConnectionKept(t *testing.T) {
	s := startSim(t, sim.Config{})
	var r recorder
	sess := open(t, baseConfig(s, "/ws/btcusdt@aggTrade"), &r)
	waitFor(t, 5*time.Second, "connect", func() bool { return r.count(wsconn.Connected) == 1 })
	simtest.WaitSubscribed(t, s, 1)
	for _, v := range []string{"json", "truncated", "utf8", "binary"} {
		s.Fire(sim.Fault{Kind: sim.FaultMalformed, Variant: v})
	}
	waitFor(t, 5*time.Second, "the bad frames", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		bad := 0
		for _, d := range r.data {
			if !json.Valid(d) || !utf8.Valid(d) {
				bad++
			}
		}
		return bad >= 4
	})
	if st := sess.Stats(); st.Connects != 1 || st.Reconnects != 0 {
		t.Fatalf("malformed frames cost the connection: %+v", st)
	}
}

func TestTLSFailuresAreRefused(t *testing.T) {
	for _, kind := range []sim.FaultKind{sim.FaultTLSUnknownCA, sim.FaultTLSWrongHost} {
		t.Run(string(kind), func(t *testing.T) {
			s := startSim(t, sim.Config{Faults: []sim.Fault{{Kind: kind, Prob: 1}}})
			var r recorder
			cfg := baseConfig(s, "/ws/btcusdt@aggTrade")
			var logs bytes.Buffer
			var mu sync.Mutex
			cfg.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
			sess := open(t, cfg, &r)
			waitFor(t, 5*time.Second, "dial errors", func() bool { return sess.Stats().DialErrors >= 2 })
			if r.count(wsconn.Connected) != 0 {
				t.Fatal("connected despite a bad certificate")
			}
			mu.Lock()
			defer mu.Unlock()
			if !bytes.Contains(logs.Bytes(), []byte("TLS handshake")) || !bytes.Contains(logs.Bytes(), []byte("certificate")) {
				t.Fatalf("no clear TLS error in the logs:\n%s", logs.String())
			}
		})
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestHandshakeResetAndSlowAreRetried(t *testing.T) {
	s := startSim(t, sim.Config{})
	s.Fire(sim.Fault{Kind: sim.FaultTLSReset, Times: 2})
	var r recorder
	cfg := baseConfig(s, "/ws/btcusdt@aggTrade")
	sess := open(t, cfg, &r)
	waitFor(t, 5*time.Second, "connect after resets", func() bool { return r.count(wsconn.Connected) == 1 })
	if sess.Stats().DialErrors < 2 {
		t.Fatalf("resets not seen: %+v", sess.Stats())
	}
}

func TestRefusedConnectionsAreRetried(t *testing.T) {
	s := startSim(t, sim.Config{})
	var r recorder
	sess := open(t, baseConfig(s, "/ws/btcusdt@aggTrade"), &r)
	waitFor(t, 5*time.Second, "connect", func() bool { return r.count(wsconn.Connected) == 1 })
	simtest.WaitSubscribed(t, s, 1)
	s.Fire(sim.Fault{Kind: sim.FaultRefuse, Duration: 700 * time.Millisecond})
	s.Fire(sim.Fault{Kind: sim.FaultDrop})
	waitFor(t, 5*time.Second, "reconnect", func() bool { return r.count(wsconn.Connected) == 2 })
	if sess.Stats().DialErrors == 0 {
		t.Fatalf("no refused attempt counted: %+v", sess.Stats())
	}
}

func TestDropPolicyMarksGaps(t *testing.T) {
	s := startSim(t, sim.Config{Rate: -1})
	r := recorder{slow: 2 * time.Millisecond}
	cfg := baseConfig(s, "/ws/btcusdt@aggTrade")
	cfg.Slow = wsconn.Drop
	cfg.QueueFrames = 16
	sess := open(t, cfg, &r)
	waitFor(t, 5*time.Second, "connect", func() bool { return r.count(wsconn.Connected) == 1 })
	simtest.WaitSubscribed(t, s, 1)
	s.Fire(sim.Fault{Kind: sim.FaultBurst, Count: 3000})
	waitFor(t, 10*time.Second, "a gap", func() bool { return r.count(wsconn.Gap) > 0 })
	st := sess.Stats()
	r.mu.Lock()
	var marked int64
	for _, e := range r.events {
		if e.Kind == wsconn.Gap {
			marked += e.Dropped
		}
	}
	r.mu.Unlock()
	if st.Dropped == 0 || marked == 0 || marked > st.Dropped {
		t.Fatalf("dropped %d, gap frames say %d", st.Dropped, marked)
	}
	if st.Reconnects != 0 {
		t.Fatalf("Drop policy reconnected: %+v", st)
	}
}

func TestBlockPolicyGivesUpAndReconnects(t *testing.T) {
	s := startSim(t, sim.Config{Rate: -1})
	var gate sync.Mutex
	gate.Lock()
	var r recorder
	handler := func(f *wsconn.Frame) {
		if f.Kind == wsconn.Data {
			gate.Lock() // a consumer stuck until released
			gate.Unlock()
		}
		r.handle(f)
	}
	cfg := baseConfig(s, "/ws/btcusdt@aggTrade")
	cfg.QueueFrames = 16
	cfg.BlockTimeout = 300 * time.Millisecond
	sess, err := wsconn.Open(cfg, handler)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	waitFor(t, 5*time.Second, "connect", func() bool { return sess.Stats().Connects == 1 })
	s.Advance(3000)
	waitFor(t, 5*time.Second, "slow disconnect", func() bool { return sess.Stats().SlowDisconnects == 1 })
	gate.Unlock()
	waitFor(t, 5*time.Second, "reconnect", func() bool { return sess.Stats().Connects >= 2 })
	// the consumer gets the disconnect after the frames queued before it
	waitFor(t, 5*time.Second, "ErrTooSlow handed to the consumer", func() bool {
		return slices.ContainsFunc(r.disconnectErrs(), func(err error) bool { return errors.Is(err, wsconn.ErrTooSlow) })
	})
}

func TestConfigErrors(t *testing.T) {
	bad := []wsconn.Config{
		{URL: "https://example.com"},
		{URL: "wss://"},
		{URL: "wss://x/ws", TLS: &tls.Config{InsecureSkipVerify: true}},
		{URL: "wss://x/ws", PingInterval: time.Second, StaleTimeout: time.Second},
		{URL: "wss://x/ws", BackoffMin: time.Second, BackoffMax: time.Millisecond},
		{URL: "wss://x/ws", Lifetime: time.Second, RotateBefore: 2 * time.Second},
	}
	for _, cfg := range bad {
		if _, err := wsconn.Open(cfg, func(*wsconn.Frame) {}); err == nil {
			t.Errorf("Open(%+v) accepted", cfg)
		}
	}
}

// aggTradeIDs returns the aggregate trade IDs in the recorded frames.
func (r *recorder) aggTradeIDs(t testing.TB) []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []int64
	for _, d := range r.data {
		var ev map[string]json.RawMessage // keys are case-sensitive: "e" and "E" differ
		if json.Unmarshal(d, &ev) != nil || string(ev["e"]) != `"aggTrade"` {
			continue
		}
		var id int64
		if err := json.Unmarshal(ev["a"], &id); err != nil {
			t.Fatalf("bad aggTrade %s", d)
		}
		ids = append(ids, id)
	}
	return ids
}

// checkNoMissingID reads the IDs in delivery order as a consumer that drops
// what it has already seen would, and fails on any ID skipped.
func checkNoMissingID(t testing.TB, ids []int64) {
	t.Helper()
	if len(ids) == 0 {
		t.Fatal("no trades")
	}
	last, dups := ids[0], 0
	for _, id := range ids[1:] {
		switch {
		case id <= last:
			dups++
		case id == last+1:
			last = id
		default:
			t.Fatalf("trades %d..%d missing: %d after %d", last+1, id-1, id, last)
		}
	}
	t.Logf("%d trades in order, %d repeated across connections", len(ids)-dups, dups)
}

func TestRotationBeforeLifetimeLosesNothing(t *testing.T) {
	s := startSim(t, sim.Config{MaxLifetime: 1500 * time.Millisecond})
	var r recorder
	cfg := baseConfig(s, "/ws/btcusdt@aggTrade")
	cfg.Lifetime = 1500 * time.Millisecond
	cfg.RotateBefore = 600 * time.Millisecond
	sess := open(t, cfg, &r)
	waitFor(t, 15*time.Second, "4 rotations", func() bool { return sess.Stats().Rotations >= 4 })
	sess.Close()
	for _, err := range r.disconnectErrs() {
		if !errors.Is(err, wsconn.ErrRotated) && !errors.Is(err, wsconn.ErrClosed) {
			t.Fatalf("a connection ended by %v, not by rotation", err)
		}
	}
	checkNoMissingID(t, r.aggTradeIDs(t))
	if n := r.overlaps.Load(); n != 0 {
		t.Fatalf("the handler was called %d times while it ran", n)
	}
}

func TestServerShutdownRotatesAtOnce(t *testing.T) {
	s := startSim(t, sim.Config{})
	var r recorder
	cfg := baseConfig(s, "/ws/btcusdt@aggTrade")
	cfg.IsShutdown = func(b []byte) bool { return bytes.Contains(b, []byte(`"e":"serverShutdown"`)) }
	sess := open(t, cfg, &r)
	waitFor(t, 5*time.Second, "connect", func() bool { return r.count(wsconn.Connected) == 1 })
	simtest.WaitSubscribed(t, s, 1)
	s.Fire(sim.Fault{Kind: sim.FaultShutdown, Duration: 3 * time.Second})
	waitFor(t, 4*time.Second, "rotation", func() bool { return sess.Stats().Rotations == 1 })
	time.Sleep(200 * time.Millisecond)
	sess.Close()
	errs := r.disconnectErrs()
	if len(errs) == 0 || !errors.Is(errs[0], wsconn.ErrServerShutdown) {
		t.Fatalf("first disconnect %v, want ErrServerShutdown", errs)
	}
	checkNoMissingID(t, r.aggTradeIDs(t))
}

// connectProxy is a minimal HTTP CONNECT proxy on loopback that counts
// the tunnels it opened.
type connectProxy struct {
	ln      net.Listener
	tunnels atomic.Int32
	wg      sync.WaitGroup
}

func startProxy(t *testing.T) *connectProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &connectProxy{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.wg.Wait()
	})
	return p
}

func (p *connectProxy) serve(c net.Conn) {
	defer c.Close()
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err != nil || req.Method != http.MethodConnect {
		return
	}
	up, err := net.Dial("tcp", req.Host)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
		return
	}
	defer up.Close()
	p.tunnels.Add(1)
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
}

func TestThroughProxy(t *testing.T) {
	s := startSim(t, sim.Config{})
	p := startProxy(t)
	var r recorder
	cfg := baseConfig(s, "/ws/btcusdt@aggTrade")
	proxyURL, _ := url.Parse("http://" + p.ln.Addr().String())
	cfg.Proxy = http.ProxyURL(proxyURL) // HTTPS_PROXY never applies to loopback; the same hook reads it
	sess := open(t, cfg, &r)
	waitFor(t, 5*time.Second, "data through the proxy", func() bool { return r.count(wsconn.Data) > 5 })
	if p.tunnels.Load() != 1 {
		t.Fatalf("%d tunnels through the proxy", p.tunnels.Load())
	}
	sess.Close()
}

// TestPolicyCloseSlowsTheRetry: after a 1008 (the venue says we sent too
// much) the reconnect waits at least PolicyBackoff, where another close
// (1011) is retried at once.
func TestPolicyCloseSlowsTheRetry(t *testing.T) {
	s := startSim(t, sim.Config{})
	var r recorder
	cfg := baseConfig(s, "/ws/btcusdt@aggTrade")
	cfg.BackoffMin, cfg.BackoffMax, cfg.PolicyBackoff = 5*time.Millisecond, 5*time.Second, 700*time.Millisecond
	cfg.StableAfter = 50 * time.Millisecond
	sess := open(t, cfg, &r)
	waitFor(t, 5*time.Second, "connect", func() bool { return r.count(wsconn.Connected) == 1 })
	retry := func(code int, n int) time.Duration {
		t.Helper()
		simtest.WaitSubscribed(t, s, 1)
		time.Sleep(100 * time.Millisecond) // stable: the backoff starts again from its first step
		start := time.Now()
		s.Fire(sim.Fault{Kind: sim.FaultClose, Code: code})
		waitFor(t, 5*time.Second, "reconnect", func() bool { return r.count(wsconn.Connected) == n })
		return time.Since(start)
	}
	if d := retry(1011, 2); d > 500*time.Millisecond {
		t.Fatalf("reconnect after 1011 took %v", d)
	}
	if d := retry(1008, 3); d < 700*time.Millisecond {
		t.Fatalf("reconnect after 1008 took %v, want at least PolicyBackoff", d)
	}
	sess.Close()
}
