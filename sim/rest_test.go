package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// restFixture is a REST API over a market, on plain HTTP.
type restFixture struct {
	m   *market
	fs  *faults
	h   *restServer
	srv *httptest.Server
	now time.Time // the handler's clock
	mu  sync.Mutex
}

func newRESTFixture(t *testing.T, cfg Config) *restFixture {
	t.Helper()
	cfg = cfg.withDefaults()
	f := &restFixture{m: newTestMarket(t, cfg), fs: newFaults(cfg.Seed), now: time.Now()}
	f.h = newREST(f.m, f.fs, cfg).(*restServer)
	f.h.now = func() time.Time {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.now
	}
	f.srv = httptest.NewServer(f.h)
	t.Cleanup(f.srv.Close)
	return f
}

// setNow sets the handler's clock.
func (f *restFixture) setNow(now time.Time) {
	f.mu.Lock()
	f.now = now
	f.mu.Unlock()
}

type restReply struct {
	status int
	header http.Header
	body   []byte
	err    error // reading the body
}

func (f *restFixture) get(t *testing.T, path string, header ...string) restReply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, f.srv.Client(), req)
}

func do(t *testing.T, c *http.Client, req *http.Request) restReply {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return restReply{status: resp.StatusCode, header: resp.Header, body: body, err: err}
}

// apiError checks that r is a Binance error answer and returns its code
// and message.
func (r restReply) apiError(t *testing.T) (int, string) {
	t.Helper()
	if got := keyOrder(t, r.body); !reflect.DeepEqual(got, []string{"code", "msg"}) {
		t.Fatalf("error body %s has keys %v", r.body, got)
	}
	var e struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatal(err)
	}
	return e.Code, e.Msg
}

func (r restReply) weight(t *testing.T) int {
	t.Helper()
	w1m, w := r.header.Get("X-MBX-USED-WEIGHT-1M"), r.header.Get("X-MBX-USED-WEIGHT")
	n, err := strconv.Atoi(w1m)
	if err != nil || w != w1m {
		t.Fatalf("weight headers %q and %q", w1m, w)
	}
	return n
}

// filled drives the fixture's market so it has trades and a history.
func (f *restFixture) filled(ticks, perTick int) time.Time {
	return drive(f.m, &recSink{want: func(string) (bool, bool) { return false, false }}, testStart, ticks, perTick)
}

func TestRESTPingTime(t *testing.T) {
	f := newRESTFixture(t, Config{Levels: 30})
	r := f.get(t, "/api/v3/ping")
	if r.status != 200 || string(r.body) != "{}" || r.weight(t) != 1 || r.header.Get("Content-Type") != "application/json;charset=UTF-8" {
		t.Fatalf("ping: %d %s %v", r.status, r.body, r.header)
	}
	r = f.get(t, "/api/v3/time?whatever=1")
	if r.status != 200 || num(t, fields(t, r.body), "serverTime") != f.now.UnixMilli() || r.weight(t) != 2 {
		t.Fatalf("time: %d %s weight %s", r.status, r.body, r.header.Get("X-MBX-USED-WEIGHT-1M"))
	}
	r = f.get(t, "/api/v3/time", "X-MBX-TIME-UNIT", "microsecond")
	if num(t, fields(t, r.body), "serverTime") != f.now.UnixMicro() {
		t.Fatalf("time in µs: %s", r.body)
	}
}

// exchangeInfoJSON is what a client reads of exchangeInfo, typed as
// go-binance types it.
type exchangeInfoJSON struct {
	Timezone   string `json:"timezone"`
	ServerTime int64  `json:"serverTime"`
	RateLimits []struct {
		RateLimitType string `json:"rateLimitType"`
		Interval      string `json:"interval"`
		IntervalNum   int64  `json:"intervalNum"`
		Limit         int64  `json:"limit"`
	} `json:"rateLimits"`
	ExchangeFilters []any `json:"exchangeFilters"`
	Symbols         []struct {
		Symbol                          string           `json:"symbol"`
		Status                          string           `json:"status"`
		BaseAsset                       string           `json:"baseAsset"`
		BaseAssetPrecision              int              `json:"baseAssetPrecision"`
		QuoteAsset                      string           `json:"quoteAsset"`
		QuotePrecision                  int              `json:"quotePrecision"`
		QuoteAssetPrecision             int              `json:"quoteAssetPrecision"`
		BaseCommissionPrecision         int32            `json:"baseCommissionPrecision"`
		QuoteCommissionPrecision        int32            `json:"quoteCommissionPrecision"`
		OrderTypes                      []string         `json:"orderTypes"`
		IcebergAllowed                  bool             `json:"icebergAllowed"`
		OcoAllowed                      bool             `json:"ocoAllowed"`
		OtoAllowed                      bool             `json:"otoAllowed"`
		QuoteOrderQtyMarketAllowed      bool             `json:"quoteOrderQtyMarketAllowed"`
		AllowTrailingStop               bool             `json:"allowTrailingStop"`
		CancelReplaceAllowed            bool             `json:"cancelReplaceAllowed"`
		IsSpotTradingAllowed            bool             `json:"isSpotTradingAllowed"`
		IsMarginTradingAllowed          bool             `json:"isMarginTradingAllowed"`
		Filters                         []map[string]any `json:"filters"`
		Permissions                     []string         `json:"permissions"`
		PermissionSets                  [][]string       `json:"permissionSets"`
		DefaultSelfTradePreventionMode  string           `json:"defaultSelfTradePreventionMode"`
		AllowedSelfTradePreventionModes []string         `json:"allowedSelfTradePreventionModes"`
	} `json:"symbols"`
}

func TestRESTExchangeInfo(t *testing.T) {
	f := newRESTFixture(t, Config{Symbols: []string{"BTCUSDT", "ETHUSDT", "LINKBTC"}, Levels: 30, WeightLimit: 1200})
	r := f.get(t, "/api/v3/exchangeInfo?permissions=SPOT&unknown=1")
	if r.status != 200 || r.weight(t) != 20 {
		t.Fatalf("exchangeInfo: %d %s", r.status, r.body)
	}
	if got, want := keyOrder(t, r.body), []string{"timezone", "serverTime", "rateLimits", "exchangeFilters", "symbols"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
	var info exchangeInfoJSON
	if err := json.Unmarshal(r.body, &info); err != nil {
		t.Fatal(err)
	}
	if info.Timezone != "UTC" || info.ServerTime != f.now.UnixMilli() || len(info.Symbols) != 3 || info.ExchangeFilters == nil {
		t.Fatalf("exchangeInfo %+v", info)
	}
	if rl := info.RateLimits[0]; rl.RateLimitType != "REQUEST_WEIGHT" || rl.Interval != "MINUTE" || rl.IntervalNum != 1 || rl.Limit != 1200 {
		t.Fatalf("weight limit %+v", rl)
	}
	var raw struct{ Symbols []json.RawMessage }
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{"symbol", "status", "baseAsset", "baseAssetPrecision", "quoteAsset", "quotePrecision",
		"quoteAssetPrecision", "baseCommissionPrecision", "quoteCommissionPrecision", "orderTypes", "icebergAllowed",
		"ocoAllowed", "otoAllowed", "opoAllowed", "quoteOrderQtyMarketAllowed", "allowTrailingStop", "cancelReplaceAllowed",
		"amendAllowed", "pegInstructionsAllowed", "isSpotTradingAllowed", "isMarginTradingAllowed", "filters", "permissions",
		"permissionSets", "defaultSelfTradePreventionMode", "allowedSelfTradePreventionModes"}
	if got := keyOrder(t, raw.Symbols[0]); !reflect.DeepEqual(got, wantKeys) {
		t.Fatalf("symbol keys %v, want %v", got, wantKeys)
	}
	btc, link := info.Symbols[0], info.Symbols[2]
	if btc.Symbol != "BTCUSDT" || btc.Status != "TRADING" || btc.BaseAsset != "BTC" || btc.QuoteAsset != "USDT" ||
		btc.BaseAssetPrecision != 8 || btc.QuoteAssetPrecision != 8 || !btc.IsSpotTradingAllowed ||
		!reflect.DeepEqual(btc.PermissionSets, [][]string{{"SPOT", "MARGIN"}}) || btc.Permissions == nil ||
		btc.DefaultSelfTradePreventionMode != "EXPIRE_MAKER" || len(btc.OrderTypes) == 0 {
		t.Fatalf("BTCUSDT %+v", btc)
	}
	if link.BaseAsset != "LINK" || link.QuoteAsset != "BTC" {
		t.Fatalf("LINKBTC assets %s/%s", link.BaseAsset, link.QuoteAsset)
	}
	filter := func(fs []map[string]any, typ string) map[string]any {
		for _, f := range fs {
			if f["filterType"] == typ {
				return f
			}
		}
		t.Fatalf("no %s filter in %v", typ, fs)
		return nil
	}
	pf, ls := filter(btc.Filters, "PRICE_FILTER"), filter(btc.Filters, "LOT_SIZE")
	if pf["tickSize"] != "0.01000000" || pf["minPrice"] != "0.01000000" || ls["stepSize"] != "0.00001000" || ls["minQty"] != "0.00001000" {
		t.Fatalf("BTCUSDT filters %v %v", pf, ls)
	}
	for _, k := range []string{"maxPrice", "maxQty"} {
		v, _ := pf[k].(string)
		if v == "" {
			v, _ = ls[k].(string)
		}
		if e8(t, v) <= 0 {
			t.Fatalf("%s = %v", k, v)
		}
	}
	for _, typ := range []string{"ICEBERG_PARTS", "MARKET_LOT_SIZE", "NOTIONAL", "MAX_NUM_ORDERS"} {
		filter(btc.Filters, typ)
	}

	// filters are those the market trades with
	s, _ := f.m.lookup("LINKBTC")
	if lf := filter(link.Filters, "PRICE_FILTER"); lf["tickSize"] != s.sc.priceString(1) {
		t.Fatalf("LINKBTC tick %v, the market uses %s", lf["tickSize"], s.sc.priceString(1))
	}

	for _, c := range []struct {
		query string
		want  []string
	}{
		{"symbol=ETHUSDT", []string{"ETHUSDT"}},
		{`symbols=["LINKBTC","BTCUSDT"]`, []string{"LINKBTC", "BTCUSDT"}},
		{"symbols=" + escapeQuery(`["ETHUSDT"]`), []string{"ETHUSDT"}},
		{"symbols=[]", []string{"BTCUSDT", "ETHUSDT", "LINKBTC"}},
		{"symbolStatus=TRADING", []string{"BTCUSDT", "ETHUSDT", "LINKBTC"}},
		{"symbolStatus=HALT", nil},
	} {
		r := f.get(t, "/api/v3/exchangeInfo?"+c.query)
		var info exchangeInfoJSON
		if err := json.Unmarshal(r.body, &info); err != nil || r.status != 200 {
			t.Fatalf("%s: %d %s", c.query, r.status, r.body)
		}
		var got []string
		for _, s := range info.Symbols {
			got = append(got, s.Symbol)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: symbols %v, want %v", c.query, got, c.want)
		}
	}
	r = f.get(t, "/api/v3/exchangeInfo?symbol=BTCUSDT&showPermissionSets=false")
	if !strings.Contains(string(r.body), `"permissionSets":[]`) {
		t.Fatalf("showPermissionSets=false: %s", r.body)
	}
}

// escapeQuery escapes a query value as go-binance does.
func escapeQuery(v string) string {
	r := strings.NewReplacer(`[`, "%5B", `]`, "%5D", `"`, "%22", `,`, "%2C")
	return r.Replace(v)
}

func TestRESTErrors(t *testing.T) {
	f := newRESTFixture(t, Config{Symbols: []string{"BTCUSDT"}, Levels: 30})
	for _, c := range []struct {
		path string
		code int
		msg  string // a part of it
	}{
		{"/api/v3/depth", -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."},
		{"/api/v3/depth?symbol=", -1105, "Parameter 'symbol' was empty."},
		{"/api/v3/depth?symbol=btcusdt", -1100, "Illegal characters found in parameter 'symbol'; legal range is '^[\\w\\-._&&[^a-z]]{1,50}$'."},
		{"/api/v3/depth?symbol=NOPE", -1121, "Invalid symbol."},
		{"/api/v3/depth?symbol=BTCUSDT&limit=abc", -1100, "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'."},
		{"/api/v3/depth?symbol=BTCUSDT&limit=-5", -1100, "parameter 'limit'"},
		{"/api/v3/depth?symbol=BTCUSDT&limit=0", -1130, "Data sent for parameter 'limit' is not valid."},
		{"/api/v3/depth?symbol=BTCUSDT&limit=", -1105, "Parameter 'limit' was empty."},
		{"/api/v3/depth?symbol=BTCUSDT&limit=99999999999999999999", -1108, "Parameter 'limit' overflowed."},
		{"/api/v3/depth?symbol=BTCUSDT&symbol=BTCUSDT", -1101, "Duplicate values for a parameter detected."},
		{"/api/v3/depth?symbol=BTCUSDT&depth=5", -1104, "Not all sent parameters were read; read '1' parameter(s) but was sent '2'."},
		{"/api/v3/depth?symbol=BTCUSDT&symbolStatus=HALT", -1220, "symbolStatus"},
		{"/api/v3/depth?symbol=BTCUSDT&symbolStatus=SLEEPING", -1130, "symbolStatus"},
		{"/api/v3/depth?symbol=%zz", -1100, "Illegal characters"},
		{"/api/v3/aggTrades?symbol=BTCUSDT&fromId=x1", -1100, "parameter 'fromId'"},
		{"/api/v3/aggTrades?symbol=BTCUSDT&fromId=1&startTime=1", -1128, "Combination of optional parameters invalid."},
		{"/api/v3/aggTrades?symbol=BTCUSDT&limit=0", -1130, "limit"},
		{"/api/v3/aggTrades?symbol=ETHUSDT", -1121, "Invalid symbol."},
		{"/api/v3/aggTrades?symbol=BTCUSDT&fromID=1", -1104, "read '1' parameter(s) but was sent '2'"},
		{"/api/v3/exchangeInfo?symbol=NOPE", -1121, "Invalid symbol."},
		{`/api/v3/exchangeInfo?symbols=["BTCUSDT","NOPE"]`, -1121, "Invalid symbol."},
		{`/api/v3/exchangeInfo?symbols=BTCUSDT`, -1100, "Illegal characters found in parameter 'symbols'"},
		{`/api/v3/exchangeInfo?symbols=["BTCUSDT",`, -1100, "parameter 'symbols'"},
		{`/api/v3/exchangeInfo?symbol=BTCUSDT&symbols=["BTCUSDT"]`, -1128, "Combination"},
	} {
		r := f.get(t, strings.ReplaceAll(strings.ReplaceAll(c.path, `"`, "%22"), "[", "%5B"))
		code, msg := r.apiError(t)
		if r.status != 400 || code != c.code || !strings.Contains(msg, c.msg) || r.header.Get("X-MBX-USED-WEIGHT-1M") == "" {
			t.Errorf("%s: %d %s, want 400 with %d %q", c.path, r.status, r.body, c.code, c.msg)
		}
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v3/nope"}, {"GET", "/api/v1/ping"}, {"POST", "/api/v3/ping"}, {"GET", "/api/v3/ping/x"},
	} {
		req, _ := http.NewRequest(c.method, f.srv.URL+c.path, nil)
		r := do(t, f.srv.Client(), req)
		if r.status != 404 || !strings.Contains(string(r.body), "<h1>404 Not Found</h1>") || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") ||
			r.header.Get("X-MBX-USED-WEIGHT-1M") == "" {
			t.Errorf("%s %s: %d %s", c.method, c.path, r.status, r.body)
		}
	}
}

func TestRESTDepth(t *testing.T) {
	f := newRESTFixture(t, Config{Symbols: []string{"BTCUSDT", "ETHUSDT"}, Levels: 600})
	f.filled(100, 20)
	used := 0
	for _, c := range []struct {
		query  string
		levels int
		weight int
	}{
		{"", 100, 5},
		{"&limit=5", 5, 5},
		{"&limit=100", 100, 5},
		{"&limit=101", 101, 25},
		{"&limit=500", 500, 25},
		{"&limit=1000", 1000, 50},
		{"&limit=5000", 5000, 250},
		{"&limit=99999", 5000, 250},
	} {
		r := f.get(t, "/api/v3/depth?symbol=ETHUSDT"+c.query)
		used += c.weight
		if r.status != 200 || r.weight(t) != used {
			t.Fatalf("%s: %d, weight %s, want %d: %.200s", c.query, r.status, r.header.Get("X-MBX-USED-WEIGHT-1M"), used, r.body)
		}
		if got := keyOrder(t, r.body); !reflect.DeepEqual(got, []string{"lastUpdateId", "bids", "asks"}) {
			t.Fatalf("keys %v", got)
		}
		fl := fields(t, r.body)
		id := num(t, fl, "lastUpdateId")
		bids, asks := levelsOf(t, fl["bids"]), levelsOf(t, fl["asks"])
		u, _, _, _ := f.m.lastIDs("ETHUSDT")
		truth, err := f.m.bookAt("ETHUSDT", u)
		if err != nil {
			t.Fatal(err)
		}
		nb, na := min(c.levels, len(truth.Bids)), min(c.levels, len(truth.Asks))
		if id != u || !reflect.DeepEqual(bids, truth.Bids[:nb]) || !reflect.DeepEqual(asks, truth.Asks[:na]) {
			t.Fatalf("%s: snapshot at %d with %d/%d levels, truth at %d", c.query, id, len(bids), len(asks), u)
		}
	}
}

// TestRESTDepthWhileAdvancing takes snapshots while the market moves: each
// must be the book exactly at its lastUpdateId.
func TestRESTDepthWhileAdvancing(t *testing.T) {
	f := newRESTFixture(t, Config{Symbols: []string{"BTCUSDT"}, Levels: 100, History: 1_000_000, WeightLimit: 1_000_000})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sink := &recSink{want: func(string) (bool, bool) { return false, false }}
		now := testStart
		for {
			select {
			case <-stop:
				return
			default:
			}
			now = now.Add(time.Millisecond)
			f.m.advance(now, 50, sink)
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()
	ids := map[int64]bool{}
	for range 40 {
		r := f.get(t, "/api/v3/depth?symbol=BTCUSDT&limit=5000")
		if r.status != 200 {
			t.Fatalf("depth: %d %s", r.status, r.body)
		}
		fl := fields(t, r.body)
		id := num(t, fl, "lastUpdateId")
		truth, err := f.m.bookAt("BTCUSDT", id)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(levelsOf(t, fl["bids"]), truth.Bids) || !reflect.DeepEqual(levelsOf(t, fl["asks"]), truth.Asks) {
			t.Fatalf("snapshot at %d is not the book at %d", id, id)
		}
		ids[id] = true
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			if u, _, _, _ := f.m.lastIDs("BTCUSDT"); u > id {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the market does not move")
			}
		}
	}
	if len(ids) != 40 {
		t.Fatalf("%d distinct snapshots of 40", len(ids))
	}
}

func TestRESTAggTrades(t *testing.T) {
	f := newRESTFixture(t, Config{Symbols: []string{"BTCUSDT", "ETHUSDT"}, Levels: 40, History: 3000, TradeShare: 0.5})
	_, first, _, _ := f.m.lastIDs("BTCUSDT")
	// distinct times: 4 updates per millisecond
	sink := &recSink{want: func(string) (bool, bool) { return false, false }}
	now := testStart
	for range 4000 {
		now = now.Add(time.Millisecond)
		f.m.advance(now, 4, sink)
	}
	st := f.m.states()[0]
	if st.OldestAggTradeID <= first+1 {
		t.Fatalf("history did not wrap: %+v", st)
	}
	all, err := f.m.aggTrades("BTCUSDT", st.OldestAggTradeID, st.LastAggTradeID)
	if err != nil || len(all) != 3000 {
		t.Fatalf("%d trades kept: %v", len(all), err)
	}
	byID := func(id int64) AggTrade { return all[id-st.OldestAggTradeID] }
	query := func(q string, hdr ...string) []AggTrade {
		t.Helper()
		r := f.get(t, "/api/v3/aggTrades?symbol=BTCUSDT"+q, hdr...)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", q, r.status, r.body)
		}
		var raw []json.RawMessage
		if err := json.Unmarshal(r.body, &raw); err != nil {
			t.Fatal(err)
		}
		out := make([]AggTrade, len(raw))
		for i, item := range raw {
			if got := keyOrder(t, item); !reflect.DeepEqual(got, []string{"a", "p", "q", "f", "l", "T", "m", "M"}) {
				t.Fatalf("%s: keys %v", q, got)
			}
			if err := json.Unmarshal(item, &out[i]); err != nil {
				t.Fatal(err)
			}
			if i > 0 && out[i].ID != out[i-1].ID+1 {
				t.Fatalf("%s: ID %d after %d", q, out[i].ID, out[i-1].ID)
			}
		}
		return out
	}
	check := func(name string, got []AggTrade, first int64, n int) {
		t.Helper()
		if len(got) != n {
			t.Fatalf("%s: %d trades, want %d", name, len(got), n)
		}
		for i, tr := range got {
			if want := byID(first + int64(i)); tr != want {
				t.Fatalf("%s: item %d is %+v, want %+v", name, i, tr, want)
			}
		}
	}
	check("most recent", query(""), st.LastAggTradeID-499, 500)
	check("limit 7", query("&limit=7"), st.LastAggTradeID-6, 7)
	check("limit cut to 1000", query("&limit=5000"), st.LastAggTradeID-999, 1000)
	check("fromId", query(fmt.Sprintf("&fromId=%d&limit=10", st.OldestAggTradeID+100)), st.OldestAggTradeID+100, 10)
	check("fromId older than history", query("&fromId=1&limit=3"), st.OldestAggTradeID, 3)
	check("fromId near the end", query(fmt.Sprintf("&fromId=%d", st.LastAggTradeID-1)), st.LastAggTradeID-1, 2)
	check("fromId past the end", query(fmt.Sprintf("&fromId=%d", st.LastAggTradeID+1)), 0, 0)

	// times: trades share milliseconds, so pick a millisecond boundary
	mid := byID(st.OldestAggTradeID + 1500)
	firstAt := st.OldestAggTradeID + 1500
	for byID(firstAt-1).Time == mid.Time {
		firstAt--
	}
	lastAt := st.OldestAggTradeID + 1500
	for byID(lastAt+1).Time == mid.Time {
		lastAt++
	}
	check("startTime", query(fmt.Sprintf("&startTime=%d&limit=20", mid.Time)), firstAt, 20)
	check("startTime in µs", query(fmt.Sprintf("&startTime=%d&limit=20", mid.Time*1000)), firstAt, 20)
	check("endTime", query(fmt.Sprintf("&endTime=%d&limit=20", mid.Time)), lastAt-19, 20)
	check("endTime in µs", query(fmt.Sprintf("&endTime=%d&limit=20", mid.Time*1000)), lastAt-19, 20)
	check("startTime and endTime", query(fmt.Sprintf("&startTime=%d&endTime=%d", mid.Time, mid.Time)), firstAt, int(lastAt-firstAt+1))
	check("startTime and endTime in µs", query(fmt.Sprintf("&startTime=%d&endTime=%d", mid.Time*1000, mid.Time*1000)), firstAt, int(lastAt-firstAt+1))
	check("startTime after endTime", query(fmt.Sprintf("&startTime=%d&endTime=%d", mid.Time, mid.Time-1)), 0, 0)
	check("endTime at the end of time", query("&endTime=9223372036854775807&limit=3"), st.LastAggTradeID-2, 3)
	check("fromId at the end of time", query("&fromId=9223372036854775807"), 0, 0)
	check("startTime before history", query("&startTime=0&limit=4"), st.OldestAggTradeID, 4)

	r := f.get(t, "/api/v3/aggTrades?symbol=BTCUSDT&limit=1", "X-MBX-TIME-UNIT", "MICROSECOND")
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &items); err != nil || len(items) != 1 {
		t.Fatalf("µs: %s", r.body)
	}
	if T := num(t, items[0], "T"); T/1000 != byID(st.LastAggTradeID).Time {
		t.Fatalf("T in µs = %d, trade time %d ms", T, byID(st.LastAggTradeID).Time)
	}
	if w := r.weight(t); w%4 != 0 {
		t.Fatalf("aggTrades weight: %d used after only aggTrades requests", w)
	}
}

func TestRESTRateLimitAndBan(t *testing.T) {
	f := newRESTFixture(t, Config{Symbols: []string{"BTCUSDT"}, Levels: 30, WeightLimit: 20, BanAfter: 2, BanTime: 2 * time.Minute})
	base := time.Date(2026, 3, 2, 10, 0, 10, 0, time.UTC)
	f.setNow(base)
	for i := 1; i <= 4; i++ {
		if r := f.get(t, "/api/v3/depth?symbol=BTCUSDT&limit=5"); r.status != 200 || r.weight(t) != 5*i {
			t.Fatalf("request %d: %d weight %d", i, r.status, r.weight(t))
		}
	}
	for i := 1; i <= 2; i++ {
		r := f.get(t, "/api/v3/depth?symbol=BTCUSDT&limit=5")
		code, msg := r.apiError(t)
		if r.status != 429 || code != -1003 || r.header.Get("Retry-After") != "50" || r.weight(t) != 20+5*i ||
			msg != "Too much request weight used; current limit is 20 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API." {
			t.Fatalf("over the limit %d: %d %s Retry-After %q weight %d", i, r.status, r.body, r.header.Get("Retry-After"), r.weight(t))
		}
	}
	ban := func(wantSeconds int) time.Time {
		t.Helper()
		r := f.get(t, "/api/v3/ping")
		code, msg := r.apiError(t)
		until := f.now.Add(time.Duration(wantSeconds) * time.Second)
		if r.status != 418 || code != -1003 || r.header.Get("Retry-After") != strconv.Itoa(wantSeconds) ||
			msg != fmt.Sprintf("Way too much request weight used; IP banned until %d. Please use WebSocket Streams for live updates to avoid bans.", until.UnixMilli()) {
			t.Fatalf("ban: %d %s Retry-After %q, want %d s", r.status, r.body, r.header.Get("Retry-After"), wantSeconds)
		}
		return until
	}
	until := ban(120)
	f.setNow(base.Add(70 * time.Second)) // a new window, still banned
	if r := f.get(t, "/api/v3/ping"); r.status != 418 || r.header.Get("Retry-After") != "50" {
		t.Fatalf("during the ban: %d Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	f.setNow(until)
	if r := f.get(t, "/api/v3/ping"); r.status != 200 || r.weight(t) != 1 {
		t.Fatalf("after the ban: %d weight %d", r.status, r.weight(t))
	}
	// a second ban lasts twice as long
	for i := 0; f.get(t, "/api/v3/depth?symbol=BTCUSDT").status != 429; i++ {
		if i == 5 {
			t.Fatal("no 429 after 25 weight")
		}
	}
	if r := f.get(t, "/api/v3/ping"); r.status != 429 {
		t.Fatalf("second request over the limit: %d", r.status)
	}
	ban(240)

	// the window is the clock's minute
	g := newRESTFixture(t, Config{Symbols: []string{"BTCUSDT"}, Levels: 30, WeightLimit: 20})
	g.setNow(base.Add(49 * time.Second))
	g.get(t, "/api/v3/exchangeInfo")
	g.setNow(base.Add(50 * time.Second))
	if r := g.get(t, "/api/v3/ping"); r.status != 200 || r.weight(t) != 1 {
		t.Fatalf("next minute: %d weight %d", r.status, r.weight(t))
	}
}

func TestRESTBanCap(t *testing.T) {
	l := limiter{limit: 1, banAfter: 0, banTime: 2 * time.Minute, ips: map[string]*ipUse{}}
	now := testStart
	var last time.Duration
	for range 20 {
		_, v := l.admit("10.0.0.1", 5, now)
		if v.status != http.StatusTeapot {
			t.Fatalf("verdict %+v", v)
		}
		if v.retryAfter < last && v.retryAfter != maxBan {
			t.Fatalf("ban shrank from %v to %v", last, v.retryAfter)
		}
		last = v.retryAfter
		now = v.until
	}
	if last != maxBan {
		t.Fatalf("longest ban %v, want %v", last, maxBan)
	}
	if _, v := l.admit("10.0.0.2", 1, now); v.status != 0 {
		t.Fatalf("another IP: %+v", v)
	}
}

func TestRESTFaults(t *testing.T) {
	f := newRESTFixture(t, Config{Symbols: []string{"BTCUSDT"}, Levels: 40, History: 400, BanTime: 2 * time.Minute})
	f.filled(50, 20)
	fire := func(fl Fault) {
		t.Helper()
		fl.Times = 1
		if err := fl.validate(); err != nil {
			t.Fatal(err)
		}
		f.fs.add(fl)
	}
	fired := func(k FaultKind) int64 { return f.fs.counts()[k] }

	// 5xx
	for _, c := range []struct {
		code   int
		apiErr int
	}{{0, -1008}, {500, -1000}, {504, -1007}, {599, -1001}} {
		fire(Fault{Kind: FaultREST5xx, Code: c.code})
		r := f.get(t, "/api/v3/ping")
		code, _ := r.apiError(t)
		if want := orDefault(c.code, 503); r.status != want || code != c.apiErr {
			t.Fatalf("rest-5xx %d: %d %s", c.code, r.status, r.body)
		}
	}
	fire(Fault{Kind: FaultREST5xx, Code: 502})
	if r := f.get(t, "/api/v3/ping"); r.status != 502 || !strings.Contains(string(r.body), "502 Bad Gateway") {
		t.Fatalf("rest-5xx 502: %d %s", r.status, r.body)
	}
	if r := f.get(t, "/api/v3/ping"); r.status != 200 || fired(FaultREST5xx) != 5 {
		t.Fatalf("after the 5xx faults: %d, fired %d", r.status, fired(FaultREST5xx))
	}

	// 429
	fire(Fault{Kind: FaultREST429, Duration: 3 * time.Second})
	r := f.get(t, "/api/v3/depth?symbol=BTCUSDT")
	if code, _ := r.apiError(t); r.status != 429 || code != -1003 || r.header.Get("Retry-After") != "3" {
		t.Fatalf("rest-429: %d %s Retry-After %q", r.status, r.body, r.header.Get("Retry-After"))
	}

	// 418: a ban that lasts
	fire(Fault{Kind: FaultREST418, Duration: 5 * time.Second})
	for i := range 2 {
		r := f.get(t, "/api/v3/time")
		if code, _ := r.apiError(t); r.status != 418 || code != -1003 || r.header.Get("Retry-After") != "5" {
			t.Fatalf("rest-418, request %d: %d %s Retry-After %q", i, r.status, r.body, r.header.Get("Retry-After"))
		}
	}
	f.setNow(f.now.Add(5 * time.Second))
	if r := f.get(t, "/api/v3/time"); r.status != 200 {
		t.Fatalf("after the rest-418 ban: %d", r.status)
	}

	// bad JSON
	fire(Fault{Kind: FaultRESTBadJSON})
	r = f.get(t, "/api/v3/depth?symbol=BTCUSDT")
	if r.status != 200 || json.Valid(r.body) || len(r.body) == 0 {
		t.Fatalf("rest-bad-json: %d %.100s", r.status, r.body)
	}

	// truncated
	fire(Fault{Kind: FaultRESTTruncate})
	r = f.get(t, "/api/v3/depth?symbol=BTCUSDT&limit=50")
	if r.status != 200 || !errors.Is(r.err, io.ErrUnexpectedEOF) {
		t.Fatalf("rest-truncate: %d, %d bytes, read error %v", r.status, len(r.body), r.err)
	}
	if n, _ := strconv.Atoi(r.header.Get("Content-Length")); len(r.body) != n/2 {
		t.Fatalf("rest-truncate: %d of %d bytes", len(r.body), n)
	}
	if r := f.get(t, "/api/v3/ping"); r.status != 200 {
		t.Fatalf("after rest-truncate: %d", r.status)
	}

	// slow
	fire(Fault{Kind: FaultRESTSlow, Duration: 300 * time.Millisecond})
	start := time.Now()
	r = f.get(t, "/api/v3/ping")
	if took := time.Since(start); r.status != 200 || took < 300*time.Millisecond {
		t.Fatalf("rest-slow: %d after %v", r.status, took)
	}
	// a slow answer stops waiting when the client gives up
	fire(Fault{Kind: FaultRESTSlow, Duration: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/api/v3/ping", nil)
	if resp, err := f.srv.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("rest-slow for an hour answered")
	}
	cancel()
	start = time.Now()
	f.srv.Close() // waits for the handlers
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the slow handler went on for %v after its client left", took)
	}
	if fired(FaultRESTSlow) != 2 || fired(FaultRESTTruncate) != 1 || fired(FaultRESTBadJSON) != 1 {
		t.Fatalf("fault counts %v", f.fs.counts())
	}
}

func TestRESTStaleSnapshot(t *testing.T) {
	f := newRESTFixture(t, Config{Symbols: []string{"BTCUSDT"}, Levels: 40, History: 3000})
	f.filled(100, 30)
	u, _, _, _ := f.m.lastIDs("BTCUSDT")
	f.fs.add(Fault{Kind: FaultStaleSnapshot, Count: 50, Times: 1})
	// other endpoints do not spend it
	if r := f.get(t, "/api/v3/aggTrades?symbol=BTCUSDT&limit=1"); r.status != 200 || f.fs.counts()[FaultStaleSnapshot] != 0 {
		t.Fatalf("aggTrades: %d, stale-snapshot fired %d", r.status, f.fs.counts()[FaultStaleSnapshot])
	}
	depthAt := func() (int64, []Level, []Level) {
		r := f.get(t, "/api/v3/depth?symbol=BTCUSDT&limit=10")
		fl := fields(t, r.body)
		return num(t, fl, "lastUpdateId"), levelsOf(t, fl["bids"]), levelsOf(t, fl["asks"])
	}
	id, bids, asks := depthAt()
	truth, err := f.m.bookAt("BTCUSDT", u-50)
	if err != nil {
		t.Fatal(err)
	}
	if id != u-50 || !reflect.DeepEqual(bids, truth.Bids[:10]) || !reflect.DeepEqual(asks, truth.Asks[:10]) {
		t.Fatalf("stale snapshot at %d (current %d): want the book at %d", id, u, u-50)
	}
	if id, _, _ := depthAt(); id != u {
		t.Fatalf("after the fault: snapshot at %d, want %d", id, u)
	}
	// the default goes back 1000 updates, clipped to the history
	f.fs.add(Fault{Kind: FaultStaleSnapshot, Times: 1})
	if id, _, _ := depthAt(); id != u-1000 {
		t.Fatalf("default stale snapshot at %d, want %d", id, u-1000)
	}
	f.fs.add(Fault{Kind: FaultStaleSnapshot, Count: 1_000_000, Times: 1})
	if id, _, _ := depthAt(); id != f.m.states()[0].OldestUpdateID {
		t.Fatalf("stale snapshot beyond history at %d, want the oldest kept %d", id, f.m.states()[0].OldestUpdateID)
	}
}

// TestRESTTruncateHTTP2 checks the truncate fault where the connection
// cannot be taken over: over HTTP/2 the stream is reset.
func TestRESTTruncateHTTP2(t *testing.T) {
	cfg := Config{Symbols: []string{"BTCUSDT"}, Levels: 40}.withDefaults()
	m, fs := newTestMarket(t, cfg), newFaults(1)
	srv := httptest.NewUnstartedServer(newREST(m, fs, cfg))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	fs.add(Fault{Kind: FaultRESTTruncate, Times: 1})
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v3/depth?symbol=BTCUSDT", nil)
	resp, err := srv.Client().Do(req)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("served over %s", resp.Proto)
		}
	}
	if err == nil {
		t.Fatal("a truncated answer read without error")
	}
	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/api/v3/ping", nil)
	if r := do(t, srv.Client(), req); r.status != 200 {
		t.Fatalf("next request: %d", r.status)
	}
}

// FuzzRESTQuery sends arbitrary query strings to every endpoint: the
// answer must be a 200 with JSON or a Binance error, never a panic.
func FuzzRESTQuery(f *testing.F) {
	for _, q := range []string{
		"", "symbol=BTCUSDT", "symbol=BTCUSDT&limit=5000", "symbol=btcusdt", "symbol=BTCUSDT&fromId=0&limit=1",
		"symbol=BTCUSDT&startTime=0&endTime=9223372036854775807", `symbols=["BTCUSDT","ETHUSDT"]`, "symbols=[",
		"symbol=%zz", "symbol=BTCUSDT&symbol=ETHUSDT", "limit=-1&symbol=BTCUSDT", "symbol=BTCUSDT;limit=5",
	} {
		for ep := range 7 {
			f.Add(uint8(ep), q)
		}
	}
	cfg := Config{Symbols: []string{"BTCUSDT", "ETHUSDT"}, Levels: 30, History: 100, WeightLimit: math.MaxInt32}.withDefaults()
	m, err := newMarket(cfg)
	if err != nil {
		f.Fatal(err)
	}
	drive(m, &recSink{want: func(string) (bool, bool) { return false, false }}, testStart, 30, 10)
	h := newREST(m, nil, cfg)
	paths := []string{"/api/v3/ping", "/api/v3/time", "/api/v3/exchangeInfo", "/api/v3/depth", "/api/v3/aggTrades",
		"/api/v3/trades", "/api/v3/historicalTrades"}
	f.Fuzz(func(t *testing.T, ep uint8, query string) {
		req := httptest.NewRequest(http.MethodGet, "http://sim"+paths[int(ep)%len(paths)], nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body := rec.Body.Bytes()
		switch rec.Code {
		case 200:
			if !json.Valid(body) {
				t.Fatalf("%s?%s: 200 with %s", req.URL.Path, query, body)
			}
		case 400:
			var e struct{ Code int }
			if err := json.Unmarshal(body, &e); err != nil || e.Code > -1000 || e.Code < -1300 {
				t.Fatalf("%s?%s: 400 with %s", req.URL.Path, query, body)
			}
		default:
			t.Fatalf("%s?%s: status %d %s", req.URL.Path, query, rec.Code, body)
		}
	})
}
