package sim

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// handleRequest answers one JSON request on a USD-M connection, from the
// USDⓈ-M "Live Subscribing/Unsubscribing to streams" page: SUBSCRIBE,
// UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY and GET_PROPERTY, "id" an
// unsigned integer. Replies are {"result":…,"id":N}; errors are the page's
// codes and messages, wrapped as the spot front-end wraps them
// ({"error":{"code":…,"msg":…},"id":N}), which is what the real service
// sends.
func (u *USDM) handleRequest(c *wsConn, body []byte) {
	c.reply(u.request(c, body))
}

func (u *USDM) request(c *wsConn, body []byte) (id, result json.RawMessage, code int, msg string) {
	id = json.RawMessage("null")
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		line, col := lineCol(body, len(body))
		return id, nil, codeInvalidJSON, "Invalid JSON: expected value at line " + strconv.Itoa(line) + " column " + strconv.Itoa(col)
	}
	if raw, ok := fields["id"]; ok {
		// "Invalid request: request ID must be an unsigned integer"
		if _, err := strconv.ParseUint(string(bytes.TrimSpace(raw)), 10, 64); err != nil {
			return id, nil, codeInvalidRequest, "Invalid request: request ID must be an unsigned integer"
		}
		id = raw
	}
	var method string
	if raw, ok := fields["method"]; !ok || json.Unmarshal(raw, &method) != nil {
		return id, nil, codeInvalidRequest, "Invalid request: missing field `method`"
	}
	var params []json.RawMessage
	if raw, ok := fields["params"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &params); err != nil {
			return id, nil, codeInvalidRequest, "Invalid request: params must be an array"
		}
	}
	switch method {
	case "SUBSCRIBE", "UNSUBSCRIBE":
		streams, ok := streamNames(params)
		if !ok {
			return id, nil, codeInvalidRequest, "Invalid request: stream names must be strings"
		}
		keys, bad := usdmKeys(streams, c.route)
		if bad != "" {
			// USD-M measured: "code 2 Invalid request: invalid stream +
			// CLOSE" (https://github.com/ccxt/ccxt/pull/19833)
			u.srv.log.Debug("invalid stream", "venue", VenueBinanceUSDM, "conn", c.id, "stream", bad)
			if !u.srv.cfg.KeepOpenAfterInvalidStream {
				c.closeAfterReply = true
			}
			return id, nil, codeInvalidRequest, "Invalid request: invalid stream"
		}
		if method == "UNSUBSCRIBE" {
			u.hub.unsubscribe(c, keys)
			return id, json.RawMessage("null"), 0, ""
		}
		// "A single connection can listen to a maximum of 200 streams";
		// what a SUBSCRIBE past it gets is not documented: the spot
		// front-end's answer
		if err := u.hub.subscribe(c, keys, u.cfg.MaxStreams); err != nil {
			return id, nil, codeTooManyStreams, "Too many subscriptions"
		}
		return id, json.RawMessage("null"), 0, ""
	case "LIST_SUBSCRIPTIONS":
		keys := u.hub.list(c)
		names := make([]string, len(keys))
		for i, k := range keys {
			names[i] = streamOfKey(k)
		}
		list, _ := json.Marshal(names)
		return id, list, 0, ""
	case "SET_PROPERTY", "GET_PROPERTY":
		want := 1
		if method == "SET_PROPERTY" {
			want = 2
		}
		if len(params) != want {
			return id, nil, codeInvalidRequest, "Invalid request: wrong number of parameters"
		}
		result, code, msg := c.property(method, params)
		return id, result, code, msg
	}
	return id, nil, codeInvalidRequest, "Invalid request: unknown variant " + method + ", expected one of " + strings.Join(methods, ", ")
}
