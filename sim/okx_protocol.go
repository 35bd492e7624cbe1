package sim

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/gobwas/ws"
)

// Channels of the OKX front-end and where they are served ("Overview /
// WebSocket": trades-all and the candles moved to /ws/v5/business).
var okxChannels = map[string]struct {
	business bool
	swapOnly bool
}{
	"trades": {}, "books": {}, "books5": {}, "bbo-tbt": {}, "tickers": {},
	"funding-rate": {swapOnly: true}, "mark-price": {swapOnly: true}, "open-interest": {swapOnly: true},
	"trades-all": {business: true},
}

// okxArg is one item of a request's args: liquidation-orders names an
// instType, the other channels an instId.
type okxArg struct {
	Channel  string `json:"channel"`
	InstID   string `json:"instId"`
	InstType string `json:"instType"`
}

func (a okxArg) stream() string {
	if a.Channel == okxLiqChannel {
		return okxLiqStream(a.InstType)
	}
	return a.Channel + ":" + a.InstID
}

// okxError is an error reply: code and msg as "Error Code / WebSocket /
// Public" gives them.
type okxError struct{ code, msg string }

// handle answers one text message of an OKX connection: "ping", or a
// subscribe/unsubscribe request ("Overview / WebSocket / Subscribe").
func (oc *okxConn) handle(c *wsConn, body []byte) {
	now := time.Now()
	oc.lastIn.Store(now.UnixNano())
	if string(body) == "ping" {
		// "the client sends the string 'ping' … expect a 'pong' as a response"
		c.mu.Lock()
		ignore := now.Before(c.noPongUntil)
		c.mu.Unlock()
		if !ignore {
			c.stats.pongsReceived.Add(1)
			c.sendFrame(ws.OpText, []byte("pong"))
		}
		return
	}
	var req struct {
		ID   *json.RawMessage `json:"id"`
		Op   *string          `json:"op"`
		Args *json.RawMessage `json:"args"`
	}
	id := ""
	reply := func(e okxError) {
		b := []byte(`{`)
		if id != "" {
			b = append(b, `"id":`...)
			b = strconv.AppendQuote(b, id)
			b = append(b, ',')
		}
		b = append(b, `"event":"error","code":`...)
		b = strconv.AppendQuote(b, e.code)
		b = append(b, `,"msg":`...)
		b = appendJSONString(b, e.msg)
		b = append(b, `,"connId":`...)
		b = strconv.AppendQuote(b, oc.connID)
		c.sendFrame(ws.OpText, append(b, '}'))
	}
	invalid := okxError{"60012", "Invalid request: " + string(body)}
	if err := json.Unmarshal(body, &req); err != nil || req.Op == nil || req.Args == nil {
		reply(invalid)
		return
	}
	if req.ID != nil {
		var s string
		if json.Unmarshal(*req.ID, &s) != nil || !okxValidID(s) {
			reply(invalid)
			return
		}
		id = s
	}
	if *req.Op != "subscribe" && *req.Op != "unsubscribe" {
		reply(okxError{"60019", "Invalid op: op :" + *req.Op})
		return
	}
	if len(*req.Args) > oc.o.cfg.MaxArgsBytes {
		// "The total length of multiple channels cannot exceed 64 KB"
		c.end(1009, "Message too big", "args over "+strconv.Itoa(oc.o.cfg.MaxArgsBytes)+" bytes")
		return
	}
	// "Subscription/unsubscription/login requests: 480 times per hour per connection"
	cut := 0
	for cut < len(oc.requests) && now.Sub(oc.requests[cut]) >= time.Hour {
		cut++
	}
	oc.requests = oc.requests[cut:]
	if len(oc.requests) >= oc.o.cfg.MaxRequestsPerHour {
		reply(okxError{"60014", "Requests too frequent."})
		return
	}
	oc.requests = append(oc.requests, now)
	var args []okxArg
	if err := json.Unmarshal(*req.Args, &args); err != nil || len(args) == 0 {
		reply(okxError{"60013", "Invalid args"})
		return
	}
	for _, a := range args {
		if e, bad := oc.check(a); bad {
			reply(e)
			return
		}
	}
	streams := make([]string, len(args))
	for i, a := range args {
		streams[i] = a.stream()
	}
	if *req.Op == "subscribe" {
		if len(oc.o.hub.list(c))+len(streams) > oc.o.cfg.MaxChannels {
			// close codes 4008/4009: "The number of subscribed channels
			// exceeds the maximum limit."
			c.end(4008, "The number of subscribed channels exceeds the maximum limit.", "too many channels")
			return
		}
	}
	for _, a := range args {
		b := []byte(`{`)
		if id != "" {
			b = append(b, `"id":`...)
			b = strconv.AppendQuote(b, id)
			b = append(b, ',')
		}
		b = append(b, `"event":`...)
		b = strconv.AppendQuote(b, *req.Op)
		b = append(b, `,"arg":{"channel":`...)
		b = strconv.AppendQuote(b, a.Channel)
		if a.Channel == okxLiqChannel {
			b = append(b, `,"instType":`...)
			b = strconv.AppendQuote(b, a.InstType)
		} else {
			b = append(b, `,"instId":`...)
			b = strconv.AppendQuote(b, a.InstID)
		}
		b = append(b, `},"connId":`...)
		b = strconv.AppendQuote(b, oc.connID)
		c.sendFrame(ws.OpText, append(b, '}'))
	}
	if *req.Op == "unsubscribe" {
		oc.o.feed.cancelPending(c, streams)
		oc.o.hub.unsubscribe(c, streams)
		return
	}
	for i, a := range args {
		switch a.Channel {
		case "books":
			// a snapshot first, then updates: the feed subscribes c at
			// the point of the stream its snapshot is taken
			oc.o.feed.addPending(c, streams[i])
		default:
			if err := oc.o.hub.subscribe(c, streams[i:i+1], oc.o.cfg.MaxChannels); err != nil {
				c.end(4008, "The number of subscribed channels exceeds the maximum limit.", "too many channels")
				return
			}
			oc.o.feed.kick(streams[i])
		}
	}
}

// check validates one arg: the channel is known and served on this URL,
// the instrument exists and has the channel.
func (oc *okxConn) check(a okxArg) (okxError, bool) {
	if a.Channel == "" {
		return okxError{"60013", "Invalid args"}, true
	}
	wrong := okxError{"60018", "Wrong URL or channel:" + a.Channel + ",instId:" + a.InstID + " doesn't exist. Please use the correct URL, channel and parameters referring to API document."}
	switch a.Channel {
	case "books-l2-tbt", "books50-l2-tbt":
		// VIP4 and above after login; this front-end has no login
		return okxError{"64003", "Your trading fee tier doesn't meet the requirement to access this channel"}, true
	}
	if a.Channel == okxLiqChannel {
		// "instType … Required: Yes": SWAP, FUTURES, MARGIN, OPTION (what
		// OKX answers without one is not documented)
		if oc.business {
			return okxError{"64002", "This channel is not supported by \"/business\" URL. Please use \"/private\" URL(for private channels), or \"/public\" URL(for public channels). More details can refer to: https://www.okx.com/help-center/changes-to-v5-api-websocket-subscription-parameter-and-url"}, true
		}
		if !okxLiqTypes[a.InstType] {
			return okxError{"60018", "Wrong URL or channel:" + a.Channel + ",instType:" + a.InstType + " doesn't exist. Please use the correct URL, channel and parameters referring to API document."}, true
		}
		return okxError{}, false
	}
	ch, ok := okxChannels[a.Channel]
	if !ok {
		if len(a.Channel) > 6 && a.Channel[:6] == "candle" && !oc.business {
			return okxError{"64001", "This channel has been migrated to the '/business' URL. Please subscribe using the new URL. More details can refer to: https://www.okx.com/help-center/changes-to-v5-api-websocket-subscription-parameter-and-url"}, true
		}
		return wrong, true
	}
	if ch.business != oc.business {
		if ch.business {
			return okxError{"64001", "This channel has been migrated to the '/business' URL. Please subscribe using the new URL. More details can refer to: https://www.okx.com/help-center/changes-to-v5-api-websocket-subscription-parameter-and-url"}, true
		}
		return okxError{"64002", "This channel is not supported by \"/business\" URL. Please use \"/private\" URL(for private channels), or \"/public\" URL(for public channels). More details can refer to: https://www.okx.com/help-center/changes-to-v5-api-websocket-subscription-parameter-and-url"}, true
	}
	in := oc.o.byID[a.InstID]
	if in == nil || (ch.swapOnly && !in.swap) {
		return wrong, true
	}
	return okxError{}, false
}

// okxValidID: "A combination of case-sensitive alphanumerics, all numbers,
// or all letters of up to 32 characters."
func okxValidID(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// applyFault carries out the connection faults OKX words its own way; it
// reports whether f was one of them.
func (oc *okxConn) applyFault(c *wsConn, f Fault, now time.Time) bool {
	switch f.Kind {
	case FaultShutdown, FaultOKXMaintenance:
	default:
		return false
	}
	d := f.Duration
	if d == 0 {
		d = time.Second
		if f.Kind == FaultOKXMaintenance {
			d = time.Minute // "60 seconds prior to the service upgrade"
		}
	}
	if oc.business {
		// "only supported for WebSocket public and private channels"
		// (not /business): the connection just closes when the time comes
	} else {
		b := []byte(`{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade. Please reconnect.","connId":`)
		b = strconv.AppendQuote(b, oc.connID)
		c.enqueue(&Message{Stream: "notice", Kind: KindControl, Ms: append(b, '}')})
	}
	c.mu.Lock()
	if c.shutdownAt.IsZero() {
		c.shutdownAt = now.Add(d)
	}
	c.mu.Unlock()
	return true
}
