package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

func newTruthFixture(t *testing.T, cfg Config) (*market, *httptest.Server) {
	t.Helper()
	m := newTestMarket(t, cfg)
	srv := httptest.NewServer(newTruth(m))
	t.Cleanup(srv.Close)
	return m, srv
}

func truthGet(t *testing.T, srv *httptest.Server, method, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q", method, path, ct)
	}
	return resp.StatusCode, body
}

func TestTruthBook(t *testing.T) {
	m, srv := newTruthFixture(t, Config{Symbols: []string{"BTCUSDT", "ETHUSDT"}, Levels: 30, History: 500})
	now := drive(m, &recSink{want: func(string) (bool, bool) { return false, false }}, testStart, 20, 10)
	old, _, _, _ := m.lastIDs("ETHUSDT")
	oldBook, err := m.bookAt("ETHUSDT", old)
	if err != nil {
		t.Fatal(err)
	}
	drive(m, &recSink{want: func(string) (bool, bool) { return false, false }}, now, 20, 10)
	cur, _, _, _ := m.lastIDs("ETHUSDT")

	status, body := truthGet(t, srv, "GET", "/sim/book?symbol=ETHUSDT")
	if got := keyOrder(t, body); status != 200 || !reflect.DeepEqual(got, []string{"symbol", "lastUpdateId", "bids", "asks"}) {
		t.Fatalf("book: %d keys %v", status, got)
	}
	if !strings.Contains(string(body), `"bids":[["`) {
		t.Fatalf("levels are not [price, qty] pairs: %.120s", body)
	}
	var book BookState
	if err := json.Unmarshal(body, &book); err != nil {
		t.Fatal(err)
	}
	want, _ := m.bookAt("ETHUSDT", cur)
	if !reflect.DeepEqual(book, want) || book.LastUpdateID != cur || len(book.Bids) < 30 {
		t.Fatalf("current book at %d, want %d", book.LastUpdateID, cur)
	}
	status, body = truthGet(t, srv, "GET", fmt.Sprintf("/sim/book?symbol=ethusdt&id=%d", old))
	book = BookState{}
	if err := json.Unmarshal(body, &book); err != nil || status != 200 || !reflect.DeepEqual(book, oldBook) {
		t.Fatalf("book at %d: %d, equal %v", old, status, reflect.DeepEqual(book, oldBook))
	}

	st := m.states()[1]
	for _, c := range []struct {
		path   string
		status int
		msg    string
	}{
		{"/sim/book", 400, "symbol"},
		{"/sim/book?symbol=ETHUSDT&id=x", 400, "id"},
		{"/sim/book?symbol=ETHUSDT&id=-4", 400, "id"},
		{"/sim/book?symbol=NOPE", 404, "unknown symbol"},
		{fmt.Sprintf("/sim/book?symbol=ETHUSDT&id=%d", st.OldestUpdateID-1), 404, "no longer in history"},
		{fmt.Sprintf("/sim/book?symbol=ETHUSDT&id=%d", st.LastUpdateID+1), 404, "not happened yet"},
		{"/sim/nothing", 404, "no such"},
	} {
		status, body := truthGet(t, srv, "GET", c.path)
		var e struct{ Error string }
		if err := json.Unmarshal(body, &e); err != nil || status != c.status || !strings.Contains(e.Error, c.msg) {
			t.Errorf("%s: %d %s, want %d with %q", c.path, status, body, c.status, c.msg)
		}
	}
	if status, _ := truthGet(t, srv, "POST", "/sim/book?symbol=ETHUSDT"); status != 404 {
		t.Errorf("POST /sim/book: %d", status)
	}
}

func TestTruthTrades(t *testing.T) {
	m, srv := newTruthFixture(t, Config{Symbols: []string{"BTCUSDT"}, Levels: 30, History: 200, TradeShare: 0.5})
	drive(m, &recSink{want: func(string) (bool, bool) { return false, false }}, testStart, 100, 10)
	st := m.states()[0]

	status, body := truthGet(t, srv, "GET", fmt.Sprintf("/sim/trades?symbol=BTCUSDT&from=%d&to=%d", st.OldestAggTradeID+10, st.OldestAggTradeID+19))
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || status != 200 || len(raw) != 10 {
		t.Fatalf("trades: %d %.200s", status, body)
	}
	if got := keyOrder(t, raw[0]); !reflect.DeepEqual(got, []string{"a", "p", "q", "f", "l", "T", "m", "M"}) {
		t.Fatalf("keys %v", got)
	}
	var got []AggTrade
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want, _ := m.aggTrades("BTCUSDT", st.OldestAggTradeID+10, st.OldestAggTradeID+19)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("trades %+v, want %+v", got, want)
	}

	status, body = truthGet(t, srv, "GET", "/sim/trades?symbol=BTCUSDT")
	got = nil
	if err := json.Unmarshal(body, &got); err != nil || status != 200 || len(got) != 200 ||
		got[0].ID != st.OldestAggTradeID || got[199].ID != st.LastAggTradeID {
		t.Fatalf("all trades kept: %d, %d trades", status, len(got))
	}

	for _, c := range []struct {
		path   string
		status int
	}{
		{"/sim/trades?symbol=BTCUSDT&from=1", 404},
		{"/sim/trades?symbol=BTCUSDT&from=x", 400},
		{"/sim/trades?symbol=BTCUSDT&to=1.5", 400},
		{"/sim/trades?symbol=XRPUSDT", 404},
		{"/sim/trades", 400},
	} {
		if status, body := truthGet(t, srv, "GET", c.path); status != c.status || !strings.Contains(string(body), `"error":`) {
			t.Errorf("%s: %d %s, want %d", c.path, status, body, c.status)
		}
	}
}

func TestTruthState(t *testing.T) {
	m, srv := newTruthFixture(t, Config{Symbols: []string{"BTCUSDT", "SOLUSDT"}, Levels: 30, History: 100})
	drive(m, &recSink{want: func(string) (bool, bool) { return false, false }}, testStart, 50, 20)
	status, body := truthGet(t, srv, "GET", "/sim/state")
	var got struct {
		ServerTime int64         `json:"serverTime"`
		Symbols    []SymbolState `json:"symbols"`
	}
	if err := json.Unmarshal(body, &got); err != nil || status != 200 || got.ServerTime == 0 {
		t.Fatalf("state: %d %s", status, body)
	}
	if want := m.states(); !reflect.DeepEqual(got.Symbols, want) {
		t.Fatalf("state %+v, want %+v", got.Symbols, want)
	}
	for _, s := range got.Symbols {
		u, a, tr, _ := m.lastIDs(s.Symbol)
		if s.LastUpdateID != u || s.LastAggTradeID != a || s.LastTradeID != tr || s.OldestUpdateID > u-100 || s.OldestAggTradeID > a {
			t.Fatalf("%s: state %+v, last IDs %d %d %d", s.Symbol, s, u, a, tr)
		}
	}
}
