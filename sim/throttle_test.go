package sim

import (
	"encoding/json"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestParseThrottle(t *testing.T) {
	f, err := ParseFault("throttle:rate=12500,duration=1m,times=1")
	want := Fault{Kind: FaultThrottle, Rate: 12500, Duration: time.Minute, Times: 1}
	if err != nil || f != want {
		t.Fatalf("ParseFault = %+v, %v; want %+v", f, err, want)
	}
	if back, err := ParseFault(f.String()); err != nil || back != f {
		t.Fatalf("round trip through %q: %+v, %v", f.String(), back, err)
	}
	j, _ := json.Marshal(f)
	var fromJSON Fault
	if err := json.Unmarshal(j, &fromJSON); err != nil || fromJSON != f {
		t.Fatalf("JSON round trip of %s: %+v, %v", j, fromJSON, err)
	}
	for _, s := range []string{"throttle:times=1", "throttle:rate=-5,times=1", "throttle:rate=fast,times=1"} {
		if _, err := ParseFault(s); err == nil {
			t.Errorf("ParseFault(%q) accepted", s)
		}
	}
}

// reading counts what a client connection reads and remembers the event
// time of the last message.
type reading struct {
	mu    sync.Mutex
	bytes int
	lastE int64 // ms
}

func (r *reading) run(c *websocket.Conn, stop time.Time) {
	c.SetReadDeadline(stop)
	for {
		_, b, err := c.ReadMessage()
		if err != nil {
			return
		}
		var m struct {
			E int64 `json:"E"`
		}
		_ = json.Unmarshal(b, &m)
		r.mu.Lock()
		r.bytes += len(b)
		if m.E != 0 {
			r.lastE = m.E
		}
		r.mu.Unlock()
	}
}

func (r *reading) get() (int, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bytes, r.lastE
}

// TestFaultThrottle: a throttled connection gets its bytes at the rate
// given, falls behind the market further and further while it stays
// open, and another connection of the same streams is not slowed.
func TestFaultThrottle(t *testing.T) {
	s := startSim(t, Config{Rate: 1000})
	const rate = 3000 // bytes a second; the streams carry far more
	path := "/ws/btcusdt@aggTrade"
	slow := dial(t, s, path)
	// the rule fires on the next connection check: only slow exists now
	waitFor(t, 3*time.Second, func() bool { return len(s.Conns()) == 1 })
	if err := s.AddFault(Fault{Kind: FaultThrottle, Rate: rate, Times: 1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, func() bool { return s.Conns()[0].Throttled > 0 })
	fast := dial(t, s, path)

	stop := time.Now().Add(4 * time.Second)
	var rs, rf reading
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); rs.run(slow, stop) }()
	go func() { defer wg.Done(); rf.run(fast, stop) }()
	// what was buffered before the throttle is read in the first second
	time.Sleep(time.Second)
	b0, _ := rs.get()
	f0, _ := rf.get()
	time.Sleep(3 * time.Second)
	b1, e1 := rs.get()
	f1, ef := rf.get()
	now := time.Now().UnixMilli()
	wg.Wait()

	got := float64(b1-b0) / 3
	t.Logf("throttled: %.0f B/s (rate %d), %d ms behind; other: %.0f B/s, %d ms behind", got, rate, now-e1, float64(f1-f0)/3, now-ef)
	if got > 1.5*rate || got < 0.3*rate {
		t.Errorf("throttled connection read %.0f B/s, want about %d", got, rate)
	}
	if f1-f0 < 3*(b1-b0) {
		t.Errorf("the other connection read %d bytes against %d: it is slowed too", f1-f0, b1-b0)
	}
	if lag := now - e1; lag < 1000 {
		t.Errorf("throttled connection only %d ms behind after 4s", lag)
	}
	if lag := now - ef; lag > 1000 {
		t.Errorf("the other connection is %d ms behind", lag)
	}
	var throttled []string
	for _, c := range s.Conns() {
		if c.Throttled > 0 {
			throttled = append(throttled, strconv.FormatUint(c.ID, 10))
		}
	}
	if len(throttled) != 1 {
		t.Errorf("connections throttled: %v, want one", throttled)
	}
}
