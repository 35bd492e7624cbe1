package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func startWithBybit(t testing.TB, cfg Config) (*Server, *Bybit) {
	t.Helper()
	return startVenue(t, cfg, VenueBybit, (*Server).Bybit)
}

func bybitDial(t testing.TB, s *Server, category string) *websocket.Conn {
	t.Helper()
	return dialWS(t, s, s.Bybit().WSURL()+"/v5/public/"+category)
}

func bybitSend(t testing.TB, c *websocket.Conn, req string) {
	t.Helper()
	sendText(t, c, req)
}

// bybitMsg is any message of a Bybit public connection.
type bybitMsg struct {
	raw     []byte
	Success *bool           `json:"success"`
	RetMsg  string          `json:"ret_msg"`
	ConnID  string          `json:"conn_id"`
	ReqID   *string         `json:"req_id"`
	Op      string          `json:"op"`
	Topic   string          `json:"topic"`
	Type    string          `json:"type"`
	TS      int64           `json:"ts"`
	CTS     int64           `json:"cts"`
	Data    json.RawMessage `json:"data"`
}

type bybitBookData struct {
	S   string      `json:"s"`
	B   [][2]string `json:"b"`
	A   [][2]string `json:"a"`
	U   int64       `json:"u"`
	Seq int64       `json:"seq"`
}

func bybitRead(t testing.TB, c *websocket.Conn, d time.Duration) bybitMsg {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	_, b, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m bybitMsg
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	m.raw = b
	return m
}

// bybitReadTopic reads until a message of topic.
func bybitReadTopic(t testing.TB, c *websocket.Conn, topic string) bybitMsg {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if m := bybitRead(t, c, 5*time.Second); m.Topic == topic {
			return m
		}
	}
	t.Fatalf("no message of %s", topic)
	return bybitMsg{}
}

// bybitLocalBook is a local book kept by Bybit's rules: a snapshot replaces it,
// a delta sets levels, size "0" deletes.
type bybitLocalBook map[string]map[string]string

func (l bybitLocalBook) apply(m bybitMsg, d bybitBookData) {
	if m.Type == "snapshot" {
		l["b"], l["a"] = map[string]string{}, map[string]string{}
	}
	for side, lv := range map[string][][2]string{"b": d.B, "a": d.A} {
		for _, x := range lv {
			if x[1] == "0" {
				delete(l[side], x[0])
			} else {
				l[side][x[0]] = x[1]
			}
		}
	}
}

// equalTop compares the book with the best depth levels of the truth.
func (l bybitLocalBook) equalTop(b BookState, depth int) error {
	return localBook(l).equalTop(b, depth)
}

// TestBybitBookSnapshotThenDeltas keeps books of orderbook.50 (linear) and
// orderbook.200 (spot) by Bybit's rules and compares each with the ground
// truth at every u; u goes up by one per push; key order as in the docs.
func TestBybitBookSnapshotThenDeltas(t *testing.T) {
	s, by := startWithBybit(t, Config{})
	for _, tc := range []struct {
		cat   string
		depth int
		order string
	}{{BybitLinear, 50, `{"topic":"orderbook.50.BTCUSDT","type":`}, {BybitSpot, 200, `{"topic":"orderbook.200.BTCUSDT","ts":`}} {
		t.Run(tc.cat, func(t *testing.T) {
			c := bybitDial(t, s, tc.cat)
			topic := "orderbook." + strconv.Itoa(tc.depth) + ".BTCUSDT"
			bybitSend(t, c, `{"op":"subscribe","args":["`+topic+`"],"req_id":"r1"}`)
			ack := bybitRead(t, c, 5*time.Second)
			if ack.Success == nil || !*ack.Success || ack.Op != "subscribe" || ack.ReqID == nil || *ack.ReqID != "r1" || ack.ConnID == "" {
				t.Fatalf("ack: %s", ack.raw)
			}
			book := bybitLocalBook{}
			var last int64
			deltas := 0
			for i := 0; i < 60; i++ {
				m := bybitReadTopic(t, c, topic)
				if i == 0 && m.Type != "snapshot" {
					t.Fatalf("first message is %q, want snapshot", m.Type)
				}
				if !strings.HasPrefix(string(m.raw), tc.order) || m.CTS == 0 || m.TS < m.CTS {
					t.Fatalf("envelope: %s", m.raw)
				}
				var d bybitBookData
				if err := json.Unmarshal(m.Data, &d); err != nil {
					t.Fatal(err)
				}
				if i > 0 {
					if d.U != last+1 {
						t.Fatalf("u %d after %d", d.U, last)
					}
					deltas++
				}
				last = d.U
				book.apply(m, d)
				truth, err := by.BookAt("BTCUSDT", tc.cat, d.U)
				if err != nil {
					t.Fatal(err)
				}
				if err := book.equalTop(truth, tc.depth); err != nil {
					t.Fatalf("u=%d: %v", d.U, err)
				}
			}
			if deltas == 0 {
				t.Fatal("no deltas")
			}
		})
	}
}

// TestBybitDepth1SnapshotsOnly: depth 1 sends snapshots only, one level a
// side.
func TestBybitDepth1SnapshotsOnly(t *testing.T) {
	s, by := startWithBybit(t, Config{})
	c := bybitDial(t, s, BybitLinear)
	bybitSend(t, c, `{"op":"subscribe","args":["orderbook.1.ETHUSDT"]}`)
	bybitRead(t, c, 5*time.Second)
	for range 20 {
		m := bybitReadTopic(t, c, "orderbook.1.ETHUSDT")
		var d bybitBookData
		json.Unmarshal(m.Data, &d)
		if m.Type != "snapshot" || len(d.B) != 1 || len(d.A) != 1 || !strings.HasPrefix(string(m.raw), `{"topic":"orderbook.1.ETHUSDT","ts":`) {
			t.Fatalf("depth 1: %s", m.raw)
		}
		truth, err := by.BookAt("ETHUSDT", BybitLinear, d.U)
		if err != nil {
			t.Fatal(err)
		}
		if d.B[0] != [2]string{truth.Bids[0].Price, truth.Bids[0].Qty} || d.A[0] != [2]string{truth.Asks[0].Price, truth.Asks[0].Qty} {
			t.Fatalf("u=%d: %v %v, truth %v %v", d.U, d.B, d.A, truth.Bids[0], truth.Asks[0])
		}
	}
}

var uuidLike = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// TestBybitTradesMatchTruth: publicTrade on both categories carries the
// trades of the ground truth, in order, with string IDs (a UUID on linear,
// decimal on spot) and "L" on linear only.
func TestBybitTradesMatchTruth(t *testing.T) {
	s, by := startWithBybit(t, Config{})
	for _, cat := range []string{BybitSpot, BybitLinear} {
		t.Run(cat, func(t *testing.T) {
			c := bybitDial(t, s, cat)
			bybitSend(t, c, `{"op":"subscribe","args":["publicTrade.BTCUSDT"]}`)
			bybitRead(t, c, 5*time.Second)
			type tr struct {
				T                int64
				S, Side, V, P, I string
				L                *string
				BT               *bool
				Seq              int64
			}
			var got []tr
			for len(got) < 50 {
				m := bybitReadTopic(t, c, "publicTrade.BTCUSDT")
				var raw []map[string]any
				json.Unmarshal(m.Data, &raw)
				var data []struct {
					T   int64   `json:"T"`
					S   string  `json:"s"`
					Sd  string  `json:"S"`
					V   string  `json:"v"`
					P   string  `json:"p"`
					I   string  `json:"i"`
					L   *string `json:"L"`
					BT  *bool   `json:"BT"`
					Seq int64   `json:"seq"`
				}
				if err := json.Unmarshal(m.Data, &data); err != nil || m.Type != "snapshot" {
					t.Fatalf("%s: %v", m.raw, err)
				}
				for _, d := range data {
					got = append(got, tr{d.T, d.S, d.Sd, d.V, d.P, d.I, d.L, d.BT, d.Seq})
				}
			}
			truth, err := by.Trades("BTCUSDT", cat, got[0].T, got[len(got)-1].T)
			if err != nil {
				t.Fatal(err)
			}
			at := -1
			for i, x := range truth {
				if x.ID == got[0].I {
					at = i
				}
			}
			if at < 0 {
				t.Fatalf("trade %s not in the truth", got[0].I)
			}
			for i, g := range got {
				if at+i >= len(truth) {
					t.Fatalf("trade %d (%s) past the truth", i, g.I)
				}
				w := truth[at+i]
				if g.I != w.ID || g.P != w.Price || g.V != w.Size || g.Side != w.Side || g.T != w.Time || g.S != "BTCUSDT" || g.BT == nil || g.Seq != w.Seq {
					t.Fatalf("trade %d: %+v, truth %+v", i, g, w)
				}
				if (cat == BybitLinear) != (g.L != nil) {
					t.Fatalf("trade %d: L=%v on %s", i, g.L, cat)
				}
				if cat == BybitLinear && !uuidLike.MatchString(g.I) {
					t.Fatalf("linear trade id %q is not UUID-like", g.I)
				}
				if _, err := strconv.ParseUint(g.I, 10, 64); (cat == BybitSpot) != (err == nil) {
					t.Fatalf("%s trade id %q", cat, g.I)
				}
			}
		})
	}
}

// TestBybitRequests: the documented replies to ping and subscribe on each
// category, and the refusals.
func TestBybitRequests(t *testing.T) {
	s, _ := startWithBybit(t, Config{})
	spot, linear := bybitDial(t, s, BybitSpot), bybitDial(t, s, BybitLinear)
	conn := `"conn_id":"[0-9a-f-]{36}"`
	for _, tc := range []struct {
		c    *websocket.Conn
		req  string
		want string // regexp of the whole reply
	}{
		{spot, `{"op":"ping"}`, `^\{"success":true,"ret_msg":"pong",` + conn + `,"op":"ping"\}$`},
		{spot, `{"req_id":"100001","op":"ping"}`, `^\{"success":true,"ret_msg":"pong",` + conn + `,"req_id":"100001","op":"ping"\}$`},
		{linear, `{"op":"ping"}`, `^\{"success":true,"ret_msg":"pong",` + conn + `,"req_id":"","op":"ping"\}$`},
		{spot, `{"op":"subscribe","args":["orderbook.1.BTCUSDT"],"req_id":"10001"}`, `^\{"success":true,"ret_msg":"subscribe",` + conn + `,"req_id":"10001","op":"subscribe"\}$`},
		{linear, `{"op":"subscribe","args":["orderbook.1.BTCUSDT","publicTrade.BTCUSDT"]}`, `^\{"success":true,"ret_msg":"",` + conn + `,"req_id":"","op":"subscribe"\}$`},
		{spot, `{"op":"subscribe","args":["a1","a2","a3","a4","a5","a6","a7","a8","a9","a10","a11"]}`, `"success":false,"ret_msg":"args size >10"`},
		{spot, `{"op":"subscribe","args":["allLiquidation.BTCUSDT"]}`, `"success":false,"ret_msg":"error:handler not found,topic:allLiquidation.BTCUSDT"`},
		{linear, `{"op":"subscribe","args":["orderbook.25.BTCUSDT"]}`, `"success":false,"ret_msg":"error:handler not found,topic:orderbook.25.BTCUSDT"`},
		{linear, `{"op":"subscribe","args":["orderbook.50.NOPEUSDT"]}`, `"success":false,"ret_msg":"Invalid symbol :\[orderbook.50.NOPEUSDT\]"`},
		{linear, `{"op":"subscribe","args":["publicTrade.BTCUSDT"]}`, `"success":false,"ret_msg":"error:already subscribed,topic:publicTrade.BTCUSDT"`},
		{linear, `{"op":"dance"}`, `"success":false,"ret_msg":"error:invalid op"`},
		{linear, `{"op":"unsubscribe","args":["publicTrade.BTCUSDT"],"req_id":"u"}`, `^\{"success":true,"ret_msg":"",` + conn + `,"req_id":"u","op":"unsubscribe"\}$`},
		{linear, `{"op":"subscribe","args":["publicTrade.BTCUSDT"]}`, `"success":true`},
	} {
		bybitSend(t, tc.c, tc.req)
		var got bybitMsg
		for {
			got = bybitRead(t, tc.c, 5*time.Second)
			if got.Success != nil {
				break
			}
		}
		if !regexp.MustCompile(tc.want).Match(got.raw) {
			t.Errorf("%s: %s, want %s", tc.req, got.raw, tc.want)
		}
	}
}

// TestBybitArgsChars: the joined args of a connection may not pass
// ArgsChars.
func TestBybitArgsChars(t *testing.T) {
	s, _ := startWithBybit(t, Config{Bybit: BybitConfig{ArgsChars: 40}})
	c := bybitDial(t, s, BybitLinear)
	bybitSend(t, c, `{"op":"subscribe","args":["publicTrade.BTCUSDT","tickers.BTCUSDT"]}`) // 34
	if m := bybitRead(t, c, 5*time.Second); !*m.Success {
		t.Fatalf("%s", m.raw)
	}
	bybitSend(t, c, `{"op":"subscribe","args":["tickers.ETHUSDT"]}`)
	for {
		m := bybitRead(t, c, 5*time.Second)
		if m.Success != nil {
			if *m.Success || m.RetMsg != "args length >40" {
				t.Fatalf("%s", m.raw)
			}
			break
		}
	}
}

// TestBybitIdleTimeout: a connection that sends nothing and is sent
// nothing is closed after IdleTimeout; one that pings, and one that only
// receives stream data, stay open.
func TestBybitIdleTimeout(t *testing.T) {
	s, by := startWithBybit(t, Config{Bybit: BybitConfig{IdleTimeout: 400 * time.Millisecond}})
	quiet, pinging, fed := bybitDial(t, s, BybitSpot), bybitDial(t, s, BybitSpot), bybitDial(t, s, BybitLinear)
	bybitSend(t, fed, `{"op":"subscribe","args":["orderbook.50.BTCUSDT"]}`)
	var fedErr error
	fedDone := make(chan struct{})
	go func() {
		defer close(fedDone)
		fed.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
		for {
			if _, _, err := fed.ReadMessage(); err != nil {
				fedErr = err
				return
			}
		}
	}()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		quiet.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			if _, _, err := quiet.ReadMessage(); err != nil {
				done <- err
				return
			}
		}
	}()
	for time.Since(start) < 1200*time.Millisecond {
		bybitSend(t, pinging, `{"op":"ping"}`)
		if m := bybitRead(t, pinging, 2*time.Second); m.RetMsg != "pong" {
			t.Fatalf("%s", m.raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	err := <-done
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 1000 {
		t.Fatalf("quiet connection: %v, want a 1000 close", err)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("closed after %v", d)
	}
	<-fedDone
	var ne interface{ Timeout() bool }
	if !errors.As(fedErr, &ne) || !ne.Timeout() {
		t.Fatalf("a connection sent data was closed: %v", fedErr)
	}
	if n := len(by.Conns()); n != 2 {
		t.Fatalf("%d connections open, want the pinging one and the fed one", n)
	}
}

// TestBybitFaults: bybit-new-snapshot and bybit-restart send a snapshot
// mid-stream (u=1 after a restart, then 2, 3 …), bybit-u-gap a delta
// whose u skips one; after each, the book kept by the rules matches the
// truth again at the next snapshot.
func TestBybitFaults(t *testing.T) {
	for _, f := range []string{"bybit-new-snapshot:p=0.01", "bybit-restart:times=1", "bybit-u-gap:every=10s", "bybit-rate-limit:p=0.5"} {
		if _, err := ParseFault(f); err != nil {
			t.Fatalf("ParseFault(%q): %v", f, err)
		}
	}
	s, by := startWithBybit(t, Config{})
	c := bybitDial(t, s, BybitLinear)
	bybitSend(t, c, `{"op":"subscribe","args":["orderbook.50.BTCUSDT"]}`)
	bybitRead(t, c, 5*time.Second)
	next := func() (bybitMsg, bybitBookData) {
		m := bybitReadTopic(t, c, "orderbook.50.BTCUSDT")
		var d bybitBookData
		json.Unmarshal(m.Data, &d)
		return m, d
	}
	book := bybitLocalBook{}
	m, d := next()
	book.apply(m, d)
	last := d.U
	expect := func(kind FaultKind, ok func(m bybitMsg, d bybitBookData) bool) {
		t.Helper()
		if err := s.Fire(Fault{Kind: kind}); err != nil {
			t.Fatal(err)
		}
		for range 100 {
			m, d := next()
			if ok(m, d) {
				book.apply(m, d)
				last = d.U
				if truth, err := by.BookAt("BTCUSDT", BybitLinear, d.U); err != nil || book.equalTop(truth, 50) != nil {
					t.Fatalf("%s: book at u=%d: %v %v", kind, d.U, err, book.equalTop(truth, 50))
				}
				return
			}
			if m.Type != "delta" || d.U != last+1 {
				t.Fatalf("%s: before the fault: %s u=%d after %d", kind, m.Type, d.U, last)
			}
			book.apply(m, d)
			last = d.U
		}
		t.Fatalf("%s: not seen", kind)
	}
	expect(FaultBybitNewSnapshot, func(m bybitMsg, d bybitBookData) bool { return m.Type == "snapshot" && d.U == last+1 })
	expect(FaultBybitRestart, func(m bybitMsg, d bybitBookData) bool { return m.Type == "snapshot" && d.U == 1 })
	m, d = next()
	if m.Type != "delta" || d.U != 2 {
		t.Fatalf("after the restart: %s u=%d", m.Type, d.U)
	}
	book.apply(m, d)
	last = d.U
	if err := s.Fire(Fault{Kind: FaultBybitUGap}); err != nil {
		t.Fatal(err)
	}
	for {
		m, d := next()
		if d.U == last+1 {
			book.apply(m, d)
			last = d.U
			continue
		}
		if d.U != last+2 || m.Type != "delta" {
			t.Fatalf("u-gap: %s u=%d after %d", m.Type, d.U, last)
		}
		if _, err := by.BookAt("BTCUSDT", BybitLinear, last+1); err != nil {
			t.Fatalf("the lost push has no truth: %v", err)
		}
		break
	}
}

// TestBybitDepthDropShowsAsUGap: the common depth-drop fault leaves out a
// delta on one connection: the client sees u skip.
func TestBybitDepthDropShowsAsUGap(t *testing.T) {
	s, _ := startWithBybit(t, Config{})
	c := bybitDial(t, s, BybitSpot)
	bybitSend(t, c, `{"op":"subscribe","args":["orderbook.50.BTCUSDT"]}`)
	bybitRead(t, c, 5*time.Second)
	var d bybitBookData
	json.Unmarshal(bybitReadTopic(t, c, "orderbook.50.BTCUSDT").Data, &d)
	last := d.U
	if err := s.Fire(Fault{Kind: FaultDepthDrop}); err != nil {
		t.Fatal(err)
	}
	for range 200 {
		json.Unmarshal(bybitReadTopic(t, c, "orderbook.50.BTCUSDT").Data, &d)
		if d.U > last+1 {
			return
		}
		last = d.U
	}
	t.Fatal("no gap in u")
}

// TestBybitDropFault: the common drop fault resets Bybit connections.
func TestBybitDropFault(t *testing.T) {
	s, by := startWithBybit(t, Config{})
	c := bybitDial(t, s, BybitLinear)
	waitFor(t, 3*time.Second, func() bool { return len(by.Conns()) > 0 })
	if err := s.Fire(Fault{Kind: FaultDrop}); err != nil {
		t.Fatal(err)
	}
	err := readUntilError(c, 5*time.Second)
	var ce *websocket.CloseError
	if err == nil || errors.As(err, &ce) {
		t.Fatalf("after drop: %v, want an abrupt end", err)
	}
}

// TestBybitTickersAndLiquidations: linear tickers start with a snapshot
// carrying funding and open interest, then send deltas; allLiquidation
// sends arrays.
func TestBybitTickersAndLiquidations(t *testing.T) {
	s, _ := startWithBybit(t, Config{})
	c := bybitDial(t, s, BybitLinear)
	bybitSend(t, c, `{"op":"subscribe","args":["tickers.BTCUSDT","allLiquidation.BTCUSDT"]}`)
	bybitRead(t, c, 5*time.Second)
	m := bybitReadTopic(t, c, "tickers.BTCUSDT")
	var snap map[string]string
	if err := json.Unmarshal(m.Data, &snap); err != nil || m.Type != "snapshot" {
		t.Fatalf("%s: %v", m.raw, err)
	}
	for _, k := range []string{"symbol", "lastPrice", "markPrice", "indexPrice", "fundingRate", "nextFundingTime", "openInterest", "bid1Price", "ask1Price"} {
		if snap[k] == "" {
			t.Fatalf("snapshot without %s: %s", k, m.raw)
		}
	}
	if next, _ := strconv.ParseInt(snap["nextFundingTime"], 10, 64); next <= time.Now().UnixMilli() || next%(8*3600*1000) != 0 {
		t.Fatalf("nextFundingTime %s", snap["nextFundingTime"])
	}
	m = bybitReadTopic(t, c, "tickers.BTCUSDT")
	var delta map[string]string
	json.Unmarshal(m.Data, &delta)
	if m.Type != "delta" || delta["symbol"] != "BTCUSDT" || len(delta) >= len(snap) {
		t.Fatalf("delta: %s", m.raw)
	}
	m = bybitReadTopic(t, c, "allLiquidation.BTCUSDT")
	var liq []struct {
		T            int64
		S, V, P, Sym string
	}
	if err := json.Unmarshal(m.Data, &liq); err != nil || len(liq) == 0 || (liq[0].S != "Buy" && liq[0].S != "Sell") {
		t.Fatalf("%s: %v", m.raw, err)
	}
}

type bybitAnswer struct {
	RetCode int             `json:"retCode"`
	RetMsg  string          `json:"retMsg"`
	Result  json.RawMessage `json:"result"`
	Time    int64           `json:"time"`
}

func bybitGet(t testing.TB, s *Server, path string) (int, bybitAnswer, []byte) {
	t.Helper()
	status, _, body := getURL(t, s, s.Bybit().RESTURL()+path)
	var r bybitAnswer
	if status == http.StatusOK && strings.HasPrefix(path, "/v5/") {
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("%s: %s: %v", path, body, err)
		}
	}
	return status, r, body
}

// TestBybitREST: time, instruments-info, orderbook (against the truth at
// its u) and recent-trade, and the retCode 10001 refusals.
func TestBybitREST(t *testing.T) {
	s, by := startWithBybit(t, Config{})
	waitFor(t, 3*time.Second, func() bool { tr, _ := by.Trades("BTCUSDT", BybitSpot, 0, time.Now().UnixMilli()); return len(tr) > 70 })

	st, r, body := bybitGet(t, s, "/v5/market/time")
	var tm struct{ TimeSecond, TimeNano string }
	json.Unmarshal(r.Result, &tm)
	if st != 200 || r.RetCode != 0 || r.RetMsg != "OK" || tm.TimeSecond == "" || !strings.HasPrefix(tm.TimeNano, tm.TimeSecond) {
		t.Fatalf("time: %d %s", st, body)
	}

	for _, cat := range []string{BybitSpot, BybitLinear} {
		_, r, body = bybitGet(t, s, "/v5/market/instruments-info?category="+cat)
		var info struct {
			Category string
			List     []struct {
				Symbol, Status, ContractType string
				PriceFilter                  struct{ TickSize string }
				LotSizeFilter                struct{ QtyStep, BasePrecision string }
			}
		}
		if err := json.Unmarshal(r.Result, &info); err != nil || info.Category != cat || len(info.List) != 2 {
			t.Fatalf("instruments %s: %s", cat, body)
		}
		i := info.List[0]
		if i.Symbol != "BTCUSDT" || i.Status != "Trading" || i.PriceFilter.TickSize == "" ||
			(cat == BybitLinear && (i.ContractType != "LinearPerpetual" || i.LotSizeFilter.QtyStep == "")) ||
			(cat == BybitSpot && i.LotSizeFilter.BasePrecision == "") {
			t.Fatalf("instruments %s: %s", cat, body)
		}

		_, r, body = bybitGet(t, s, "/v5/market/orderbook?category="+cat+"&symbol=BTCUSDT&limit=20")
		var ob struct {
			S    string
			B, A [][2]string
			U    int64
			Seq  int64
		}
		if err := json.Unmarshal(r.Result, &ob); err != nil || ob.S != "BTCUSDT" || len(ob.B) != 20 || len(ob.A) != 20 || ob.Seq == 0 {
			t.Fatalf("orderbook %s: %s", cat, body)
		}
		truth, err := by.BookAt("BTCUSDT", cat, ob.U)
		if err != nil {
			t.Fatal(err)
		}
		for j := range 20 {
			if ob.B[j] != [2]string{truth.Bids[j].Price, truth.Bids[j].Qty} || ob.A[j] != [2]string{truth.Asks[j].Price, truth.Asks[j].Qty} {
				t.Fatalf("orderbook %s level %d: %v %v, truth %v %v", cat, j, ob.B[j], ob.A[j], truth.Bids[j], truth.Asks[j])
			}
		}

		_, r, body = bybitGet(t, s, "/v5/market/recent-trade?category="+cat+"&symbol=BTCUSDT")
		var rt struct {
			List []struct{ ExecID, Price, Size, Side, Time, Seq string }
		}
		json.Unmarshal(r.Result, &rt)
		want := 60
		if cat == BybitLinear {
			want = min(500, len(rt.List))
		}
		if len(rt.List) != want || want < 60 {
			t.Fatalf("recent-trade %s: %d trades", cat, len(rt.List))
		}
		t0, _ := strconv.ParseInt(rt.List[len(rt.List)-1].Time, 10, 64)
		t1, _ := strconv.ParseInt(rt.List[0].Time, 10, 64)
		tr, err := by.Trades("BTCUSDT", cat, t0, t1)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]BybitTrade{}
		for _, x := range tr {
			ids[x.ID] = x
		}
		for _, x := range rt.List {
			w, ok := ids[x.ExecID]
			if !ok || w.Price != x.Price || w.Size != x.Size || w.Side != x.Side || x.Seq != strconv.FormatInt(w.Seq, 10) {
				t.Fatalf("recent-trade %s: %+v, truth %+v", cat, x, w)
			}
		}
	}

	for path, msg := range map[string]string{
		"/v5/market/orderbook?symbol=BTCUSDT":                            "category is required",
		"/v5/market/orderbook?category=inverse&symbol=BTCUSD":            `category "inverse"`,
		"/v5/market/orderbook?category=spot&symbol=NOPE":                 `symbol "NOPE" invalid`,
		"/v5/market/recent-trade?category=spot&symbol=BTCUSDT&limit=61":  `limit "61"`,
		"/v5/market/orderbook?category=linear&symbol=BTCUSDT&limit=1001": `limit "1001"`,
		"/v5/market/instruments-info?category=linear&cursor=x":           `cursor "x"`,
	} {
		st, r, body := bybitGet(t, s, path)
		if st != 200 || r.RetCode != 10001 || !strings.Contains(r.RetMsg, msg) {
			t.Errorf("%s: %d %s, want retCode 10001 naming %s", path, st, body, msg)
		}
	}
	if st, _, _ := bybitGet(t, s, "/v5/market/nope"); st != 404 {
		t.Errorf("unknown path: %d", st)
	}
}

// TestBybitREST403: over RESTLimit requests a window, and under the
// bybit-rate-limit fault, the answer is HTTP 403 "access too frequent".
func TestBybitREST403(t *testing.T) {
	s, _ := startWithBybit(t, Config{Bybit: BybitConfig{RESTLimit: 3, RESTWindow: time.Hour, RESTBan: time.Hour}})
	if err := s.Fire(Fault{Kind: FaultBybitRateLimit}); err != nil {
		t.Fatal(err)
	}
	if st, _, body := bybitGet(t, s, "/v5/market/time"); st != 403 || string(body) != "access too frequent" {
		t.Fatalf("fault: %d %s", st, body)
	}
	for i := 2; i <= 3; i++ {
		if st, _, body := bybitGet(t, s, "/v5/market/time"); st != 200 {
			t.Fatalf("request %d: %d %s", i, st, body)
		}
	}
	for range 2 {
		if st, _, body := bybitGet(t, s, "/v5/market/time"); st != 403 || string(body) != "access too frequent" {
			t.Fatalf("over the limit: %d %s", st, body)
		}
	}
}

// TestBybitTruthEndpoints: /sim/book and /sim/trades on the front-end's
// listener answer as BookAt and Trades.
func TestBybitTruthEndpoints(t *testing.T) {
	s, by := startWithBybit(t, Config{})
	time.Sleep(200 * time.Millisecond)
	st, _, body := bybitGet(t, s, "/sim/book?category=linear&symbol=BTCUSDT")
	var b BookState
	if err := json.Unmarshal(body, &b); st != 200 || err != nil || b.LastUpdateID == 0 || len(b.Bids) == 0 {
		t.Fatalf("book: %d %s", st, body)
	}
	if _, err := by.BookAt("BTCUSDT", "inverse", 0); !errors.Is(err, errBadParam) {
		t.Fatalf("category inverse: %v", err)
	}
	if _, err := by.BookAt("BTCUSDT", BybitSpot, 1<<40); !errors.Is(err, ErrNotYet) {
		t.Fatalf("future u: %v", err)
	}
	st, _, body = bybitGet(t, s, "/sim/trades?category=spot&symbol=BTCUSDT&from=0")
	var trades []BybitTrade
	if err := json.Unmarshal(body, &trades); st != 200 || err != nil || len(trades) == 0 {
		t.Fatalf("trades: %d %s", st, body)
	}
	if st, _, _ := bybitGet(t, s, "/sim/book?category=futures&symbol=BTCUSDT"); st != 400 {
		t.Fatalf("bad category: %d", st)
	}
}

func TestAppendBybitDec(t *testing.T) {
	for _, tc := range []struct {
		v    int64
		dec  int
		want string
	}{
		{1657850_000000, 2, "16578.50"}, {1657850_000000, 0, "16578.5"}, {100000, 5, "0.00100"},
		{123, 2, "0.00000123"}, {5_00000000, 0, "5"}, {0, 3, "0.000"}, {12_34500000, 8, "12.34500000"},
	} {
		if got := string(appendBybitDec(nil, tc.v, tc.dec)); got != tc.want {
			t.Errorf("appendBybitDec(%d, %d) = %q, want %q", tc.v, tc.dec, got, tc.want)
		}
	}
}

// TestBybitConnAttempts: past ConnAttemptLimit connections a window, the
// upgrade is refused with HTTP 429.
func TestBybitConnAttempts(t *testing.T) {
	s, _ := startWithBybit(t, Config{Bybit: BybitConfig{ConnAttemptLimit: 2}})
	bybitDial(t, s, BybitSpot)
	bybitDial(t, s, BybitLinear)
	c, resp, err := dialer(s).Dial(s.Bybit().WSURL()+"/v5/public/spot", nil)
	if err == nil {
		c.Close()
		t.Fatal("a third connection was accepted")
	}
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third connection: %v %v", resp, err)
	}
	resp.Body.Close()
}

// FuzzBybitRequest: whatever a client sends, the front-end answers it with
// exactly one JSON reply carrying success, ret_msg, conn_id and op, and
// subscribes only topics it accepted.
func FuzzBybitRequest(f *testing.F) {
	m := newTestMarket(f, Config{Symbols: []string{"BTCUSDT"}})
	b := &Bybit{frontend: &frontend{hub: newHub()}, cfg: BybitConfig{}.withDefaults()}
	b.feed = newBybitFeed(m, b.hub, newFaults(1), b.cfg)
	for _, s := range []string{
		`{"op":"ping"}`, `{"req_id":"100001","op":"ping"}`, `{"req_id":7,"op":"ping"}`,
		`{"op":"subscribe","args":["orderbook.50.BTCUSDT","publicTrade.BTCUSDT"],"req_id":"x"}`,
		`{"op":"subscribe","args":["orderbook.50.BTCUSDT","orderbook.50.BTCUSDT"]}`,
		`{"op":"unsubscribe","args":["tickers.BTCUSDT"]}`, `{"op":"subscribe","args":"nope"}`,
		`{"op":null}`, `[]`, `nul`, `{"op":"subscribe","args":["orderbook..BTCUSDT","allLiquidation.BTCUSDT"]}`,
	} {
		f.Add(false, []byte(s))
		f.Add(true, []byte(s))
	}
	f.Fuzz(func(t *testing.T, linear bool, body []byte) {
		cat := BybitSpot
		if linear {
			cat = BybitLinear
		}
		c := &wsConn{notify: make(chan struct{}, 1), by: &bybitConn{category: cat, connID: "c"}}
		c.ctx, c.cancel = context.WithCancel(context.Background())
		defer c.cancel()
		b.handleRequest(c, body)
		if len(c.ctrl) != 1 {
			t.Fatalf("%q: %d replies", body, len(c.ctrl))
		}
		var r struct {
			Success *bool   `json:"success"`
			RetMsg  *string `json:"ret_msg"`
			ConnID  string  `json:"conn_id"`
			Op      *string `json:"op"`
		}
		if err := json.Unmarshal(c.ctrl[0].payload, &r); err != nil || r.Success == nil || r.RetMsg == nil || r.Op == nil || r.ConnID != "c" {
			t.Fatalf("%q: reply %s: %v", body, c.ctrl[0].payload, err)
		}
		for _, topic := range c.by.topics {
			if msg := b.checkTopic(cat, topic); msg != "" {
				t.Fatalf("%q: subscribed %q: %s", body, topic, msg)
			}
		}
		b.feed.dropConn(c)
	})
}

// TestBybitDepth1Repeats: with a still market, depth 1 sends its snapshot
// again after 3 s with the same u; depth 50 sends nothing.
func TestBybitDepth1Repeats(t *testing.T) {
	s, _ := startWithBybit(t, Config{Rate: -1})
	c := bybitDial(t, s, BybitSpot)
	bybitSend(t, c, `{"op":"subscribe","args":["orderbook.1.BTCUSDT","orderbook.50.BTCUSDT"]}`)
	bybitRead(t, c, 5*time.Second)
	var first, again bybitBookData
	start := time.Now()
	seen := map[string]int{}
	for seen["orderbook.1.BTCUSDT"] < 2 {
		m := bybitRead(t, c, 5*time.Second)
		seen[m.Topic]++
		if m.Topic == "orderbook.1.BTCUSDT" {
			if seen[m.Topic] == 1 {
				json.Unmarshal(m.Data, &first)
			} else {
				json.Unmarshal(m.Data, &again)
			}
		}
	}
	if d := time.Since(start); d < 2900*time.Millisecond || again.U != first.U || fmt.Sprint(again.B, again.A) != fmt.Sprint(first.B, first.A) {
		t.Fatalf("after %v: %+v then %+v", d, first, again)
	}
	if seen["orderbook.50.BTCUSDT"] != 1 {
		t.Fatalf("orderbook.50 sent %d messages in a still market", seen["orderbook.50.BTCUSDT"])
	}
}

// TestBybitConnsPerIP: MaxConnsPerIP open connections per IP and category;
// a closed one frees its place.
func TestBybitConnsPerIP(t *testing.T) {
	s, by := startWithBybit(t, Config{Bybit: BybitConfig{MaxConnsPerIP: 1}})
	first := bybitDial(t, s, BybitSpot)
	bybitDial(t, s, BybitLinear) // the other category counts apart
	c, resp, err := dialer(s).Dial(by.WSURL()+"/v5/public/spot", nil)
	if err == nil {
		c.Close()
		t.Fatal("a second spot connection was accepted")
	}
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second spot connection: %v %v", resp, err)
	}
	resp.Body.Close()
	first.Close()
	waitFor(t, 3*time.Second, func() bool { return len(by.Conns()) == 1 })
	waitFor(t, 3*time.Second, func() bool {
		c, resp, err := dialer(s).Dial(by.WSURL()+"/v5/public/spot", nil)
		if err != nil {
			if resp != nil {
				resp.Body.Close()
			}
			return false
		}
		resp.Body.Close()
		c.Close()
		return true
	})
}
