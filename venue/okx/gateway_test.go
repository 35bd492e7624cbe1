package okx

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/internal/wstest"
)

// bookScript is a books channel as OKX documents it, served over real
// TLS WebSocket frames: the snapshot, an update, the keep-alive that names
// itself, the restart of seqId after a maintenance (15 → 3 in the docs;
// here 101 → 5), an update after it, then an update whose prevSeqId is
// not the last seqId. The gateway must take the first four as one chain
// and, at the break, unsubscribe and subscribe again; the new snapshot
// and its update follow.
type bookScript struct {
	mu    sync.Mutex
	ops   []string // "subscribe books", "unsubscribe books", …
	pings int
}

func books(action string, prev, seq int64, bids string) string {
	return fmt.Sprintf(`{"arg":{"channel":"books","instId":"BTC-USDT"},"action":%q,"data":[{"asks":[["8477","2","0","1"]],"bids":[%s],"ts":"1597026383085","checksum":0,"prevSeqId":%d,"seqId":%d}]}`,
		action, bids, prev, seq)
}

func (s *bookScript) serve(c *wstest.Conn) {
	subscribed := 0
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		if string(msg) == "ping" {
			s.mu.Lock()
			s.pings++
			s.mu.Unlock()
			// the answer comes after a network's delay: wsconn notes a ping
			// as unanswered just after sending it
			time.Sleep(20 * time.Millisecond)
			if c.Write([]byte("pong")) != nil {
				return
			}
			continue
		}
		var req struct {
			ID   string `json:"id"`
			Op   string `json:"op"`
			Args []arg  `json:"args"`
		}
		if err := json.Unmarshal(msg, &req); err != nil {
			return
		}
		var out []string
		for _, a := range req.Args {
			s.mu.Lock()
			s.ops = append(s.ops, req.Op+" "+a.Channel)
			s.mu.Unlock()
			out = append(out, fmt.Sprintf(`{"id":%q,"event":%q,"arg":{"channel":%q,"instId":%q},"connId":"a4d3ae55"}`, req.ID, req.Op, a.Channel, a.InstID))
			if req.Op != "subscribe" || a.Channel != ChannelBooks {
				continue
			}
			if subscribed++; subscribed == 1 {
				out = append(out,
					books("snapshot", -1, 100, `["8476","1","0","1"],["8475","1","0","1"]`),
					books("update", 100, 101, `["8476","3","0","1"]`),
					books("update", 101, 101, ``), // keep-alive
					books("update", 101, 5, `["8475","0","0","0"]`),
					books("update", 5, 6, `["8474","4","0","1"]`),
					books("update", 50, 51, `["8473","4","0","1"]`)) // a break
			} else {
				out = append(out,
					books("snapshot", -1, 200, `["8470","1","0","1"]`),
					books("update", 200, 201, `["8470","2","0","1"]`))
			}
		}
		for _, m := range out {
			if c.Write([]byte(m)) != nil {
				return
			}
		}
	}
}

func TestGatewayBookChainAndKeepalive(t *testing.T) {
	script := &bookScript{}
	srv := wstest.Start(t, script.serve)
	v, err := New(Config{WSURL: strings.TrimSuffix(srv.URL(), "/"), Symbols: testSymbols(t), PingInterval: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rest, _ := startREST(t)
	c, err := httpx.New(RESTConfig(httpx.Config{BaseURL: rest.URL, TLS: rest.Client().Transport.(*http.Transport).TLSClientConfig}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rec, err := NewRecovery(c, v.Symbols())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: v, Streams: []string{"BTC-USDT@books"}, TLS: srv.TLS(), Recovery: rec,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handler: func(ev *feed.Event) {
			if ev.Type != feed.TypeBookSnapshot && ev.Type != feed.TypeBookDelta {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			got = append(got, fmt.Sprintf("%v %d<-%d %d/%d", ev.Type, ev.ID, ev.PrevID, len(ev.Bids), len(ev.Asks)))
		}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"book_snapshot 100<-0 2/1", "book_delta 101<-100 1/1", "book_delta 101<-101 0/1", "book_delta 5<-101 1/1",
		"book_delta 6<-5 1/1", "book_snapshot 200<-0 1/1", "book_delta 201<-200 1/1"}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		ss := g.Stats().Sessions
		if n >= len(want) && len(ss) == 1 && ss[0].AppPongs >= 2 {
			break
		}
		if time.Now().After(deadline) {
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
	script.mu.Lock()
	defer script.mu.Unlock()
	if fmt.Sprint(script.ops) != "[subscribe books unsubscribe books subscribe books]" {
		t.Errorf("requests: %q", script.ops)
	}
	if st.BookResyncs != 1 || st.StreamResubscribes != 1 || st.Gaps != 1 {
		t.Errorf("resyncs %d, resubscribes %d, gaps %d; want 1 each", st.BookResyncs, st.StreamResubscribes, st.Gaps)
	}
	if script.pings < 2 || len(st.Sessions) != 1 || st.Sessions[0].AppPongs < 2 {
		t.Errorf("pings %d; sessions %+v", script.pings, st.Sessions)
	}
}

// A trades-all stream refused once (an error event naming the request's
// id), then granted, that skips tradeIds 1102..1149: the gateway asks
// again, fills the gap from GET /api/v5/market/history-trades and
// delivers every trade once, in tradeId order.
func TestGatewayTradeBackfill(t *testing.T) {
	var asked sync.Mutex
	refused := false
	srv := wstest.Start(t, func(c *wstest.Conn) {
		for {
			_, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if string(msg) == "ping" {
				continue
			}
			var req struct {
				ID   string `json:"id"`
				Args []arg  `json:"args"`
			}
			asked.Lock()
			first := !refused
			refused = true
			asked.Unlock()
			if json.Unmarshal(msg, &req) != nil || len(req.Args) != 1 || req.Args[0].Channel != ChannelTradesAll || first {
				_ = c.Write([]byte(`{"id":"` + req.ID + `","event":"error","code":"60018","msg":"Wrong URL or channel:trades-all,instId:BTC-USDT doesn't exist","connId":"a"}`))
				continue
			}
			out := []string{`{"id":"` + req.ID + `","event":"subscribe","arg":{"channel":"trades-all","instId":"BTC-USDT"},"connId":"a"}`}
			for _, id := range []int{1100, 1101, 1150, 1151} {
				out = append(out, fmt.Sprintf(`{"arg":{"channel":"trades-all","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"%d","px":"29963.2","sz":"0.5","side":"buy","source":"0","ts":"%d"}]}`,
					id, 1654161646974+id))
			}
			for _, m := range out {
				if c.Write([]byte(m)) != nil {
					return
				}
			}
		}
	})
	rest, h := startREST(t)
	h.mu.Lock()
	h.failed = true // no failing first page here
	h.mu.Unlock()
	c, err := httpx.New(RESTConfig(httpx.Config{BaseURL: rest.URL, TLS: rest.Client().Transport.(*http.Transport).TLSClientConfig}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	syms := testSymbols(t)
	v, err := New(Config{WSURL: strings.TrimSuffix(srv.URL(), "/"), Symbols: syms})
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := NewRecovery(c, syms)
	var mu sync.Mutex
	var ids []int64
	recovered := 0
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: v, Streams: []string{"BTC-USDT@trades-all"}, TLS: srv.TLS(), Recovery: rec,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		RecoveryConfig: feed.RecoveryConfig{RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond},
		Handler: func(ev *feed.Event) {
			mu.Lock()
			defer mu.Unlock()
			switch ev.Type {
			case feed.TypeTrade:
				ids = append(ids, ev.ID)
				if ev.Recovered {
					recovered++
				}
			case feed.TypeGap:
				t.Errorf("gap %d..%d announced: %s", ev.FirstID, ev.ID, ev.Reason)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(ids)
		mu.Unlock()
		if n >= 52 {
			break
		}
	}
	st := g.Stats()
	g.Close()
	if st.Refusals != 1 || st.Resubscribes < 1 || st.RefusedStreams != 0 {
		t.Errorf("refusals %d, resubscribes %d, refused now %d", st.Refusals, st.Resubscribes, st.RefusedStreams)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ids) != 52 || recovered != 48 {
		t.Fatalf("%d trades (%d recovered): %v", len(ids), recovered, ids)
	}
	for i, id := range ids {
		if id != int64(1100+i) {
			t.Fatalf("trade %d has ID %d: %v", i, id, ids)
		}
	}
}

// The notice of a service upgrade (64008) makes the gateway open a new
// connection and subscribe on it before it drops the old one.
func TestGatewayRotatesOnNotice(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	srv := wstest.Start(t, func(c *wstest.Conn) {
		mu.Lock()
		conns++
		n := conns
		mu.Unlock()
		for {
			_, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			var req struct {
				ID string `json:"id"`
				Op string `json:"op"`
			}
			if json.Unmarshal(msg, &req) != nil || req.Op != "subscribe" {
				continue
			}
			out := []string{`{"id":"` + req.ID + `","event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},"connId":"a"}`,
				books("snapshot", -1, 100, `["8476","1","0","1"]`)}
			if n == 1 {
				out = append(out, `{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade. Please reconnect.","connId":"a"}`)
			}
			for _, m := range out {
				if c.Write([]byte(m)) != nil {
					return
				}
			}
		}
	})
	v, err := New(Config{WSURL: strings.TrimSuffix(srv.URL(), "/"), Symbols: testSymbols(t)})
	if err != nil {
		t.Fatal(err)
	}
	g, err := feed.OpenGateway(feed.GatewayConfig{Venue: v, Streams: []string{"BTC-USDT@books"}, TLS: srv.TLS(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Handler: func(*feed.Event) {}})
	if err != nil {
		t.Fatal(err)
	}
	var st feed.GatewayStats
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if st = g.Stats(); len(st.Sessions) == 1 && st.Sessions[0].Rotations >= 1 {
			break
		}
	}
	g.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(st.Sessions) != 1 || st.Sessions[0].Rotations < 1 || conns < 2 {
		t.Errorf("connections %d; sessions %+v", conns, st.Sessions)
	}
}
