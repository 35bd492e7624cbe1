package sim

import (
	"context"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// within fails the test when fired is further than 5 standard deviations
// from the n·p expected of n opportunities (in unit) of probability p
// (at most 1: a rate per second above 1 is withinRate's).
func within(t *testing.T, what string, fired int64, n, p float64, unit string) {
	t.Helper()
	if p > 1 {
		t.Fatalf("%s: within takes a probability, not %g", what, p)
	}
	want := n * p
	sd := math.Sqrt(n * p * (1 - p))
	if math.Abs(float64(fired)-want) > 5*sd {
		t.Errorf("%s fired %d times, want %.0f ± %.0f (p=%g over %.0f %s)", what, fired, want, 5*sd, p, n, unit)
	} else {
		t.Logf("%s fired %d times, expected %.0f", what, fired, want)
	}
}

// TestFaultRates: every fault kind that takes p= fires at its configured
// rate over a run, all kinds of a class active at once, with every rule
// of a class active together: connection faults per connection and
// second, whatever the rhythm of the checks (a writer held up by a slow
// socket checks late), message faults per message, TLS faults per
// connection, REST faults per request, server faults per engine tick.
func TestFaultRates(t *testing.T) {
	byClass := map[faultClass][]FaultKind{}
	for _, k := range FaultKinds() {
		byClass[faultClasses[k]] = append(byClass[faultClasses[k]], k)
	}
	if len(byClass) != int(numClasses) {
		t.Fatalf("%d classes of faults, %d tested", numClasses, len(byClass))
	}
	rules := func(kinds []FaultKind, p func(i int) float64) []Fault {
		var list []Fault
		for i, k := range kinds {
			list = append(list, Fault{Kind: k, Prob: p(i)})
		}
		return list
	}

	t.Run("connection", func(t *testing.T) {
		kinds := byClass[classConn]
		p := func(i int) float64 { return 0.004 * float64(i+1) } // per second; stall's is the 0.004 when first
		for i, k := range kinds {
			if k == FaultStall {
				kinds[0], kinds[i] = kinds[i], kinds[0]
			}
		}
		fs := newFaults(7)
		fs.set(rules(kinds, p))
		jitter := rand.New(rand.NewPCG(1, 2))
		start := time.Unix(1_700_000_000, 0)
		var secs float64
		for id := uint64(1); secs < 20000; id++ {
			// connections of 100 s to 1000 s whose checks come every 100 ms
			// or so, and now and then seconds late
			cs := &connSchedule{start: start, next: map[uint64]time.Time{}, rng: fs.rng(id)}
			now := start
			life := time.Duration(100+jitter.IntN(900)) * time.Second
			for now.Sub(start) < life {
				step := time.Duration(80+jitter.IntN(40)) * time.Millisecond
				if jitter.IntN(200) == 0 {
					step = time.Duration(1+jitter.IntN(20)) * time.Second
				}
				now = now.Add(step)
				fs.connHits(cs, now)
			}
			secs += now.Sub(start).Seconds()
			start = now.Add(time.Minute)
		}
		for i, k := range kinds {
			// checks every 100 ms or so: the count per second tends to
			// -ln(1-p), the rate of which p is the chance in one second
			within(t, string(k), fs.fired[k].Load(), secs, -math.Log1p(-p(i)), "connection seconds")
		}
	})

	t.Run("message", func(t *testing.T) {
		fs := newFaults(7)
		kinds := byClass[classMessage]
		p := func(int) float64 { return 0.004 }
		fs.set(rules(kinds, p))
		rng := fs.rng(1 | 1<<63)
		const n = 400000
		now := time.Now()
		depth := 0
		for i := range n {
			isDepth := i%2 == 0
			if isDepth {
				depth++
			}
			fs.hit(classMessage, rng, now, func(k FaultKind) bool { return (k == FaultTradeGap) != isDepth })
		}
		for _, k := range kinds {
			n := float64(depth)
			if k == FaultTradeGap {
				n = float64(400000 - depth)
			}
			within(t, string(k), fs.fired[k].Load(), n, p(0), "messages")
		}
	})

	for _, c := range []struct {
		name  string
		class faultClass
	}{{"tls", classTLS}, {"rest", classREST}, {"server", classServer}} {
		t.Run(c.name, func(t *testing.T) {
			fs := newFaults(7)
			kinds := byClass[c.class]
			p := func(int) float64 { return 0.002 }
			fs.set(rules(kinds, p))
			rng := fs.rng(3)
			const n = 300000
			now := time.Now()
			for range n {
				fs.hit(c.class, rng, now, nil)
			}
			for _, k := range kinds {
				within(t, string(k), fs.fired[k].Load(), n, p(0), "opportunities")
			}
		})
	}
}

// TestFaultRatesLive: the connection faults that leave a connection open
// fire on live connections at their rate per connection and second.
func TestFaultRatesLive(t *testing.T) {
	const p = 0.9
	var list []Fault
	for _, s := range []string{"stall:p=0.9,duration=1ms", "nopong:p=0.9,duration=1ms", "malformed:p=0.9,variant=json", "oversize:p=0.9,size=200"} {
		f, err := ParseFault(s)
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, f)
	}
	s := startSim(t, Config{Faults: list})
	var conns []*websocket.Conn
	for range 4 {
		conns = append(conns, dial(t, s, "/stream?streams=btcusdt@aggTrade/btcusdt@depth@100ms"))
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			drainUntil(c, start.Add(5*time.Second))
		}()
	}
	wg.Wait()
	secs := 4 * time.Since(start).Seconds()
	counts := s.FaultCounts()
	for _, f := range list {
		withinRate(t, string(f.Kind), counts[f.Kind], p, secs)
	}
}

// withinRate fails the test when a connection fault of probability p per
// second fired a count on secs connection-seconds that has a chance below
// 1e-9 on either side. Checked ten times a second, or late under load,
// such a fault fires between p and -ln(1-p) times a connection-second.
func withinRate(t *testing.T, what string, fired int64, p, secs float64) {
	t.Helper()
	lo, hi := poissonBounds(p*secs, -math.Log1p(-p)*secs, 1e-9)
	if fired < lo || fired > hi {
		t.Errorf("%s fired %d times, want %d..%d (p=%g over %.0f connection seconds)", what, fired, lo, hi, p, secs)
	} else {
		t.Logf("%s fired %d times (%d..%d over %.0f connection seconds)", what, fired, lo, hi, secs)
	}
}

// poissonBounds gives the counts lo and hi such that a Poisson count of
// mean muLo falls below lo, and one of mean muHi above hi, each with a
// probability below tail. A count of independent chances (the checks of
// a fault) is less spread than the Poisson count of the same mean.
func poissonBounds(muLo, muHi, tail float64) (lo, hi int64) {
	pmf, cdf := math.Exp(-muLo), 0.0
	for lo = 0; ; lo++ {
		if cdf += pmf; cdf >= tail {
			break
		}
		pmf *= muLo / float64(lo+1)
	}
	pmf, cdf = math.Exp(-muHi), 0.0
	for hi = 0; ; hi++ {
		if cdf += pmf; 1-cdf < tail {
			break
		}
		pmf *= muHi / float64(hi+1)
	}
	return lo, hi
}

// blockWriters opens n connections whose clients never read, with a small
// receive window, and feeds them until no writer of s gets anything more
// out. It returns a function giving each connection's bytes written.
func blockWriters(t *testing.T, s *Server, n int) func() map[uint64]int64 {
	t.Helper()
	d := dialer(s)
	d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4096) // a small window: the server's socket fills soon
		}
		return nc, err
	}
	for range n {
		c, resp, err := d.Dial(s.WSURL()+"/stream?streams=btcusdt@trade/ethusdt@trade/btcusdt@aggTrade/ethusdt@aggTrade", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		t.Cleanup(func() { c.Close() }) // never read
	}
	bytes := func() map[uint64]int64 {
		m := map[uint64]int64{}
		for _, c := range s.Conns() {
			m[c.ID] = c.Bytes
		}
		return m
	}
	blocked := false
	for deadline := time.Now().Add(8 * time.Second); !blocked && time.Now().Before(deadline); {
		s.Advance(20000)
		time.Sleep(300 * time.Millisecond)
		before := bytes()
		time.Sleep(300 * time.Millisecond)
		after := bytes()
		blocked = len(after) == n
		for id, b := range after {
			blocked = blocked && b > 0 && b == before[id]
		}
	}
	if !blocked {
		t.Fatal("the writers did not block on clients that do not read")
	}
	return bytes
}

// TestBlockedWriterPongTimeout: a connection whose client stops reading
// gets no pong to the server's ping, and is dropped when the pong timeout
// passes although its writer is blocked.
func TestBlockedWriterPongTimeout(t *testing.T) {
	s := startSim(t, Config{Rate: 500, SendQueue: 1 << 20, PingInterval: 300 * time.Millisecond, PongTimeout: 2 * time.Second})
	blockWriters(t, s, 2)
	start := time.Now()
	for len(s.Conns()) > 0 {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("%d blocked connections still open %v after their writers blocked, with a pong timeout of 2s", len(s.Conns()), time.Since(start))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("blocked connections dropped %v after their writers blocked", time.Since(start).Round(time.Millisecond))
}

// TestFaultRatesBlockedWriter: connections whose clients stop reading, so
// that the simulator's writes to them block, still get their connection
// faults at the configured rate per connection and second, and a drop
// still ends them at once.
func TestFaultRatesBlockedWriter(t *testing.T) {
	const conns = 16
	s := startSim(t, Config{Rate: 500, SendQueue: 1 << 20})
	bytes := blockWriters(t, s, conns)

	const p = 0.5
	var list []Fault
	for _, spec := range []string{"stall:p=0.5,duration=1ms", "nopong:p=0.5,duration=1ms", "malformed:p=0.5,variant=json", "oversize:p=0.5,size=200"} {
		f, err := ParseFault(spec)
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, f)
	}
	if err := s.SetFaults(list...); err != nil {
		t.Fatal(err)
	}
	before, start := s.FaultCounts(), time.Now()
	sent := bytes()
	time.Sleep(5 * time.Second)
	after, secs := s.FaultCounts(), conns*time.Since(start).Seconds()
	if err := s.SetFaults(); err != nil {
		t.Fatal(err)
	}
	for id, n := range bytes() {
		if n != sent[id] {
			t.Fatalf("connection %d: the writer was not blocked all along (%d bytes, then %d)", id, sent[id], n)
		}
	}
	for _, f := range list {
		withinRate(t, string(f.Kind)+" on blocked connections", after[f.Kind]-before[f.Kind], p, secs)
	}

	// a drop closes the socket from outside the blocked writer
	fire(t, s, Fault{Kind: FaultDrop})
	for deadline := time.Now().Add(2 * time.Second); len(s.Conns()) > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d blocked connections still open 2s after a drop", len(s.Conns()))
		}
	}
}
