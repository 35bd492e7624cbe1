package sim

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// TestOKXLiquidationOrders: liquidation-orders is subscribed by instType
// on /ws/v5/public (an instType OKX does not list, and /business, are
// refused); its pushes list, per swap, the liquidations the ground truth
// gives for their times, each once.
func TestOKXLiquidationOrders(t *testing.T) {
	s, o := startWithOKX(t, Config{Rate: 2000})
	c := okxDial(t, s, "/ws/v5/public")
	okxSend(t, c, `{"id":"1","op":"subscribe","args":[{"channel":"liquidation-orders","instType":"SPOT"}]}`)
	if m := okxRead(t, c, 5*time.Second); m.Event != "error" || m.Code != "60018" {
		t.Fatalf("instType SPOT: %+v", m)
	}
	b := okxDial(t, s, "/ws/v5/business")
	okxSend(t, b, `{"id":"1","op":"subscribe","args":[{"channel":"liquidation-orders","instType":"SWAP"}]}`)
	if m := okxRead(t, b, 5*time.Second); m.Event != "error" || m.Code != "64002" {
		t.Fatalf("on /business: %+v", m)
	}
	okxSend(t, c, `{"id":"2","op":"subscribe","args":[{"channel":"liquidation-orders","instType":"SWAP"}]}`)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var ack struct {
		ID, Event string
		Arg       map[string]string
	}
	if _, raw, err := c.ReadMessage(); err != nil || json.Unmarshal(raw, &ack) != nil || ack.Event != "subscribe" || ack.ID != "2" ||
		ack.Arg["instType"] != "SWAP" || ack.Arg["channel"] != "liquidation-orders" || ack.Arg["instId"] != "" {
		t.Fatalf("ack %s: %v", raw, err)
	}
	type item struct {
		Details  []OKXLiquidation `json:"details"`
		InstID   string           `json:"instId"`
		InstType string           `json:"instType"`
		Family   string           `json:"instFamily"`
		Uly      string           `json:"uly"`
	}
	got := map[string][]OKXLiquidation{}
	first, last := int64(0), int64(0)
	for n := 0; n < 30; {
		m := okxRead(t, c, 10*time.Second)
		if m.Arg.Channel != "liquidation-orders" {
			t.Fatalf("push %+v", m)
		}
		for _, raw := range m.Data {
			var it item
			if err := json.Unmarshal(raw, &it); err != nil || it.InstType != "SWAP" || it.Family+"-SWAP" != it.InstID || it.Uly != it.Family || len(it.Details) == 0 {
				t.Fatalf("item %s: %v", raw, err)
			}
			for _, d := range it.Details {
				d.InstID = it.InstID
				if first == 0 || d.Time < first {
					first = d.Time
				}
				last = max(last, d.Time)
				got[it.InstID] = append(got[it.InstID], d)
				n++
			}
		}
	}
	for inst, list := range got {
		truth, err := o.Liquidations(inst, first, last)
		if err != nil {
			t.Fatal(err)
		}
		// the first push may start inside a millisecond the truth holds more of
		trim := 0
		for trim < len(truth) && fmt.Sprint(truth[trim]) != fmt.Sprint(list[0]) {
			trim++
		}
		truth = truth[trim:]
		if fmt.Sprint(truth[:min(len(truth), len(list))]) != fmt.Sprint(list) || len(truth) < len(list) {
			t.Fatalf("%s: pushed %v\ntruth %v", inst, list, truth)
		}
		for _, l := range list {
			if (l.Side == "buy") != (l.PosSide == "short") {
				t.Fatalf("%s: side %s closes posSide %s", inst, l.Side, l.PosSide)
			}
		}
		// the same over HTTP
		status, _, body := getURL(t, s, fmt.Sprintf("%s/sim/liquidations?instId=%s&from=%d&to=%d", o.RESTURL(), inst, first, last))
		var web []OKXLiquidation
		if err := json.Unmarshal(body, &web); status != 200 || err != nil || fmt.Sprint(web[trim:trim+len(list)]) != fmt.Sprint(list) {
			t.Fatalf("/sim/liquidations: %d %s: %v", status, body, err)
		}
	}
	if status, _, body := getURL(t, s, o.RESTURL()+"/sim/liquidations?instId=BTC-USDT&from=0&to=1"); status != 400 {
		t.Fatalf("a spot instrument: %d %s", status, body)
	}
}
