package bybit

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/venue"
)

// restServer serves Bybit's public market REST calls over TLS, in the
// shapes of the docs' examples ("Get Instruments Info", "Get Bybit Server
// Time", "Get Orderbook"). linear instruments come in two pages.
type restServer struct {
	srv *httptest.Server

	mu     sync.Mutex
	calls  []string
	answer func(w http.ResponseWriter, r *http.Request) bool // answers first when set
}

const (
	docSpotInstruments = `{"retCode":0,"retMsg":"OK","result":{"category":"spot","list":[{"symbol":"BTCUSDT","baseCoin":"BTC","quoteCoin":"USDT","innovation":"0","status":"Trading","marginTrading":"utaOnly","stTag":"0","lotSizeFilter":{"basePrecision":"0.000001","quotePrecision":"0.00000001","minOrderQty":"0.000048","maxOrderQty":"71.73956243","minOrderAmt":"1","maxOrderAmt":"2000000"},"priceFilter":{"tickSize":"0.01"},"riskParameters":{"priceLimitRatioX":"0.01","priceLimitRatioY":"0.02"}}]},"retExtInfo":{},"time":1672712468011}`
	docLinearPage1     = `{"retCode":0,"retMsg":"OK","result":{"category":"linear","list":[{"symbol":"BTCUSDT","contractType":"LinearPerpetual","status":"Trading","baseCoin":"BTC","quoteCoin":"USDT","launchTime":"1585526400000","deliveryTime":"0","deliveryFeeRate":"","priceScale":"2","leverageFilter":{"minLeverage":"1","maxLeverage":"100.00","leverageStep":"0.01"},"priceFilter":{"minPrice":"0.10","maxPrice":"1999999.80","tickSize":"0.10"},"lotSizeFilter":{"maxOrderQty":"1190.000","minOrderQty":"0.001","qtyStep":"0.001","postOnlyMaxOrderQty":"1190.000","maxMktOrderQty":"500.000","minNotionalValue":"5"},"unifiedMarginTrade":true,"fundingInterval":480,"settleCoin":"USDT"}],"nextPageCursor":"first%3DBTCUSDT%26last%3DBTCUSDT"},"retExtInfo":{},"time":1735809771618}`
	docLinearPage2     = `{"retCode":0,"retMsg":"OK","result":{"category":"linear","list":[{"symbol":"BIOUSDT","contractType":"LinearPerpetual","status":"PreLaunch","baseCoin":"BIO","quoteCoin":"USDT","priceFilter":{"minPrice":"0.0001","maxPrice":"1999.9998","tickSize":"0.0001"},"lotSizeFilter":{"maxOrderQty":"70000","minOrderQty":"1","qtyStep":"1"}},{"symbol":"BTC-26DEC25","contractType":"LinearFutures","status":"Trading","baseCoin":"BTC","quoteCoin":"USDT","priceFilter":{"tickSize":"0.50"},"lotSizeFilter":{"qtyStep":"0.001"}}],"nextPageCursor":""},"retExtInfo":{},"time":1735809771618}`
	docTime            = `{"retCode":0,"retMsg":"OK","result":{"timeSecond":"1688639403","timeNano":"1688639403423213947"},"retExtInfo":{},"time":1688639403423}`
	docOrderbook       = `{"retCode":0,"retMsg":"OK","result":{"s":"BTCUSDT","a":[["65557.7","16.606555"]],"b":[["65485.47","47.081829"]],"ts":1716863719031,"u":230704,"seq":1432604333,"cts":1716863718905},"retExtInfo":{},"time":1716863719382}`
)

func startREST(t *testing.T) *restServer {
	rs := &restServer{}
	rs.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs.mu.Lock()
		rs.calls = append(rs.calls, r.URL.RequestURI())
		answer := rs.answer
		rs.mu.Unlock()
		if answer != nil && answer(w, r) {
			return
		}
		q := r.URL.Query()
		switch {
		case r.URL.Path == instrumentsPath && q.Get("category") == "spot":
			w.Write([]byte(docSpotInstruments))
		case r.URL.Path == instrumentsPath && q.Get("category") == "linear" && q.Get("cursor") == "":
			w.Write([]byte(docLinearPage1))
		case r.URL.Path == instrumentsPath && q.Get("category") == "linear" && q.Get("cursor") == "first%3DBTCUSDT%26last%3DBTCUSDT":
			w.Write([]byte(docLinearPage2))
		case r.URL.Path == timePath:
			w.Write([]byte(docTime))
		case r.URL.Path == orderbookPath && q.Get("category") == "spot" && q.Get("symbol") == "BTCUSDT":
			w.Write([]byte(docOrderbook))
		default:
			w.Write([]byte(`{"retCode":10001,"retMsg":"params error: unknown request","result":{},"retExtInfo":{},"time":1}`))
		}
	}))
	t.Cleanup(rs.srv.Close)
	return rs
}

func (rs *restServer) client(t *testing.T) *httpx.Client {
	t.Helper()
	tlsCfg := rs.srv.Client().Transport.(*http.Transport).TLSClientConfig
	c, err := httpx.New(RESTConfig(httpx.Config{BaseURL: rs.srv.URL, TLS: tlsCfg, BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestLoadSymbols(t *testing.T) {
	rs := startREST(t)
	streams := []Stream{{Category: Spot, Symbol: "BTCUSDT"}, {Category: Linear, Symbol: "BTCUSDT"}}
	table, err := LoadSymbols(context.Background(), rs.client(t), streams)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c    Category
		name string
		want Symbol
		inst string
	}{
		{Spot, "BTCUSDT", Symbol{Category: Spot, Name: "BTCUSDT", PriceScale: 2, QtyScale: 6, Base: "BTC", Quote: "USDT", Status: "Trading"}, "BTC-USDT"},
		{Linear, "BTCUSDT", Symbol{Category: Linear, Name: "BTCUSDT", PriceScale: 1, QtyScale: 3, Base: "BTC", Quote: "USDT", Perpetual: true, Status: "Trading"}, "BTC-USDT-PERP"},
		{Linear, "BIOUSDT", Symbol{Category: Linear, Name: "BIOUSDT", PriceScale: 4, QtyScale: 0, Base: "BIO", Quote: "USDT", Perpetual: true, Status: "PreLaunch"}, "BIO-USDT-PERP"},
		{Linear, "BTC-26DEC25", Symbol{Category: Linear, Name: "BTC-26DEC25", PriceScale: 1, QtyScale: 3, Base: "BTC", Quote: "USDT", Status: "Trading"}, ""},
	} {
		got, ok := table.Lookup(tc.c, tc.name)
		if !ok || got != tc.want || got.Instrument() != tc.inst {
			t.Errorf("%s %s: %+v (%v), want %+v", tc.c, tc.name, got, ok, tc.want)
		}
	}
	if len(rs.calls) != 3 {
		t.Fatalf("calls %v: want spot, and linear in two pages", rs.calls)
	}
}

func TestServerTimeAndDepth(t *testing.T) {
	rs := startREST(t)
	c := rs.client(t)
	st, err := ServerTime(context.Background(), c)
	if err != nil || st.UnixNano() != 1688639403423213947 {
		t.Fatalf("ServerTime = %v, %v", st, err)
	}
	r := NewRecovery(c, testSymbols(t))
	var ev feed.Event
	if err := r.Depth(context.Background(), "spot/BTCUSDT", 50, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != feed.TypeBookSnapshot || ev.ID != 230704 || ev.Symbol != "spot/BTCUSDT" || !ev.Recovered ||
		!equalLevels(ev.Bids, []feed.Level{{Price: 6548547, Qty: 47081829}}) || !equalLevels(ev.Asks, []feed.Level{{Price: 6555770, Qty: 16606555}}) {
		t.Fatalf("depth %+v", ev)
	}
	if err := r.Depth(context.Background(), "BTCUSDT", 50, &ev); err == nil || !strings.Contains(err.Error(), `"BTCUSDT"`) {
		t.Fatalf("symbol without category: %v", err)
	}
}

func TestRecoveryTradesRefused(t *testing.T) {
	r := NewRecovery(nil, testSymbols(t))
	if _, err := r.Trades(context.Background(), "spot/BTCUSDT", 5, 100, nil); !errors.Is(err, ErrNoTradeHistory) {
		t.Fatalf("Trades: %v", err)
	}
	if _, err := r.AggTrades(context.Background(), "linear/BTCUSDT", 5, 100, nil); !errors.Is(err, ErrNoTradeHistory) || !strings.Contains(err.Error(), "linear/BTCUSDT") {
		t.Fatalf("AggTrades: %v", err)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   httpx.Verdict
		code   int
	}{
		{200, docTime, httpx.VerdictOK, 0},
		{200, `{"retCode":10001,"retMsg":"params error","result":{}}`, httpx.VerdictError, 10001},
		{200, `{"retCode":10006,"retMsg":"Too many visits!","result":{}}`, httpx.VerdictRateLimited, 10006},
		{200, `{"retCode":10016,"retMsg":"Server error.","result":{}}`, httpx.VerdictRetry, 10016},
		{200, `{"result":{}}`, httpx.VerdictError, 0},
		{403, `<html>access too frequent</html>`, httpx.VerdictForbidden, 0},
		{429, ``, httpx.VerdictRateLimited, 0},
		{502, ``, httpx.VerdictRetry, 0},
		{404, `{"retCode":10001,"retMsg":"not found"}`, httpx.VerdictError, 10001},
	} {
		a := Classify(tc.status, nil, []byte(tc.body))
		if a.Verdict != tc.want || a.Code != tc.code {
			t.Errorf("%d %s: %+v, want verdict %v code %d", tc.status, tc.body, a, tc.want, tc.code)
		}
	}
}

// Bybit's errors reach the caller through httpx: a retCode in a 200 is a
// refusal that names it, and a 403 stops every call (the IP rate limit).
func TestRESTErrors(t *testing.T) {
	rs := startREST(t)
	c := rs.client(t)
	_, err := ServerTime(context.Background(), c) // fine
	if err != nil {
		t.Fatal(err)
	}
	rs.mu.Lock()
	rs.answer = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == timePath {
			w.Write([]byte(`{"retCode":10001,"retMsg":"params error","result":{}}`))
			return true
		}
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte("access too frequent"))
		return true
	}
	rs.mu.Unlock()
	_, err = ServerTime(context.Background(), c)
	var api *httpx.APIError
	if !errors.As(err, &api) || api.Code != 10001 || !strings.Contains(err.Error(), "params error") {
		t.Fatalf("retCode error: %v", err)
	}
	_, err = LoadInstruments(context.Background(), c, Spot)
	if !errors.Is(err, httpx.ErrForbidden) {
		t.Fatalf("403: %v", err)
	}
	n := len(rs.calls)
	if _, err := ServerTime(context.Background(), c); !errors.Is(err, httpx.ErrForbidden) || len(rs.calls) != n {
		t.Fatalf("after a 403: %v, %d calls (want none sent)", err, len(rs.calls)-n)
	}
}

func TestOpen(t *testing.T) {
	rs := startREST(t)
	f, err := venue.Lookup("bybit")
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg := rs.srv.Client().Transport.(*http.Transport).TLSClientConfig
	streams := []string{"spot/orderbook.50.BTCUSDT", "spot/publicTrade.BTCUSDT", "linear/tickers.BTCUSDT", "linear/orderbook.200.BTCUSDT"}
	s, err := f.Open(context.Background(), venue.Env{WSURL: "wss://127.0.0.1:1", RESTURL: rs.srv.URL, TLS: tlsCfg, Streams: streams, Recovery: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := strings.Join(s.Symbols, ","); got != "spot/BTCUSDT,linear/BTCUSDT" {
		t.Errorf("Symbols %s", got)
	}
	if got := strings.Join(s.BookSymbols, ","); got != "spot/BTCUSDT,linear/BTCUSDT" {
		t.Errorf("BookSymbols %s", got)
	}
	if s.Recovery == nil || s.Dials == nil || s.ServerTime == nil {
		t.Fatalf("setup %+v", s)
	}
	plans, err := s.Venue.Plan(streams) // and the system status connection, last
	if err != nil || len(plans) != 3 || plans[2].Streams[0] != StatusStream {
		t.Fatalf("plans %+v, %v", plans, err)
	}
	// the recording's metadata rebuilds the same venue
	var meta Meta
	if err := json.Unmarshal(s.Meta, &meta); err != nil || len(meta.Symbols) != 2 {
		t.Fatalf("meta %s: %v", s.Meta, err)
	}
	replayed, err := f.Replay(s.Meta)
	if err != nil {
		t.Fatal(err)
	}
	again, err := replayed.Plan(streams)
	if err != nil || len(again) != 3 || again[2].URL != plans[2].URL || again[0].URL != plans[0].URL || string(again[1].Subscribe[0]) != string(plans[1].Subscribe[0]) {
		t.Fatalf("replayed plans %+v, %v", again, err)
	}

	// a symbol the venue does not list is the user's error, named
	_, err = f.Open(context.Background(), venue.Env{RESTURL: rs.srv.URL, TLS: tlsCfg, Streams: []string{"spot/publicTrade.ETHUSDT"}})
	if !errors.Is(err, venue.ErrBadInput) || !strings.Contains(err.Error(), "spot/publicTrade.ETHUSDT") {
		t.Fatalf("unlisted: %v", err)
	}
	_, err = f.Open(context.Background(), venue.Env{RESTURL: rs.srv.URL, TLS: tlsCfg, Streams: []string{"spot:publicTrade.BTCUSDT"}})
	if !errors.Is(err, venue.ErrBadInput) || !strings.Contains(err.Error(), "spot:publicTrade.BTCUSDT") {
		t.Fatalf("bad name: %v", err)
	}
}

func TestOptionsAndStreams(t *testing.T) {
	f, _ := venue.Lookup("bybit")
	o := f.NewOptions().(*Options)
	if err := o.Validate(); err != nil || o.TopicsPerConn != 100 || o.DialBudget != DefaultDialBudget {
		t.Fatalf("defaults %+v: %v", o, err)
	}
	o.TopicsPerConn, o.DialBudget = 0, "lots"
	err := o.Validate()
	var se *venue.SettingError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "--bybit-topics-per-conn 0") || !strings.Contains(err.Error(), "--bybit-dial-budget lots") {
		t.Fatalf("Validate: %v", err)
	}
	got, err := venue.Expand("bybit", f, []string{"trades:BTC-USDT", "book:BTC-USDT-PERP", "funding:BTC-USDT-PERP", "liquidations:BTC-USDT-PERP", "spot/publicTrade.ETHUSDT"})
	want := "spot/publicTrade.BTCUSDT linear/orderbook.200.BTCUSDT linear/tickers.BTCUSDT linear/allLiquidation.BTCUSDT spot/publicTrade.ETHUSDT"
	if err != nil || strings.Join(got, " ") != want {
		t.Fatalf("Expand = %v, %v", got, err)
	}
	if got, err := venue.Expand("bybit", f, []string{"trades:ETH-USDC-PERP"}); err != nil || len(got) != 1 || got[0] != "linear/publicTrade.ETHPERP" {
		t.Fatalf("USDC perpetual: %v, %v", got, err)
	}
	if _, err := venue.Expand("bybit", f, []string{"funding:BTC-USDT"}); !errors.Is(err, venue.ErrNotListed) {
		t.Fatalf("funding of spot: %v", err)
	}
	for _, st := range got {
		if err := f.CheckStream(st); err != nil {
			t.Errorf("CheckStream(%s): %v", st, err)
		}
	}
	if c := f.CompleteStream("li"); len(c) != 1 || c[0] != "linear/" {
		t.Errorf("CompleteStream(li) = %v", c)
	}
	if c := f.CompleteStream("linear/t"); len(c) != 1 || c[0] != "linear/tickers." {
		t.Errorf("CompleteStream(linear/t) = %v", c)
	}
}
