package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func startWithUSDM(t testing.TB, cfg Config) (*Server, *USDM) {
	t.Helper()
	return startVenue(t, cfg, VenueBinanceUSDM, (*Server).USDM)
}

func usdmDial(t testing.TB, s *Server, path string) *websocket.Conn {
	t.Helper()
	return dialWS(t, s, s.USDM().WSURL()+path)
}

type usdmReply struct {
	status int
	header http.Header
	body   []byte
}

func usdmGet(t testing.TB, s *Server, path string) usdmReply {
	t.Helper()
	status, header, body := getURL(t, s, s.USDM().RESTURL()+path)
	return usdmReply{status, header, body}
}

type usdmDepthEvent struct {
	E, T, U, LastU, PU int64
	S                  string
	B, A               [][2]string
}

func (e *usdmDepthEvent) UnmarshalJSON(b []byte) error {
	var raw struct {
		Ev string      `json:"e"`
		E  int64       `json:"E"`
		T  int64       `json:"T"`
		S  string      `json:"s"`
		U  int64       `json:"U"`
		U2 int64       `json:"u"`
		PU *int64      `json:"pu"`
		B  [][2]string `json:"b"`
		A  [][2]string `json:"a"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if raw.Ev != "depthUpdate" || raw.PU == nil || raw.T == 0 || raw.E < raw.T {
		return fmt.Errorf("not a USD-M depthUpdate: %s", b)
	}
	*e = usdmDepthEvent{E: raw.E, T: raw.T, U: raw.U, LastU: raw.U2, PU: *raw.PU, S: raw.S, B: raw.B, A: raw.A}
	return nil
}

// localBook is a book kept by the USD-M procedure.
type localBook map[string]map[string]string // side → price → qty

func (l localBook) apply(side string, lv [][2]string) {
	for _, x := range lv {
		if x[1] == "0.00000000" {
			delete(l[side], x[0])
		} else {
			l[side][x[0]] = x[1]
		}
	}
}

func (l localBook) equal(b BookState) error { return l.equalTop(b, math.MaxInt) }

// equalTop compares the book with the best depth levels of the truth.
func (l localBook) equalTop(b BookState, depth int) error {
	for side, want := range map[string][]Level{"b": b.Bids, "a": b.Asks} {
		want = want[:min(depth, len(want))]
		if len(l[side]) != len(want) {
			return fmt.Errorf("side %s: %d levels, truth has %d", side, len(l[side]), len(want))
		}
		for _, lv := range want {
			if l[side][lv.Price] != lv.Qty {
				return fmt.Errorf("side %s price %s: %q, truth %q", side, lv.Price, l[side][lv.Price], lv.Qty)
			}
		}
	}
	return nil
}

// TestUSDMDepthFollowsProcedure keeps a book from /public/ws/<s>@depth@100ms
// and GET /fapi/v1/depth by the documented procedure (U <= lastUpdateId <=
// u, then pu == previous u) and compares it to the ground truth after every
// event; consecutive events must not chain by U == previous u + 1.
func TestUSDMDepthFollowsProcedure(t *testing.T) {
	s, u := startWithUSDM(t, Config{})
	c := usdmDial(t, s, "/public/ws/btcusdt@depth@100ms")
	var buf []usdmDepthEvent
	var ev usdmDepthEvent
	readJSON(t, c, 5*time.Second, &ev) // the stream runs before the snapshot is taken
	buf = append(buf, ev)
	r := usdmGet(t, s, "/fapi/v1/depth?symbol=BTCUSDT&limit=1000")
	if r.status != 200 || r.header.Get("X-MBX-USED-WEIGHT-1M") != "20" {
		t.Fatalf("depth: %d, weight %q: %s", r.status, r.header.Get("X-MBX-USED-WEIGHT-1M"), r.body)
	}
	var snap struct {
		LastUpdateID int64       `json:"lastUpdateId"`
		E            int64       `json:"E"`
		T            int64       `json:"T"`
		Bids         [][2]string `json:"bids"`
		Asks         [][2]string `json:"asks"`
	}
	if err := json.Unmarshal(r.body, &snap); err != nil {
		t.Fatal(err)
	}
	if snap.T == 0 || snap.E == 0 {
		t.Fatalf("snapshot without E or T: %s", r.body)
	}
	book := localBook{"b": {}, "a": {}}
	book.apply("b", snap.Bids)
	book.apply("a", snap.Asks)

	synced, applied, jumps := false, 0, 0
	var prevU int64
	for applied < 30 {
		if len(buf) == 0 {
			readJSON(t, c, 5*time.Second, &ev)
			buf = append(buf, ev)
		}
		ev, buf = buf[0], buf[1:]
		if !synced {
			if ev.LastU < snap.LastUpdateID {
				continue
			}
			if ev.U > snap.LastUpdateID {
				t.Fatalf("first event after the snapshot %d starts at U %d", snap.LastUpdateID, ev.U)
			}
			synced = true
		} else {
			if ev.PU != prevU {
				t.Fatalf("pu %d is not the previous u %d", ev.PU, prevU)
			}
			if ev.U != prevU+1 {
				jumps++
			}
		}
		prevU = ev.LastU
		book.apply("b", ev.B)
		book.apply("a", ev.A)
		truth, err := u.BookAt("BTCUSDT", ev.LastU)
		if err != nil {
			t.Fatal(err)
		}
		if truth.LastUpdateID != ev.LastU {
			t.Fatalf("truth answers for %d, asked %d", truth.LastUpdateID, ev.LastU)
		}
		if err := book.equal(truth); err != nil {
			t.Fatalf("after u=%d: %v", ev.LastU, err)
		}
		applied++
	}
	if jumps == 0 {
		t.Fatal("every event chained by U == previous u + 1; USD-M's do not")
	}
}

// TestUSDMPUBreak: with pu-break, the chain breaks for every subscriber.
func TestUSDMPUBreak(t *testing.T) {
	s, _ := startWithUSDM(t, Config{Faults: []Fault{{Kind: FaultPUBreak, Prob: 0.3}}})
	c := usdmDial(t, s, "/public/stream?streams=btcusdt@depth@100ms")
	var prev int64
	breaks := 0
	for i := 0; i < 30 && breaks == 0; i++ {
		var env struct {
			Stream string         `json:"stream"`
			Data   usdmDepthEvent `json:"data"`
		}
		readJSON(t, c, 5*time.Second, &env)
		if env.Stream != "btcusdt@depth@100ms" {
			t.Fatalf("stream %q", env.Stream)
		}
		if prev != 0 && env.Data.PU != prev {
			breaks++
		}
		prev = env.Data.LastU
	}
	if breaks == 0 {
		t.Fatal("pu-break at p=0.3: 30 events and no break of the pu chain")
	}
	if s.FaultCounts()[FaultPUBreak] == 0 {
		t.Fatal("pu-break not counted")
	}
}

// TestUSDMAggTradesMatchGroundTruth reads aggTrade on /market and compares
// it with the truth and with GET /fapi/v1/aggTrades.
func TestUSDMAggTradesMatchGroundTruth(t *testing.T) {
	s, u := startWithUSDM(t, Config{RESTLag: -1})
	c := usdmDial(t, s, "/market/stream?streams=btcusdt@aggTrade")
	var first, last int64
	for i := 0; i < 40; i++ {
		var env struct {
			Stream string `json:"stream"`
			Data   struct {
				Ev    string `json:"e"`
				E     int64  `json:"E"`
				S     string `json:"s"`
				A     int64  `json:"a"`
				P     string `json:"p"`
				Q     string `json:"q"`
				NQ    string `json:"nq"`
				F, L  int64
				T     int64 `json:"T"`
				M     bool  `json:"m"`
				Extra *bool `json:"M"`
			} `json:"data"`
		}
		readJSON(t, c, 5*time.Second, &env)
		d := env.Data
		if env.Stream != "btcusdt@aggTrade" || d.Ev != "aggTrade" || d.S != "BTCUSDT" || d.NQ == "" || d.Extra != nil || d.E < d.T {
			t.Fatalf("not a USD-M aggTrade: %+v", env)
		}
		if last != 0 && d.A != last+1 {
			t.Fatalf("aggregate trade %d after %d", d.A, last)
		}
		if first == 0 {
			first = d.A
		}
		last = d.A
		want, err := u.AggTrades("BTCUSDT", d.A, d.A)
		if err != nil || len(want) != 1 {
			t.Fatalf("truth of %d: %v %v", d.A, want, err)
		}
		w := want[0]
		if w.Price != d.P || w.Qty != d.Q || w.Qty != d.NQ || w.Time != d.T || w.BuyerMaker != d.M {
			t.Fatalf("aggTrade %d: stream %+v, truth %+v", d.A, d, w)
		}
	}
	r := usdmGet(t, s, fmt.Sprintf("/fapi/v1/aggTrades?symbol=BTCUSDT&fromId=%d&limit=%d", first, last-first+1))
	if r.status != 200 || r.header.Get("X-MBX-USED-WEIGHT-1M") != "20" {
		t.Fatalf("aggTrades: %d weight %q %s", r.status, r.header.Get("X-MBX-USED-WEIGHT-1M"), r.body)
	}
	var rest []AggTrade
	if err := json.Unmarshal(r.body, &rest); err != nil {
		t.Fatal(err)
	}
	truth, _ := u.AggTrades("BTCUSDT", first, last)
	if len(rest) != len(truth) {
		t.Fatalf("REST %d trades, truth %d", len(rest), len(truth))
	}
	for i := range rest {
		if rest[i] != truth[i] {
			t.Fatalf("REST %+v, truth %+v", rest[i], truth[i])
		}
	}
}

// TestUSDMRouting: a /market stream on /public or on the legacy routes is
// acknowledged, listed, and silent; the same stream on /market is not.
func TestUSDMRouting(t *testing.T) {
	s, _ := startWithUSDM(t, Config{})
	legacy := usdmDial(t, s, "/ws/btcusdt@aggTrade")
	public := usdmDial(t, s, "/public/ws")
	if r := request(t, public, `{"method":"SUBSCRIBE","params":["btcusdt@aggTrade","btcusdt@markPrice@1s"],"id":7}`); r["result"] != nil || r["id"] != 7.0 || r["error"] != nil {
		t.Fatalf("subscribe on the wrong route: %v, want {result:null,id:7}", r)
	}
	r := request(t, public, `{"method":"LIST_SUBSCRIPTIONS","id":8}`)
	if list, _ := r["result"].([]any); len(list) != 2 || list[0] != "btcusdt@aggTrade" {
		t.Fatalf("LIST_SUBSCRIPTIONS: %v", r)
	}
	market := usdmDial(t, s, "/market/ws/btcusdt@depth@100ms")
	// the right route delivers
	good := usdmDial(t, s, "/market/ws/btcusdt@aggTrade")
	var ev map[string]any
	readJSON(t, good, 5*time.Second, &ev)
	if ev["e"] != "aggTrade" {
		t.Fatalf("aggTrade on /market: %v", ev)
	}
	for name, c := range map[string]*websocket.Conn{"legacy aggTrade": legacy, "public aggTrade": public, "market depth": market} {
		c.SetReadDeadline(time.Now().Add(1200 * time.Millisecond))
		if _, msg, err := c.ReadMessage(); err == nil {
			t.Fatalf("%s: got %s, want silence", name, msg)
		} else if !isTimeout(err) {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// TestUSDMRequestErrors: the documented error replies and limits.
func TestUSDMRequestErrors(t *testing.T) {
	s, _ := startWithUSDM(t, Config{KeepOpenAfterInvalidStream: true, USDM: USDMConfig{MaxIncoming: 100}})
	c := usdmDial(t, s, "/public/ws")
	for _, tc := range []struct {
		req  string
		code float64
		msg  string
	}{
		{`{"method":"SUBSCRIBE","params":["btcusdt@depth"],"id":"a1"}`, 2, "Invalid request: request ID must be an unsigned integer"},
		{`{"method":"SUBSCRIBE","params":["btcusdt@depth"],"id":-1}`, 2, "Invalid request: request ID must be an unsigned integer"},
		{`{"method":"SUBSCRIB","id":1}`, 2, "Invalid request: unknown variant SUBSCRIB, expected one of SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY, GET_PROPERTY"},
		{`{"method":"SET_PROPERTY","params":["combined","yes"],"id":2}`, 1, "Invalid value type: expected Boolean"},
		{`{"method":"SET_PROPERTY","params":[5,true],"id":3}`, 2, "Invalid request: property name must be a string"},
		{`{"method":"GET_PROPERTY","params":["x"],"id":4}`, 0, "Unknown property"},
		{`{"method":"SUBSCRIBE","params":["btcusdt@nope"],"id":5}`, 2, "Invalid request: invalid stream"},
	} {
		r := request(t, c, tc.req)
		e, _ := r["error"].(map[string]any)
		if e == nil || e["code"] != tc.code || e["msg"] != tc.msg {
			t.Errorf("%s: got %v, want code %v %q", tc.req, r, tc.code, tc.msg)
		}
	}
	names := make([]string, 201)
	for i := range names {
		names[i] = fmt.Sprintf("sym%d@depth", i)
	}
	params, _ := json.Marshal(names)
	if r := request(t, c, `{"method":"SUBSCRIBE","params":`+string(params)+`,"id":9}`); r["error"] == nil {
		t.Fatalf("201 streams accepted: %v", r)
	}
	params, _ = json.Marshal(names[:200])
	if r := request(t, c, `{"method":"SUBSCRIBE","params":`+string(params)+`,"id":10}`); r["error"] != nil {
		t.Fatalf("200 streams refused: %v", r)
	}
	_, resp, err := dialer(s).Dial(s.USDM().WSURL()+"/public/stream?streams="+strings.Join(names, "/"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("201 streams in the URL: err %v resp %v, want HTTP 400", err, resp)
	}
}

// TestUSDMIncomingLimit: the 11th message within a second closes the
// connection; 10 do not.
func TestUSDMIncomingLimit(t *testing.T) {
	s, _ := startWithUSDM(t, Config{})
	c := usdmDial(t, s, "/market/ws")
	for i := 0; i < 10; i++ {
		c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"method":"LIST_SUBSCRIPTIONS","id":%d}`, i)))
	}
	for i := 0; i < 10; i++ {
		var r map[string]any
		readJSON(t, c, 5*time.Second, &r)
		if r["id"] != float64(i) {
			t.Fatalf("reply %d: %v", i, r)
		}
	}
	c.WriteMessage(websocket.TextMessage, []byte(`{"method":"LIST_SUBSCRIPTIONS","id":10}`))
	err := readUntilError(c, 5*time.Second)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 1008 {
		t.Fatalf("11 messages in a second: want close 1008, got %v", err)
	}
}

// TestUSDMPingAndLifetime: the configured ping interval and lifetime apply
// to USD-M connections, not the spot ones.
func TestUSDMPingAndLifetime(t *testing.T) {
	s, _ := startWithUSDM(t, Config{USDM: USDMConfig{PingInterval: 200 * time.Millisecond, MaxLifetime: 1500 * time.Millisecond}})
	c := usdmDial(t, s, "/public/ws/btcusdt@bookTicker")
	pings := 0
	c.SetPingHandler(func(p string) error {
		pings++
		return c.WriteControl(websocket.PongMessage, []byte(p), time.Now().Add(time.Second))
	})
	start := time.Now()
	err := readUntilError(c, 5*time.Second)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 1001 || time.Since(start) > 3*time.Second {
		t.Fatalf("lifetime: %v after %v", err, time.Since(start))
	}
	if pings < 4 {
		t.Fatalf("%d pings in 1.5 s at 200 ms", pings)
	}
}

// TestUSDMMarkPriceAndLiquidations reads the mark price and liquidation
// streams of all symbols.
func TestUSDMMarkPriceAndLiquidations(t *testing.T) {
	s, u := startWithUSDM(t, Config{RESTLag: -1})
	c := usdmDial(t, s, "/market/stream?streams=!markPrice@arr@1s/btcusdt@forceOrder/btcusdt@bookTicker")
	marks, forces := 0, 0
	lastForce := map[int64]bool{}
	deadline := time.Now().Add(8 * time.Second)
	for (marks < 2 || forces < 2) && time.Now().Before(deadline) {
		var env struct {
			Stream string          `json:"stream"`
			Data   json.RawMessage `json:"data"`
		}
		readJSON(t, c, 5*time.Second, &env)
		switch env.Stream {
		case "!markPrice@arr@1s":
			var arr []struct {
				Ev     string `json:"e"`
				E      int64  `json:"E"`
				Mark   string `json:"p"`
				Settle string `json:"P"`
				Next   int64  `json:"T"`
			}
			if err := json.Unmarshal(env.Data, &arr); err != nil || len(arr) != 2 {
				t.Fatalf("markPrice array: %s %v", env.Data, err)
			}
			for _, m := range arr {
				if m.Ev != "markPriceUpdate" || m.Mark == "" || m.Next%(8*3600*1000) != 0 || m.Next <= time.Now().UnixMilli() || m.Settle == "" {
					t.Fatalf("markPriceUpdate: %s", env.Data)
				}
			}
			marks++
		case "btcusdt@forceOrder":
			var f struct {
				Ev string `json:"e"`
				E  int64  `json:"E"`
				O  struct {
					S, Side, Type, TIF, Q, P, AP, X string
					T                               int64 `json:"T"`
				} `json:"o"`
			}
			if err := json.Unmarshal(env.Data, &f); err != nil || f.Ev != "forceOrder" {
				t.Fatalf("forceOrder: %s %v", env.Data, err)
			}
			sec := f.E / 1000
			if lastForce[sec] {
				t.Fatalf("two liquidations pushed in one 1000 ms window: %s", env.Data)
			}
			lastForce[sec] = true
			var raw map[string]map[string]any
			json.Unmarshal(env.Data, &raw)
			o := raw["o"]
			st := s.market.states()[0]
			trades, err := u.AggTrades("BTCUSDT", st.OldestAggTradeID, st.LastAggTradeID)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, tr := range trades {
				found = found || (tr.Price == o["p"] && tr.Qty == o["q"] && float64(tr.Time) == o["T"])
			}
			if !found || o["X"] != "FILLED" || o["o"] != "LIMIT" || o["f"] != "IOC" {
				t.Fatalf("forceOrder matches no aggregate trade: %s", env.Data)
			}
			forces++
		}
	}
	if marks < 2 || forces < 2 {
		t.Fatalf("%d mark price arrays and %d liquidations in 8 s", marks, forces)
	}
}

// TestUSDMREST: limits, weights, errors and exchangeInfo.
func TestUSDMREST(t *testing.T) {
	// the weight is counted per clock minute: keep the requests in one
	if left := time.Until(time.Now().Truncate(time.Minute).Add(time.Minute)); left < 3*time.Second {
		time.Sleep(left)
	}
	s, _ := startWithUSDM(t, Config{USDM: USDMConfig{WeightLimit: 45}})
	var infoBody []byte
	for _, tc := range []struct {
		path   string
		status int
		weight string
		want   string
	}{
		{"/fapi/v1/depth?symbol=BTCUSDT&limit=7", 400, "2", `{"code":-1130,"msg":"Data sent for parameter 'limit' is not valid."}`},
		{"/fapi/v1/depth?symbol=NOPE", 400, "12", `{"code":-1121,"msg":"Invalid symbol."}`},
		{"/fapi/v1/depth?limit=5", 400, "14", `{"code":-1102,`},
		{"/fapi/v1/time", 200, "15", `{"serverTime":`},
		{"/fapi/v1/exchangeInfo", 200, "16", `{"timezone":"UTC"`},
		{"/fapi/v1/depth?symbol=BTCUSDT&limit=1000", 200, "36", `{"lastUpdateId":`},
		{"/fapi/v1/aggTrades?symbol=BTCUSDT&limit=1", 429, "56", `{"code":-1003,`},
	} {
		r := usdmGet(t, s, tc.path)
		if r.status != tc.status || r.header.Get("X-MBX-USED-WEIGHT-1M") != tc.weight || !strings.HasPrefix(string(r.body), tc.want) {
			t.Errorf("%s: %d weight %s %.80s; want %d weight %s %s", tc.path, r.status, r.header.Get("X-MBX-USED-WEIGHT-1M"), r.body, tc.status, tc.weight, tc.want)
		}
		if r.status == 429 && r.header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
		if strings.HasPrefix(tc.path, "/fapi/v1/exchangeInfo") {
			infoBody = r.body
		}
	}
	var info struct {
		RateLimits []rateLimitJSON `json:"rateLimits"`
		Symbols    []struct {
			Symbol, ContractType, BaseAsset, QuoteAsset, MarginAsset string
			Filters                                                  []map[string]any
		} `json:"symbols"`
	}
	if err := json.Unmarshal(infoBody, &info); err != nil {
		t.Fatalf("%v: %s", err, infoBody)
	}
	if len(info.Symbols) != 2 || info.RateLimits[0].Limit != 45 {
		t.Fatalf("exchangeInfo: %+v", info)
	}
	b := info.Symbols[0]
	if b.Symbol != "BTCUSDT" || b.ContractType != "PERPETUAL" || b.BaseAsset != "BTC" || b.QuoteAsset != "USDT" || b.MarginAsset != "USDT" ||
		b.Filters[0]["filterType"] != "PRICE_FILTER" || b.Filters[0]["tickSize"] != "0.01000000" || b.Filters[1]["stepSize"] != "0.00001000" {
		t.Fatalf("exchangeInfo BTCUSDT: %+v", b)
	}
}

// TestUSDMEndpoints: the venue list and its validation.
func TestUSDMEndpoints(t *testing.T) {
	s, u := startWithUSDM(t, Config{})
	eps := s.Endpoints()
	if len(eps) != 2 || eps[0].Venue != VenueBinance || eps[1].Venue != VenueBinanceUSDM || eps[1].WSURL != u.WSURL() || eps[1].RESTURL == s.RESTURL() {
		t.Fatalf("Endpoints: %+v", eps)
	}
	if _, err := Start(Config{Venues: []string{"binance-coinm"}}); err == nil || !strings.Contains(err.Error(), `"binance-coinm"`) {
		t.Fatalf("unknown venue: %v", err)
	}
	if _, err := Start(Config{Venues: []string{VenueBinanceUSDM}, USDM: USDMConfig{MaxStreams: -1}}); err == nil || !strings.Contains(err.Error(), "USDM.MaxStreams") {
		t.Fatalf("bad USDM config: %v", err)
	}
}

// TestUSDMConnectionFaults: the common faults apply to USD-M connections:
// depth-dup repeats a diff depth event, and drop (fired) cuts the
// connection.
func TestUSDMConnectionFaults(t *testing.T) {
	s, _ := startWithUSDM(t, Config{Faults: []Fault{{Kind: FaultDepthDup, Times: 1}}})
	c := usdmDial(t, s, "/public/ws/btcusdt@depth@100ms")
	var prev, ev usdmDepthEvent
	dup := false
	for i := 0; i < 20 && !dup; i++ {
		readJSON(t, c, 5*time.Second, &ev)
		dup = i > 0 && ev.LastU == prev.LastU && ev.PU == prev.PU
		prev = ev
	}
	if !dup {
		t.Fatal("depth-dup: no event repeated")
	}
	if err := s.Fire(Fault{Kind: FaultDrop}); err != nil {
		t.Fatal(err)
	}
	err := readUntilError(c, 5*time.Second)
	var ce *websocket.CloseError
	if err == nil || isTimeout(err) || errors.As(err, &ce) {
		t.Fatalf("drop: want the connection cut without a close frame, got %v", err)
	}
}
