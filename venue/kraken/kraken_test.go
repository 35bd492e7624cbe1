package kraken

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/feedkeeper/feedkeeper/venue"
)

func TestParseStream(t *testing.T) {
	if s, ch, err := ParseStream("BTC/USD@book"); err != nil || s != "BTC/USD" || ch != "book" {
		t.Errorf("%q %q %v", s, ch, err)
	}
	for in, want := range map[string]string{
		"BTCUSD@book":  "want <symbol>@<channel>",
		"XBT/USD@book": "v2 names it BTC/USD",
		"XDG/USD@book": "DOGE/USD",
		"BTC/USD@ohlc": `unknown channel "ohlc"`,
		"btc/usd@book": "want <symbol>@<channel>",
	} {
		if _, _, err := ParseStream(in); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), in) {
			t.Errorf("%s: %v, want %q and the name", in, err, want)
		}
	}
}

func TestPlan(t *testing.T) {
	v, err := New(Config{WSURL: "wss://127.0.0.1:1/v2", Symbols: testSymbols(t), StreamsPerConn: 3, BookDepth: 25})
	if err != nil {
		t.Fatal(err)
	}
	plans, err := v.Plan([]string{"BTC/USD@book", "BTC/USD@trade", "MATIC/USD@book", " BTC/USD@book", "MATIC/USD@ticker"})
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) != 2 || len(plans[0].Streams) != 3 || len(plans[1].Streams) != 1 || plans[0].URL != "wss://127.0.0.1:1/v2" {
		t.Fatalf("plans %+v", plans)
	}
	if got := string(plans[0].Subscribe[0]); got != `{"method":"subscribe","params":{"channel":"instrument","snapshot":true}}` {
		t.Errorf("instrument subscribe %s", got)
	}
	if got := string(plans[0].Subscribe[1]); got != `{"method":"subscribe","params":{"channel":"book","symbol":["BTC/USD","MATIC/USD"],"depth":25,"snapshot":true},"req_id":1}` {
		t.Errorf("book subscribe %s", got)
	}
	if got := string(plans[0].Subscribe[2]); got != `{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD"],"snapshot":true},"req_id":2}` {
		t.Errorf("trade subscribe %s", got)
	}
	if r := plans[0].Requests; len(r) != 3 || r[0].ID != 0 || len(r[0].Streams) != 0 || r[1].ID != 1 || len(r[1].Streams) != 2 || r[2].ID != 2 {
		t.Errorf("requests %+v", r)
	}
	if r := plans[1].Requests; len(r) != 2 || r[1].ID != 3 || r[1].Streams[0] != "MATIC/USD@ticker" {
		t.Errorf("second connection %+v", r)
	}
	if v2, _ := New(Config{WSURL: "wss://127.0.0.1:9", Symbols: testSymbols(t)}); v2 == nil || v2.cfg.WSURL != "wss://127.0.0.1:9/v2" {
		t.Errorf("a host without path: %+v", v2)
	}
	if _, err := v.Plan([]string{"ETH/USD@book"}); !errors.Is(err, ErrUnknownSymbol) || !strings.Contains(err.Error(), "ETH/USD@book") {
		t.Errorf("unknown pair: %v", err)
	}
	msgs, err := v.ResubscribeMessages("BTC/USD@book")
	if err != nil || len(msgs) != 2 ||
		string(msgs[0]) != `{"method":"unsubscribe","params":{"channel":"book","symbol":["BTC/USD"],"depth":25}}` ||
		string(msgs[1]) != `{"method":"subscribe","params":{"channel":"book","symbol":["BTC/USD"],"depth":25,"snapshot":true}}` {
		t.Errorf("resubscribe %q %v", msgs, err)
	}
	if _, err := v.ResubscribeMessages("BTC/USD@trade"); err == nil {
		t.Error("resubscribe of a trade stream")
	}
}

func TestKeepalive(t *testing.T) {
	v, err := New(Config{Symbols: testSymbols(t), PingInterval: 7 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	k := v.Keepalive()
	var m map[string]any
	if err := json.Unmarshal(k.Message(), &m); err != nil || m["method"] != "ping" || k.Interval != 7*time.Second {
		t.Errorf("ping %s %v", k.Message(), err)
	}
	if !k.IsReply([]byte(`{"method":"pong","req_id":101,"time_in":"2023-09-24T14:10:23.799685Z","time_out":"2023-09-24T14:10:23.799703Z"}`)) ||
		k.IsReply([]byte(`{"channel":"heartbeat"}`)) {
		t.Error("IsReply")
	}
}

func TestNewRefuses(t *testing.T) {
	for _, c := range []Config{
		{WSURL: "https://x", Symbols: testSymbols(t)},
		{},
		{Symbols: testSymbols(t), BookDepth: 20},
		{Symbols: testSymbols(t), StreamsPerConn: MaxStreamsPerConn + 1},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func TestOptions(t *testing.T) {
	f, err := venue.Lookup(Venue)
	if err != nil {
		t.Fatal(err)
	}
	o := f.NewOptions().(*Options)
	if o.BookDepth != 10 || o.StreamsPerConn != DefaultStreamsPerConn || o.Validate() != nil {
		t.Fatalf("defaults %+v: %v", o, o.Validate())
	}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	o.BindFlags(fs)
	if err := fs.Parse([]string{"--kraken-book-depth=20", "--kraken-ping-interval=0s", "--kraken-dial-budget=x"}); err != nil {
		t.Fatal(err)
	}
	err = o.Validate()
	for _, want := range []string{"--kraken-book-depth 20", "--kraken-ping-interval 0s", "--kraken-dial-budget x"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: want %q", err, want)
		}
	}
	if err := f.CheckStream("XBT/USD@book"); err == nil {
		t.Error("CheckStream of a v1 name")
	}
	if got := f.CompleteStream("BTC/USD@t"); len(got) != 2 || got[0] != "BTC/USD@ticker" {
		t.Errorf("complete %v", got)
	}
	in := f.(venue.Instrumenter)
	if st, err := in.Streams(venue.WantBook, venue.Instrument{Base: "BTC", Quote: "USD"}); err != nil || st[0] != "BTC/USD@book" {
		t.Errorf("book:BTC-USD %v %v", st, err)
	}
	if _, err := in.Streams(venue.WantTrades, venue.Instrument{Base: "BTC", Quote: "USD", Perp: true}); !errors.Is(err, venue.ErrNotListed) {
		t.Errorf("perpetual: %v", err)
	}
}
