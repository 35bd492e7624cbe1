package bybit

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
)

// FuzzDecode checks the decoder against encoding/json: whatever it
// accepts is valid JSON, and the values of the events it gives are those
// encoding/json reads from the frame.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{docTrade, docBookSnapshot, docBookDelta, docTicker, docTickerDelta, docLiquidation,
		docSubscribed, docArgsTooMany, docSpotPong, docOptionPong,
		`{"topic":"publicTrade.BTCUSDT","ts":1,"data":[{"T":1,"S":"Buy","v":"1","p":"2"},{"T":2,"S":"Sell","v":"3","p":"4"}]}`,
		`{"topic":"orderbook.1.BTCUSDT","ts":1,"type":"snapshot","data":{"s":"BTCUSDT","b":[["1.5","2"]],"a":[],"u":7,"seq":1}}`,
		`{"\u0074opic":"publicTrade.BTCUSDT","ts":1,"data":[{"T":1,"S":"Buy","v":"1","p":"2","p":"3.5"}]}`,
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	syms := testSymbols(f)
	f.Fuzz(func(t *testing.T, frame string, linear bool) {
		c := Spot
		if linear {
			c = Linear
		}
		d := NewDecoder(syms, c)
		var ev feed.Event
		kind, err := d.Decode([]byte(frame), &ev)
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, feed.ErrUnknown) && !errors.Is(err, ErrRefused) {
			t.Fatalf("error matches no sentinel: %v", err)
		}
		if err != nil && kind != feed.DecodedReply {
			return
		}
		if !json.Valid([]byte(frame)) {
			t.Fatalf("accepted invalid JSON (%v, %v)", kind, err)
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal([]byte(frame), &top); err != nil {
			t.Fatalf("accepted what encoding/json refuses: %v", err)
		}
		switch ev.Type {
		case feed.TypeTrade, feed.TypeLiquidation:
			var data []map[string]json.RawMessage
			if err := json.Unmarshal(top["data"], &data); err != nil || len(data) == 0 {
				t.Fatalf("trades: encoding/json: %v", err)
			}
			events := []feed.Event{ev}
			for {
				var n feed.Event
				if !d.Next(&n) {
					break
				}
				events = append(events, n)
			}
			if len(events) != len(data) {
				t.Fatalf("%d events from %d objects", len(events), len(data))
			}
			for i, e := range events {
				checkDecimal(t, data[i]["p"], e.Price, e.PriceScale)
				checkDecimal(t, data[i]["v"], e.Qty, e.QtyScale)
			}
		case feed.TypeBookSnapshot, feed.TypeBookDelta:
			var data struct {
				U json.RawMessage `json:"u"`
			}
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(top["data"], &raw); err != nil {
				t.Fatal(err)
			}
			data.U = raw["u"]
			var u int64
			if err := json.Unmarshal(data.U, &u); err != nil || u != ev.ID {
				t.Fatalf("u %s, ID %d (%v)", data.U, ev.ID, err)
			}
			var bids, asks [][]string
			if json.Unmarshal(raw["b"], &bids) != nil || json.Unmarshal(raw["a"], &asks) != nil || len(bids) != len(ev.Bids) || len(asks) != len(ev.Asks) {
				t.Fatalf("levels %s %s vs %v %v", raw["b"], raw["a"], ev.Bids, ev.Asks)
			}
		}
	})
}

func checkDecimal(t *testing.T, raw json.RawMessage, m int64, scale uint8) {
	t.Helper()
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	want, err := fixed.Parse(s, scale)
	if err != nil || want != m {
		t.Fatalf("%q at scale %d: decoder %d, encoding/json's text gives %d (%v)", s, scale, m, want, err)
	}
}
