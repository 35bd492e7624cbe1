package sim

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/gobwas/ws"
)

// krRequest is a WebSocket v2 request: {"method":…,"params":{…},"req_id":…}.
type krRequest struct {
	Method string `json:"method"`
	Params struct {
		Channel      string   `json:"channel"`
		Symbol       []string `json:"symbol"`
		Depth        *int     `json:"depth"`
		Snapshot     *bool    `json:"snapshot"`
		EventTrigger string   `json:"event_trigger"`
	} `json:"params"`
	ReqID *int64 `json:"req_id"`
}

// handleRequest answers one request of a connection on /v2: ping
// (spot-websocket-v2/ping: {"method":"pong","req_id":…,"time_in":…,
// "time_out":…}), subscribe and unsubscribe of book, trade, ticker and
// instrument, one acknowledgement per symbol (spot-websocket-v2/book:
// {"method":"subscribe","result":{"channel":"book","depth":10,
// "snapshot":true,"symbol":"BTC/USD"},"success":true,"time_in":…,
// "time_out":…,"req_id":…}). Refusals are {"error":…,"method":…,
// "success":false,"symbol":…,…}: "Currency pair not supported X" for an
// unknown pair (the message clients of the real service see for v1 names
// such as XBT/USD), "Already subscribed", "Subscription Not Found"; the
// texts for a bad depth or channel are not documented.
func (k *Kraken) handleRequest(c *wsConn, body []byte) {
	in := time.Now()
	var req krRequest
	if err := json.Unmarshal(body, &req); err != nil {
		k.refuse(c, "error", nil, "", "Malformed request", in)
		return
	}
	kc := k.connOf(c)
	if kc == nil {
		return
	}
	switch req.Method {
	case "ping":
		c.mu.Lock()
		ignore := in.Before(c.noPongUntil)
		c.mu.Unlock()
		if ignore {
			return
		}
		b := []byte(`{"method":"pong"`)
		b = appendReqID(b, req.ReqID)
		b = appendTimes(b, in)
		c.sendFrame(ws.OpText, append(b, '}'))
	case "subscribe", "unsubscribe":
		k.subscribe(c, kc, &req, in)
	default:
		k.refuse(c, req.Method, req.ReqID, "", "Method not supported: "+strconv.Quote(req.Method), in)
	}
}

func (k *Kraken) subscribe(c *wsConn, kc *krakenConn, req *krRequest, in time.Time) {
	p := &req.Params
	sub := req.Method == "subscribe"
	snap := p.Snapshot == nil || *p.Snapshot
	switch p.Channel {
	case "instrument":
		key := "instrument"
		switch {
		case sub && kc.subs[key]:
			k.refuse(c, req.Method, req.ReqID, "", "Already subscribed", in)
			return
		case !sub && !kc.subs[key]:
			k.refuse(c, req.Method, req.ReqID, "", "Subscription Not Found", in)
			return
		}
		kc.subs[key] = sub
		if !sub {
			delete(kc.subs, key)
			k.hub.unsubscribe(c, []string{key})
		}
		k.ack(c, req, `{"channel":"instrument","snapshot":`+strconv.FormatBool(snap)+`}`, in)
		if sub && snap {
			c.sendFrame(ws.OpText, k.instrumentMessage())
		}
		if sub { // updates come through the hub, after the snapshot
			_ = k.hub.subscribe(c, []string{key}, c.conf().MaxStreams)
		}
		kc.anySubs.Store(len(kc.subs) > 0)
		return
	case "book", "trade", "ticker":
	default:
		k.refuse(c, req.Method, req.ReqID, "", "Channel "+strconv.Quote(p.Channel)+" not supported", in)
		return
	}
	depth := 10
	if p.Channel == "book" && p.Depth != nil {
		depth = *p.Depth
		ok := false
		for _, d := range krakenDepths {
			ok = ok || d == depth
		}
		if !ok {
			k.refuse(c, req.Method, req.ReqID, "", "Invalid depth "+strconv.Itoa(depth)+": not one of 10, 25, 100, 500, 1000", in)
			return
		}
	}
	trig := p.EventTrigger
	if p.Channel == "ticker" && trig != "" && trig != "trades" && trig != "bbo" {
		k.refuse(c, req.Method, req.ReqID, "", "Invalid event_trigger "+strconv.Quote(trig)+": not trades or bbo", in)
		return
	}
	if len(p.Symbol) == 0 {
		k.refuse(c, req.Method, req.ReqID, "", "Missing symbol", in)
		return
	}
	for _, sym := range p.Symbol {
		ks := k.feed.bySym[sym]
		if ks == nil || ks.wsName != sym {
			k.refuse(c, req.Method, req.ReqID, sym, "Currency pair not supported "+sym, in)
			continue
		}
		var key, result string
		switch p.Channel {
		case "book":
			key = "book." + strconv.Itoa(depth) + "." + sym
			result = `{"channel":"book","depth":` + strconv.Itoa(depth) + `,"snapshot":` + strconv.FormatBool(snap) + `,"symbol":` + strconv.Quote(sym) + `}`
		case "trade":
			key = ks.tradeKey
			result = `{"channel":"trade","snapshot":` + strconv.FormatBool(snap) + `,"symbol":` + strconv.Quote(sym) + `}`
		case "ticker":
			key = ks.tickKeys[0]
			if trig == "bbo" {
				key = ks.tickKeys[1]
			}
			// the documented ack (spot-websocket-v2/ticker) names channel,
			// symbol and snapshot, not event_trigger
			result = `{"channel":"ticker","snapshot":` + strconv.FormatBool(snap) + `,"symbol":` + strconv.Quote(sym) + `}`
		}
		if sub {
			if kc.subs[key] {
				k.refuse(c, req.Method, req.ReqID, sym, "Already subscribed", in)
				continue
			}
			kc.subs[key] = true
			k.ack(c, req, result, in)
			k.feed.addPending(c, key, snap)
		} else {
			if !kc.subs[key] {
				k.refuse(c, req.Method, req.ReqID, sym, "Subscription Not Found", in)
				continue
			}
			delete(kc.subs, key)
			k.feed.unsubscribe(c, key)
			k.ack(c, req, result, in)
		}
	}
	kc.anySubs.Store(len(kc.subs) > 0)
}

func appendReqID(b []byte, id *int64) []byte {
	if id == nil {
		return b
	}
	b = append(b, `,"req_id":`...)
	return strconv.AppendInt(b, *id, 10)
}

func appendTimes(b []byte, in time.Time) []byte {
	b = append(b, `,"time_in":"`...)
	b = append(b, krTime(in.UnixMicro())...)
	b = append(b, `","time_out":"`...)
	b = append(b, krTime(time.Now().UnixMicro())...)
	return append(b, '"')
}

func (k *Kraken) ack(c *wsConn, req *krRequest, result string, in time.Time) {
	b := []byte(`{"method":"` + req.Method + `"`)
	b = appendReqID(b, req.ReqID)
	b = append(b, `,"result":`...)
	b = append(b, result...)
	b = append(b, `,"success":true`...)
	b = appendTimes(b, in)
	c.sendFrame(ws.OpText, append(b, '}'))
}

func (k *Kraken) refuse(c *wsConn, method string, reqID *int64, symbol, msg string, in time.Time) {
	b := []byte(`{"error":`)
	b = appendJSONString(b, msg)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, method)
	b = appendReqID(b, reqID)
	b = append(b, `,"success":false`...)
	if symbol != "" {
		b = append(b, `,"symbol":`...)
		b = appendJSONString(b, symbol)
	}
	b = appendTimes(b, in)
	c.sendFrame(ws.OpText, append(b, '}'))
}

// instrumentMessage is the instrument channel's snapshot
// (spot-websocket-v2/instrument): the assets and pairs with their
// precisions; qty_increment below 1e-4 in exponent form, as in the
// documented example ("qty_increment": 1e-08).
func (k *Kraken) instrumentMessage() []byte {
	m := k.srv.market
	b := []byte(`{"channel":"instrument","type":"snapshot","data":{"assets":[`)
	seen := map[string]bool{}
	var pairs []byte
	for i, ks := range k.feed.syms {
		m.mu.Lock()
		spec := ks.s.spec
		m.mu.Unlock()
		for _, a := range []string{spec.base, spec.quote} {
			if seen[a] {
				continue
			}
			if len(seen) > 0 {
				b = append(b, ',')
			}
			seen[a] = true
			b = append(b, `{"id":"`+a+`","status":"enabled","precision":10,"precision_display":5,"borrowable":false,"collateral_value":1.0,"margin_rate":0.02}`...)
		}
		if i > 0 {
			pairs = append(pairs, ',')
		}
		pairs = k.appendInstrumentPair(pairs, ks)
	}
	b = append(b, `],"pairs":[`...)
	b = append(b, pairs...)
	return append(b, "]}}"...)
}

// appendInstrumentPair writes one pair of the instrument channel as the
// market has it now.
func (k *Kraken) appendInstrumentPair(b []byte, ks *krakenSym) []byte {
	m := k.srv.market
	m.mu.Lock()
	spec, status := ks.s.spec, ks.s.status
	d := decsOf(ks.s)
	m.mu.Unlock()
	st := "online"
	if status != "TRADING" {
		st = "cancel_only"
	}
	qinc := krNum(pow10(spec.stepExp+8), d.qty)
	if spec.stepExp < -4 {
		qinc = krExp(qinc)
	}
	return append(b, `{"symbol":"`+ks.wsName+`","base":"`+spec.base+`","quote":"`+spec.quote+`","status":"`+st+
		`","qty_precision":`+strconv.Itoa(d.qty)+`,"qty_increment":`+qinc+`,"qty_min":`+qinc+
		`,"price_precision":`+strconv.Itoa(d.px)+`,"price_increment":`+krNum(pow10(spec.tickExp+8), d.px)+
		`,"cost_precision":5,"cost_min":0.5,"marginable":false,"has_index":true}`...)
}

// instrumentUpdates publishes, to the instrument channel's subscribers,
// an update listing the pairs whose precisions or status changed since
// the last step (a tick or step size changed: Server.SetSymbolFilters,
// the filters fault; a halt), before any book message written at the new
// precisions. Only the feed's goroutine calls it.
func (k *Kraken) instrumentUpdates() {
	var pairs []byte
	m := k.srv.market
	for _, ks := range k.feed.syms {
		m.mu.Lock()
		d, trading := decsOf(ks.s), ks.s.status == "TRADING"
		m.mu.Unlock()
		if ks.instSeen && d == ks.instDecs && trading == ks.instTrading {
			continue
		}
		changed := ks.instSeen
		ks.instDecs, ks.instTrading, ks.instSeen = d, trading, true
		if !changed {
			continue
		}
		if len(pairs) > 0 {
			pairs = append(pairs, ',')
		}
		pairs = k.appendInstrumentPair(pairs, ks)
	}
	if len(pairs) == 0 {
		return
	}
	if any, _ := k.hub.wants("instrument"); !any {
		return
	}
	b := []byte(`{"channel":"instrument","type":"update","data":{"assets":[],"pairs":[`)
	b = append(b, pairs...)
	k.hub.publish(&Message{Stream: "instrument", Kind: KindControl, Ms: append(b, "]}}"...)})
}
