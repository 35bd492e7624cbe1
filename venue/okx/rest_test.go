package okx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/venue"
)

const (
	spotInstruments = `{"code":"0","msg":"","data":[
	 {"instType":"SPOT","instId":"BTC-USDT","uly":"","instFamily":"","baseCcy":"BTC","quoteCcy":"USDT","settleCcy":"","ctValCcy":"","ctVal":"","ctMult":"","ctType":"","tickSz":"0.1","lotSz":"0.00000001","minSz":"0.00001","state":"live","listTime":"1606468572000","expTime":""},
	 {"instType":"SPOT","instId":"ETH-USDT","baseCcy":"ETH","quoteCcy":"USDT","tickSz":"0.01","lotSz":"0.000001","minSz":"0.0001","state":"live"}]}`
	swapInstruments = `{"code":"0","msg":"","data":[
	 {"instType":"SWAP","instId":"BTC-USDT-SWAP","uly":"BTC-USDT","instFamily":"BTC-USDT","baseCcy":"","quoteCcy":"","settleCcy":"USDT","ctValCcy":"BTC","ctVal":"0.01","ctMult":"1","ctType":"linear","tickSz":"0.1","lotSz":"0.01","minSz":"0.01","state":"live"}]}`
)

// okxREST serves doc-shaped answers ("GET / Instruments", "GET / System
// time", "GET / Trades history"): the history holds trades 1000..1199 of
// each instrument; the first history request of a run answers 50001
// (503), a passing failure.
type okxREST struct {
	mu       sync.Mutex
	requests []string
	failed   bool
}

func (s *okxREST) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.URL.RequestURI())
	first := !s.failed && r.URL.Path == HistoryTradesPath
	s.failed = s.failed || first
	s.mu.Unlock()
	q := r.URL.Query()
	switch r.URL.Path {
	case InstrumentsPath:
		switch q.Get("instType") {
		case "SPOT":
			fmt.Fprint(w, spotInstruments)
		case "SWAP":
			fmt.Fprint(w, swapInstruments)
		default:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"code":"51000","msg":"Parameter instType error","data":[]}`)
		}
	case TimePath:
		fmt.Fprint(w, `{"code":"0","msg":"","data":[{"ts":"1597026383085"}]}`)
	case HistoryTradesPath:
		if first {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"code":"50001","msg":"Service temporarily unavailable. Try again later","data":[]}`)
			return
		}
		if q.Get("instId") == "XRP-USDT" {
			fmt.Fprint(w, `{"code":"51001","msg":"Instrument ID does not exist","data":[]}`)
			return
		}
		after, _ := strconv.ParseInt(q.Get("after"), 10, 64)
		limit, _ := strconv.Atoi(q.Get("limit"))
		if q.Get("type") != "1" || limit < 1 || limit > 100 {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"code":"50014","msg":"Parameter type error","data":[]}`)
			return
		}
		var items []string
		for id := min(after-1, 1199); id >= 1000 && len(items) < limit; id-- {
			side := "buy"
			if id%2 == 0 {
				side = "sell"
			}
			items = append(items, fmt.Sprintf(`{"instId":%q,"side":%q,"sz":"0.5","source":"0","px":"29963.2","tradeId":"%d","ts":"%d"}`,
				q.Get("instId"), side, id, 1654161646974+id))
		}
		fmt.Fprintf(w, `{"code":"0","msg":"","data":[%s]}`, strings.Join(items, ","))
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"code":"404","msg":"Not Found"}`)
	}
}

func startREST(t *testing.T) (*httptest.Server, *okxREST) {
	h := &okxREST{}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes a test refuses on purpose
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, h
}

func TestOpenAndRecover(t *testing.T) {
	srv, h := startREST(t)
	f, _ := venue.Lookup(Venue)
	tlsCfg := srv.Client().Transport.(*http.Transport).TLSClientConfig
	ctx := context.Background()
	s, err := f.Open(ctx, venue.Env{WSURL: "wss://127.0.0.1:1", RESTURL: srv.URL, TLS: tlsCfg, Recovery: true,
		Streams: []string{"BTC-USDT@books", "BTC-USDT-SWAP@trades-all", "BTC-USDT@trades-all"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if fmt.Sprint(s.BookSymbols) != "[BTC-USDT]" || fmt.Sprint(s.Symbols) != "[BTC-USDT BTC-USDT-SWAP]" || s.Venue.Name() != Venue {
		t.Errorf("setup: books %v symbols %v", s.BookSymbols, s.Symbols)
	}
	if !strings.Contains(string(s.Meta), `"inst_id":"BTC-USDT-SWAP"`) || strings.Contains(string(s.Meta), "ETH-USDT") {
		t.Errorf("meta: %s", s.Meta)
	}
	st, err := s.ServerTime(ctx)
	if err != nil || st.UnixMilli() != 1597026383085 {
		t.Errorf("server time %v, %v", st, err)
	}

	// the first page fails with 50001 and is asked again
	trades, err := s.Recovery.Trades(ctx, "BTC-USDT-SWAP", 1100, 50, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(trades) != 50 {
		t.Fatalf("%d trades", len(trades))
	}
	for i, ev := range trades {
		id := int64(1100 + i)
		if ev.ID != id || ev.FirstTradeID != id || ev.LastTradeID != id || !ev.Recovered || ev.Aggregated || ev.Type != feed.TypeTrade ||
			ev.Symbol != "BTC-USDT-SWAP" || ev.Instrument != "BTC-USDT-PERP" || ev.Price != 299632 || ev.QtyScale != 4 || ev.Qty != 50 ||
			ev.ExchangeTime != (1654161646974+id)*1e6 {
			t.Fatalf("trade %d: %+v", i, ev)
		}
	}
	// the newest trades: fewer than asked, the history has no more yet
	trades, err = s.Recovery.Trades(ctx, "BTC-USDT", 1190, 100, trades[:0])
	if err != nil || len(trades) != 10 || trades[0].ID != 1190 || trades[9].ID != 1199 || trades[0].QtyScale != 8 || trades[0].Qty != 5e7 {
		t.Errorf("newest: %d trades, %v", len(trades), err)
	}
	h.mu.Lock()
	var pages []string
	for _, r := range h.requests {
		if strings.HasPrefix(r, HistoryTradesPath) {
			pages = append(pages, r)
		}
	}
	h.mu.Unlock()
	if len(pages) != 3 || !strings.Contains(pages[1], "after=1150") || !strings.Contains(pages[1], "limit=50") || !strings.Contains(pages[1], "type=1") {
		t.Errorf("history requests: %v", pages)
	}

	if _, err := s.Recovery.AggTrades(ctx, "BTC-USDT", 1, 10, nil); !errors.Is(err, ErrNoAggTrades) {
		t.Errorf("AggTrades: %v", err)
	}
	if err := s.Recovery.Depth(ctx, "BTC-USDT", 10, &feed.Event{}); !errors.Is(err, ErrNoDepth) {
		t.Errorf("Depth: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	srv, _ := startREST(t)
	f, _ := venue.Lookup(Venue)
	tlsCfg := srv.Client().Transport.(*http.Transport).TLSClientConfig
	ctx := context.Background()
	_, err := f.Open(ctx, venue.Env{RESTURL: srv.URL, TLS: tlsCfg, Streams: []string{"BTC-USDT@books", "DOGE-USDT@books", "DOGE-USDT@bbo-tbt"}})
	if !errors.Is(err, venue.ErrBadInput) || !strings.Contains(err.Error(), "DOGE-USDT@books, DOGE-USDT@bbo-tbt") {
		t.Errorf("unlisted instrument: %v", err)
	}
	_, err = f.Open(ctx, venue.Env{RESTURL: srv.URL, TLS: tlsCfg, Streams: []string{"BTC-USDT-250808@books"}})
	if !errors.Is(err, venue.ErrBadInput) || !strings.Contains(err.Error(), "BTC-USDT-250808") {
		t.Errorf("futures: %v", err)
	}
	// a certificate the process does not trust
	_, err = f.Open(ctx, venue.Env{RESTURL: srv.URL, Streams: []string{"BTC-USDT@books"}})
	if !errors.Is(err, venue.ErrUnavailable) || !strings.Contains(err.Error(), srv.URL) {
		t.Errorf("untrusted: %v", err)
	}
}

func TestRecoveryRefused(t *testing.T) {
	srv, _ := startREST(t)
	c, err := httpx.New(RESTConfig(httpx.Config{BaseURL: srv.URL, TLS: srv.Client().Transport.(*http.Transport).TLSClientConfig}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	syms, err := NewSymbols(Symbol{InstID: "XRP-USDT", InstType: InstSpot, PriceScale: 4, LotScale: 2})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := NewRecovery(c, syms)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = r.Trades(ctx, "XRP-USDT", 1, 10, nil) // the first history request fails over (50001)
	_, err = r.Trades(ctx, "XRP-USDT", 1, 10, nil)
	var ae *httpx.APIError
	if !errors.As(err, &ae) || ae.Code != 51001 || ae.Status != 200 || !strings.Contains(err.Error(), "XRP-USDT") {
		t.Errorf("51001 in a 200: %v", err)
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
		want   httpx.Verdict
		code   int
	}{
		{200, `{"code":"0","msg":"","data":[]}`, httpx.VerdictOK, 0},
		{200, `{"code":"50011","msg":"Rate limit reached. Please refer to API documentation and throttle requests accordingly.","data":[]}`, httpx.VerdictRateLimited, 50011},
		{429, `{"code":"50011","msg":"Too Many Requests"}`, httpx.VerdictRateLimited, 50011},
		{503, `{"code":"50001","msg":"Service temporarily unavailable"}`, httpx.VerdictRetry, 50001},
		{400, `{"code":"50014","msg":"Parameter instId can not be empty"}`, httpx.VerdictError, 50014},
		{200, `{"code":"51001","msg":"Instrument ID does not exist"}`, httpx.VerdictError, 51001},
		{502, `<html>bad gateway</html>`, httpx.VerdictRetry, 0},
		{429, ``, httpx.VerdictRateLimited, 0},
		{404, `not found`, httpx.VerdictError, 0},
	} {
		a := Classify(c.status, nil, []byte(c.body))
		if a.Verdict != c.want || a.Code != c.code {
			t.Errorf("Classify(%d, %s) = %+v; want verdict %v code %d", c.status, c.body, a, c.want, c.code)
		}
	}
}
