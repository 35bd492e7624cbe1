package okx

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/venue"
)

func TestPlan(t *testing.T) {
	v, err := New(Config{WSURL: "wss://okx.test:8443/", Symbols: testSymbols(t), StreamsPerConn: 2})
	if err != nil {
		t.Fatal(err)
	}
	plans, err := v.Plan([]string{"BTC-USDT@books", "BTC-USDT@trades-all", "BTC-USDT-SWAP@funding-rate", "BTC-USDT@bbo-tbt",
		"BTC-USDT-SWAP@trades-all", "BTC-USDT@books"})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		url     string
		streams []string
		sub     string
	}{
		{"wss://okx.test:8443/ws/v5/public", []string{"BTC-USDT@books", "BTC-USDT-SWAP@funding-rate"},
			`{"id":"1","op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"},{"channel":"funding-rate","instId":"BTC-USDT-SWAP"}]}`},
		{"wss://okx.test:8443/ws/v5/public", []string{"BTC-USDT@bbo-tbt"},
			`{"id":"2","op":"subscribe","args":[{"channel":"bbo-tbt","instId":"BTC-USDT"}]}`},
		{"wss://okx.test:8443/ws/v5/business", []string{"BTC-USDT@trades-all", "BTC-USDT-SWAP@trades-all"},
			`{"id":"3","op":"subscribe","args":[{"channel":"trades-all","instId":"BTC-USDT"},{"channel":"trades-all","instId":"BTC-USDT-SWAP"}]}`},
	}
	if len(plans) != len(want) {
		t.Fatalf("%d plans: %+v", len(plans), plans)
	}
	for i, w := range want {
		p := plans[i]
		if p.URL != w.url || fmt.Sprint(p.Streams) != fmt.Sprint(w.streams) || len(p.Subscribe) != 1 || string(p.Subscribe[0]) != w.sub ||
			len(p.Requests) != 1 || p.Requests[0].ID != int64(i+1) || fmt.Sprint(p.Requests[0].Streams) != fmt.Sprint(w.streams) {
			t.Errorf("plan %d: %s %v %s %+v", i, p.URL, p.Streams, p.Subscribe, p.Requests)
		}
	}

	for _, c := range []struct {
		stream string
		want   string
	}{
		{"BTC-USDT@trades", "aggregates"},
		{"BTC-USDT@candle1m", `unknown channel "candle1m"`},
		{"btc-usdt@books", "<instId>@<channel>"},
		{"books:BTC-USDT", "<instId>@<channel>"},
		{"BTC-USDT@funding-rate", "only for swaps"},
		{"ETH-USDT@books", "unknown instrument"},
	} {
		_, err := v.Plan([]string{c.stream})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.stream) {
			t.Errorf("Plan(%s) = %v; want an error naming it and saying %q", c.stream, err, c.want)
		}
	}
	if _, err := v.Plan([]string{"BTC-USDT@trades"}); !errors.Is(err, ErrAggregated) {
		t.Errorf("trades: %v does not match ErrAggregated", err)
	}
}

func TestResubscribeAndKeepalive(t *testing.T) {
	v, err := New(Config{Symbols: testSymbols(t)})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := v.ResubscribeMessages("BTC-USDT-SWAP@books")
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || string(msgs[0]) != `{"op":"unsubscribe","args":[{"channel":"books","instId":"BTC-USDT-SWAP"}]}` ||
		string(msgs[1]) != `{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT-SWAP"}]}` {
		t.Errorf("resubscribe: %s", msgs)
	}
	if _, err := v.ResubscribeMessages("BTC-USDT@trades-all"); err == nil {
		t.Error("resubscribe of a trade stream accepted")
	}
	ka := v.Keepalive()
	if ka.Interval != PingInterval || string(ka.Message()) != "ping" || !ka.IsReply([]byte("pong")) || ka.IsReply([]byte(`{"event":"pong"}`)) {
		t.Errorf("keepalive: %+v", ka)
	}
	r := v.Rules()
	if r.BookChain != feed.ChainPrevID || r.Book != feed.BookFromStream || r.Trades != feed.TradeIDsContiguous || r.Checksum == nil {
		t.Errorf("rules: %+v", r)
	}
	if _, err := New(Config{Symbols: testSymbols(t), PingInterval: 30 * time.Second}); err == nil {
		t.Error("a ping every 30s accepted")
	}
	if _, err := New(Config{Symbols: testSymbols(t), StreamsPerConn: MaxStreamsPerConn + 1}); err == nil {
		t.Error("StreamsPerConn over the ceiling accepted")
	}
}

func TestFactoryStreams(t *testing.T) {
	f, err := venue.Lookup(Venue)
	if err != nil {
		t.Fatal(err)
	}
	got, err := venue.Expand(Venue, f, []string{"trades:BTC-USDT-PERP", "book:BTC-USDT", "top:BTC-USDT", "funding:BTC-USDT-PERP", "liquidations:BTC-USDT-PERP", "ETH-USDT@books5"})
	if err != nil {
		t.Fatal(err)
	}
	want := "[BTC-USDT-SWAP@trades-all BTC-USDT@books BTC-USDT@bbo-tbt BTC-USDT-SWAP@funding-rate BTC-USDT-SWAP@mark-price BTC-USDT-SWAP@liquidation-orders ETH-USDT@books5]"
	if fmt.Sprint(got) != want {
		t.Errorf("Expand = %v; want %s", got, want)
	}
	for _, st := range []string{"funding:BTC-USDT", "liquidations:BTC-USDT"} {
		if _, err := venue.Expand(Venue, f, []string{st}); !errors.Is(err, venue.ErrNotListed) || !strings.Contains(err.Error(), st) {
			t.Errorf("Expand(%s) = %v", st, err)
		}
	}
	for _, st := range got {
		if err := f.CheckStream(st); err != nil {
			t.Errorf("CheckStream(%s): %v", st, err)
		}
	}
	if err := f.CheckStream("BTC-USDT@trades"); err == nil || !strings.Contains(err.Error(), "trades-all") {
		t.Errorf("CheckStream(trades) = %v; want it to point to trades-all", err)
	}
	if c := f.CompleteStream("BTC-USDT@b"); fmt.Sprint(c) != "[BTC-USDT@bbo-tbt BTC-USDT@books BTC-USDT@books5]" {
		t.Errorf("CompleteStream = %v", c)
	}

	o := f.NewOptions().(*Options)
	if err := o.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	o.StreamsPerConn, o.PingInterval, o.DialBudget = 0, time.Minute, "often"
	err = o.Validate()
	var se *venue.SettingError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "--okx-streams-per-conn 0") || !strings.Contains(err.Error(), "--okx-ping-interval 1m0s") ||
		!strings.Contains(err.Error(), "--okx-dial-budget often") {
		t.Errorf("Validate = %v", err)
	}
}

func TestReplay(t *testing.T) {
	f, _ := venue.Lookup(Venue)
	meta, _ := json.Marshal(Meta{WSURL: "wss://okx.test", PerConn: 5, PingInterval: 10 * time.Second, Symbols: []MetaSymbol{
		{InstID: "BTC-USDT-SWAP", InstType: InstSwap, PriceScale: 1, LotScale: 2, CtVal: "0.01", Linear: true, Base: "BTC", Quote: "USDT"}}})
	fv, err := f.Replay(meta)
	if err != nil {
		t.Fatal(err)
	}
	v := fv.(*OKX)
	sym, ok := v.Symbols().Lookup("BTC-USDT-SWAP")
	if !ok || sym.QtyScale != 4 || sym.Instrument != "BTC-USDT-PERP" || v.Keepalive().Interval != 10*time.Second {
		t.Errorf("replayed: %+v", sym)
	}
	if _, err := f.Replay(json.RawMessage(`{"symbols":[{"inst_id":"X-Y-SWAP","inst_type":"SWAP","ct_val":"zero"}]}`)); err == nil {
		t.Error("a bad ct_val replayed")
	}
}
