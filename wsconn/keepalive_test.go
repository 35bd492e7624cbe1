package wsconn_test

import (
	"bytes"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/internal/wstest"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

// pingVenue is a venue with an application-level ping (as OKX's text
// "ping"/"pong"): it answers each "ping" with "pong" while answering is
// on, and sends a data frame every 20 ms whatever it does.
type pingVenue struct {
	srv       *wstest.Server
	answering atomic.Bool
	pings     atomic.Int64
}

func startPingVenue(t *testing.T) *pingVenue {
	v := &pingVenue{}
	v.answering.Store(true)
	v.srv = wstest.Start(t, func(c *wstest.Conn) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				_, msg, err := c.ReadMessage()
				if err != nil {
					return
				}
				if string(msg) == "ping" {
					v.pings.Add(1)
					if v.answering.Load() && c.Write([]byte("pong")) != nil {
						return
					}
				}
			}
		}()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-c.Stop:
				return
			case <-done:
				return
			case <-tick.C:
				if c.Write([]byte(`{"tick":1}`)) != nil {
					return
				}
			}
		}
	})
	return v
}

func (v *pingVenue) config() wsconn.Config {
	return wsconn.Config{
		URL:         v.srv.URL(),
		TLS:         v.srv.TLS(),
		BackoffMin:  10 * time.Millisecond,
		BackoffMax:  100 * time.Millisecond,
		Dials:       testBudget,
		MessageRate: 20,
		Logger:      quietLogger(),
		Keepalive: wsconn.Keepalive{Interval: 100 * time.Millisecond, Message: func() []byte { return []byte("ping") },
			IsReply: func(f []byte) bool { return string(f) == "pong" }, Timeout: 500 * time.Millisecond},
	}
}

// The venue's ping is sent on its interval, its answers are counted and
// kept from the consumer; when the answers stop while data still flows,
// the connection is declared dead and replaced.
func TestApplicationKeepalive(t *testing.T) {
	v := startPingVenue(t)
	var r recorder
	sess := open(t, v.config(), &r)
	waitFor(t, 5*time.Second, "connect", func() bool { return r.count(wsconn.Connected) == 1 })
	time.Sleep(time.Second)
	st := sess.Stats()
	if st.AppPings < 5 || st.AppPongs < 4 || v.pings.Load() < 5 {
		t.Fatalf("in 1s at one ping every 100ms: %d sent, %d answers, %d received by the venue", st.AppPings, st.AppPongs, v.pings.Load())
	}
	r.mu.Lock()
	for _, d := range r.data {
		if bytes.Equal(d, []byte("pong")) {
			t.Error("an answer to the ping was delivered as data")
		}
	}
	n := len(r.data)
	r.mu.Unlock()
	if n < 20 || r.count(wsconn.Disconnected) != 0 {
		t.Fatalf("%d data frames, %d disconnects", n, r.count(wsconn.Disconnected))
	}

	v.answering.Store(false) // data keeps coming: only the missing answers tell
	start := time.Now()
	waitFor(t, 5*time.Second, "the unanswered connection replaced", func() bool { return r.count(wsconn.Disconnected) == 1 })
	if d := time.Since(start); d < 500*time.Millisecond || d > 2*time.Second {
		t.Fatalf("declared dead after %v; Timeout 500ms", d)
	}
	if err := r.disconnectErrs()[0]; !errors.Is(err, wsconn.ErrStale) {
		t.Fatalf("reason %v, want ErrStale", err)
	}
	v.answering.Store(true)
	waitFor(t, 5*time.Second, "reconnect", func() bool { return r.count(wsconn.Connected) == 2 })
}

func TestKeepaliveConfigErrors(t *testing.T) {
	ping := func() []byte { return []byte("ping") }
	pong := func(f []byte) bool { return string(f) == "pong" }
	for _, tt := range []struct {
		ka   wsconn.Keepalive
		want string
	}{
		{wsconn.Keepalive{Message: ping}, "Keepalive.Interval"},
		{wsconn.Keepalive{Interval: time.Second}, "Keepalive.Message"},
		{wsconn.Keepalive{Interval: time.Second, Message: ping, Timeout: time.Second}, "needs IsReply"},
		{wsconn.Keepalive{Interval: 10 * time.Millisecond, Message: ping, IsReply: pong}, "MessageRate"},
	} {
		cfg := wsconn.Config{URL: "wss://127.0.0.1:1/", Keepalive: tt.ka, MessageRate: 5}
		_, err := wsconn.Open(cfg, func(*wsconn.Frame) {})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err %v, want one naming %q", tt.ka, err, tt.want)
		}
	}
}
