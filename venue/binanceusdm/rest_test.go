package binanceusdm

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
	"github.com/feedkeeper/feedkeeper/httpx"
)

// Doc-shaped answers of the USD-M REST API ("Exchange Information",
// "Order Book", "Compressed/Aggregate Trades List", "Check Server Time").
const (
	exchangeInfoBody = `{"exchangeFilters":[],"rateLimits":[{"interval":"MINUTE","intervalNum":1,"limit":1800,"rateLimitType":"REQUEST_WEIGHT"},
	{"interval":"MINUTE","intervalNum":1,"limit":1200,"rateLimitType":"ORDERS"}],"serverTime":1565613908500,"assets":[],
	"symbols":[{"symbol":"BTCUSDT","pair":"BTCUSDT","contractType":"PERPETUAL","deliveryDate":4133404800000,"onboardDate":1598252400000,
	"status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT","marginAsset":"USDT","pricePrecision":2,"quantityPrecision":3,
	"baseAssetPrecision":8,"quotePrecision":8,"underlyingType":"COIN","filters":[{"filterType":"PRICE_FILTER","maxPrice":"300","minPrice":"0.0001","tickSize":"0.10"},
	{"filterType":"LOT_SIZE","maxQty":"10000000","minQty":"1","stepSize":"0.001"},{"filterType":"MARKET_LOT_SIZE","maxQty":"590119","minQty":"1","stepSize":"1"}],
	"orderTypes":["LIMIT","MARKET"],"timeInForce":["GTC","IOC"]}],"timezone":"UTC"}`
	depthBody = `{"lastUpdateId":1027024,"E":1589436922972,"T":1589436922959,
	"bids":[["4.0","431.000"],["3.9","1.5"],["3.8","2"]],"asks":[["4.1","12.000"],["4.2","1"]]}`
	aggTradesBody = `[{"a":26129,"p":"0.1","q":"4.700","nq":"4.700","f":100,"l":110,"T":1498793709153,"m":true},
	{"a":26130,"p":"0.2","q":"1","nq":"1","f":111,"l":111,"T":1498793709154,"m":false}]`
)

// restServer serves the answers above over TLS and records the requests.
type restServer struct {
	srv   *httptest.Server
	mu    sync.Mutex
	reqs  []*url.URL
	depth string // the depth answer, when not depthBody
	info  string // the exchangeInfo answer, when not exchangeInfoBody
}

func newRESTServer(t *testing.T) (*restServer, *httpx.Client) {
	t.Helper()
	rs := &restServer{}
	rs.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs.mu.Lock()
		rs.reqs = append(rs.reqs, r.URL)
		rs.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(UsedWeightHeader, "20")
		switch r.URL.Path {
		case exchangeInfoPath:
			rs.mu.Lock()
			body := rs.info
			rs.mu.Unlock()
			if body == "" {
				body = exchangeInfoBody
			}
			io.WriteString(w, body)
		case depthPath:
			rs.mu.Lock()
			body := rs.depth
			rs.mu.Unlock()
			if body == "" {
				body = depthBody
			}
			io.WriteString(w, body)
		case aggTradesPath:
			io.WriteString(w, aggTradesBody)
		case timePath:
			io.WriteString(w, `{"serverTime":1499827319559}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"code":-5000,"msg":"Path not found"}`)
		}
	}))
	t.Cleanup(rs.srv.Close)
	tlsCfg := rs.srv.Client().Transport.(*http.Transport).TLSClientConfig
	c, err := httpx.New(RESTConfig(httpx.Config{BaseURL: rs.srv.URL, TLS: tlsCfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return rs, c
}

func (rs *restServer) last() *url.URL {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.reqs[len(rs.reqs)-1]
}

func TestRecoveryAgainstDocAnswers(t *testing.T) {
	rs, c := newRESTServer(t)
	ctx := context.Background()
	syms, err := LoadSymbols(ctx, c, []string{"BTCUSDT"})
	if err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.WeightLimit != 1800 {
		t.Fatalf("weight limit %d, want exchangeInfo's 1800", st.WeightLimit)
	}
	if _, err := LoadSymbols(ctx, c, []string{"ETHUSDT"}); !errors.Is(err, ErrUnknownSymbol) || !strings.Contains(err.Error(), `"ETHUSDT"`) {
		t.Fatalf("unlisted symbol: %v", err)
	}
	rec, err := NewRecovery(c, syms)
	if err != nil {
		t.Fatal(err)
	}

	trades, err := rec.AggTrades(ctx, "BTCUSDT", 26129, 5000, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q := rs.last().Query(); rs.last().Path != "/fapi/v1/aggTrades" || q.Get("fromId") != "26129" || q.Get("limit") != "1000" || q.Get("symbol") != "BTCUSDT" {
		t.Fatalf("asked %v", rs.last())
	}
	want := feed.Event{Type: feed.TypeTrade, Side: feed.SideSell, Aggregated: true, Recovered: true, PriceScale: 1, QtyScale: 3,
		Venue: Venue, Symbol: "BTCUSDT", Instrument: "BTC-USDT-PERP", ID: 26129, FirstID: 26129, FirstTradeID: 100, LastTradeID: 110,
		ExchangeTime: 1498793709153 * ms, Price: 1, Qty: 4700}
	if len(trades) != 2 {
		t.Fatalf("%d trades", len(trades))
	}
	got := trades[0]
	got.ReceiveTime = 0
	if !equalEvents(got, want) || trades[1].ID != 26130 || trades[1].Side != feed.SideBuy || trades[1].Qty != 1000 {
		t.Fatalf("trades %+v", trades)
	}

	var snap feed.Event
	if err := rec.Depth(ctx, "BTCUSDT", 2, &snap); err != nil {
		t.Fatal(err)
	}
	if q := rs.last().Query(); rs.last().Path != "/fapi/v1/depth" || q.Get("limit") != "5" {
		t.Fatalf("asked %v, want the smallest valid limit at or above 2", rs.last())
	}
	if snap.Type != feed.TypeBookSnapshot || snap.ID != 1027024 || snap.FirstID != 1027024 || snap.Venue != Venue ||
		snap.Instrument != "BTC-USDT-PERP" || snap.ExchangeTime != 1589436922959*ms || snap.EventTime != 1589436922972*ms ||
		len(snap.Bids) != 2 || len(snap.Asks) != 2 || snap.Bids[0] != (feed.Level{Price: 40, Qty: 431000}) || snap.Asks[1] != (feed.Level{Price: 42, Qty: 1000}) {
		t.Fatalf("snapshot %+v", snap)
	}
	if err := rec.Depth(ctx, "BTCUSDT", 100, &snap); err != nil || rs.last().Query().Get("limit") != "100" || len(snap.Bids) != 3 {
		t.Fatalf("depth 100: %v %v %+v", err, rs.last(), snap)
	}
	if err := rec.Depth(ctx, "BTCUSDT", 1001, &snap); err == nil || !strings.Contains(err.Error(), "1001") {
		t.Fatalf("depth 1001: %v", err)
	}
	if err := rec.Depth(ctx, "ETHUSDT", 5, &snap); !errors.Is(err, ErrUnknownSymbol) {
		t.Fatalf("depth of an unknown symbol: %v", err)
	}
	if _, err := rec.Trades(ctx, "BTCUSDT", 1, 10, nil); !errors.Is(err, ErrNoTrades) {
		t.Fatalf("trades: %v", err)
	}

	now, err := ServerTime(ctx, c)
	if err != nil || now.UnixMilli() != 1499827319559 {
		t.Fatalf("server time %v %v", now, err)
	}
}

func equalEvents(a, b feed.Event) bool {
	a.Bids, a.Asks, b.Bids, b.Asks = nil, nil, nil, nil
	return reflect.DeepEqual(a, b)
}

func TestParseDepthRefuses(t *testing.T) {
	sym, _ := testSymbols(t).Lookup("BTCUSDT")
	for _, body := range []string{
		`{"E":1,"T":1,"bids":[],"asks":[]}`,
		`{"lastUpdateId":1,"bids":[["1.25","1"]],"asks":[]}`,
		`{"lastUpdateId":1,"bids":[],"asks":[]} x`,
		`[]`,
	} {
		var ev feed.Event
		if err := parseDepth([]byte(body), sym, &ev); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", body, err)
		}
	}
}

func TestRequestWeight(t *testing.T) {
	for _, c := range []struct {
		path, limit string
		want        int
	}{
		{depthPath, "5", 2}, {depthPath, "50", 2}, {depthPath, "100", 5}, {depthPath, "500", 10}, {depthPath, "", 10},
		{depthPath, "1000", 20}, {aggTradesPath, "1000", 20}, {exchangeInfoPath, "", 1}, {timePath, "", 1},
	} {
		q := url.Values{}
		if c.limit != "" {
			q.Set("limit", c.limit)
		}
		if got := RequestWeight(c.path, q); got != c.want {
			t.Errorf("%s?limit=%s: weight %d, want %d", c.path, c.limit, got, c.want)
		}
	}
}

// TestDefaults compares the defaults with the exported constants, and
// connects nowhere.
func TestDefaults(t *testing.T) {
	cfg := RESTConfig(httpx.Config{})
	if cfg.BaseURL != DefaultRESTURL || cfg.WeightLimit != WeightLimit || cfg.WeightWindow != time.Minute || cfg.UsedWeightHeader != UsedWeightHeader {
		t.Fatalf("REST defaults %+v", cfg)
	}
	if own := RESTConfig(httpx.Config{BaseURL: "https://127.0.0.1:1"}); own.BaseURL != "https://127.0.0.1:1" || len(own.BaseURLs) != 0 {
		t.Fatalf("a configured host: %+v", own)
	}
	if !strings.HasPrefix(DefaultWSURL, "wss://") || !strings.HasPrefix(DefaultRESTURL, "https://") {
		t.Fatal("defaults are not TLS URLs")
	}
}

// An answer larger than any depth of the asked limit can be is refused
// before it is read whole.
func TestDepthAnswerOverItsCap(t *testing.T) {
	rs, c := newRESTServer(t)
	syms, err := LoadSymbols(context.Background(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := NewRecovery(c, syms)
	if err != nil {
		t.Fatal(err)
	}
	huge := `{"lastUpdateId":1,"bids":[` + strings.Repeat(`["1.0","1"],`, 20000) + `["1.0","1"]],"asks":[]}`
	rs.mu.Lock()
	rs.depth = huge
	rs.mu.Unlock()
	var ev feed.Event
	if err := rec.Depth(context.Background(), "BTCUSDT", 5, &ev); !errors.Is(err, httpx.ErrBodyTooLarge) {
		t.Fatalf("a %d-byte answer to limit=5: %v", len(huge), err)
	}
}

// FuzzParseDepth checks the REST snapshot reader against encoding/json.
func FuzzParseDepth(f *testing.F) {
	f.Add([]byte(depthBody))
	f.Add([]byte(`{"lastUpdateId":7,"bids":[],"asks":[["4.1","0.001",5]],"x":{"y":[]}}`))
	f.Add([]byte(`{"asks":[],"bids":[["1","2"]],"lastUpdateId":-1}`))
	sym, _ := testSymbols(f).Lookup("BTCUSDT")
	f.Fuzz(func(t *testing.T, body []byte) {
		var ev feed.Event
		err := parseDepth(body, sym, &ev)
		var ref struct {
			LastUpdateID *json.RawMessage     `json:"lastUpdateId"`
			Bids         *[][]json.RawMessage `json:"bids"`
			Asks         *[][]json.RawMessage `json:"asks"`
		}
		// encoding/json matches keys without regard to case, and takes
		// the last of duplicates; the reader matches them exactly: frames
		// where that differs are not compared.
		ms, ok := members(body)
		if !ok || !json.Valid(body) {
			if err == nil {
				t.Fatalf("%q: read, encoding/json refuses it", body)
			}
			return
		}
		for _, m := range ms {
			for _, k := range []string{"lastUpdateId", "bids", "asks", "E", "T"} {
				if strings.EqualFold(m.key, k) && m.key != k {
					return
				}
			}
		}
		if json.Unmarshal(body, &ref) != nil || ref.LastUpdateID == nil || ref.Bids == nil || ref.Asks == nil {
			if err == nil {
				t.Fatalf("%q: read, encoding/json refuses it", body)
			}
			return
		}
		if err != nil {
			return // a value the reader checks further (numbers, scales)
		}
		id, perr := strconv.ParseInt(string(*ref.LastUpdateID), 10, 64)
		if perr != nil || id != ev.ID || len(*ref.Bids) != len(ev.Bids) || len(*ref.Asks) != len(ev.Asks) {
			t.Fatalf("%q: read as %d, %d bids, %d asks", body, ev.ID, len(ev.Bids), len(ev.Asks))
		}
		for i, lv := range *ref.Bids {
			var p string
			if len(lv) < 2 || json.Unmarshal(lv[0], &p) != nil {
				t.Fatalf("%q: bid %d read from %s", body, i, lv)
			}
			if m, err := fixed.Parse(p, sym.PriceScale); err != nil || m != ev.Bids[i].Price {
				t.Fatalf("%q: bid %d price %d, want %q", body, i, ev.Bids[i].Price, p)
			}
		}
	})
}
