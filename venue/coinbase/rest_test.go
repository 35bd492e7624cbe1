package coinbase

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
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

// Answers in the shapes of Advanced Trade's "List Public Products", "Get
// Server Time" and error examples.
const (
	docProducts = `{"products":[{"product_id":"BTC-USD","price":"68900.5","price_percentage_change_24h":"1.85","volume_24h":"15328.1","base_increment":"0.00000001","quote_increment":"0.01","quote_min_size":"1","quote_max_size":"150000000","base_min_size":"0.00000001","base_max_size":"3400","base_name":"Bitcoin","quote_name":"US Dollar","watched":false,"is_disabled":false,"new":false,"status":"online","cancel_only":false,"limit_only":false,"post_only":false,"trading_disabled":false,"auction_mode":false,"product_type":"SPOT","quote_currency_id":"USD","base_currency_id":"BTC","fcm_trading_session_details":null,"mid_market_price":"","alias":"","alias_to":["BTC-USDC"],"base_display_symbol":"BTC","quote_display_symbol":"USD","view_only":false,"price_increment":"0.01","display_name":"BTC-USD","product_venue":"CBE"},` +
		`{"product_id":"SHIB-USD","base_increment":"1","quote_increment":"0.00000001","price_increment":"0.00000001","status":"online","product_type":"SPOT"},` +
		`{"product_id":"BTC-USDC","base_increment":"0.00000001","quote_increment":"0.01","price_increment":"0.01","status":"online","product_type":"SPOT","alias":"BTC-USD"}],"num_products":3}`
	docServerTime = `{"iso":"2023-05-31T22:50:30.141Z","epochSeconds":"1685573430","epochMillis":"1685573430141"}`
	docNotFound   = `{"error":"NOT_FOUND","error_details":"ProductID not found","message":"ProductID not found"}`
)

type restServer struct {
	srv      *httptest.Server
	mu       sync.Mutex
	calls    []string
	fail     []int  // statuses answered first, one a call
	products string // when set, the products answer
}

func startREST(t *testing.T) *restServer {
	rs := &restServer{}
	rs.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs.mu.Lock()
		rs.calls = append(rs.calls, r.URL.RequestURI())
		var fail int
		if len(rs.fail) > 0 {
			fail, rs.fail = rs.fail[0], rs.fail[1:]
		}
		products := rs.products
		rs.mu.Unlock()
		if products == "" {
			products = docProducts
		}
		if fail != 0 {
			w.WriteHeader(fail)
			w.Write([]byte(`{"error":"RATE_LIMIT_EXCEEDED","error_details":"Too many requests","message":"Too many requests"}`))
			return
		}
		switch {
		case r.URL.Path == productsPath && r.URL.Query().Get("product_type") == "SPOT":
			w.Write([]byte(products))
		case r.URL.Path == timePath:
			w.Write([]byte(docServerTime))
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(docNotFound))
		}
	}))
	t.Cleanup(rs.srv.Close)
	return rs
}

func (rs *restServer) client(t *testing.T) *httpx.Client {
	t.Helper()
	tlsCfg := rs.srv.Client().Transport.(*http.Transport).TLSClientConfig
	c, err := httpx.New(RESTConfig(httpx.Config{BaseURL: rs.srv.URL, TLS: tlsCfg, BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestLoadSymbolsAndServerTime(t *testing.T) {
	rs := startREST(t)
	rs.fail = []int{http.StatusTooManyRequests} // the first answer is a rate limit: tried again
	c := rs.client(t)
	syms, err := LoadSymbols(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []Symbol{{Name: "BTC-USD", PriceScale: 2, QtyScale: 8, Status: "online"}, {Name: "SHIB-USD", PriceScale: 8, QtyScale: 0, Status: "online"}, {Name: "BTC-USDC", PriceScale: 2, QtyScale: 8, Status: "online"}} {
		if got, ok := syms.Lookup(want.Name); !ok || got != want {
			t.Errorf("%s: %+v %v", want.Name, got, ok)
		}
	}
	st, err := ServerTime(context.Background(), c)
	if err != nil || !st.Equal(time.Date(2023, 5, 31, 22, 50, 30, 141e6, time.UTC)) {
		t.Errorf("server time %v %v", st, err)
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.calls) != 3 || rs.calls[0] != rs.calls[1] {
		t.Errorf("calls %q", rs.calls)
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		status int
		body   string
		want   httpx.Verdict
		msg    string
	}{
		{200, docServerTime, httpx.VerdictOK, ""},
		{404, docNotFound, httpx.VerdictError, "ProductID not found"},
		{400, `{"error":"INVALID_ARGUMENT","error_details":"limit must be positive"}`, httpx.VerdictError, "limit must be positive"},
		{400, `{"message":"Invalid product_id"}`, httpx.VerdictError, "Invalid product_id"},
		{429, `{"message":"Too many requests"}`, httpx.VerdictRateLimited, "Too many requests"},
		{503, `<html>down</html>`, httpx.VerdictRetry, "Service Unavailable"},
	}
	for _, c := range cases {
		a := Classify(c.status, nil, []byte(c.body))
		if a.Verdict != c.want || a.Msg != c.msg {
			t.Errorf("%d %s: %+v, want verdict %v msg %q", c.status, c.body, a, c.want, c.msg)
		}
	}
}

// Open, as the program calls it: products from the local server, a stream
// of a product it lacks refused with the name typed, the recording's
// metadata replayed into the same plan.
func TestOpenAndReplay(t *testing.T) {
	rs := startREST(t)
	f, err := venue.Lookup(Venue)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg := rs.srv.Client().Transport.(*http.Transport).TLSClientConfig
	env := venue.Env{Streams: []string{"BTC-USD@level2", "BTC-USD@market_trades", "SHIB-USD@ticker"}, WSURL: "wss://127.0.0.1:1", RESTURL: rs.srv.URL, TLS: tlsCfg}
	s, err := f.Open(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	plans, err := s.Venue.Plan(env.Streams)
	if err != nil || len(plans) != 1 {
		t.Fatalf("plan %v %v", plans, err)
	}
	if got := strings.Join(s.Symbols, ","); got != "BTC-USD,SHIB-USD" {
		t.Errorf("symbols %s", got)
	}
	var meta Meta
	if err := json.Unmarshal(s.Meta, &meta); err != nil || len(meta.Symbols) != 2 || meta.WSURL != "wss://127.0.0.1:1" {
		t.Errorf("meta %s %v", s.Meta, err)
	}
	rv, err := f.Replay(s.Meta)
	if err != nil {
		t.Fatal(err)
	}
	again, err := rv.Plan(env.Streams)
	if err != nil || string(again[0].Build()[1]) != string(plans[0].Build()[1]) {
		t.Errorf("replayed plan %v %v", again, err)
	}
	env.Streams = []string{"DOGE-USD@level2"}
	_, err = f.Open(context.Background(), env)
	if !errors.Is(err, venue.ErrBadInput) || !strings.Contains(err.Error(), "DOGE-USD@level2") {
		t.Errorf("unlisted product: %v", err)
	}
	env.Streams = []string{"BTC-USD@level3"}
	if _, err = f.Open(context.Background(), env); !errors.Is(err, venue.ErrBadInput) || !strings.Contains(err.Error(), `"BTC-USD@level3"`) {
		t.Errorf("bad channel: %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	o := factory{}.NewOptions().(*Options)
	if err := o.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if o.InstrumentsRefresh != time.Hour {
		t.Errorf("refresh default %v, want 1h", o.InstrumentsRefresh)
	}
	o.ProductsPerConn, o.SequenceScope, o.DialBudget, o.InstrumentsRefresh = 0, "product", "fast", -time.Second
	err := o.Validate()
	for _, want := range []string{"coinbase-products-per-conn", "scope product:", "coinbase-dial-budget fast:", "--coinbase-instruments-refresh -1s: must not be negative"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

// While running, the products read again every
// --coinbase-instruments-refresh list a new product, whose streams can
// then be planned and whose frames a decoder opened before decodes; a
// finer price_increment and a new status are taken for the events after;
// Close stops the refresh (goleak, in TestMain).
func TestInstrumentsRefresh(t *testing.T) {
	rs := startREST(t)
	f, _ := venue.Lookup(Venue)
	opts := f.NewOptions().(*Options)
	opts.InstrumentsRefresh = 20 * time.Millisecond
	tlsCfg := rs.srv.Client().Transport.(*http.Transport).TLSClientConfig
	s, err := f.Open(context.Background(), venue.Env{WSURL: "wss://127.0.0.1:1", RESTURL: rs.srv.URL, TLS: tlsCfg, Options: opts,
		Streams: []string{"BTC-USD@level2"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v := s.Venue.(*Coinbase)
	if _, err := v.Plan([]string{"ETH-USD@level2"}); !errors.Is(err, ErrUnknownSymbol) {
		t.Fatalf("ETH-USD before its listing: %v", err)
	}
	d := v.NewDecoder(feed.ConnPlan{})
	rs.mu.Lock()
	rs.products = `{"products":[{"product_id":"BTC-USD","base_increment":"0.00000001","quote_increment":"0.001","price_increment":"0.001","status":"online","product_type":"SPOT"},` +
		`{"product_id":"SHIB-USD","base_increment":"1","quote_increment":"0.00000001","price_increment":"0.00000001","status":"delisted","product_type":"SPOT"},` +
		`{"product_id":"ETH-USD","base_increment":"0.0001","quote_increment":"0.01","price_increment":"0.01","status":"online","product_type":"SPOT"}],"num_products":3}`
	rs.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for v.InstrumentStats().Changed < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := v.Plan([]string{"ETH-USD@level2"}); err != nil {
		t.Fatalf("ETH-USD after its listing: %v", err)
	}
	btc, _ := v.tab.Load().Lookup("BTC-USD")
	shib, _ := v.tab.Load().Lookup("SHIB-USD")
	if btc.PriceScale != 3 || shib.Status != "delisted" {
		t.Errorf("after the refresh: BTC-USD %+v, SHIB-USD %+v", btc, shib)
	}
	if st := v.InstrumentStats(); st.Listed != 1 || st.Changed != 2 || st.Refreshes < 1 {
		t.Errorf("stats %+v, want one listing and two changes", st)
	}
	var ev feed.Event
	eth := `{"channel":"l2_data","client_id":"","timestamp":"2023-02-09T20:32:50.714964855Z","sequence_num":1,"events":[{"type":"snapshot","product_id":"ETH-USD","updates":[{"side":"bid","event_time":"1970-01-01T00:00:00Z","price_level":"1921.73","new_quantity":"0.0631"}]}]}`
	if _, err := d.Decode([]byte(eth), &ev); err != nil || ev.Symbol != "ETH-USD" || ev.QtyScale != 4 || ev.Bids[0].Qty != 631 {
		t.Fatalf("ETH-USD by a decoder opened before its listing: %+v %v", ev, err)
	}
	btcUpd := `{"channel":"l2_data","client_id":"","timestamp":"2023-02-09T20:32:51Z","sequence_num":2,"events":[{"type":"snapshot","product_id":"BTC-USD","updates":[{"side":"bid","event_time":"1970-01-01T00:00:00Z","price_level":"21921.735","new_quantity":"1"}]}]}`
	if _, err := d.Decode([]byte(btcUpd), &ev); err != nil || ev.PriceScale != 3 || ev.Bids[0].Price != 21921735 || v.InstrumentStats().Widened != 0 {
		t.Fatalf("BTC-USD at the refreshed scale: %+v %v (widened %d)", ev, err, v.InstrumentStats().Widened)
	}
	s.Close()
	n := v.InstrumentStats().Refreshes
	time.Sleep(60 * time.Millisecond)
	if m := v.InstrumentStats().Refreshes; m != n {
		t.Errorf("%d refreshes after Close", m-n)
	}
}
