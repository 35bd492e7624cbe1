package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func startWithOKX(t testing.TB, cfg Config) (*Server, *OKX) {
	t.Helper()
	return startVenue(t, cfg, VenueOKX, (*Server).OKX)
}

func okxDial(t testing.TB, s *Server, path string) *websocket.Conn {
	t.Helper()
	return dialWS(t, s, s.OKX().WSURL()+path)
}

func okxSend(t testing.TB, c *websocket.Conn, msg string) {
	t.Helper()
	sendText(t, c, msg)
}

// okxMsg is any message of the OKX front-end.
type okxMsg struct {
	ID     string `json:"id"`
	Event  string `json:"event"`
	Code   string `json:"code"`
	Msg    string `json:"msg"`
	ConnID string `json:"connId"`
	Arg    struct {
		Channel string `json:"channel"`
		InstID  string `json:"instId"`
	} `json:"arg"`
	Action string            `json:"action"`
	Data   []json.RawMessage `json:"data"`
}

func okxRead(t testing.TB, c *websocket.Conn, d time.Duration) okxMsg {
	t.Helper()
	var m okxMsg
	readJSON(t, c, d, &m)
	return m
}

// okxBookData is one item of a books message.
type okxBookData struct {
	Asks      [][4]string `json:"asks"`
	Bids      [][4]string `json:"bids"`
	Ts        string      `json:"ts"`
	Checksum  *int64      `json:"checksum"`
	PrevSeqID *int64      `json:"prevSeqId"`
	SeqID     int64       `json:"seqId"`
}

func bookData(t testing.TB, m okxMsg) okxBookData {
	t.Helper()
	if len(m.Data) != 1 {
		t.Fatalf("books message with %d data items", len(m.Data))
	}
	var d okxBookData
	if err := json.Unmarshal(m.Data[0], &d); err != nil {
		t.Fatal(err)
	}
	if d.Checksum == nil || d.PrevSeqID == nil {
		t.Fatalf("books data without checksum or prevSeqId: %s", m.Data[0])
	}
	if _, err := strconv.ParseInt(d.Ts, 10, 64); err != nil {
		t.Fatalf("ts %q is not ms", d.Ts)
	}
	return d
}

// okxLocal is a book kept by OKX's procedure: price → size, per side.
type okxLocal struct{ bids, asks map[string]string }

func (l *okxLocal) reset(d okxBookData) {
	l.bids, l.asks = map[string]string{}, map[string]string{}
	l.apply(d)
}

func (l *okxLocal) apply(d okxBookData) {
	for _, x := range []struct {
		side map[string]string
		lv   [][4]string
	}{{l.bids, d.Bids}, {l.asks, d.Asks}} {
		for _, lv := range x.lv {
			if lv[1] == "0" {
				delete(x.side, lv[0])
			} else {
				x.side[lv[0]] = lv[1]
			}
		}
	}
}

func (l *okxLocal) equal(b OKXBook) error {
	for _, x := range []struct {
		name string
		have map[string]string
		want []Level
	}{{"bids", l.bids, b.Bids}, {"asks", l.asks, b.Asks}} {
		if len(x.have) != len(x.want) {
			return fmt.Errorf("%s: %d levels, truth has %d", x.name, len(x.have), len(x.want))
		}
		for _, lv := range x.want {
			if x.have[lv.Price] != lv.Qty {
				return fmt.Errorf("%s %s: %q, truth %q", x.name, lv.Price, x.have[lv.Price], lv.Qty)
			}
		}
	}
	return nil
}

// checksum is the legacy checksum of the local book, from the strings
// received, by the documented algorithm.
func (l *okxLocal) checksum() int32 {
	sorted := func(m map[string]string, desc bool) []string {
		ps := make([]string, 0, len(m))
		for p := range m {
			ps = append(ps, p)
		}
		f := func(p string) float64 { v, _ := strconv.ParseFloat(p, 64); return v }
		for i := 1; i < len(ps); i++ {
			for j := i; j > 0 && (f(ps[j]) > f(ps[j-1])) == desc && f(ps[j]) != f(ps[j-1]); j-- {
				ps[j], ps[j-1] = ps[j-1], ps[j]
			}
		}
		return ps
	}
	bids, asks := sorted(l.bids, true), sorted(l.asks, false)
	var parts []string
	for i := 0; i < 25; i++ {
		if i < len(bids) {
			parts = append(parts, bids[i], l.bids[bids[i]])
		}
		if i < len(asks) {
			parts = append(parts, asks[i], l.asks[asks[i]])
		}
	}
	return int32(crc32.ChecksumIEEE([]byte(strings.Join(parts, ":"))))
}

// TestOKXBooksChainMatchesTruth keeps the books channel of a spot and a
// swap instrument by OKX's procedure (snapshot with prevSeqId -1, then
// prevSeqId == the last seqId) and compares the book with the ground
// truth after every message; checksum is 0, or with LegacyChecksum the
// CRC32 of the local book's top 25 levels.
func TestOKXBooksChainMatchesTruth(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			s, o := startWithOKX(t, Config{OKX: OKXConfig{LegacyChecksum: legacy}})
			c := okxDial(t, s, "/ws/v5/public")
			okxSend(t, c, `{"id":"7","op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"},{"channel":"books","instId":"BTC-USDT-SWAP"}]}`)
			for _, inst := range []string{"BTC-USDT", "BTC-USDT-SWAP"} {
				ack := okxRead(t, c, 5*time.Second)
				if ack.Event != "subscribe" || ack.ID != "7" || ack.Arg.Channel != "books" || ack.Arg.InstID != inst || len(ack.ConnID) != 8 {
					t.Fatalf("ack for %s: %+v", inst, ack)
				}
			}
			books := map[string]*okxLocal{}
			last := map[string]int64{}
			updates := 0
			deadline := time.Now().Add(2 * time.Second)
			for time.Now().Before(deadline) || updates < 10 {
				m := okxRead(t, c, 5*time.Second)
				d := bookData(t, m)
				inst := m.Arg.InstID
				l := books[inst]
				switch m.Action {
				case "snapshot":
					if *d.PrevSeqID != -1 || l != nil {
						t.Fatalf("%s: snapshot with prevSeqId %d (local book %v)", inst, *d.PrevSeqID, l != nil)
					}
					l = &okxLocal{}
					books[inst] = l
					l.reset(d)
				case "update":
					if l == nil {
						t.Fatalf("%s: update before the snapshot", inst)
					}
					if *d.PrevSeqID != last[inst] {
						t.Fatalf("%s: prevSeqId %d, last seqId %d", inst, *d.PrevSeqID, last[inst])
					}
					l.apply(d)
					updates++
				default:
					t.Fatalf("action %q", m.Action)
				}
				last[inst] = d.SeqID
				truth, err := o.BookAt(inst, d.SeqID)
				if err != nil {
					t.Fatal(err)
				}
				if err := l.equal(truth); err != nil {
					t.Fatalf("%s after seqId %d (%s): %v", inst, d.SeqID, m.Action, err)
				}
				want := int64(0)
				if legacy {
					want = int64(l.checksum())
				}
				if *d.Checksum != want {
					t.Fatalf("%s seqId %d: checksum %d, want %d", inst, d.SeqID, *d.Checksum, want)
				}
			}
			if len(books) != 2 {
				t.Fatalf("books of %d instruments", len(books))
			}
		})
	}
}

// TestOKXChecksumVectors: the two examples of OKX's "Calculate Checksum".
func TestOKXChecksumVectors(t *testing.T) {
	in := &okxInst{mult: 1}
	lv := func(px, sz float64) level { return level{int64(px*1e8 + 0.5), int64(sz * 1e8)} }
	if got := in.checksum([]level{lv(3366.1, 7), lv(3366, 6)}, []level{lv(3366.8, 9), lv(3368, 8)}); got != -1881014294 {
		t.Errorf("more than 25 levels example: %d, want -1881014294", got)
	}
	if got := in.checksum([]level{lv(3366.1, 7)}, []level{lv(3366.8, 9), lv(3368, 8), lv(3372, 8)}); got != 831078360 {
		t.Errorf("fewer than 25 levels example: %d, want 831078360", got)
	}
}

// okxFollowBooks reads books messages of one instrument for d and calls
// each with the message, whether it chained, and the local book.
func okxFollowBooks(t *testing.T, c *websocket.Conn, d time.Duration, each func(m okxMsg, bd okxBookData, chained bool, l *okxLocal) bool) {
	t.Helper()
	var l *okxLocal
	var last int64
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		m := okxRead(t, c, 5*time.Second)
		if m.Event != "" {
			continue
		}
		bd := bookData(t, m)
		chained := true
		if m.Action == "snapshot" {
			l = &okxLocal{}
			l.reset(bd)
		} else {
			chained = *bd.PrevSeqID == last
			l.apply(bd)
		}
		last = bd.SeqID
		if !each(m, bd, chained, l) {
			return
		}
	}
	t.Fatal("the books channel showed nothing in time")
}

// TestOKXSeqFaults: okx-seq-break makes an update's prevSeqId miss the
// last seqId; okx-seq-reset gives an update whose seqId is below its
// prevSeqId while it still chains, and the book stays right; depth-drop
// loses an update on one connection; okx-bad-checksum sends a checksum
// the local book does not give.
func TestOKXSeqFaults(t *testing.T) {
	for _, tc := range []struct {
		fault  FaultKind
		legacy bool
		check  func(bd okxBookData, chained bool, l *okxLocal) bool // true: seen
	}{
		{FaultOKXSeqBreak, false, func(bd okxBookData, chained bool, _ *okxLocal) bool { return !chained }},
		{FaultDepthDrop, false, func(bd okxBookData, chained bool, _ *okxLocal) bool { return !chained }},
		{FaultOKXSeqReset, false, func(bd okxBookData, chained bool, _ *okxLocal) bool {
			if !chained {
				t.Fatalf("a reset broke the chain: prevSeqId %d", *bd.PrevSeqID)
			}
			return bd.SeqID < *bd.PrevSeqID
		}},
		{FaultOKXBadChecksum, true, func(bd okxBookData, chained bool, l *okxLocal) bool {
			return chained && *bd.Checksum != int64(l.checksum())
		}},
	} {
		t.Run(string(tc.fault), func(t *testing.T) {
			s, o := startWithOKX(t, Config{OKX: OKXConfig{LegacyChecksum: tc.legacy}})
			c := okxDial(t, s, "/ws/v5/public")
			okxSend(t, c, `{"op":"subscribe","args":[{"channel":"books","instId":"ETH-USDT-SWAP"}]}`)
			updates, fired := 0, false
			okxFollowBooks(t, c, 10*time.Second, func(m okxMsg, bd okxBookData, chained bool, l *okxLocal) bool {
				if m.Action == "update" {
					updates++
				}
				if !fired && updates == 3 {
					if err := s.SetFaults(Fault{Kind: tc.fault, Times: 1}); err != nil {
						t.Fatal(err)
					}
					fired = true
					return true
				}
				if !fired {
					if !chained {
						t.Fatalf("chain broken before the fault: prevSeqId %d", *bd.PrevSeqID)
					}
					return true
				}
				if !tc.check(bd, chained, l) {
					return true
				}
				if tc.fault == FaultOKXSeqReset {
					// the book after the reset is still right, and the
					// truth speaks the new seqIds
					truth, err := o.BookAt("ETH-USDT-SWAP", bd.SeqID)
					if err != nil {
						t.Fatal(err)
					}
					if err := l.equal(truth); err != nil {
						t.Fatalf("after the reset to seqId %d: %v", bd.SeqID, err)
					}
				}
				return false
			})
		})
	}
}

// TestOKXKeepAlive: a book that does not change gets, after KeepAlive, an
// update whose seqId equals its prevSeqId with empty sides; books5
// resends its snapshot.
func TestOKXKeepAlive(t *testing.T) {
	s, _ := startWithOKX(t, Config{OKX: OKXConfig{KeepAlive: 300 * time.Millisecond}})
	c := okxDial(t, s, "/ws/v5/public")
	okxSend(t, c, `{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"},{"channel":"books5","instId":"BTC-USDT"}]}`)
	if err := s.SetSymbolStatus("BTCUSDT", "HALT"); err != nil {
		t.Fatal(err)
	}
	var last int64
	keepAlives, books5 := 0, 0
	deadline := time.Now().Add(5 * time.Second)
	for keepAlives < 2 || books5 < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d keep-alives, %d books5 in 5s", keepAlives, books5)
		}
		m := okxRead(t, c, 5*time.Second)
		switch {
		case m.Event != "":
		case m.Arg.Channel == "books5":
			books5++
		case m.Action == "snapshot":
			last = bookData(t, m).SeqID
		default:
			d := bookData(t, m)
			if *d.PrevSeqID != last {
				t.Fatalf("prevSeqId %d, last %d", *d.PrevSeqID, last)
			}
			if d.SeqID == *d.PrevSeqID {
				if len(d.Asks)+len(d.Bids) != 0 {
					t.Fatalf("keep-alive with levels: %+v", d)
				}
				keepAlives++
			}
			last = d.SeqID
		}
	}
}

// TestOKXTradesMatchTruth: each trades message is one aggregation whose
// tradeId is its last trade and count its number of trades, following the
// previous message (tradeId − count == previous tradeId); its px, side
// and sz (contracts for the swap) agree with the trades of the ground
// truth.
func TestOKXTradesMatchTruth(t *testing.T) {
	s, o := startWithOKX(t, Config{})
	c := okxDial(t, s, "/ws/v5/public")
	okxSend(t, c, `{"op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT"},{"channel":"trades","instId":"BTC-USDT-SWAP"}]}`)
	last := map[string]int64{}
	n := 0
	for n < 60 {
		m := okxRead(t, c, 5*time.Second)
		if m.Event != "" {
			continue
		}
		var d []struct {
			InstID, TradeID, Px, Sz, Side, Ts, Count, Source string
		}
		raw, _ := json.Marshal(m.Data)
		if err := json.Unmarshal(raw, &d); err != nil || len(d) != 1 {
			t.Fatalf("trades data %s: %v", raw, err)
		}
		tr := d[0]
		id, _ := strconv.ParseInt(tr.TradeID, 10, 64)
		count, _ := strconv.ParseInt(tr.Count, 10, 64)
		if count < 1 || tr.InstID != m.Arg.InstID || tr.Source != "0" {
			t.Fatalf("trade %+v", tr)
		}
		if prev, ok := last[tr.InstID]; ok && id-count != prev {
			t.Fatalf("%s: tradeId %d count %d after %d", tr.InstID, id, count, prev)
		}
		last[tr.InstID] = id
		truth, err := o.Trades(tr.InstID, id-count+1, id)
		if err != nil || int64(len(truth)) != count {
			t.Fatalf("truth of %d..%d: %d trades, %v", id-count+1, id, len(truth), err)
		}
		var sum float64
		for _, x := range truth {
			if x.Px != tr.Px || x.Side != tr.Side {
				t.Fatalf("trade %+v, truth %+v", tr, x)
			}
			v, _ := strconv.ParseFloat(x.Sz, 64)
			sum += v
		}
		if got, _ := strconv.ParseFloat(tr.Sz, 64); fmt.Sprintf("%.8f", got) != fmt.Sprintf("%.8f", sum) {
			t.Fatalf("%s tradeId %d: sz %s, truth sums to %v", tr.InstID, id, tr.Sz, sum)
		}
		n++
	}
	if len(last) != 2 {
		t.Fatalf("trades of %d instruments", len(last))
	}
}

// TestOKXRequestErrors: the error events of bad requests, with the id
// echoed, and nothing subscribed.
func TestOKXRequestErrors(t *testing.T) {
	s, _ := startWithOKX(t, Config{OKX: OKXConfig{ConnPerSecond: 100}})
	for _, tc := range []struct {
		path, req, code string
	}{
		{"/ws/v5/public", `{"op":"subscribe","argss":[{"channel":"books","instId":"BTC-USDT"}]}`, "60012"},
		{"/ws/v5/public", `not json`, "60012"},
		{"/ws/v5/public", `{"id":"has space","op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}`, "60012"},
		{"/ws/v5/public", `{"id":"9","op":"login","args":[{}]}`, "60019"},
		{"/ws/v5/public", `{"id":"9","op":"subscribe","args":[]}`, "60013"},
		{"/ws/v5/public", `{"id":"9","op":"subscribe","args":[{"instId":"BTC-USDT"}]}`, "60013"},
		{"/ws/v5/public", `{"id":"9","op":"subscribe","args":[{"channel":"books","instId":"DOGE-USDT"}]}`, "60018"},
		{"/ws/v5/public", `{"id":"9","op":"subscribe","args":[{"channel":"bookz","instId":"BTC-USDT"}]}`, "60018"},
		{"/ws/v5/public", `{"id":"9","op":"subscribe","args":[{"channel":"funding-rate","instId":"BTC-USDT"}]}`, "60018"},
		{"/ws/v5/public", `{"id":"9","op":"subscribe","args":[{"channel":"trades-all","instId":"BTC-USDT"}]}`, "64001"},
		{"/ws/v5/public", `{"id":"9","op":"subscribe","args":[{"channel":"candle1m","instId":"BTC-USDT"}]}`, "64001"},
		{"/ws/v5/business", `{"id":"9","op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}`, "64002"},
		{"/ws/v5/public", `{"id":"9","op":"subscribe","args":[{"channel":"books-l2-tbt","instId":"BTC-USDT"}]}`, "64003"},
	} {
		c := okxDial(t, s, tc.path)
		okxSend(t, c, tc.req)
		m := okxRead(t, c, 5*time.Second)
		if m.Event != "error" || m.Code != tc.code || m.Msg == "" || len(m.ConnID) != 8 {
			t.Errorf("%s %s: %+v, want error %s", tc.path, tc.req, m, tc.code)
		}
		if strings.Contains(tc.req, `"id":"9"`) && m.ID != "9" {
			t.Errorf("%s: id %q not echoed", tc.req, m.ID)
		}
		if tc.code == "60012" && !strings.Contains(m.Msg, tc.req) {
			t.Errorf("%s: msg %q does not quote the request", tc.req, m.Msg)
		}
		c.Close()
	}
	time.Sleep(100 * time.Millisecond)
	for _, cs := range s.OKX().Conns() {
		if len(cs.Subscriptions) > 0 {
			t.Errorf("a bad request subscribed %v", cs.Subscriptions)
		}
	}
}

// TestOKXPingAndIdle: the text "ping" is answered "pong" and keeps a
// connection alive; one that sends nothing and is sent nothing is closed
// with 4004 after IdleTimeout.
func TestOKXPingAndIdle(t *testing.T) {
	s, _ := startWithOKX(t, Config{OKX: OKXConfig{IdleTimeout: time.Second}})
	pinger := okxDial(t, s, "/ws/v5/public")
	silent := okxDial(t, s, "/ws/v5/public")
	start := time.Now()
	for time.Since(start) < 2500*time.Millisecond {
		okxSend(t, pinger, "ping")
		pinger.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, msg, err := pinger.ReadMessage()
		if err != nil || string(msg) != "pong" {
			t.Fatalf("after ping: %q, %v", msg, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	silent.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, _, err := silent.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4004 || !strings.HasPrefix(ce.Text, "No data received in") {
		t.Fatalf("silent connection: %v, want close 4004", err)
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("closed after %v, before IdleTimeout", d)
	}
}

// TestOKXLimits: the 480-an-hour request limit (60014) and the channel
// limit (close 4008).
func TestOKXLimits(t *testing.T) {
	s, _ := startWithOKX(t, Config{OKX: OKXConfig{MaxRequestsPerHour: 2, MaxChannels: 3}})
	c := okxDial(t, s, "/ws/v5/public")
	for i := 0; i < 3; i++ {
		okxSend(t, c, `{"op":"subscribe","args":[{"channel":"tickers","instId":"BTC-USDT"}]}`)
		m := okxRead(t, c, 5*time.Second)
		for m.Event == "" {
			m = okxRead(t, c, 5*time.Second)
		}
		if want := map[bool]string{true: "subscribe", false: "error"}[i < 2]; m.Event != want || (i == 2 && m.Code != "60014") {
			t.Fatalf("request %d: %+v", i+1, m)
		}
	}
	d := okxDial(t, s, "/ws/v5/public")
	okxSend(t, d, `{"op":"subscribe","args":[{"channel":"tickers","instId":"BTC-USDT"},{"channel":"tickers","instId":"ETH-USDT"},{"channel":"trades","instId":"BTC-USDT"},{"channel":"trades","instId":"ETH-USDT"}]}`)
	var ce *websocket.CloseError
	if err := readUntilError(d, 5*time.Second); !errors.As(err, &ce) || ce.Code != 4008 {
		t.Fatalf("over MaxChannels: %v, want close 4008", err)
	}
}

// TestOKXConnectionRate: over ConnPerSecond upgrades a second from one IP
// are refused with HTTP 429 and code 50011.
func TestOKXConnectionRate(t *testing.T) {
	s, _ := startWithOKX(t, Config{OKX: OKXConfig{ConnPerSecond: 2}})
	type result struct {
		status int
		body   string
	}
	results := make(chan result, 6)
	for range 6 {
		go func() {
			c, resp, err := dialer(s).Dial(s.OKX().WSURL()+"/ws/v5/public", nil)
			r := result{}
			if resp != nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				r = result{resp.StatusCode, string(b)}
			}
			if err == nil {
				c.Close()
			}
			results <- r
		}()
	}
	ok, refused := 0, 0
	for range 6 {
		r := <-results
		switch {
		case r.status == http.StatusSwitchingProtocols:
			ok++
		case r.status == http.StatusTooManyRequests && strings.Contains(r.body, `"code":"50011"`):
			refused++
		default:
			t.Errorf("upgrade answered %d %q", r.status, r.body)
		}
	}
	if ok > 2 || refused < 4 {
		t.Fatalf("%d upgrades accepted, %d refused; want at most 2 accepted a second", ok, refused)
	}
}

// TestOKXMaintenanceNotice: okx-maintenance sends the 64008 notice on
// /ws/v5/public, then closes; the shutdown fault does the same.
func TestOKXMaintenanceNotice(t *testing.T) {
	s, _ := startWithOKX(t, Config{})
	c := okxDial(t, s, "/ws/v5/public")
	waitFor(t, 3*time.Second, func() bool { return len(s.OKX().Conns()) > 0 })
	start := time.Now()
	if err := s.Fire(Fault{Kind: FaultOKXMaintenance, Duration: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	m := okxRead(t, c, 5*time.Second)
	if m.Event != "notice" || m.Code != "64008" || !strings.Contains(m.Msg, "service upgrade") || len(m.ConnID) != 8 {
		t.Fatalf("notice: %+v", m)
	}
	var ce *websocket.CloseError
	if err := readUntilError(c, 5*time.Second); !errors.As(err, &ce) || ce.Code != 1001 {
		t.Fatalf("after the notice: %v, want close 1001", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("closed %v after the notice, before its Duration", d)
	}
}

func okxGet(t testing.TB, s *Server, path string) (int, okxMsg) {
	t.Helper()
	status, _, body := getURL(t, s, s.OKX().RESTURL()+path)
	var m okxMsg
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("GET %s: %s: %v", path, body, err)
	}
	if m.Data == nil && !strings.Contains(string(body), `"data":[]`) {
		t.Fatalf("GET %s: no data array: %s", path, body)
	}
	return status, m
}

// TestOKXREST: instruments, books, trades, history-trades pagination
// against the ground truth, time, errors and rate limits.
func TestOKXREST(t *testing.T) {
	s, o := startWithOKX(t, Config{})
	for _, tc := range []struct {
		path   string
		status int
		code   string
	}{
		{"/api/v5/public/instruments", 400, "50014"},
		{"/api/v5/public/instruments?instType=SPOTS", 200, "51000"},
		{"/api/v5/market/books?instId=DOGE-USDT", 200, "51001"},
		{"/api/v5/market/books", 400, "50014"},
		{"/api/v5/market/books?instId=BTC-USDT&sz=401", 200, "51000"},
		{"/api/v5/market/history-trades?instId=BTC-USDT&type=2", 200, "51000"},
	} {
		st, m := okxGet(t, s, tc.path)
		if st != tc.status || m.Code != tc.code || len(m.Data) != 0 {
			t.Errorf("GET %s: %d %+v, want %d code %s", tc.path, st, m, tc.status, tc.code)
		}
	}

	_, m := okxGet(t, s, "/api/v5/public/instruments?instType=SWAP")
	var insts []map[string]string
	raw, _ := json.Marshal(m.Data)
	json.Unmarshal(raw, &insts)
	if m.Code != "0" || len(insts) != 2 || insts[0]["instId"] != "BTC-USDT-SWAP" || insts[0]["ctVal"] != "0.01" ||
		insts[0]["ctValCcy"] != "BTC" || insts[0]["settleCcy"] != "USDT" || insts[0]["ctType"] != "linear" || insts[0]["lotSz"] != "0.001" {
		t.Fatalf("SWAP instruments: %s", raw)
	}
	_, m = okxGet(t, s, "/api/v5/public/instruments?instType=SPOT")
	raw, _ = json.Marshal(m.Data)
	json.Unmarshal(raw, &insts)
	if len(insts) != 2 || insts[0]["instId"] != "BTC-USDT" || insts[0]["baseCcy"] != "BTC" || insts[0]["tickSz"] != "0.01" || insts[0]["lotSz"] != "0.00001" {
		t.Fatalf("SPOT instruments: %s", raw)
	}

	_, m = okxGet(t, s, "/api/v5/market/books?instId=BTC-USDT-SWAP&sz=5")
	var bk []okxBookData
	raw, _ = json.Marshal(m.Data)
	json.Unmarshal(raw, &bk)
	if len(bk) != 1 || len(bk[0].Bids) != 5 || len(bk[0].Asks) != 5 || bk[0].SeqID == 0 {
		t.Fatalf("books sz=5: %s", raw)
	}
	truth, err := o.BookAt("BTC-USDT-SWAP", bk[0].SeqID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if bk[0].Bids[i][0] != truth.Bids[i].Price || bk[0].Bids[i][1] != truth.Bids[i].Qty {
			t.Fatalf("bid %d: %v, truth %+v", i, bk[0].Bids[i], truth.Bids[i])
		}
	}

	// history-trades: page down from the latest by after=<smallest id>
	waitFor(t, 5*time.Second, func() bool {
		_, m := okxGet(t, s, "/api/v5/market/trades?instId=BTC-USDT&limit=500")
		return len(m.Data) == 500
	})
	type rt struct{ InstID, TradeID, Px, Sz, Side, Ts, Source string }
	page := func(q string) []rt {
		_, m := okxGet(t, s, "/api/v5/market/history-trades?instId=BTC-USDT"+q)
		var out []rt
		raw, _ := json.Marshal(m.Data)
		json.Unmarshal(raw, &out)
		return out
	}
	first := page("&limit=100")
	if len(first) != 100 {
		t.Fatalf("latest page: %d trades", len(first))
	}
	next := page("&type=1&after=" + first[99].TradeID)
	if len(next) != 100 {
		t.Fatalf("second page: %d trades", len(next))
	}
	all := append(first, next...)
	top, _ := strconv.ParseInt(all[0].TradeID, 10, 64)
	want, err := o.Trades("BTC-USDT", top-199, top)
	if err != nil {
		t.Fatal(err)
	}
	for i, tr := range all {
		w := want[len(want)-1-i]
		if tr.TradeID != strconv.FormatInt(w.TradeID, 10) || tr.Px != w.Px || tr.Sz != w.Sz || tr.Side != w.Side || tr.Ts != strconv.FormatInt(w.Ts, 10) {
			t.Fatalf("trade %d: %+v, truth %+v", i, tr, w)
		}
	}
	between := page("&after=" + all[0].TradeID + "&before=" + all[10].TradeID)
	if len(between) != 9 || between[0].TradeID != all[1].TradeID || between[8].TradeID != all[9].TradeID {
		t.Fatalf("after+before: %d trades", len(between))
	}

	// public/time: 10 requests per 2 seconds
	var codes []string
	for range 11 {
		st, m := okxGet(t, s, "/api/v5/public/time")
		codes = append(codes, strconv.Itoa(st)+":"+m.Code)
	}
	if codes[9] != "200:0" || codes[10] != "429:50011" {
		t.Fatalf("public/time answers: %v", codes)
	}
}

// TestOKXDropFault: the common drop fault ends OKX connections abruptly.
func TestOKXDropFault(t *testing.T) {
	s, _ := startWithOKX(t, Config{})
	c := okxDial(t, s, "/ws/v5/public")
	waitFor(t, 3*time.Second, func() bool { return len(s.OKX().Conns()) > 0 })
	if err := s.Fire(Fault{Kind: FaultDrop}); err != nil {
		t.Fatal(err)
	}
	err := readUntilError(c, 5*time.Second)
	var ce *websocket.CloseError
	if err == nil || errors.As(err, &ce) {
		t.Fatalf("after drop: %v, want an abrupt end", err)
	}
}

// TestOKXRESTFaults: rest-5xx answers 503 with code 50001; rest-bad-json
// cuts a 200's body in half.
func TestOKXRESTFaults(t *testing.T) {
	s, _ := startWithOKX(t, Config{})
	if err := s.SetFaults(Fault{Kind: FaultREST5xx, Times: 1}); err != nil {
		t.Fatal(err)
	}
	if st, m := okxGet(t, s, "/api/v5/public/time"); st != http.StatusServiceUnavailable || m.Code != "50001" {
		t.Fatalf("rest-5xx: %d %+v", st, m)
	}
	if st, m := okxGet(t, s, "/api/v5/public/time"); st != http.StatusOK || m.Code != "0" || len(m.Data) != 1 {
		t.Fatalf("after the fault: %d %+v", st, m)
	}
	if err := s.SetFaults(Fault{Kind: FaultRESTBadJSON, Times: 1}); err != nil {
		t.Fatal(err)
	}
	c := httpsClient(s)
	defer c.CloseIdleConnections()
	resp, err := c.Get(s.OKX().RESTURL() + "/api/v5/market/books?instId=BTC-USDT&sz=20")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || json.Valid(body) || !strings.HasPrefix(string(body), `{"code":"0"`) {
		t.Fatalf("rest-bad-json: %d %.100s", resp.StatusCode, body)
	}
}

// TestOKXOtherChannels: trades-all on /ws/v5/business (one trade a
// message, consecutive tradeIds, as the ground truth has them), and the
// first message of books5, bbo-tbt, tickers, mark-price, funding-rate and
// open-interest with the fields OKX documents.
func TestOKXOtherChannels(t *testing.T) {
	s, o := startWithOKX(t, Config{OKX: OKXConfig{ConnPerSecond: 100}})
	b := okxDial(t, s, "/ws/v5/business")
	okxSend(t, b, `{"op":"subscribe","args":[{"channel":"trades-all","instId":"ETH-USDT-SWAP"}]}`)
	var last int64
	for n := 0; n < 30; {
		m := okxRead(t, b, 5*time.Second)
		if m.Event != "" {
			continue
		}
		var d []struct{ InstID, TradeID, Px, Sz, Side, Ts, Source string }
		raw, _ := json.Marshal(m.Data)
		if err := json.Unmarshal(raw, &d); err != nil || len(d) != 1 {
			t.Fatalf("trades-all data %s: %v", raw, err)
		}
		id, _ := strconv.ParseInt(d[0].TradeID, 10, 64)
		if last != 0 && id != last+1 {
			t.Fatalf("tradeId %d after %d", id, last)
		}
		last = id
		truth, err := o.Trades("ETH-USDT-SWAP", id, id)
		if err != nil || len(truth) != 1 || truth[0].Px != d[0].Px || truth[0].Sz != d[0].Sz || truth[0].Side != d[0].Side {
			t.Fatalf("trade %+v, truth %+v %v", d[0], truth, err)
		}
		n++
	}

	for _, tc := range []struct {
		channel, inst string
		fields        []string
	}{
		{"books5", "BTC-USDT", []string{"asks", "bids", "instId", "ts", "seqId"}},
		{"bbo-tbt", "BTC-USDT-SWAP", []string{"asks", "bids", "ts", "seqId"}},
		{"tickers", "BTC-USDT", []string{"instType", "instId", "last", "lastSz", "askPx", "askSz", "bidPx", "bidSz", "open24h", "high24h", "low24h", "volCcy24h", "vol24h", "sodUtc0", "sodUtc8", "ts"}},
		{"mark-price", "BTC-USDT-SWAP", []string{"instType", "instId", "markPx", "ts"}},
		{"funding-rate", "BTC-USDT-SWAP", []string{"fundingRate", "fundingTime", "nextFundingTime", "instId", "instType", "method", "premium", "settState", "ts"}},
		{"open-interest", "BTC-USDT-SWAP", []string{"instId", "instType", "oi", "oiCcy", "oiUsd", "ts"}},
	} {
		c := okxDial(t, s, "/ws/v5/public")
		okxSend(t, c, `{"op":"subscribe","args":[{"channel":"`+tc.channel+`","instId":"`+tc.inst+`"}]}`)
		m := okxRead(t, c, 5*time.Second)
		if m.Event != "subscribe" {
			t.Fatalf("%s: %+v", tc.channel, m)
		}
		m = okxRead(t, c, 5*time.Second)
		if m.Arg.Channel != tc.channel || m.Arg.InstID != tc.inst || len(m.Data) != 1 || m.Action != "" {
			t.Fatalf("%s: %+v", tc.channel, m)
		}
		var d map[string]json.RawMessage
		if err := json.Unmarshal(m.Data[0], &d); err != nil {
			t.Fatal(err)
		}
		for _, f := range tc.fields {
			if _, ok := d[f]; !ok {
				t.Errorf("%s: no %q in %s", tc.channel, f, m.Data[0])
			}
		}
		if tc.channel == "books5" {
			var bk okxBookData
			json.Unmarshal(m.Data[0], &bk)
			if len(bk.Bids) != 5 || len(bk.Asks) != 5 {
				t.Errorf("books5 with %d bids, %d asks", len(bk.Bids), len(bk.Asks))
			}
		}
		c.Close()
	}
}
