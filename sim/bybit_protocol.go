package sim

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/gobwas/ws"
)

// handleRequest answers one request of a Bybit public connection
// (docs/v5/websocket/wss-authentication.mdx, "How to Send the Heartbeat
// Packet", "How to Subscribe to Topics"): {"op":"subscribe"|"unsubscribe",
// "args":[…],"req_id":…} and {"op":"ping"}. Replies:
//
//	spot   {"success":true,"ret_msg":"subscribe","conn_id":"…","req_id":"…","op":"subscribe"}
//	linear {"success":true,"ret_msg":"","conn_id":"…","req_id":"","op":"subscribe"}
//	spot   {"success":true,"ret_msg":"pong","conn_id":"…","op":"ping"}
//	linear {"success":true,"ret_msg":"pong","conn_id":"…","req_id":"","op":"ping"}
//
// (spot echoes req_id only when the request had one). A subscribe is
// answered once, for all its args. Refusals: "args size >10" on spot past
// SpotArgsPerRequest (the whole request, as users of the real service
// found: yufuquant/rust-bybit#24); "error:handler not found,topic:…" for a
// topic the category does not have (sieblyio/bybit-api#561); "Invalid
// symbol :[orderbook.50.X]" for a symbol it does not trade (the message
// clients of the real service match); "error:already subscribed,topic:…";
// and, past ArgsChars, "args length >21000" (the limit is documented, its
// message is not). The simulator refuses the whole request for any of
// them; whether Bybit subscribes the good topics of a request with a bad
// one is not documented.
func (b *Bybit) handleRequest(c *wsConn, body []byte) {
	c.by.heard.Store(time.Now().UnixNano())
	var req struct {
		Op    string          `json:"op"`
		Args  []string        `json:"args"`
		ReqID json.RawMessage `json:"req_id"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		// Bybit's answer to a request that is not JSON is not documented
		b.reply(c, "", nil, false, "error:request not json: "+err.Error())
		return
	}
	reqID, hasID := bybitReqID(req.ReqID)
	var rid *string
	if hasID {
		rid = &reqID
	}
	switch req.Op {
	case "ping":
		c.mu.Lock()
		ignore := time.Now().Before(c.noPongUntil)
		c.mu.Unlock()
		if !ignore {
			b.reply(c, "ping", rid, true, "pong")
		}
	case "subscribe":
		if msg := b.subscribe(c, req.Args); msg != "" {
			b.reply(c, "subscribe", rid, false, msg)
			return
		}
		b.reply(c, "subscribe", rid, true, b.okMsg(c, "subscribe"))
	case "unsubscribe":
		var keys []string
		for _, t := range req.Args {
			k := bybitKey(c.by.category, t)
			if i := slicesIndex(c.by.topics, t); i >= 0 {
				c.by.topics = append(c.by.topics[:i], c.by.topics[i+1:]...)
				c.by.chars -= len(t)
				keys = append(keys, k)
			}
		}
		b.feed.unsubscribe(c, keys)
		b.reply(c, "unsubscribe", rid, true, b.okMsg(c, "unsubscribe"))
	default:
		// "error:invalid op" is what clients see for an unknown op (ccxt
		// ts/src/pro/bybit.ts)
		b.reply(c, req.Op, rid, false, "error:invalid op")
	}
}

// okMsg is ret_msg of a successful request: the op on spot, empty on
// linear, as in the connect page's examples.
func (b *Bybit) okMsg(c *wsConn, op string) string {
	if c.by.category == BybitSpot {
		return op
	}
	return ""
}

func slicesIndex(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// bybitReqID reads req_id, a string in Bybit's examples; a number is taken
// as its text.
func bybitReqID(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	return string(raw), true
}

// subscribe checks args and, when all are good, queues them for the feed.
// It returns the ret_msg of a refusal, or "".
func (b *Bybit) subscribe(c *wsConn, args []string) string {
	by := c.by
	if by.category == BybitSpot && len(args) > b.cfg.SpotArgsPerRequest {
		return "args size >" + strconv.Itoa(b.cfg.SpotArgsPerRequest)
	}
	chars := by.chars
	for i, t := range args {
		if msg := b.checkTopic(by.category, t); msg != "" {
			return msg
		}
		if slicesIndex(by.topics, t) >= 0 || slicesIndex(args[:i], t) >= 0 {
			return "error:already subscribed,topic:" + t
		}
		chars += len(t)
	}
	if chars > b.cfg.ArgsChars {
		return "args length >" + strconv.Itoa(b.cfg.ArgsChars)
	}
	by.chars = chars
	for _, t := range args {
		by.topics = append(by.topics, t)
		b.feed.addPending(c, bybitKey(by.category, t))
	}
	return ""
}

// checkTopic returns the ret_msg refusing topic on category, or "".
func (b *Bybit) checkTopic(category, topic string) string {
	notFound := "error:handler not found,topic:" + topic
	if category == BybitStatus || topic == bybitStatusTopic {
		if category != BybitStatus || topic != bybitStatusTopic {
			return notFound // system.status is served on misc/status only
		}
		return ""
	}
	name, sym, ok := strings.Cut(topic, ".")
	if !ok {
		return notFound
	}
	switch name {
	case "orderbook":
		d, rest, ok := strings.Cut(sym, ".")
		if !ok {
			return notFound
		}
		switch d {
		case "1", "50", "200", "1000":
		default:
			return notFound
		}
		sym = rest
	case "publicTrade", "tickers":
	case "allLiquidation":
		if category != BybitLinear { // "Covers: USDT contract / USDC contract / Inverse contract"
			return notFound
		}
	default:
		return notFound
	}
	if _, ok := b.feed.idx[sym]; !ok {
		return "Invalid symbol :[" + topic + "]"
	}
	return ""
}

// reply sends a command answer.
func (b *Bybit) reply(c *wsConn, op string, reqID *string, success bool, msg string) {
	out := make([]byte, 0, 160)
	out = append(out, `{"success":`...)
	out = strconv.AppendBool(out, success)
	out = append(out, `,"ret_msg":`...)
	out = appendJSONString(out, msg)
	out = append(out, `,"conn_id":"`...)
	out = append(out, c.by.connID...)
	out = append(out, '"')
	if reqID != nil || c.by.category == BybitLinear {
		out = append(out, `,"req_id":`...)
		id := ""
		if reqID != nil {
			id = *reqID
		}
		out = appendJSONString(out, id)
	}
	out = append(out, `,"op":`...)
	out = appendJSONString(out, op)
	out = append(out, '}')
	c.sendFrame(ws.OpText, out)
}

// appendJSONString appends s as a JSON string (what a client sent may be
// any bytes: invalid UTF-8 becomes U+FFFD).
func appendJSONString(b []byte, s string) []byte {
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false) // "args size >10", as Bybit writes it
	_ = e.Encode(s)
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}
