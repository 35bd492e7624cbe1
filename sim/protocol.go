package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gobwas/ws"
)

// Error codes of the WebSocket request API.
const (
	codeUnknownProperty = 0
	codeInvalidValue    = 1
	codeInvalidRequest  = 2
	codeInvalidJSON     = 3
	codeTooManyStreams  = 4
)

var methods = []string{"SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY"}

// handleRequest answers one JSON request from a client, as the real service
// does: a result or a wrapped error, with the request's id echoed.
func (c *wsConn) handleRequest(body []byte) {
	c.stats.requests.Add(1)
	if c.fe != nil {
		c.fe.handle(c, body)
		return
	}
	c.reply(c.request(body))
}

// reply sends the answer to a request of the Binance protocol (spot and
// USD-M): {"result":…,"id":…}, or {"error":{"code":…,"msg":…},"id":…} when
// msg is set; then it ends the connection if the request named a
// malformed stream.
func (c *wsConn) reply(id, result json.RawMessage, code int, msg string) {
	var out []byte
	if msg != "" {
		e, _ := json.Marshal(struct {
			Code int    `json:"code"`
			Msg  string `json:"msg"`
		}{code, msg})
		out = append([]byte(`{"error":`), e...)
	} else {
		out = append([]byte(`{"result":`), result...)
	}
	out = append(out, `,"id":`...)
	out = append(out, id...)
	out = append(out, '}')
	c.sendFrame(ws.OpText, out)
	if c.closeAfterReply {
		c.end(closeInvalidStream, "Invalid request", "invalid stream")
	}
}

// closeInvalidStream is the close code sent after a request naming a
// malformed stream. Binance closes such a connection, but which code it
// sends is not recorded anywhere public: 1008 (policy violation) is the
// code it uses for the other misbehaviours of a client.
const closeInvalidStream = 1008

func (c *wsConn) request(body []byte) (id, result json.RawMessage, code int, msg string) {
	id = json.RawMessage("null")
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			line, col := lineCol(body, int(syn.Offset))
			return id, nil, codeInvalidJSON, fmt.Sprintf("Invalid JSON: expected value at line %d column %d", line, col)
		case errors.As(err, &typ):
			return id, nil, codeInvalidRequest, "Invalid request: expected a JSON object"
		default:
			line, col := lineCol(body, len(body))
			return id, nil, codeInvalidJSON, fmt.Sprintf("Invalid JSON: expected value at line %d column %d", line, col)
		}
	}
	if fields == nil {
		return id, nil, codeInvalidRequest, "Invalid request: expected a JSON object"
	}
	if raw, ok := fields["id"]; ok {
		if !validID(raw) {
			return id, nil, codeInvalidRequest, "Invalid request: request ID must be a signed 64-bit integer, a string of at most 36 alphanumeric characters, or null"
		}
		id = raw
	}
	rawMethod, ok := fields["method"]
	if !ok {
		return id, nil, codeInvalidRequest, "Invalid request: missing field `method`"
	}
	var method string
	if err := json.Unmarshal(rawMethod, &method); err != nil {
		return id, nil, codeInvalidRequest, "Invalid request: method must be a string"
	}
	var params []json.RawMessage
	if raw, ok := fields["params"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &params); err != nil {
			return id, nil, codeInvalidRequest, "Invalid request: params must be an array"
		}
	}
	for k := range fields {
		if k != "id" && k != "method" && k != "params" {
			return id, nil, codeInvalidRequest, "Invalid request: unknown field `" + k + "`, expected one of `method`, `params`, `id`"
		}
	}

	switch method {
	case "SUBSCRIBE", "UNSUBSCRIBE":
		streams, ok := streamNames(params)
		if !ok {
			return id, nil, codeInvalidRequest, "Invalid request: stream names must be strings"
		}
		if bad, found := firstInvalidStream(streams); found {
			// Refused as a whole, then the connection is closed: see streams.go.
			c.srv.log.Debug("invalid stream", "conn", c.id, "stream", bad)
			if !c.srv.cfg.KeepOpenAfterInvalidStream {
				c.closeAfterReply = true
			}
			return id, nil, codeInvalidRequest, "Invalid request: invalid stream"
		}
		if method == "UNSUBSCRIBE" {
			c.srv.hub.unsubscribe(c, streams)
			return id, json.RawMessage("null"), 0, ""
		}
		if err := c.srv.hub.subscribe(c, streams, c.srv.cfg.MaxStreams); err != nil {
			return id, nil, codeTooManyStreams, "Too many subscriptions"
		}
		return id, json.RawMessage("null"), 0, ""
	case "LIST_SUBSCRIPTIONS":
		if len(params) > 0 {
			return id, nil, codeInvalidRequest, "Invalid request: too many parameters"
		}
		list, _ := json.Marshal(c.srv.hub.list(c))
		return id, list, 0, ""
	case "SET_PROPERTY", "GET_PROPERTY":
		want := 1
		if method == "SET_PROPERTY" {
			want = 2
		}
		if len(params) > want {
			return id, nil, codeInvalidRequest, "Invalid request: too many parameters"
		}
		if len(params) < want {
			return id, nil, codeInvalidRequest, "Invalid request: missing parameters"
		}
		result, code, msg := c.property(method, params)
		return id, result, code, msg
	default:
		return id, nil, codeInvalidRequest, "Invalid request: unknown variant `" + method + "`, expected one of `" + strings.Join(methods, "`, `") + "`"
	}
}

// streamNames reads the params of SUBSCRIBE and UNSUBSCRIBE; false when
// one is not a string.
func streamNames(params []json.RawMessage) ([]string, bool) {
	streams := make([]string, 0, len(params))
	for _, p := range params {
		var s string
		if err := json.Unmarshal(p, &s); err != nil {
			return nil, false
		}
		streams = append(streams, s)
	}
	return streams, true
}

// property answers GET_PROPERTY and SET_PROPERTY once the number of
// params is checked: "combined" is the one property, a Boolean.
func (c *wsConn) property(method string, params []json.RawMessage) (result json.RawMessage, code int, msg string) {
	var name string
	if err := json.Unmarshal(params[0], &name); err != nil {
		return nil, codeInvalidRequest, "Invalid request: property name must be a string"
	}
	if name != "combined" {
		return nil, codeUnknownProperty, "Unknown property"
	}
	if method == "GET_PROPERTY" {
		return json.RawMessage(strconv.FormatBool(c.combined.Load())), 0, ""
	}
	switch string(bytes.TrimSpace(params[1])) {
	case "true":
		c.combined.Store(true)
	case "false":
		c.combined.Store(false)
	default:
		return nil, codeInvalidValue, "Invalid value type: expected Boolean"
	}
	return json.RawMessage("null"), 0, ""
}

// validID accepts a signed 64-bit integer, a string of at most 36
// alphanumeric characters, or null.
func validID(raw json.RawMessage) bool {
	s := string(bytes.TrimSpace(raw))
	if s == "null" {
		return true
	}
	if strings.HasPrefix(s, `"`) {
		var str string
		if json.Unmarshal(raw, &str) != nil || len(str) > 36 {
			return false
		}
		for _, r := range str {
			if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
				return false
			}
		}
		return true
	}
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}

// lineCol turns a byte offset into a 1-based line and column.
func lineCol(b []byte, off int) (int, int) {
	if off > len(b) {
		off = len(b)
	}
	if off < 1 {
		off = 1
	}
	line := 1 + bytes.Count(b[:off-1], []byte{'\n'})
	col := off - bytes.LastIndexByte(b[:off-1], '\n') - 1
	return line, col
}
