package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func startWithCoinbase(t testing.TB, cfg Config) (*Server, *Coinbase) {
	t.Helper()
	return startVenue(t, cfg, VenueCoinbase, (*Server).Coinbase)
}

// cbMsg is any message of the Coinbase front-end.
type cbMsg struct {
	Type        string            `json:"type"`
	Message     string            `json:"message"`
	Channel     string            `json:"channel"`
	ClientID    *string           `json:"client_id"`
	Timestamp   string            `json:"timestamp"`
	SequenceNum *int64            `json:"sequence_num"`
	Events      []json.RawMessage `json:"events"`
}

func cbRead(t testing.TB, c *websocket.Conn) cbMsg {
	t.Helper()
	var m cbMsg
	readJSON(t, c, 5*time.Second, &m)
	return m
}

// nanoStamp: RFC 3339 with nine fractional digits.
var nanoStamp = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$`)

// cbSeq checks m is an envelope whose sequence_num is want and returns
// the next one expected.
func cbSeq(t testing.TB, m cbMsg, want int64) int64 {
	t.Helper()
	if m.SequenceNum == nil || m.ClientID == nil || !nanoStamp.MatchString(m.Timestamp) {
		t.Fatalf("not an envelope with sequence_num, client_id and a 9-digit timestamp: %+v", m)
	}
	if *m.SequenceNum != want {
		t.Fatalf("%s: sequence_num %d, want %d", m.Channel, *m.SequenceNum, want)
	}
	return want + 1
}

type cbL2Event struct {
	Type      string `json:"type"`
	ProductID string `json:"product_id"`
	Updates   []struct {
		Side        string `json:"side"`
		EventTime   string `json:"event_time"`
		PriceLevel  string `json:"price_level"`
		NewQuantity string `json:"new_quantity"`
	} `json:"updates"`
}

// TestCoinbaseLevel2MatchesTruth subscribes heartbeats and level2 (one
// message each), checks the subscriptions reply, sequence_num counting
// every envelope of the connection by one from 0, heartbeat_counter
// counting by one, and keeps the l2_data book (snapshot, then absolute
// new_quantity, "0" removes) equal to the ground truth after every
// message.
func TestCoinbaseLevel2MatchesTruth(t *testing.T) {
	s, cb := startWithCoinbase(t, Config{})
	c := dialWS(t, s, cb.WSURL())
	sendText(t, c, `{"type":"subscribe","channel":"heartbeats"}`)
	seq := cbSeq(t, cbRead(t, c), 0)
	sendText(t, c, `{"type":"subscribe","product_ids":["BTC-USDT"],"channel":"level2"}`)
	book := map[string]map[string]string{"bid": nil, "offer": nil}
	var hb int64
	updates, beats, acks := 0, 0, 1
	deadline := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(deadline) || updates < 5 || beats < 2 {
		m := cbRead(t, c)
		seq = cbSeq(t, m, seq)
		if len(m.Events) != 1 {
			t.Fatalf("%s with %d events", m.Channel, len(m.Events))
		}
		switch m.Channel {
		case "subscriptions":
			acks++
			var ev struct{ Subscriptions map[string][]string }
			if err := json.Unmarshal(m.Events[0], &ev); err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(ev.Subscriptions); got != "map[heartbeats:[] level2:[BTC-USDT]]" {
				t.Fatalf("subscriptions %s", got)
			}
		case "heartbeats":
			var ev struct {
				CurrentTime      string `json:"current_time"`
				HeartbeatCounter int64  `json:"heartbeat_counter"`
			}
			if err := json.Unmarshal(m.Events[0], &ev); err != nil {
				t.Fatalf("heartbeat %s: %v", m.Events[0], err)
			}
			if hb != 0 && ev.HeartbeatCounter != hb+1 {
				t.Fatalf("heartbeat_counter %d after %d", ev.HeartbeatCounter, hb)
			}
			if !strings.HasSuffix(ev.CurrentTime, "+0000 UTC") {
				t.Fatalf("current_time %q is not Go's time.String", ev.CurrentTime)
			}
			hb = ev.HeartbeatCounter
			beats++
		case "l2_data":
			var ev cbL2Event
			if err := json.Unmarshal(m.Events[0], &ev); err != nil {
				t.Fatal(err)
			}
			if ev.ProductID != "BTC-USDT" {
				t.Fatalf("product_id %q", ev.ProductID)
			}
			switch ev.Type {
			case "snapshot":
				if book["bid"] != nil {
					t.Fatal("a second snapshot")
				}
				book["bid"], book["offer"] = map[string]string{}, map[string]string{}
			case "update":
				if book["bid"] == nil {
					t.Fatal("update before the snapshot")
				}
				updates++
			default:
				t.Fatalf("l2_data type %q", ev.Type)
			}
			for _, u := range ev.Updates {
				side := book[u.Side]
				if side == nil {
					t.Fatalf("side %q", u.Side)
				}
				if _, err := time.Parse(time.RFC3339Nano, u.EventTime); err != nil {
					t.Fatalf("event_time %q: %v", u.EventTime, err)
				}
				if u.NewQuantity == "0" {
					delete(side, u.PriceLevel)
				} else {
					side[u.PriceLevel] = u.NewQuantity
				}
			}
			conns := cb.Conns()
			if len(conns) != 1 {
				t.Fatalf("%d connections", len(conns))
			}
			truth, err := cb.BookAtSequence(conns[0].ID, "BTC-USDT", *m.SequenceNum)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range []struct {
				have map[string]string
				want []Level
			}{{book["bid"], truth.Bids}, {book["offer"], truth.Asks}} {
				if len(x.have) != len(x.want) {
					t.Fatalf("seq %d: %d levels, truth %d", *m.SequenceNum, len(x.have), len(x.want))
				}
				for _, lv := range x.want {
					if x.have[lv.Price] != lv.Qty {
						t.Fatalf("seq %d: level %s %q, truth %q", *m.SequenceNum, lv.Price, x.have[lv.Price], lv.Qty)
					}
				}
			}
		default:
			t.Fatalf("channel %q", m.Channel)
		}
	}
	if acks != 2 {
		t.Fatalf("%d subscriptions replies", acks)
	}
}

// TestCoinbaseMarketTradesMatchTruth: a snapshot of recent trades, then
// batches of the new ones, newest first in each; every trade_id (a
// string) is the next one, and each trade equals the ground truth.
func TestCoinbaseMarketTradesMatchTruth(t *testing.T) {
	s, cb := startWithCoinbase(t, Config{})
	c := dialWS(t, s, cb.WSURL())
	sendText(t, c, `{"type":"subscribe","product_ids":["ETH-USDT"],"channel":"market_trades"}`)
	seq := cbSeq(t, cbRead(t, c), 0)
	var next int64
	n := 0
	for n < 30 {
		m := cbRead(t, c)
		seq = cbSeq(t, m, seq)
		if m.Channel != "market_trades" {
			t.Fatalf("channel %q", m.Channel)
		}
		var ev struct {
			Type   string          `json:"type"`
			Trades []CoinbaseTrade `json:"trades"`
		}
		if err := json.Unmarshal(m.Events[0], &ev); err != nil {
			t.Fatal(err)
		}
		if (next == 0) != (ev.Type == "snapshot") {
			t.Fatalf("type %q (first message: %v)", ev.Type, next == 0)
		}
		for i := len(ev.Trades) - 1; i >= 0; i-- {
			tr := ev.Trades[i]
			id, err := strconv.ParseInt(tr.TradeID, 10, 64)
			if err != nil {
				t.Fatalf("trade_id %q", tr.TradeID)
			}
			if next != 0 && id != next {
				t.Fatalf("trade_id %d, want %d", id, next)
			}
			next = id + 1
			truth, err := cb.Trades("ETH-USDT", id, id)
			if err != nil || len(truth) != 1 || truth[0] != tr {
				t.Fatalf("trade %+v, truth %+v (%v)", tr, truth, err)
			}
			n++
		}
	}
}

// TestCoinbaseSubscribeRules: the subscribe deadline closes a silent
// connection; "channels" (several), an unknown product and the
// authenticated channels are answered with an error naming them.
func TestCoinbaseSubscribeRules(t *testing.T) {
	s, cb := startWithCoinbase(t, Config{Coinbase: CoinbaseConfig{SubscribeTimeout: 300 * time.Millisecond}})
	c := dialWS(t, s, cb.WSURL())
	for req, want := range map[string]string{
		`{"type":"subscribe","product_ids":["BTC-USDT"],"channels":["level2","ticker"]}`: "one channel per message",
		`{"type":"subscribe","product_ids":["DOGE-EUR"],"channel":"level2"}`:             `"DOGE-EUR"`,
		`{"type":"subscribe","channel":"user"}`:                                          "requires authentication",
		`{"type":"subscribe","channel":"candles9","product_ids":["BTC-USDT"]}`:           `"candles9"`,
	} {
		sendText(t, c, req)
		m := cbRead(t, c)
		if m.Type != "error" || !strings.Contains(m.Message, want) {
			t.Fatalf("%s: %+v, want an error naming %s", req, m, want)
		}
	}
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, _, err := c.ReadMessage()
	var ce *websocket.CloseError
	if !asCloseError(err, &ce) || ce.Text != "subscribe timeout" {
		t.Fatalf("after no subscribe: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("closed after %v", d)
	}
}

func asCloseError(err error, ce **websocket.CloseError) bool {
	x, ok := err.(*websocket.CloseError)
	*ce = x
	return ok
}

// TestCoinbaseChannelIdleAndHeartbeats: without heartbeats a channel
// sent nothing for ChannelIdle leaves the subscriptions; with
// heartbeats it stays.
func TestCoinbaseChannelIdleAndHeartbeats(t *testing.T) {
	// one market update a second: the ticker is quiet for long stretches
	s, cb := startWithCoinbase(t, Config{Rate: 1, Coinbase: CoinbaseConfig{ChannelIdle: 200 * time.Millisecond, HeartbeatEvery: time.Hour}})
	for _, hb := range []bool{false, true} {
		c := dialWS(t, s, cb.WSURL())
		if hb {
			sendText(t, c, `{"type":"subscribe","channel":"heartbeats"}`)
			cbRead(t, c)
		}
		sendText(t, c, `{"type":"subscribe","product_ids":["BTC-USDT"],"channel":"ticker"}`)
		for m := cbRead(t, c); m.Channel != "ticker"; m = cbRead(t, c) {
		}
		subscribed := func() bool {
			var subs []string
			for _, st := range cb.Conns() {
				subs = append(subs, st.Subscriptions...)
			}
			return strings.Contains(strings.Join(subs, ","), "ticker:BTC-USDT")
		}
		if hb {
			time.Sleep(1500 * time.Millisecond)
			if !subscribed() {
				t.Fatal("with heartbeats: the idle ticker was dropped")
			}
		} else {
			end := time.Now().Add(5 * time.Second)
			for subscribed() && time.Now().Before(end) {
				time.Sleep(50 * time.Millisecond)
			}
			if subscribed() {
				t.Fatal("without heartbeats: the ticker is still subscribed after 5s")
			}
		}
		c.Close()
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCoinbaseSeqJump: with coinbase-seq-jump at probability 1 every
// sequence_num is two above the previous.
func TestCoinbaseSeqJump(t *testing.T) {
	s, cb := startWithCoinbase(t, Config{})
	c := dialWS(t, s, cb.WSURL())
	sendText(t, c, `{"type":"subscribe","product_ids":["BTC-USDT"],"channel":"level2"}`)
	first := cbRead(t, c)
	if err := s.SetFaults(Fault{Kind: FaultCoinbaseSeqJump, Prob: 1}); err != nil {
		t.Fatal(err)
	}
	prev := *first.SequenceNum
	jumps := 0
	for i := 0; i < 10; i++ {
		m := cbRead(t, c)
		if d := *m.SequenceNum - prev; d == 2 {
			jumps++
		} else if d != 1 {
			t.Fatalf("sequence_num %d after %d", *m.SequenceNum, prev)
		}
		prev = *m.SequenceNum
	}
	if jumps < 8 {
		t.Fatalf("%d jumps in 10 messages", jumps)
	}
}

// TestCoinbaseREST: products, product_book against the truth, market
// trades, time, an unknown product, a missing limit, and the rate limit.
func TestCoinbaseREST(t *testing.T) {
	s, cb := startWithCoinbase(t, Config{Rate: 1, Coinbase: CoinbaseConfig{RESTPerSecond: 6}})
	base := cb.RESTURL() + "/api/v3/brokerage"
	get := func(path string, want int, v any) {
		t.Helper()
		status, _, body := getURL(t, s, base+path)
		if status != want {
			t.Fatalf("%s: %d %s, want %d", path, status, body, want)
		}
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("%s: %s: %v", path, body, err)
		}
	}
	var prods struct {
		Products []map[string]any `json:"products"`
	}
	get("/market/products", 200, &prods)
	if len(prods.Products) != 2 || prods.Products[0]["product_id"] != "BTC-USDT" || prods.Products[0]["status"] != "online" || prods.Products[0]["quote_increment"] != "0.01" {
		t.Fatalf("products %v", prods.Products)
	}
	var tm struct{ Iso, EpochSeconds, EpochMillis string }
	get("/time", 200, &tm)
	if ms, err := strconv.ParseInt(tm.EpochMillis, 10, 64); err != nil || time.Since(time.UnixMilli(ms)).Abs() > 5*time.Second {
		t.Fatalf("time %+v", tm)
	}
	var book struct {
		Pricebook struct {
			ProductID string        `json:"product_id"`
			Bids      []cbPriceSize `json:"bids"`
			Asks      []cbPriceSize `json:"asks"`
		} `json:"pricebook"`
	}
	get("/market/product_book?product_id=BTC-USDT&limit=5", 200, &book)
	last, _, _, err := s.market.lastIDs("BTCUSDT")
	if err != nil {
		t.Fatal(err)
	}
	truth, err := cb.BookAt("BTC-USDT", last)
	if err != nil {
		t.Fatal(err)
	}
	if len(book.Pricebook.Bids) != 5 || book.Pricebook.Bids[0].Price != truth.Bids[0].Price || book.Pricebook.Bids[4].Size != truth.Bids[4].Qty {
		t.Fatalf("book %+v, truth bids %v", book.Pricebook, truth.Bids[:5])
	}
	var errBody struct{ Error, Message string }
	get("/market/products/NOPE-USD", 404, &errBody)
	if errBody.Error != "NOT_FOUND" || !strings.Contains(errBody.Message, `"NOPE-USD"`) {
		t.Fatalf("unknown product: %+v", errBody)
	}
	get("/market/products/BTC-USDT/ticker", 400, &errBody)
	if !strings.Contains(errBody.Message, "limit") {
		t.Fatalf("missing limit: %+v", errBody)
	}
	saw429 := false
	for i := 0; i < 8 && !saw429; i++ {
		status, _, _ := getURL(t, s, base+"/time")
		saw429 = status == http.StatusTooManyRequests
	}
	if !saw429 {
		t.Fatal("no 429 over RESTPerSecond")
	}
}

// TestCoinbaseExchangeTradesPaging pages the Exchange API's trades
// backwards with CB-AFTER and forwards with before: ids contiguous,
// newest first, side the maker's, each equal to the ground truth.
func TestCoinbaseExchangeTradesPaging(t *testing.T) {
	s, cb := startWithCoinbase(t, Config{Coinbase: CoinbaseConfig{RESTPerSecond: 100}})
	var last int64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		last, _ = cb.LastTradeID("BTC-USDT")
		if ts, err := cb.Trades("BTC-USDT", last-25, last); err == nil && len(ts) == 26 {
			break
		}
	}
	type tr struct {
		Time    string `json:"time"`
		TradeID int64  `json:"trade_id"`
		Price   string `json:"price"`
		Size    string `json:"size"`
		Side    string `json:"side"`
	}
	page := func(q string) ([]tr, http.Header) {
		t.Helper()
		status, h, body := getURL(t, s, cb.RESTURL()+"/products/BTC-USDT/trades?"+q)
		if status != 200 {
			t.Fatalf("%s: %d %s", q, status, body)
		}
		var out []tr
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		return out, h
	}
	top := last
	first, h := page("limit=10&after=" + strconv.FormatInt(top+1, 10))
	second, _ := page("limit=10&after=" + h.Get("Cb-After"))
	all := append(first, second...)
	if len(all) != 20 {
		t.Fatalf("%d trades (top %d, first page CB-AFTER %q CB-BEFORE %q)", len(all), top, h.Get("Cb-After"), h.Get("Cb-Before"))
	}
	for i, x := range all {
		if x.TradeID != top-int64(i) {
			t.Fatalf("trade %d: id %d, want %d", i, x.TradeID, top-int64(i))
		}
		truth, err := cb.Trades("BTC-USDT", x.TradeID, x.TradeID)
		if err != nil {
			t.Fatal(err)
		}
		maker := map[string]string{"BUY": "sell", "SELL": "buy"}[truth[0].Side]
		if x.Price != truth[0].Price || x.Size != truth[0].Size || x.Side != maker {
			t.Fatalf("trade %+v, truth %+v", x, truth[0])
		}
	}
	newer, _ := page("limit=5&before=" + strconv.FormatInt(top-10, 10))
	if len(newer) != 5 || newer[0].TradeID != top-5 || newer[4].TradeID != top-9 {
		t.Fatalf("before: %+v", newer)
	}
	if status, _, body := getURL(t, s, cb.RESTURL()+"/products/BTC-USDT/trades?limit=5000"); status != 400 || !strings.Contains(string(body), `5000`) {
		t.Fatalf("limit 5000: %d %s", status, body)
	}
}

// TestCoinbaseNoHeartbeatAndDrop: coinbase-no-heartbeat stops the
// heartbeats (heartbeat_counter then jumps); depth-drop leaves an
// l2_data update out and its sequence_num with it (the gap shows on the
// next message, whatever its channel).
func TestCoinbaseNoHeartbeatAndDrop(t *testing.T) {
	s, cb := startWithCoinbase(t, Config{Coinbase: CoinbaseConfig{HeartbeatEvery: 50 * time.Millisecond}})
	c := dialWS(t, s, cb.WSURL())
	sendText(t, c, `{"type":"subscribe","channel":"heartbeats"}`)
	sendText(t, c, `{"type":"subscribe","product_ids":["BTC-USDT"],"channel":"level2"}`)
	if err := s.SetFaults(Fault{Kind: FaultCoinbaseNoHeartbeat, Prob: 0.2, Duration: 300 * time.Millisecond}, Fault{Kind: FaultDepthDrop, Prob: 0.3}); err != nil {
		t.Fatal(err)
	}
	var prevSeq, prevHB int64 = -1, 0
	hbJump, seqJump := false, false
	for end := time.Now().Add(4 * time.Second); time.Now().Before(end) && !(hbJump && seqJump); {
		m := cbRead(t, c)
		if m.SequenceNum == nil {
			continue
		}
		if prevSeq >= 0 && *m.SequenceNum != prevSeq+1 {
			if *m.SequenceNum < prevSeq+1 {
				t.Fatalf("%s: sequence_num %d after %d", m.Channel, *m.SequenceNum, prevSeq)
			}
			seqJump = true
		}
		prevSeq = *m.SequenceNum
		if m.Channel == "heartbeats" {
			var ev struct {
				HeartbeatCounter int64 `json:"heartbeat_counter"`
			}
			if err := json.Unmarshal(m.Events[0], &ev); err != nil {
				t.Fatal(err)
			}
			if prevHB != 0 && ev.HeartbeatCounter > prevHB+3 {
				hbJump = true
			}
			prevHB = ev.HeartbeatCounter
		}
	}
	if !hbJump || !seqJump {
		t.Fatalf("heartbeat gap %v, sequence_num gap %v", hbJump, seqJump)
	}
}

// TestCoinbaseStatusChannel: the status channel's snapshot lists the
// product online; coinbase-product-offline sends an update "offline"
// with a status_message, silences l2_data and market_trades for its
// Duration, then sends "online", and l2_data resumes with an update (not
// a snapshot) from the book as it is then.
func TestCoinbaseStatusChannel(t *testing.T) {
	s, cb := startWithCoinbase(t, Config{})
	c := dialWS(t, s, cb.WSURL())
	sendText(t, c, `{"type":"subscribe","product_ids":["BTC-USDT"],"channel":"status"}`)
	sendText(t, c, `{"type":"subscribe","product_ids":["BTC-USDT"],"channel":"level2"}`)
	type product struct {
		ProductType, ID, Status, StatusMessage, DisplayName, BaseIncrement, QuoteIncrement string
	}
	status := func(m cbMsg) (string, product) {
		t.Helper()
		var ev []struct {
			Type     string `json:"type"`
			Products []struct {
				ProductType    string  `json:"product_type"`
				ID             string  `json:"id"`
				Status         string  `json:"status"`
				StatusMessage  *string `json:"status_message"`
				DisplayName    string  `json:"display_name"`
				BaseIncrement  string  `json:"base_increment"`
				QuoteIncrement string  `json:"quote_increment"`
				MinMarketFunds string  `json:"min_market_funds"`
			} `json:"products"`
		}
		raw, _ := json.Marshal(m.Events)
		if err := json.Unmarshal(raw, &ev); err != nil || len(ev) != 1 || len(ev[0].Products) != 1 || ev[0].Products[0].StatusMessage == nil || ev[0].Products[0].MinMarketFunds == "" {
			t.Fatalf("status message %s: %v", raw, err)
		}
		p := ev[0].Products[0]
		return ev[0].Type, product{p.ProductType, p.ID, p.Status, *p.StatusMessage, p.DisplayName, p.BaseIncrement, p.QuoteIncrement}
	}
	var seen []string
	var l2After []string // l2_data event types after the product came back
	armed, back := false, false
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && len(l2After) < 3 {
		m := cbRead(t, c)
		switch m.Channel {
		case "status":
			typ, p := status(m)
			if p.ID != "BTC-USDT" || p.ProductType != "SPOT" || p.DisplayName != "BTC/USDT" || p.QuoteIncrement == "" || p.BaseIncrement == "" {
				t.Fatalf("product %+v", p)
			}
			if p.Status == "offline" && !strings.Contains(p.StatusMessage, "BTC-USDT") {
				t.Errorf("offline without a status_message naming the product: %+v", p)
			}
			seen = append(seen, typ+":"+p.Status)
			back = p.Status == "online" && typ == "update"
		case "l2_data":
			var ev []cbL2Event
			raw, _ := json.Marshal(m.Events)
			_ = json.Unmarshal(raw, &ev)
			if len(seen) == 2 && seen[1] == "update:offline" {
				t.Fatalf("l2_data while offline: %s", raw)
			}
			if back {
				l2After = append(l2After, ev[0].Type)
			}
			if !armed && ev[0].Type == "update" {
				armed = true
				if err := s.SetFaults(Fault{Kind: FaultCoinbaseProductOffline, Times: 1, Duration: 300 * time.Millisecond}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if strings.Join(seen, ",") != "snapshot:online,update:offline,update:online" {
		t.Fatalf("status messages %v", seen)
	}
	if len(l2After) < 3 || l2After[0] != "update" {
		t.Fatalf("l2_data after the product came back: %v", l2After)
	}
	code, _, body := getURL(t, s, cb.RESTURL()+"/api/v3/brokerage/market/products/BTC-USDT")
	if code != 200 || !strings.Contains(string(body), `"status":"online"`) {
		t.Errorf("REST product after: %d %s", code, body)
	}
}
