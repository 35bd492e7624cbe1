package okx

import (
	"encoding/json"
	"errors"
	"strconv"
	"testing"

	"github.com/feedkeeper/feedkeeper/feed"
)

// FuzzDecode holds the decoder against encoding/json: a frame it decodes
// is valid JSON, and what it read of a push is what encoding/json reads;
// every error it returns is one of its kinds.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"arg":{"channel":"trades-all","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy","source":"0","ts":"1630048897897"}]}`,
		`{"arg":{"channel":"trades","instId":"BTC-USDT-SWAP"},"data":[{"tradeId":"5","px":"1","sz":"2","side":"sell","ts":"1","count":"2"},{"tradeId":"6","px":"1","sz":"2","side":"sell","ts":"1"}]}`,
		`{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"asks":[["8476.98","415","0","13"]],"bids":[["8476.97","256","0","12"]],"ts":"1597026383085","checksum":-5,"prevSeqId":-1,"seqId":123456}]}`,
		`{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["8477","0","0","0"]],"bids":[],"ts":"1597026383185","checksum":0,"prevSeqId":123456,"seqId":123457}]}`,
		`{"arg":{"channel":"bbo-tbt","instId":"BTC-USDT"},"data":[{"asks":[["8476.98","415","0","13"]],"bids":[],"ts":"1597026383085","seqId":78}]}`,
		`{"arg":{"channel":"books5","instId":"BTC-USDT-SWAP"},"data":[{"asks":[["1.1","4","0","1"]],"bids":[["1","1","0","1"]],"ts":"1"}]}`,
		`{"arg":{"channel":"tickers","instId":"BTC-USDT"},"data":[{"last":"9999.99","open24h":"9000","high24h":"10000","low24h":"8888.88","volCcy24h":"2222","vol24h":"2222","ts":"1597026383085"}]}`,
		`{"arg":{"channel":"funding-rate","instId":"BTC-USDT-SWAP"},"data":[{"fundingRate":"-0.0001515","fundingTime":"1700726400000","ts":"1700724675402"}]}`,
		`{"arg":{"channel":"mark-price","instId":"BTC-USDT-SWAP"},"data":[{"markPx":"42310.6","ts":"1597026383085"}]}`,
		`{"arg":{"channel":"open-interest","instId":"BTC-USDT-SWAP"},"data":[{"oi":"2216113.01","oiCcy":"22161.1301","ts":"1743041250440"}]}`,
		`{"id":"1512","event":"error","code":"60012","msg":"Invalid request","connId":"a4d3ae55"}`,
		`{"event":"notice","code":"64008","msg":"x","connId":"a4d3ae55"}`,
		`{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[],"bids":[],"ts":"1","checksum":0,"prevSeqId":1,"seqId":1,"a\u0073ks":[]}]}`,
		`pong`,
		`{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"details":[{"bkLoss":"0","bkPx":"42000.1","ccy":"","posSide":"short","side":"buy","sz":"13","ts":"1692266434010"}],"instFamily":"BTC-USDT","instId":"BTC-USDT-SWAP","instType":"SWAP","uly":"BTC-USDT"},{"details":[{"side":"sell","bkPx":"1","sz":"1","ts":"1"}],"instId":"XRP-USDT-SWAP"}]}`,
	} {
		f.Add([]byte(s))
	}
	syms := testSymbols(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		d := &Decoder{Symbols: syms, LiquidationsAll: true}
		var ev feed.Event
		kind, err := d.Decode(frame, &ev)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, feed.ErrUnknown) && !errors.Is(err, ErrRefused) {
				t.Fatalf("error of no kind: %v", err)
			}
			return
		}
		if kind != feed.DecodedEvent && kind != feed.DecodedBatch {
			return
		}
		if !json.Valid(frame) {
			t.Fatalf("decoded invalid JSON: %+v", ev)
		}
		if ev.Type == feed.TypeLiquidation {
			var liq struct {
				Data []struct {
					InstID  string `json:"instId"`
					Details []struct {
						TS string `json:"ts"`
					} `json:"details"`
				} `json:"data"`
			}
			if err := json.Unmarshal(frame, &liq); err != nil {
				t.Fatalf("encoding/json refuses what was decoded: %v", err)
			}
			for _, it := range liq.Data {
				for _, l := range it.Details {
					if ts, _ := strconv.ParseInt(l.TS, 10, 64); it.InstID == ev.Symbol && ts*1e6 == ev.ExchangeTime {
						return
					}
				}
			}
			t.Fatalf("liquidation %+v is in none of the items", ev)
		}
		var push struct {
			Arg struct {
				Channel string `json:"channel"`
				InstID  string `json:"instId"`
			} `json:"arg"`
			Data []struct {
				TradeID string          `json:"tradeId"`
				SeqID   *int64          `json:"seqId"`
				Asks    [][]any         `json:"asks"`
				Bids    [][]any         `json:"bids"`
				TS      string          `json:"ts"`
				Rest    json.RawMessage `json:"-"`
			} `json:"data"`
		}
		if err := json.Unmarshal(frame, &push); err != nil {
			t.Fatalf("encoding/json refuses what was decoded: %v", err)
		}
		if push.Arg.InstID != ev.Symbol || len(push.Data) == 0 {
			t.Fatalf("instrument %q, %d items; decoded %q", push.Arg.InstID, len(push.Data), ev.Symbol)
		}
		item := push.Data[0]
		ts, _ := strconv.ParseInt(item.TS, 10, 64)
		if ts*1e6 != ev.ExchangeTime {
			t.Fatalf("ts %q; decoded %d", item.TS, ev.ExchangeTime)
		}
		switch ev.Type {
		case feed.TypeTrade:
			if id, _ := strconv.ParseInt(item.TradeID, 10, 64); id != ev.ID {
				t.Fatalf("tradeId %q; decoded %d", item.TradeID, ev.ID)
			}
		case feed.TypeBookDelta, feed.TypeBookSnapshot:
			if len(item.Asks) != len(ev.Asks) || len(item.Bids) != len(ev.Bids) {
				t.Fatalf("%d/%d levels; decoded %d/%d", len(item.Bids), len(item.Asks), len(ev.Bids), len(ev.Asks))
			}
			if push.Arg.Channel == ChannelBooks && (item.SeqID == nil || *item.SeqID != ev.ID) {
				t.Fatalf("seqId %v; decoded %d", item.SeqID, ev.ID)
			}
		}
		for d.Next(&ev) {
		}
	})
}
