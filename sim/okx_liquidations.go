package sim

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// The liquidation-orders channel of the OKX front-end ("WS / Liquidation
// orders channel", /ws/v5/public): subscribed by instrument type, not by
// instrument, {"channel":"liquidation-orders","instType":"SWAP"}; OKX
// lists SWAP, FUTURES, MARGIN and OPTION, of which the simulator trades
// swaps only (the others are accepted and stay silent). Each push holds,
// per swap, the liquidations since the last one:
//
//	{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"details":[{"bkLoss":"0",
//	 "bkPx":"0.007831","ccy":"","posSide":"short","side":"buy","sz":"13","ts":"1692266434010"}],
//	 "instFamily":"IOST-USDT","instId":"IOST-USDT-SWAP","instType":"SWAP","uly":"IOST-USDT"}]}
//
// side is the liquidation order's ("buy" closes a short), sz in
// contracts, bkPx the bankruptcy price: here the fill price of the
// market's aggregate trades the simulator calls liquidations (the same
// ones the USD-M and Bybit front-ends publish). OKX states no push
// interval; the simulator pushes at most every okxLiqEvery.

// okxLiqChannel is the channel's name, okxLiqTypes the instTypes it takes.
const okxLiqChannel = "liquidation-orders"

var okxLiqTypes = map[string]bool{"SWAP": true, "FUTURES": true, "MARGIN": true, "OPTION": true}

// okxLiqEvery is how often the channel pushes, when it has liquidations.
const okxLiqEvery = 200 * time.Millisecond

// okxLiqStream is the hub key of the channel for instType.
func okxLiqStream(instType string) string { return okxLiqChannel + ":" + instType }

// OKXLiquidation is one liquidation as the OKX front-end publishes it:
// Side the liquidation order's ("buy", "sell"), PosSide "long" or "short"
// (the position closed), BkPx and Size (contracts) as written, Time in ms.
type OKXLiquidation struct {
	InstID  string `json:"instId"`
	Side    string `json:"side"`
	PosSide string `json:"posSide"`
	BkPx    string `json:"bkPx"`
	Size    string `json:"sz"`
	Time    int64  `json:"ts,string"`
}

func okxLiquidation(in *okxInst, r *aggRec) OKXLiquidation {
	side, pos := okxSide(r.maker), "short"
	if side == "sell" {
		pos = "long"
	}
	return OKXLiquidation{InstID: in.id, Side: side, PosSide: pos, BkPx: string(appendOKXNum(nil, r.price)),
		Size: string(appendOKXNum(nil, in.sz(r.qty))), Time: r.us / 1000}
}

// Liquidations returns the liquidations of swap instID whose time is in
// fromMs..toMs (inclusive), oldest first: the ground truth of
// liquidation-orders. A range older than the history kept fails with
// ErrHistoryGone.
func (o *OKX) Liquidations(instID string, fromMs, toMs int64) ([]OKXLiquidation, error) {
	var in *okxInst
	for _, x := range o.insts {
		if x.id == instID && x.swap {
			in = x
		}
	}
	if in == nil {
		return nil, fmt.Errorf("sim: %q is not an OKX swap: %w", instID, errBadParam)
	}
	m, s := o.srv.market, in.s
	h := nameHash(s.spec.name)
	m.mu.Lock()
	lo, hi := m.oldestAgg(s), s.nextAgg-1
	recs := s.aggRange(lo, hi)
	m.mu.Unlock()
	if len(recs) > 0 && recs[0].us/1000 > fromMs && lo > s.firstAgg {
		return nil, fmt.Errorf("liquidations %s from %d ms: %w", instID, fromMs, ErrHistoryGone)
	}
	var out []OKXLiquidation
	for i := range recs {
		r := &recs[i]
		if ms := r.us / 1000; ms >= fromMs && ms <= toMs && isLiquidation(h, lo+int64(i)) {
			out = append(out, okxLiquidation(in, r))
		}
	}
	return out, nil
}

// liquidations publishes liquidation-orders:SWAP: the liquidations of
// every swap since the last push, one data item per swap.
func (f *okxFeed) liquidations(now time.Time) {
	name := okxLiqStream("SWAP")
	if !f.wants(name) {
		for _, x := range f.ins {
			x.liqNext = 0
		}
		f.liqAt = time.Time{}
		return
	}
	m := f.m
	for _, x := range f.ins {
		if !x.in.swap {
			continue
		}
		s := x.in.s
		h := nameHash(s.spec.name)
		m.mu.Lock()
		next := s.nextAgg
		if x.liqNext == 0 {
			x.liqNext = next
			m.mu.Unlock()
			continue
		}
		from := max(x.liqNext, m.oldestAgg(s))
		recs := s.aggRange(from, next-1)
		m.mu.Unlock()
		for i := range recs {
			if isLiquidation(h, from+int64(i)) {
				x.liqs = append(x.liqs, recs[i])
			}
		}
		x.liqNext = next
	}
	if !dueAt(&f.liqAt, now, okxLiqEvery) {
		return
	}
	b := make([]byte, 0, 512)
	b = append(b, `{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[`...)
	items := 0
	for _, x := range f.ins {
		if len(x.liqs) == 0 {
			continue
		}
		if items > 0 {
			b = append(b, ',')
		}
		items++
		b = append(b, `{"details":[`...)
		for i := range x.liqs {
			l := okxLiquidation(x.in, &x.liqs[i])
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"bkLoss":"0","bkPx":"`...)
			b = append(b, l.BkPx...)
			b = append(b, `","ccy":"","posSide":"`...)
			b = append(b, l.PosSide...)
			b = append(b, `","side":"`...)
			b = append(b, l.Side...)
			b = append(b, `","sz":"`...)
			b = append(b, l.Size...)
			b = append(b, `","ts":"`...)
			b = strconv.AppendInt(b, l.Time, 10)
			b = append(b, `"}`...)
		}
		family := x.in.id[:len(x.in.id)-len("-SWAP")]
		b = append(b, `],"instFamily":"`...)
		b = append(b, family...)
		b = append(b, `","instId":"`...)
		b = append(b, x.in.id...)
		b = append(b, `","instType":"SWAP","uly":"`...)
		b = append(b, family...)
		b = append(b, `"}`...)
		x.liqs = x.liqs[:0]
	}
	if items == 0 {
		return
	}
	b = append(b, "]}"...)
	f.hub.publish(&Message{Stream: name, Kind: KindStats, Ms: b})
}

// serveTruthLiquidations answers GET /sim/liquidations?instId=…&from=MS&to=MS
// (Liquidations).
func (o *OKX) serveTruthLiquidations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var ms [2]int64
	for i, k := range []string{"from", "to"} {
		v, err := strconv.ParseInt(q.Get(k), 10, 64)
		if err != nil {
			writeTruthError(w, &paramError{k, q.Get(k), "is not an integer"})
			return
		}
		ms[i] = v
	}
	list, err := o.Liquidations(q.Get("instId"), ms[0], ms[1])
	if err != nil {
		writeTruthError(w, err)
		return
	}
	if list == nil {
		list = []OKXLiquidation{}
	}
	writeTruthJSON(w, http.StatusOK, list)
}
