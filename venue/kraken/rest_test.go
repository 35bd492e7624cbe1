package kraken

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
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

// krakenREST answers like Kraken's public REST API: AssetPairs (keys and
// v1 wsnames as Kraken gives them), Time, and Trades of XBTUSD with
// trade IDs 1..2500, one a millisecond, pages of 1000 from since.
type krakenREST struct {
	mu     sync.Mutex
	calls  map[string]int
	since  []string
	errors int    // answers left to refuse with EGeneral:Too many requests (HTTP 200)
	pairs  string // when set, AssetPairs' result
}

const tradeBase = int64(1_700_000_000_000_000_000) // ns of trade 1

func (h *krakenREST) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.calls[r.URL.Path]++
	if h.errors > 0 {
		h.errors--
		h.mu.Unlock()
		fmt.Fprint(w, `{"error":["EGeneral:Too many requests"]}`)
		return
	}
	h.mu.Unlock()
	switch r.URL.Path {
	case AssetPairsPath:
		h.mu.Lock()
		pairs := h.pairs
		h.mu.Unlock()
		if pairs != "" {
			fmt.Fprint(w, `{"error":[],"result":`+pairs+`}`)
			return
		}
		fmt.Fprint(w, `{"error":[],"result":{"XXBTZUSD":{"altname":"XBTUSD","wsname":"XBT/USD","pair_decimals":1,"lot_decimals":8},`+
			`"XDGUSD":{"altname":"XDGUSD","wsname":"XDG/USD","pair_decimals":7,"lot_decimals":8},`+
			`"ETHUSD.d":{"altname":"ETHUSD.d","pair_decimals":2,"lot_decimals":8}}}`)
	case TimePath:
		fmt.Fprint(w, `{"error":[],"result":{"unixtime":1762820224,"rfc1123":"Tue, 11 Nov 25 00:17:04 +0000"}}`)
	case TradesPath:
		if r.URL.Query().Get("pair") != "XBTUSD" {
			fmt.Fprint(w, `{"error":["EQuery:Unknown asset pair"]}`)
			return
		}
		since, _ := strconv.ParseInt(r.URL.Query().Get("since"), 10, 64)
		h.mu.Lock()
		h.since = append(h.since, r.URL.Query().Get("since"))
		h.mu.Unlock()
		first := max((since-tradeBase)/1e6+1, 1) // inclusive
		var rows []string
		last := since
		for id := first; id <= 2500 && len(rows) < MaxTradesPage; id++ {
			ns := tradeBase + (id-1)*1e6
			rows = append(rows, fmt.Sprintf(`["105944.30000","0.00100000",%d.%06d,"b","l","",%d]`, ns/1e9, ns%1e9/1e3, id))
			last = ns
		}
		fmt.Fprintf(w, `{"error":[],"result":{"XXBTZUSD":[%s],"last":"%d"}}`, strings.Join(rows, ","), last)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":["EGeneral:Unknown method"]}`)
	}
}

func startREST(t *testing.T) (*httptest.Server, *krakenREST) {
	h := &krakenREST{calls: map[string]int{}}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, h
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
		want   httpx.Verdict
	}{
		{200, `{"error":[],"result":{}}`, httpx.VerdictOK},
		{200, `{"error":["EGeneral:Too many requests"]}`, httpx.VerdictRateLimited},
		{200, `{"error":["EAPI:Rate limit exceeded"]}`, httpx.VerdictRateLimited},
		{200, `{"error":["EService:Unavailable"]}`, httpx.VerdictRetry},
		{200, `{"error":["EQuery:Unknown asset pair"]}`, httpx.VerdictError},
		{520, `<html>cloudflare</html>`, httpx.VerdictRetry},
		{429, ``, httpx.VerdictRateLimited},
	} {
		a := Classify(c.status, nil, []byte(c.body))
		if a.Verdict != c.want {
			t.Errorf("%d %s: %v, want %v", c.status, c.body, a.Verdict, c.want)
		}
	}
	if a := Classify(200, nil, []byte(`{"error":["EQuery:Unknown asset pair"]}`)); a.Msg != "EQuery:Unknown asset pair" {
		t.Errorf("msg %q", a.Msg)
	}
}

func TestOpenAndRecover(t *testing.T) {
	srv, h := startREST(t)
	h.errors = 1 // the first call is rate limited in a 200 and tried again
	f, _ := venue.Lookup(Venue)
	tlsCfg := srv.Client().Transport.(*http.Transport).TLSClientConfig
	ctx := context.Background()
	s, err := f.Open(ctx, venue.Env{WSURL: "wss://127.0.0.1:1/v2", RESTURL: srv.URL, TLS: tlsCfg, Recovery: true,
		Streams: []string{"BTC/USD@book", "BTC/USD@trade", "DOGE/USD@ticker"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if fmt.Sprint(s.BookSymbols) != "[BTC/USD]" || fmt.Sprint(s.Symbols) != "[BTC/USD DOGE/USD]" || s.Venue.Name() != Venue {
		t.Errorf("setup: books %v symbols %v", s.BookSymbols, s.Symbols)
	}
	sym, ok := s.Venue.(*Kraken).Symbols().Lookup("DOGE/USD")
	if !ok || sym.PriceScale != 7 || sym.RESTPair != "XDGUSD" || sym.Instrument != "DOGE-USD" {
		t.Errorf("DOGE/USD %+v", sym)
	}
	st, err := s.ServerTime(ctx)
	if err != nil || st.Unix() != 1762820224 {
		t.Errorf("server time %v %v", st, err)
	}

	// the stream saw trades 1199 and 1300: 1200..1299 are asked
	btc := s.Venue.(*Kraken).Symbols().byName["BTC/USD"]
	btc.noteTrade(1199, tradeBase+1198*1e6)
	btc.noteTrade(1300, tradeBase+1299*1e6)
	trades, err := s.Recovery.Trades(ctx, "BTC/USD", 1200, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(trades) != 100 || trades[0].ID != 1200 || trades[99].ID != 1299 || !trades[0].Recovered ||
		trades[0].Price != 1059443 || trades[0].Qty != 100000 || trades[0].Side != feed.SideBuy || trades[0].ExchangeTime != tradeBase+1199*1e6 {
		t.Fatalf("%d trades, first %+v", len(trades), trades[0])
	}
	// pages follow result.last; the recovery stops at the bound or the end
	trades, err = s.Recovery.Trades(ctx, "BTC/USD", 1200, 5000, nil)
	if err != nil || len(trades) != 1301 || trades[len(trades)-1].ID != 2500 {
		t.Fatalf("%d trades, %v", len(trades), err)
	}
	if _, err := s.Recovery.Trades(ctx, "ETH/USD", 1, 10, nil); !errors.Is(err, ErrUnknownSymbol) {
		t.Errorf("unknown pair: %v", err)
	}
	if err := s.Recovery.Depth(ctx, "BTC/USD", 10, &feed.Event{}); !errors.Is(err, ErrNoDepth) {
		t.Errorf("depth: %v", err)
	}

	// the recording's metadata replays the same venue
	rv, err := f.Replay(s.Meta)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := rv.Plan([]string{"DOGE/USD@ticker"}); err != nil || p[0].URL != "wss://127.0.0.1:1/v2" {
		t.Errorf("replay plan %+v %v", p, err)
	}
}

func TestOpenNotListed(t *testing.T) {
	srv, _ := startREST(t)
	f, _ := venue.Lookup(Venue)
	tlsCfg := srv.Client().Transport.(*http.Transport).TLSClientConfig
	_, err := f.Open(context.Background(), venue.Env{RESTURL: srv.URL, TLS: tlsCfg, Streams: []string{"BTC/USD@book", "ETH/USD@book"}})
	if !errors.Is(err, venue.ErrBadInput) || !strings.Contains(err.Error(), "ETH/USD") {
		t.Errorf("%v", err)
	}
}

// While running, AssetPairs read again every --kraken-instruments-refresh
// lists a new pair, whose streams can then be planned, and changes the
// decimals of a pair the instrument channel has not spoken for; Close
// stops the refresh (goleak, in TestMain).
func TestInstrumentsRefresh(t *testing.T) {
	srv, h := startREST(t)
	f, _ := venue.Lookup(Venue)
	opts := f.NewOptions().(*Options)
	opts.InstrumentsRefresh = 20 * time.Millisecond
	tlsCfg := srv.Client().Transport.(*http.Transport).TLSClientConfig
	s, err := f.Open(context.Background(), venue.Env{WSURL: "wss://127.0.0.1:1/v2", RESTURL: srv.URL, TLS: tlsCfg, Options: opts,
		Streams: []string{"BTC/USD@book"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v := s.Venue.(*Kraken)
	if _, err := v.Plan([]string{"ETH/USD@book"}); !errors.Is(err, ErrUnknownSymbol) {
		t.Fatalf("ETH/USD before its listing: %v", err)
	}
	// BTC/USD's decimals were given by the channel: they stay
	if _, err := v.NewDecoder(feed.ConnPlan{}).Decode([]byte(`{"channel":"instrument","type":"snapshot","data":{"assets":[],"pairs":[{"symbol":"BTC/USD","price_precision":1,"qty_precision":8}]}}`), &feed.Event{}); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	h.pairs = `{"XXBTZUSD":{"altname":"XBTUSD","wsname":"XBT/USD","pair_decimals":2,"lot_decimals":8},` +
		`"XDGUSD":{"altname":"XDGUSD","wsname":"XDG/USD","pair_decimals":6,"lot_decimals":8},` +
		`"XETHZUSD":{"altname":"ETHUSD","wsname":"ETH/USD","pair_decimals":2,"lot_decimals":8}}`
	h.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for v.Instruments().Stats().Listed == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	plans, err := v.Plan([]string{"ETH/USD@book"})
	if err != nil || len(plans) != 1 {
		t.Fatalf("ETH/USD after its listing: %v", err)
	}
	eth, _ := v.Symbols().Lookup("ETH/USD")
	doge, _ := v.Symbols().Lookup("DOGE/USD")
	btc, _ := v.Symbols().Lookup("BTC/USD")
	if eth.RESTPair != "ETHUSD" || eth.PriceScale != 2 || doge.PriceScale != 6 || btc.PriceScale != 1 {
		t.Errorf("after the refresh: ETH/USD %+v, DOGE/USD %+v, BTC/USD %+v", eth, doge, btc)
	}
	if st := v.Instruments().Stats(); st.Listed != 1 || st.Changes != 1 || st.Refreshes < 1 {
		t.Errorf("stats %+v, want one listing and one change", st)
	}
	s.Close()
	n := v.Instruments().Stats().Refreshes
	time.Sleep(60 * time.Millisecond)
	if m := v.Instruments().Stats().Refreshes; m != n {
		t.Errorf("%d refreshes after Close", m-n)
	}
}

func TestInstrumentsRefreshOption(t *testing.T) {
	o := venue.DefaultOptions[Options]()
	if o.InstrumentsRefresh != time.Hour {
		t.Errorf("default %v, want 1h", o.InstrumentsRefresh)
	}
	o.InstrumentsRefresh = -time.Second
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--kraken-instruments-refresh -1s") {
		t.Errorf("negative: %v", err)
	}
}
