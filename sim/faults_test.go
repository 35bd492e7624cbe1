package sim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestParseFault(t *testing.T) {
	good := map[string]Fault{
		"drop:every=10s":                      {Kind: FaultDrop, Every: 10 * time.Second},
		"depth-drop:p=0.01":                   {Kind: FaultDepthDrop, Prob: 0.01},
		"close:code=1008,reason=slow,times=2": {Kind: FaultClose, Code: 1008, Reason: "slow", Times: 2},
		"stall:duration=3s,p=0.1":             {Kind: FaultStall, Duration: 3 * time.Second, Prob: 0.1},
	}
	for s, want := range good {
		got, err := ParseFault(s)
		if err != nil || got != want {
			t.Errorf("ParseFault(%q) = %+v, %v; want %+v", s, got, err, want)
		}
		back, err := ParseFault(got.String())
		if err != nil || back != got {
			t.Errorf("round trip of %q through %q: %+v, %v", s, got.String(), back, err)
		}
		j, _ := json.Marshal(got)
		var fromJSON Fault
		if err := json.Unmarshal(j, &fromJSON); err != nil || fromJSON != got {
			t.Errorf("JSON round trip of %s: %+v, %v", j, fromJSON, err)
		}
	}
	for _, s := range []string{"", "nope:p=1", "drop", "drop:p=2", "drop:p=0.1,every=1s", "drop:every=soon",
		"close:code=1006,times=1", "rest-5xx:code=404,times=1", "malformed:variant=xml,times=1", "drop:colour=red"} {
		if _, err := ParseFault(s); err == nil {
			t.Errorf("ParseFault(%q) accepted", s)
		}
	}
}

func fire(t testing.TB, s *Server, f Fault) {
	t.Helper()
	waitFor(t, 3*time.Second, func() bool { return len(s.Conns()) > 0 })
	if err := s.Fire(f); err != nil {
		t.Fatal(err)
	}
}

func TestFaultDropIsAbrupt(t *testing.T) {
	s := startSim(t, Config{})
	c := dial(t, s, "/ws/btcusdt@aggTrade")
	fire(t, s, Fault{Kind: FaultDrop})
	err := readUntilError(c, 5*time.Second)
	var ce *websocket.CloseError
	if isTimeout(err) || (errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure) {
		t.Fatalf("want an abrupt close (no close frame), got %v", err)
	}
}

func TestFaultCloseCodes(t *testing.T) {
	s := startSim(t, Config{})
	for _, code := range []int{1000, 1001, 1008, 1011} {
		c := dial(t, s, "/ws/btcusdt@aggTrade")
		fire(t, s, Fault{Kind: FaultClose, Code: code, Reason: "fault"})
		err := readUntilError(c, 5*time.Second)
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code || ce.Text != "fault" {
			t.Fatalf("want close %d, got %v", code, err)
		}
		waitFor(t, 3*time.Second, func() bool { return len(s.Conns()) == 0 })
	}
}

func TestFaultScheduledDisconnects(t *testing.T) {
	s := startSim(t, Config{Faults: []Fault{{Kind: FaultClose, Code: 1001, Every: 300 * time.Millisecond}}})
	for i := 0; i < 3; i++ {
		c := dial(t, s, "/ws/btcusdt@aggTrade")
		start := time.Now()
		err := readUntilError(c, 5*time.Second)
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != 1001 {
			t.Fatalf("want close 1001, got %v", err)
		}
		if d := time.Since(start); d < 200*time.Millisecond || d > 1500*time.Millisecond {
			t.Fatalf("closed after %v, schedule every 300ms", d)
		}
	}
	if n := s.FaultCounts()[FaultClose]; n < 3 {
		t.Fatalf("fault counted %d times", n)
	}
}

func TestFaultStall(t *testing.T) {
	s := startSim(t, Config{})
	c := dial(t, s, "/ws/btcusdt@aggTrade")
	readUntil(t, c, 5*time.Second, func(m map[string]any) bool { return m["e"] == "aggTrade" })
	fire(t, s, Fault{Kind: FaultStall, Duration: 1500 * time.Millisecond})
	time.Sleep(200 * time.Millisecond) // let frames already on the wire arrive
	var pongs int
	c.SetPongHandler(func(string) error { pongs++; return nil })
	c.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second))
	drainUntil(c, time.Now().Add(300*time.Millisecond))
	c.SetReadDeadline(time.Now().Add(800 * time.Millisecond))
	if _, msg, err := c.ReadMessage(); !isTimeout(err) {
		t.Fatalf("data during a stall: %s %v", msg, err)
	}
	if pongs != 0 {
		t.Fatal("pong during a stall")
	}
	// the stall ends by itself; a gorilla conn is unusable after a timeout,
	// so check with a new connection that the server streams again
	c2 := dial(t, s, "/ws/btcusdt@aggTrade")
	readUntil(t, c2, 5*time.Second, func(m map[string]any) bool { return m["e"] == "aggTrade" })
}

// drainUntil reads and discards frames until the deadline.
func drainUntil(c *websocket.Conn, deadline time.Time) {
	c.SetReadDeadline(deadline)
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			return
		}
	}
}

func TestFaultNoPong(t *testing.T) {
	s := startSim(t, Config{})
	c := dial(t, s, "/ws/btcusdt@aggTrade")
	fire(t, s, Fault{Kind: FaultNoPong})
	time.Sleep(100 * time.Millisecond)
	pongs, frames := 0, 0
	c.SetPongHandler(func(string) error { pongs++; return nil })
	c.WriteControl(websocket.PingMessage, []byte("1"), time.Now().Add(time.Second))
	c.SetReadDeadline(time.Now().Add(700 * time.Millisecond))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			break
		}
		frames++
	}
	if pongs != 0 || frames == 0 {
		t.Fatalf("nopong: %d pongs, %d data frames; want 0 pongs and data flowing", pongs, frames)
	}
}

func TestFaultMalformedFrames(t *testing.T) {
	s := startSim(t, Config{})
	c := dial(t, s, "/ws/btcusdt@aggTrade")
	for _, variant := range []string{"json", "truncated", "utf8", "binary"} {
		fire(t, s, Fault{Kind: FaultMalformed, Variant: variant})
		found := false
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for !found {
			typ, msg, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("%s: %v", variant, err)
			}
			switch variant {
			case "binary":
				found = typ == websocket.BinaryMessage
			case "utf8":
				found = strings.Contains(string(msg), "\xff")
			default:
				found = !json.Valid(msg)
			}
		}
	}
	// the connection carries on
	readUntil(t, c, 5*time.Second, func(m map[string]any) bool { return m["e"] == "aggTrade" })
}

func TestFaultOversizeFrame(t *testing.T) {
	s := startSim(t, Config{})
	c := dial(t, s, "/ws/btcusdt@aggTrade")
	c.SetReadLimit(64 << 10)
	fire(t, s, Fault{Kind: FaultOversize, Size: 1 << 20})
	err := readUntilError(c, 5*time.Second)
	if !errors.Is(err, websocket.ErrReadLimit) {
		t.Fatalf("want the read limit to refuse the frame, got %v", err)
	}
}

func TestFaultServerShutdown(t *testing.T) {
	s := startSim(t, Config{})
	c := dial(t, s, "/stream?streams=btcusdt@aggTrade")
	fire(t, s, Fault{Kind: FaultShutdown, Duration: 300 * time.Millisecond})
	m := readUntil(t, c, 5*time.Second, func(m map[string]any) bool { return m["stream"] == "!serverShutdown" })
	if d, _ := m["data"].(map[string]any); d["e"] != "serverShutdown" || d["E"] == nil {
		t.Fatalf("bad serverShutdown event %v", m)
	}
	err := readUntilError(c, 5*time.Second)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 1001 {
		t.Fatalf("want close 1001 after serverShutdown, got %v", err)
	}
}

func TestFaultTradeGap(t *testing.T) {
	s := startSim(t, Config{Faults: []Fault{{Kind: FaultTradeGap, Prob: 0.2}}})
	c := dial(t, s, "/ws/btcusdt@aggTrade")
	var last int64
	gaps := 0
	for i := 0; i < 200; i++ {
		var ev struct{ A int64 }
		readJSON(t, c, 5*time.Second, &ev)
		if last != 0 && ev.A != last+1 {
			if ev.A <= last {
				t.Fatalf("ID went backwards: %d after %d", ev.A, last)
			}
			gaps++
		}
		last = ev.A
	}
	if gaps == 0 {
		t.Fatal("no gap in 200 trades at p=0.2")
	}
	st := s.Conns()[0].Streams["btcusdt@aggTrade"]
	if st.Skipped == 0 {
		t.Fatalf("ground truth counts no skipped trade: %+v", st)
	}
}

func TestFaultDepthSequence(t *testing.T) {
	for _, kind := range []FaultKind{FaultDepthDrop, FaultDepthDup, FaultDepthReorder} {
		t.Run(string(kind), func(t *testing.T) {
			s := startSim(t, Config{Faults: []Fault{{Kind: kind, Prob: 0.3}}})
			c := dial(t, s, "/ws/btcusdt@depth@100ms")
			var prevU int64
			broken := 0
			for i := 0; i < 40; i++ {
				var ev struct{ U, Uu int64 }
				var raw map[string]json.RawMessage
				readJSON(t, c, 5*time.Second, &raw)
				json.Unmarshal(raw["U"], &ev.U)
				json.Unmarshal(raw["u"], &ev.Uu)
				if prevU != 0 {
					switch {
					case kind == FaultDepthDrop && ev.U > prevU+1,
						kind == FaultDepthDup && ev.Uu == prevU,
						kind == FaultDepthReorder && ev.Uu < prevU:
						broken++
					case ev.U != prevU+1 && !(kind == FaultDepthReorder && ev.U > prevU+1):
						t.Fatalf("unexpected sequence U=%d after u=%d", ev.U, prevU)
					}
				}
				prevU = ev.Uu
			}
			if broken == 0 {
				t.Fatalf("%s at p=0.3 broke no sequence in 40 updates", kind)
			}
		})
	}
}

func TestFaultTLS(t *testing.T) {
	s := startSim(t, Config{})
	handshake := func() error {
		d := dialer(s)
		c, _, err := d.Dial(s.WSURL()+"/ws", nil)
		if err == nil {
			c.Close()
		}
		return err
	}
	s.Fire(Fault{Kind: FaultTLSWrongHost})
	var hostErr x509.HostnameError
	if err := handshake(); !errors.As(err, &hostErr) {
		t.Fatalf("wrong host: got %v", err)
	}
	s.Fire(Fault{Kind: FaultTLSUnknownCA})
	var caErr x509.UnknownAuthorityError
	if err := handshake(); !errors.As(err, &caErr) {
		t.Fatalf("unknown CA: got %v", err)
	}
	s.Fire(Fault{Kind: FaultTLSReset})
	if err := handshake(); err == nil {
		t.Fatal("reset: handshake succeeded")
	}
	s.Fire(Fault{Kind: FaultTLSSlow, Duration: 700 * time.Millisecond})
	start := time.Now()
	if err := handshake(); err != nil || time.Since(start) < 600*time.Millisecond {
		t.Fatalf("slow: %v after %v", err, time.Since(start))
	}
	if err := handshake(); err != nil {
		t.Fatalf("after the faults: %v", err)
	}
}

func TestFaultRefuse(t *testing.T) {
	s := startSim(t, Config{})
	s.Fire(Fault{Kind: FaultRefuse, Duration: 500 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.Addr())
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("want connection refused, got %v", err)
	}
	waitFor(t, 3*time.Second, func() bool {
		c, err := tls.Dial("tcp", s.Addr(), &tls.Config{RootCAs: s.CertPool(), ServerName: "127.0.0.1"})
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func TestFaultBurst(t *testing.T) {
	s := startSim(t, Config{Rate: -1})
	c := dial(t, s, "/ws/btcusdt@aggTrade")
	waitFor(t, 3*time.Second, func() bool { return len(s.Conns()) == 1 })
	fire(t, s, Fault{Kind: FaultBurst, Count: 20000})
	n := 0
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for n < 1000 {
		if _, _, err := c.ReadMessage(); err != nil {
			t.Fatalf("after %d messages: %v", n, err)
		}
		n++
	}
}
