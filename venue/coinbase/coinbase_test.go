package coinbase

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/internal/wstest"
	"github.com/feedkeeper/feedkeeper/venue"
)

func TestParseStream(t *testing.T) {
	if s, err := ParseStream("BTC-USD@level2"); err != nil || s != (Stream{Product: "BTC-USD", Channel: "level2"}) {
		t.Errorf("%+v %v", s, err)
	}
	for _, bad := range []string{"", "BTC-USD", "btc-usd@level2", "BTCUSD@level2", "BTC-USD@level3", "BTC-USD@heartbeats", "BTC-USD@l2_data", "BTC-USD-PERP@level2"} {
		if _, err := ParseStream(bad); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// Products go two to a connection here; each connection subscribes
// heartbeats, then one channel a message with the products that want it.
func TestPlan(t *testing.T) {
	syms, err := NewSymbols(Symbol{Name: "BTC-USD", PriceScale: 2, QtyScale: 8}, Symbol{Name: "ETH-USD", PriceScale: 2, QtyScale: 8}, Symbol{Name: "SOL-USD", PriceScale: 2, QtyScale: 8})
	if err != nil {
		t.Fatal(err)
	}
	v, err := New(Config{WSURL: "wss://127.0.0.1:1", Symbols: syms, ProductsPerConn: 2})
	if err != nil {
		t.Fatal(err)
	}
	plans, err := v.Plan([]string{"BTC-USD@level2", "ETH-USD@market_trades", "BTC-USD@market_trades", " BTC-USD@level2", "SOL-USD@ticker", "ETH-USD@ticker"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range plans {
		var msgs []string
		for _, m := range p.Build() {
			msgs = append(msgs, string(m))
		}
		got = append(got, p.URL+" "+strings.Join(p.Streams, ",")+"\n"+strings.Join(msgs, "\n"))
	}
	want := []string{
		"wss://127.0.0.1:1 BTC-USD@level2,BTC-USD@market_trades,ETH-USD@market_trades,ETH-USD@ticker\n" +
			`{"type":"subscribe","channel":"heartbeats"}` + "\n" +
			`{"type":"subscribe","product_ids":["BTC-USD"],"channel":"level2"}` + "\n" +
			`{"type":"subscribe","product_ids":["BTC-USD","ETH-USD"],"channel":"market_trades"}` + "\n" +
			`{"type":"subscribe","product_ids":["ETH-USD"],"channel":"ticker"}` + "\n" +
			`{"type":"subscribe","product_ids":["BTC-USD","ETH-USD"],"channel":"status"}`,
		"wss://127.0.0.1:1 SOL-USD@ticker\n" +
			`{"type":"subscribe","channel":"heartbeats"}` + "\n" +
			`{"type":"subscribe","product_ids":["SOL-USD"],"channel":"ticker"}` + "\n" +
			`{"type":"subscribe","product_ids":["SOL-USD"],"channel":"status"}`,
	}
	if strings.Join(got, "\n\n") != strings.Join(want, "\n\n") {
		t.Errorf("plans:\n%s\nwant\n%s", strings.Join(got, "\n\n"), strings.Join(want, "\n\n"))
	}
	// a connection's at most 5 subscribe messages at MessageRate are sent
	// well within the 5 s the venue allows
	for _, p := range plans {
		if n := len(p.Build()); float64(n)/v.MessageRate() > float64(SubscribeDeadline/time.Second)/2 {
			t.Errorf("%d messages take %.1fs", n, float64(n)/v.MessageRate())
		}
	}
	for _, bad := range [][]string{{"DOGE-USD@level2"}, {"BTC-USD@level9"}, {}} {
		if _, err := v.Plan(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	msgs, err := v.ResubscribeMessages("ETH-USD@level2")
	if err != nil || len(msgs) != 2 || string(msgs[0]) != `{"type":"unsubscribe","product_ids":["ETH-USD"],"channel":"level2"}` ||
		string(msgs[1]) != `{"type":"subscribe","product_ids":["ETH-USD"],"channel":"level2"}` {
		t.Errorf("resubscribe %q %v", msgs, err)
	}
}

func TestStreams(t *testing.T) {
	f := factory{}
	cases := map[string]string{
		"trades:BTC-USD":    "BTC-USD@market_trades",
		"book:BTC-USD":      "BTC-USD@level2",
		"top:ETH-USD":       "ETH-USD@ticker",
		"book:BTC-USDC":     "BTC-USD@level2", // served under the USD product
		"book:USDT-USDC":    "USDT-USDC@level2",
		"funding:BTC-USD":   "error",
		"book:BTC-USD-PERP": "error",
	}
	for in, want := range cases {
		what, inst, _ := strings.Cut(in, ":")
		i, err := venue.ParseInstrument(inst)
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.Streams(what, i)
		if want == "error" {
			if err == nil {
				t.Errorf("%s: %v, want an error", in, got)
			}
			continue
		}
		if err != nil || len(got) != 1 || got[0] != want {
			t.Errorf("%s: %v %v, want %s", in, got, err, want)
		}
	}
}

// script is a local Advanced Trade stream over TLS: it notes each message
// a connection sends and when, answers the subscriptions, sends a book's
// snapshot and updates, then loses a message (sequence_num 5 never comes).
// The gateway must resubscribe the book; the new snapshot and an update
// follow.
type script struct {
	mu   sync.Mutex
	msgs []string
	at   []time.Duration // since the connection opened
}

func (s *script) serve(c *wstest.Conn) {
	start := time.Now()
	seq := 0
	send := func(channel, events string) bool {
		m := fmt.Sprintf(`{"channel":%q,"client_id":"","timestamp":"2023-02-09T20:32:50.714964855Z","sequence_num":%d,"events":%s}`, channel, seq, events)
		seq++
		return c.Write([]byte(m)) == nil
	}
	l2 := func(typ, side, price, qty string) string {
		return fmt.Sprintf(`[{"type":%q,"product_id":"BTC-USD","updates":[{"side":%q,"event_time":"2023-02-09T20:32:50.714964855Z","price_level":%q,"new_quantity":%q}]}]`, typ, side, price, qty)
	}
	for n := 0; ; n++ {
		_, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.msgs = append(s.msgs, string(msg))
		s.at = append(s.at, time.Since(start))
		s.mu.Unlock()
		var req struct {
			Type     string   `json:"type"`
			Products []string `json:"product_ids"`
			Channel  string   `json:"channel"`
		}
		if json.Unmarshal(msg, &req) != nil {
			return
		}
		ok := send("subscriptions", `[{"subscriptions":{}}]`)
		switch {
		case req.Channel == "heartbeats":
			ok = ok && send("heartbeats", `[{"current_time":"2023-06-23 20:31:56.121961769 +0000 UTC m=+91717.525857105","heartbeat_counter":1}]`)
		case req.Channel == "level2" && req.Type == "subscribe" && n == 1:
			ok = ok && send("l2_data", l2("snapshot", "bid", "100.00", "1")) &&
				send("l2_data", l2("update", "offer", "101.00", "2")) &&
				send("l2_data", l2("update", "bid", "100.00", "0"))
			seq++ // a message lost
			ok = ok && send("l2_data", l2("update", "bid", "99.00", "3"))
		case req.Channel == "level2" && req.Type == "subscribe":
			ok = ok && send("l2_data", l2("snapshot", "bid", "98.00", "1")) &&
				send("l2_data", l2("update", "offer", "102.00", "2"))
		}
		if !ok {
			return
		}
	}
}

func TestGatewaySubscribesAndResubscribesAfterALoss(t *testing.T) {
	s := &script{}
	srv := wstest.Start(t, s.serve)
	v, err := New(Config{WSURL: strings.TrimSuffix(srv.URL(), "/"), Symbols: testSymbols(t)})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: v, Streams: []string{"BTC-USD@level2"}, TLS: srv.TLS(), Recovery: Recovery{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handler: func(ev *feed.Event) {
			if ev.Type != feed.TypeBookSnapshot && ev.Type != feed.TypeBookDelta {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			got = append(got, fmt.Sprintf("%v %d %d/%d", ev.Type, ev.ID, len(ev.Bids), len(ev.Asks)))
		}})
	if err != nil {
		t.Fatal(err)
	}
	// IDs are sequence_num (0, 1, 2 the replies and heartbeat); 6, the
	// update after the loss, is not delivered; 7 answers status
	want := []string{"book_snapshot 3 1/0", "book_delta 4 0/1", "book_delta 5 1/0", "book_snapshot 11 1/0", "book_delta 12 0/1"}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= len(want) {
			break
		}
	}
	st := g.Stats()
	g.Close()
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("delivered:\n %q\nwant\n %q", got, want)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	wantMsgs := []string{`{"type":"subscribe","channel":"heartbeats"}`, `{"type":"subscribe","product_ids":["BTC-USD"],"channel":"level2"}`,
		`{"type":"subscribe","product_ids":["BTC-USD"],"channel":"status"}`,
		`{"type":"unsubscribe","product_ids":["BTC-USD"],"channel":"level2"}`, `{"type":"subscribe","product_ids":["BTC-USD"],"channel":"level2"}`}
	if fmt.Sprint(s.msgs) != fmt.Sprint(wantMsgs) {
		t.Errorf("sent:\n %q\nwant\n %q", s.msgs, wantMsgs)
	}
	if len(s.at) < 2 || s.at[1] > SubscribeDeadline/2 {
		t.Errorf("subscribed at %v; the venue closes a connection not subscribed within %v", s.at, SubscribeDeadline)
	}
	if st.BookResyncs != 1 || st.StreamResubscribes != 1 {
		t.Errorf("resyncs %d, resubscribes %d; want 1 each", st.BookResyncs, st.StreamResubscribes)
	}
}
