package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func httpsClient(s *Server) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: dialer(s).TLSClientConfig}, Timeout: 5 * time.Second}
}

func getTruth(t testing.TB, s *Server, path string) []byte {
	t.Helper()
	c := httpsClient(s)
	defer c.CloseIdleConnections()
	resp, err := c.Get(s.RESTURL() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return body
}

func TestSubscribeInvalidStream(t *testing.T) {
	s := startSim(t, Config{MaxIncoming: 1000, KeepOpenAfterInvalidStream: true})
	c := dial(t, s, "/ws")
	if r := request(t, c, `{"method":"SUBSCRIBE","params":["btcusdt@aggTrade","xrpxrp@miniTicker"],"id":1}`); r["error"] != nil || r["id"] != 1.0 {
		t.Fatalf("well-formed names refused: %v", r)
	}
	for i, bad := range []string{"btcusdt@foo", "btcusdt@aggtrade", "@@@x###", "not asdfads", "btcusdt", "btcusdt@kline_2m", "btcusdt@kline_1m@+09:00", "btcusdt@ticker_2h"} {
		id := 10 + i
		// a good name beside the bad one is not subscribed either
		req := fmt.Sprintf(`{"method":"SUBSCRIBE","params":["ethusdt@trade",%q],"id":%d}`, bad, id)
		r := request(t, c, req)
		e, _ := r["error"].(map[string]any)
		if e == nil || e["code"] != 2.0 || e["msg"] != "Invalid request: invalid stream" || r["id"] != float64(id) {
			t.Fatalf("%s: got %v, want code 2 Invalid request: invalid stream with id %d", bad, r, id)
		}
	}
	r := request(t, c, `{"method":"LIST_SUBSCRIPTIONS","id":99}`)
	if got := fmt.Sprint(r["result"]); got != "[btcusdt@aggTrade xrpxrp@miniTicker]" {
		t.Fatalf("LIST_SUBSCRIPTIONS after refusals: %s", got)
	}
	if r := request(t, c, `{"method":"UNSUBSCRIBE","params":["btcusdt@nope"],"id":"u1"}`); r["error"] == nil || r["id"] != "u1" {
		t.Fatalf("UNSUBSCRIBE of a malformed name: %v", r)
	}

	// By default the connection is closed after the error reply.
	s2 := startSim(t, Config{})
	c2 := dial(t, s2, "/stream?streams=btcusdt@aggTrade")
	if err := c2.WriteMessage(websocket.TextMessage, []byte(`{"method":"SUBSCRIBE","params":["btcusdt@depth","btcusdt@bogus"],"id":7}`)); err != nil {
		t.Fatal(err)
	}
	readUntil(t, c2, 5*time.Second, func(m map[string]any) bool { return m["error"] != nil && m["id"] == 7.0 })
	var ce *websocket.CloseError
	if err := readUntilError(c2, 5*time.Second); !errors.As(err, &ce) || ce.Code != closeInvalidStream {
		t.Fatalf("after an invalid stream: %v, want close %d", err, closeInvalidStream)
	}
	for _, cs := range s2.Conns() {
		for _, sub := range cs.Subscriptions {
			if sub == "btcusdt@depth" {
				t.Fatalf("the refused request subscribed %s", sub)
			}
		}
	}
}

func TestURLInvalidStream(t *testing.T) {
	s := startSim(t, Config{})
	for _, path := range []string{"/ws/btcusdt@nope", "/stream?streams=btcusdt@aggTrade/btcusdt@kline_7m", "/ws/btcusdt@aggTrade/@@@"} {
		c := dial(t, s, path)
		var ce *websocket.CloseError
		err := readUntilError(c, 5*time.Second)
		if !errors.As(err, &ce) || ce.Code != 1008 || ce.Text != `{"code":-1,"msg":"Illegal format ws or stream"}` {
			t.Fatalf("%s: %v, want close 1008 Illegal format ws or stream", path, err)
		}
	}
	// a well-formed name of a symbol the market does not trade is accepted, silently
	c := dial(t, s, "/ws/dogeusdt@aggTrade")
	if r := request(t, c, `{"method":"LIST_SUBSCRIPTIONS","id":1}`); fmt.Sprint(r["result"]) != "[dogeusdt@aggTrade]" {
		t.Fatalf("LIST_SUBSCRIPTIONS: %v", r)
	}
}

func TestTimeUnitSpellings(t *testing.T) {
	s := startSim(t, Config{})
	for _, tc := range []struct {
		unit   string
		micros bool
		ok     bool
	}{
		{"", false, true}, {"MILLISECOND", false, true}, {"millisecond", false, true},
		{"MICROSECOND", true, true}, {"microsecond", true, true},
		{"Microsecond", false, false}, {"MICROSECONDS", false, false}, {"us", false, false},
		{"MS", false, false}, {"micros", false, false}, {"NANOSECOND", false, false},
	} {
		path := "/ws/btcusdt@trade"
		if tc.unit != "" {
			path += "?timeUnit=" + url.QueryEscape(tc.unit)
		}
		c, resp, err := dialer(s).Dial(s.WSURL()+path, nil)
		if !tc.ok {
			if err == nil {
				c.Close()
				t.Fatalf("timeUnit=%q accepted", tc.unit)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := `{"code":-1194,"msg":"Invalid value for time unit; expected either MICROSECOND or MILLISECOND."}`
			if resp.StatusCode != http.StatusBadRequest || string(body) != want {
				t.Fatalf("timeUnit=%q: %d %s, want 400 %s", tc.unit, resp.StatusCode, body, want)
			}
			continue
		}
		if err != nil {
			t.Fatalf("timeUnit=%q: %v", tc.unit, err)
		}
		resp.Body.Close()
		var m map[string]json.RawMessage
		readJSON(t, c, 5*time.Second, &m)
		T, _ := strconv.ParseInt(string(m["T"]), 10, 64)
		if isMicros := T > 1e15; isMicros != tc.micros {
			t.Fatalf("timeUnit=%q: T=%d", tc.unit, T)
		}
		c.Close()
	}
}

func TestConnAttemptBudget(t *testing.T) {
	const window = 3 * time.Second
	s := startSim(t, Config{ConnAttemptLimit: 3, ConnAttemptWindow: window})
	start := time.Now()
	for i := range 3 {
		c := dial(t, s, "/ws/btcusdt@aggTrade")
		c.Close()
		if a, r := s.ConnAttempts(); a != int64(i+1) || r != 0 {
			t.Fatalf("after %d attempts: %d attempts, %d refused", i+1, a, r)
		}
	}
	_, resp, err := dialer(s).Dial(s.WSURL()+"/ws/btcusdt@aggTrade", nil)
	if err == nil || resp == nil {
		t.Fatalf("fourth attempt within the window: err %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || !bytes.HasPrefix(body, []byte(`{"code":-1034,"msg":"Too many connection attempts from IP; current limit is 3 per '`)) {
		t.Fatalf("over the budget: %d %s", resp.StatusCode, body)
	}
	if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 1 || ra > 3 {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	if a, r := s.ConnAttempts(); a != 4 || r != 1 {
		t.Fatalf("%d attempts, %d refused; want 4 and 1", a, r)
	}
	var got struct {
		Attempts, Refused int64
		IPs               []IPAttempts
	}
	if err := json.Unmarshal(getTruth(t, s, "/sim/conn-attempts"), &got); err != nil {
		t.Fatal(err)
	}
	if got.Attempts != 4 || got.Refused != 1 || len(got.IPs) != 1 || got.IPs[0].IP != "127.0.0.1" || got.IPs[0].Refused != 1 {
		t.Fatalf("/sim/conn-attempts: %+v", got)
	}
	// the window slides: once the first attempts are older than it, there is room again
	time.Sleep(time.Until(start.Add(window + 100*time.Millisecond)))
	c := dial(t, s, "/ws/btcusdt@aggTrade")
	c.Close()
	if a, r := s.ConnAttempts(); a != 5 || r != 1 {
		t.Fatalf("after the window: %d attempts, %d refused", a, r)
	}
}

// TestComputedStreamsMatchGroundTruth reads every computed stream over TLS
// and checks each event against the ground-truth endpoints.
func TestComputedStreamsMatchGroundTruth(t *testing.T) {
	s := startSim(t, Config{Rate: 400, TickerEvery: 200 * time.Millisecond, Kline1sEvery: 200 * time.Millisecond, KlineEvery: 300 * time.Millisecond})
	streams := []string{"btcusdt@kline_1s", "btcusdt@kline_1m", "ethusdt@kline_1h@+08:00", "btcusdt@miniTicker",
		"btcusdt@ticker", "btcusdt@ticker_1h", "ethusdt@ticker_4h", "btcusdt@avgPrice", "!miniTicker@arr", "!ticker@arr", "!ticker_1h@arr"}
	c := dial(t, s, "/stream?streams="+strings.Join(streams, "/"))
	seen := map[string]int{}
	deadline := time.Now().Add(15 * time.Second)
	for len(seen) < len(streams) || seen["btcusdt@kline_1s"] < 6 {
		if time.Now().After(deadline) {
			t.Fatalf("streams seen: %v", seen)
		}
		var env struct {
			Stream string          `json:"stream"`
			Data   json.RawMessage `json:"data"`
		}
		readJSON(t, c, 5*time.Second, &env)
		seen[env.Stream]++
		if strings.HasPrefix(env.Stream, "!") {
			var arr []json.RawMessage
			if err := json.Unmarshal(env.Data, &arr); err != nil || len(arr) == 0 {
				t.Fatalf("%s: %s", env.Stream, env.Data)
			}
			for _, e := range arr {
				f := fields(t, e)
				window := map[string]string{"24hrMiniTicker": "mini", "24hrTicker": "24h", "1hTicker": "1h"}[str(t, f, "e")]
				want := fields(t, getTruth(t, s, "/sim/ticker?window="+window+"&symbol="+str(t, f, "s")+"&at="+string(f["E"])))
				for k, v := range f {
					if !bytes.Equal(v, want[k]) && !(window == "24h" && strings.Contains("bBaA", k)) {
						t.Fatalf("%s %q: stream %s, ground truth %s\nevent %s", env.Stream, k, v, want[k], e)
					}
				}
			}
			continue
		}
		f := fields(t, env.Data)
		E := string(f["E"])
		sym := strings.ToUpper(env.Stream[:strings.IndexByte(env.Stream, '@')])
		var truth string
		switch typ := env.Stream[strings.IndexByte(env.Stream, '@')+1:]; {
		case strings.HasPrefix(typ, "kline_"):
			k := fields(t, f["k"])
			iv, tz, _ := strings.Cut(strings.TrimPrefix(typ, "kline_"), "@")
			truth = fmt.Sprintf("/sim/kline?symbol=%s&interval=%s&start=%s&at=%s", sym, iv, k["t"], E)
			if tz != "" {
				truth += "&tz=" + url.QueryEscape(tz)
			}
		case typ == "miniTicker":
			truth = "/sim/ticker?window=mini&symbol=" + sym + "&at=" + E
		case typ == "ticker":
			truth = "/sim/ticker?window=24h&symbol=" + sym + "&at=" + E
		case typ == "avgPrice":
			truth = "/sim/ticker?window=avgPrice&symbol=" + sym + "&at=" + E
		default:
			truth = "/sim/ticker?window=" + strings.TrimPrefix(typ, "ticker_") + "&symbol=" + sym + "&at=" + E
		}
		want := fields(t, getTruth(t, s, truth))
		for k, v := range f {
			if strings.Contains("bBaA", k) && env.Stream == "btcusdt@ticker" {
				continue // the book of the query, not of the event
			}
			if !bytes.Equal(v, want[k]) {
				t.Fatalf("%s %q: stream %s, ground truth %s\nevent %s", env.Stream, k, v, want[k], env.Data)
			}
		}
	}
}
