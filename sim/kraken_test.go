package sim

import (
	"encoding/json"
	"hash/crc32"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

type krMsg struct {
	Channel string          `json:"channel"`
	Type    string          `json:"type"`
	Method  string          `json:"method"`
	Success *bool           `json:"success"`
	Error   string          `json:"error"`
	ReqID   *int64          `json:"req_id"`
	Data    json.RawMessage `json:"data"`
}

type krLevel struct {
	Price json.Number `json:"price"`
	Qty   json.Number `json:"qty"`
}

type krBookData struct {
	Symbol    string    `json:"symbol"`
	Bids      []krLevel `json:"bids"`
	Asks      []krLevel `json:"asks"`
	Checksum  uint32    `json:"checksum"`
	Timestamp string    `json:"timestamp"`
}

func krRead(t *testing.T, c *websocket.Conn) (krMsg, []byte) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m krMsg
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return m, b
}

// ckDigits writes a decimal at prec decimals without the point and the
// leading zeros, as Kraken's checksum guide says.
func ckDigits(num string, prec int) string {
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return "bad number " + num
	}
	s := strings.TrimLeft(strings.Replace(r.FloatString(prec), ".", "", 1), "0")
	if s == "" {
		return "0"
	}
	return s
}

func TestKrakenBookChecksumAndTruth(t *testing.T) {
	s, k := startVenue(t, Config{}, VenueKraken, (*Server).Kraken)
	_ = s
	c := dialWS(t, s, k.WSURL()+"/v2")
	m, raw := krRead(t, c)
	if m.Channel != "status" || !strings.Contains(string(raw), `"system":"online"`) {
		t.Fatalf("first message %s, want status online", raw)
	}
	sendText(t, c, `{"method":"ping","req_id":7}`)
	m, raw = krRead(t, c)
	if m.Method != "pong" || m.ReqID == nil || *m.ReqID != 7 {
		t.Fatalf("ping answered %s", raw)
	}
	sendText(t, c, `{"method":"subscribe","params":{"channel":"instrument"}}`)
	var pxPrec, qtyPrec int
	for pxPrec == 0 {
		m, raw = krRead(t, c)
		if m.Channel == "instrument" {
			var d struct {
				Pairs []struct {
					Symbol         string `json:"symbol"`
					PricePrecision int    `json:"price_precision"`
					QtyPrecision   int    `json:"qty_precision"`
				} `json:"pairs"`
			}
			if err := json.Unmarshal(m.Data, &d); err != nil {
				t.Fatal(err)
			}
			for _, p := range d.Pairs {
				if p.Symbol == "BTC/USDT" {
					pxPrec, qtyPrec = p.PricePrecision, p.QtyPrecision
				}
			}
		}
	}
	sendText(t, c, `{"method":"subscribe","params":{"channel":"book","symbol":["BTC/USDT","XBT/USD"],"depth":10},"req_id":3}`)
	sendText(t, c, `{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USDT"],"snapshot":false}}`)
	acks, refused := 0, 0
	bids, asks := map[string]string{}, map[string]string{}
	checked, lastTrade := 0, int64(0)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && checked < 20 {
		m, raw = krRead(t, c)
		switch {
		case m.Method == "subscribe" && m.Success != nil && *m.Success:
			acks++
		case m.Method == "subscribe":
			if !strings.Contains(m.Error, "Currency pair not supported XBT/USD") {
				t.Fatalf("refusal %s", raw)
			}
			refused++
		case m.Channel == "trade":
			var ts []struct {
				ID int64 `json:"trade_id"`
			}
			if err := json.Unmarshal(m.Data, &ts); err != nil {
				t.Fatal(err)
			}
			for _, tr := range ts {
				if lastTrade != 0 && tr.ID != lastTrade+1 {
					t.Fatalf("trade_id %d after %d", tr.ID, lastTrade)
				}
				lastTrade = tr.ID
			}
		case m.Channel == "book":
			var ds []krBookData
			dec := json.NewDecoder(strings.NewReader(string(m.Data)))
			dec.UseNumber()
			if err := dec.Decode(&ds); err != nil {
				t.Fatal(err)
			}
			d := ds[0]
			if m.Type == "snapshot" {
				bids, asks = map[string]string{}, map[string]string{}
			}
			apply := func(side map[string]string, lv []krLevel) {
				for _, l := range lv {
					p := ckDigits(l.Price.String(), pxPrec)
					if l.Qty.String() == "0" {
						delete(side, p)
					} else {
						side[p] = l.Qty.String()
					}
				}
			}
			apply(bids, d.Bids)
			apply(asks, d.Asks)
			// sorted best first by the integer at price precision
			order := func(side map[string]string, desc bool) []string {
				var ps []string
				for p := range side {
					ps = append(ps, p)
				}
				sort.Slice(ps, func(i, j int) bool {
					a, b := ps[i], ps[j]
					if len(a) != len(b) {
						return (len(a) < len(b)) != desc
					}
					return (a < b) != desc
				})
				if len(ps) > 10 {
					for _, p := range ps[10:] {
						delete(side, p)
					}
					ps = ps[:10]
				}
				return ps
			}
			var sb strings.Builder
			for _, p := range order(asks, false) {
				sb.WriteString(p + ckDigits(asks[p], qtyPrec))
			}
			for _, p := range order(bids, true) {
				sb.WriteString(p + ckDigits(bids[p], qtyPrec))
			}
			if got := crc32.ChecksumIEEE([]byte(sb.String())); got != d.Checksum {
				t.Fatalf("checksum of the book after %s: %d, message says %d", raw, got, d.Checksum)
			}
			ts, err := time.Parse(time.RFC3339Nano, d.Timestamp)
			if err != nil {
				t.Fatal(err)
			}
			truth, err := k.BookAt("BTC/USDT", ts.UnixMicro())
			if err != nil {
				t.Fatalf("BookAt %s: %v", d.Timestamp, err)
			}
			for _, l := range truth.Bids[:10] {
				if q := bids[ckDigits(l.Price, pxPrec)]; q != l.Qty {
					t.Fatalf("bid %s: book %q, truth %q", l.Price, q, l.Qty)
				}
			}
			for _, l := range truth.Asks[:10] {
				if q := asks[ckDigits(l.Price, pxPrec)]; q != l.Qty {
					t.Fatalf("ask %s: book %q, truth %q", l.Price, q, l.Qty)
				}
			}
			checked++
		}
	}
	if acks != 2 || refused != 1 || checked < 5 {
		t.Fatalf("acks %d (want 2), refused %d (want 1), books checked %d", acks, refused, checked)
	}
}

func TestKrakenExponentForm(t *testing.T) {
	for in, want := range map[string]string{"45285.2": "4.52852e+04", "0.00027625": "2.7625e-04", "0.00000001": "1e-08", "0": "0", "100": "1e+02"} {
		if got := krExp(in); got != want {
			t.Errorf("krExp(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestKrakenChecksumDocExample: the worked example of Kraken's "Book
// checksum (WebSocket v2)" guide (BTC/USD, price precision 1, quantity
// precision 8) gives 3310070434.
func TestKrakenChecksumDocExample(t *testing.T) {
	e8 := func(s string) int64 {
		r, _ := new(big.Rat).SetString(s)
		r.Mul(r, big.NewRat(1e8, 1))
		return r.Num().Int64()
	}
	lv := func(pairs ...string) []level {
		var out []level
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, level{e8(pairs[i]), e8(pairs[i+1])})
		}
		return out
	}
	bids := lv("45283.5", "0.10000000", "45283.4", "1.54582015", "45282.1", "0.10000000", "45281.0", "0.10000000",
		"45280.3", "1.54592586", "45279.0", "0.07990000", "45277.6", "0.03310103", "45277.5", "0.30000000",
		"45277.3", "1.54602737", "45276.6", "0.15445238")
	asks := lv("45285.2", "0.00100000", "45286.4", "1.54571953", "45286.6", "1.54571109", "45289.6", "1.54560911",
		"45290.2", "0.15890660", "45291.8", "1.54553491", "45294.7", "0.04454749", "45296.1", "0.35380000",
		"45297.5", "0.09945542", "45299.5", "0.18772827")
	if got := krakenChecksum(bids, asks, bybitDecs{px: 1, qty: 8}); got != 3310070434 {
		t.Fatalf("checksum %d, want 3310070434", got)
	}
}

// krKeeper keeps a Kraken book from frames, at depth, as the checksum
// guide says: apply in order, qty 0 deletes, truncate, checksum the top
// 10.
type krKeeper struct {
	px, qty, depth int
	bids, asks     map[string]string // price digits → qty as sent
}

func (k *krKeeper) apply(snapshot bool, d krBookData) uint32 {
	if snapshot || k.bids == nil {
		k.bids, k.asks = map[string]string{}, map[string]string{}
	}
	for _, x := range []struct {
		side map[string]string
		lv   []krLevel
	}{{k.bids, d.Bids}, {k.asks, d.Asks}} {
		for _, l := range x.lv {
			p := ckDigits(l.Price.String(), k.px)
			if ckDigits(l.Qty.String(), k.qty) == "0" {
				delete(x.side, p)
			} else {
				x.side[p] = l.Qty.String()
			}
		}
	}
	var sb strings.Builder
	for _, p := range k.sorted(k.asks, false) {
		sb.WriteString(p + ckDigits(k.asks[p], k.qty))
	}
	for _, p := range k.sorted(k.bids, true) {
		sb.WriteString(p + ckDigits(k.bids[p], k.qty))
	}
	return crc32.ChecksumIEEE([]byte(sb.String()))
}

// sorted truncates side to depth and returns its top 10 prices, best first.
func (k *krKeeper) sorted(side map[string]string, desc bool) []string {
	var ps []string
	for p := range side {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if len(a) != len(b) {
			return (len(a) < len(b)) != desc
		}
		return (a < b) != desc
	})
	for _, p := range ps[min(k.depth, len(ps)):] {
		delete(side, p)
	}
	return ps[:min(10, len(ps))]
}

func krDecodeBook(t *testing.T, m krMsg) krBookData {
	t.Helper()
	var ds []krBookData
	dec := json.NewDecoder(strings.NewReader(string(m.Data)))
	dec.UseNumber()
	if err := dec.Decode(&ds); err != nil || len(ds) != 1 {
		t.Fatalf("book data %s: %v", m.Data, err)
	}
	return ds[0]
}

// TestKrakenBookFaults: kraken-bad-checksum makes one update's checksum
// wrong and the next ones right again; kraken-exponent writes numbers in
// exponent form that read as the same values (the checksum still holds);
// at depth 25 a kept book matches the ground truth's top 25.
func TestKrakenBookFaults(t *testing.T) {
	s, k := startVenue(t, Config{}, VenueKraken, (*Server).Kraken)
	c := dialWS(t, s, k.WSURL()+"/v2")
	sendText(t, c, `{"method":"subscribe","params":{"channel":"book","symbol":["BTC/USDT"],"depth":25}}`)
	kp := &krKeeper{px: 2, qty: 5, depth: 25}
	bad, exp, good := 0, 0, 0
	armed := false
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && (bad == 0 || exp == 0 || good < 30) {
		m, raw := krRead(t, c)
		if m.Channel != "book" {
			continue
		}
		d := krDecodeBook(t, m)
		ck := kp.apply(m.Type == "snapshot", d)
		if m.Type == "update" && !armed {
			armed = true
			if err := s.SetFaults(Fault{Kind: FaultKrakenBadChecksum, Times: 1}, Fault{Kind: FaultKrakenExponent, Times: 1}); err != nil {
				t.Fatal(err)
			}
		}
		if strings.Contains(string(raw), "e+0") || strings.Contains(string(raw), "e-0") {
			exp++
		}
		if ck != d.Checksum {
			bad++
			if bad > 1 {
				t.Fatalf("second bad checksum: %s", raw)
			}
			continue
		}
		good++
		ts, _ := time.Parse(time.RFC3339Nano, d.Timestamp)
		truth, err := k.BookAt("BTC/USDT", ts.UnixMicro())
		if err != nil {
			t.Fatal(err)
		}
		for _, side := range []struct {
			held map[string]string
			lv   []Level
		}{{kp.bids, truth.Bids}, {kp.asks, truth.Asks}} {
			if len(side.held) != min(25, len(side.lv)) {
				t.Fatalf("book holds %d levels, truth %d", len(side.held), len(side.lv))
			}
			for _, l := range side.lv[:min(25, len(side.lv))] {
				if q := side.held[ckDigits(l.Price, 2)]; ckDigits(q, 5) != ckDigits(l.Qty, 5) {
					t.Fatalf("level %s: book %q, truth %q", l.Price, q, l.Qty)
				}
			}
		}
	}
	if bad != 1 || exp == 0 || good < 30 {
		t.Fatalf("bad checksums %d (want 1), exponent frames %d, good %d", bad, exp, good)
	}
}

// TestKrakenStatusTradeGapAndREST: kraken-maintenance sends status
// maintenance then online; kraken-trade-gap skips a trade_id that REST
// Trades has; REST pages by the nanosecond "last" cursor; AssetPairs uses
// XBT; errors come in the error array; the REST limit answers
// EGeneral:Too many requests.
func TestKrakenStatusTradeGapAndREST(t *testing.T) {
	s, k := startVenue(t, Config{Kraken: KrakenConfig{RESTBurst: 8, RESTRefill: time.Hour}}, VenueKraken, (*Server).Kraken)
	c := dialWS(t, s, k.WSURL()+"/v2")
	sendText(t, c, `{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USDT"],"snapshot":true},"req_id":1}`)
	var gapAt int64
	var last int64
	statuses := []string{}
	armed := false
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && (gapAt == 0 || len(statuses) < 3) {
		m, raw := krRead(t, c)
		switch m.Channel {
		case "status":
			var d []struct {
				System string `json:"system"`
			}
			_ = json.Unmarshal(m.Data, &d)
			statuses = append(statuses, d[0].System)
		case "trade":
			var ts []struct {
				ID int64 `json:"trade_id"`
			}
			if err := json.Unmarshal(m.Data, &ts); err != nil {
				t.Fatal(err)
			}
			for _, tr := range ts {
				if last != 0 && tr.ID != last+1 {
					if gapAt != 0 || tr.ID != last+2 {
						t.Fatalf("trade_id %d after %d in %s", tr.ID, last, raw)
					}
					gapAt = last + 1
				}
				last = tr.ID
			}
			if !armed && m.Type == "update" {
				armed = true
				if err := s.SetFaults(Fault{Kind: FaultKrakenTradeGap, Times: 1},
					Fault{Kind: FaultKrakenMaintenance, Times: 1, Duration: 100 * time.Millisecond}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if gapAt == 0 || strings.Join(statuses, ",") != "online,maintenance,online" {
		t.Fatalf("gap at %d, statuses %v", gapAt, statuses)
	}
	truth, err := k.Trades("BTC/USDT", gapAt, gapAt)
	if err != nil || len(truth) != 1 {
		t.Fatalf("truth of trade %d: %v %v", gapAt, truth, err)
	}

	get := func(path string) map[string]json.RawMessage {
		t.Helper()
		_, _, body := getURL(t, s, k.RESTURL()+path)
		var out map[string]json.RawMessage
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("%s: %s: %v", path, body, err)
		}
		return out
	}
	if r := get("/0/public/Time"); string(r["error"]) != "[]" || !strings.Contains(string(r["result"]), `"unixtime":`) {
		t.Fatalf("Time: %s %s", r["error"], r["result"])
	}
	if r := get("/0/public/AssetPairs?pair=XBTUSDT"); !strings.Contains(string(r["result"]), `"wsname":"XBT/USDT"`) {
		t.Fatalf("AssetPairs: %s", r["result"])
	}
	if r := get("/0/public/Trades?pair=NOPE"); string(r["error"]) != `["EQuery:Unknown asset pair"]` {
		t.Fatalf("unknown pair: %s", r["error"])
	}
	// two pages from before the gap: contiguous ids across the cursor
	first := truth[0].Time*1000 - 1
	var ids []int64
	cursor := strconv.FormatInt(first-1, 10)
	for range 2 {
		r := get("/0/public/Trades?pair=XBTUSDT&count=3&since=" + cursor)
		var res map[string]json.RawMessage
		_ = json.Unmarshal(r["result"], &res)
		var rows [][]any
		if err := json.Unmarshal(res["XBTUSDT"], &rows); err != nil {
			t.Fatalf("Trades: %s", r["result"])
		}
		for _, row := range rows {
			ids = append(ids, int64(row[6].(float64)))
		}
		_ = json.Unmarshal(res["last"], &cursor)
	}
	if len(ids) != 6 || ids[0] > gapAt {
		t.Fatalf("REST ids %v, gap at %d", ids, gapAt)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] != ids[i-1]+1 {
			t.Fatalf("REST ids %v not contiguous across the since cursor", ids)
		}
	}
	// 8 allowed, the 8th and later refused
	limited := false
	for range 4 {
		if r := get("/0/public/Time"); string(r["error"]) == `["EGeneral:Too many requests"]` {
			limited = true
		}
	}
	if !limited {
		t.Fatal("REST limit never answered EGeneral:Too many requests")
	}
}

// TestKrakenHeartbeatAndUnsubscribe: a connection with a subscription and
// nothing else to receive gets {"channel":"heartbeat"}; unsubscribe is
// acknowledged per symbol and ends the channel; a second unsubscribe is
// refused.
func TestKrakenHeartbeatAndUnsubscribe(t *testing.T) {
	s, k := startVenue(t, Config{Kraken: KrakenConfig{Heartbeat: 50 * time.Millisecond}}, VenueKraken, (*Server).Kraken)
	c := dialWS(t, s, k.WSURL()+"/v2")
	sendText(t, c, `{"method":"subscribe","params":{"channel":"instrument"},"req_id":1}`)
	hb := 0
	for hb == 0 {
		m, _ := krRead(t, c)
		if m.Channel == "heartbeat" {
			hb++
		}
	}
	sendText(t, c, `{"method":"subscribe","params":{"channel":"ticker","symbol":["BTC/USDT"]},"req_id":2}`)
	for {
		m, _ := krRead(t, c)
		if m.Channel == "ticker" {
			break
		}
	}
	sendText(t, c, `{"method":"unsubscribe","params":{"channel":"ticker","symbol":["BTC/USDT"]},"req_id":3}`)
	acked := false
	for !acked {
		m, raw := krRead(t, c)
		if m.Method == "unsubscribe" {
			if m.Success == nil || !*m.Success || m.ReqID == nil || *m.ReqID != 3 {
				t.Fatalf("unsubscribe answered %s", raw)
			}
			acked = true
		}
	}
	sendText(t, c, `{"method":"unsubscribe","params":{"channel":"ticker","symbol":["BTC/USDT"]},"req_id":4}`)
	// messages queued before the unsubscribe may still come until the
	// refusal; none after it
	end := time.Now().Add(5 * time.Second)
	refused := false
	for time.Now().Before(end) {
		m, raw := krRead(t, c)
		switch {
		case m.Channel == "ticker" && refused:
			t.Fatalf("ticker after unsubscribe: %s", raw)
		case m.Method == "unsubscribe":
			end = time.Now().Add(300 * time.Millisecond)
			if m.Error != "Subscription Not Found" {
				t.Fatalf("second unsubscribe answered %s", raw)
			}
			refused = true
		}
	}
	if !refused {
		t.Fatal("second unsubscribe not answered")
	}
}

// TestKrakenPairDecimalsFault: kraken-pair-decimals raises AssetPairs'
// decimals of the pair it names for the requests it hits, while the
// instrument channel keeps the pair's precisions.
func TestKrakenPairDecimalsFault(t *testing.T) {
	s, k := startVenue(t, Config{}, VenueKraken, (*Server).Kraken)
	type pair struct {
		PairDecimals int    `json:"pair_decimals"`
		LotDecimals  int    `json:"lot_decimals"`
		TickSize     string `json:"tick_size"`
		OrderMin     string `json:"ordermin"`
	}
	pairs := func() map[string]pair {
		t.Helper()
		_, _, body := getURL(t, s, k.RESTURL()+"/0/public/AssetPairs")
		var r struct {
			Result map[string]pair `json:"result"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		return r.Result
	}
	before := pairs()
	if err := s.SetFaults(Fault{Kind: FaultKrakenPairDecimals, Times: 1, Count: 2, Symbol: "BTCUSDT"}); err != nil {
		t.Fatal(err)
	}
	during, after := pairs(), pairs()
	btc, eth := before["XBTUSDT"], before["ETHUSDT"]
	if f := during["XBTUSDT"]; f.PairDecimals != btc.PairDecimals+2 || f.LotDecimals != btc.LotDecimals+2 ||
		f.TickSize != btc.TickSize+"00" || f.OrderMin != btc.OrderMin+"00" {
		t.Errorf("BTC/USDT under the fault %+v, before %+v", f, btc)
	}
	if during["ETHUSDT"] != eth || after["XBTUSDT"] != btc {
		t.Errorf("the fault reached another pair or request: %+v %+v", during["ETHUSDT"], after["XBTUSDT"])
	}

	c := dialWS(t, s, k.WSURL()+"/v2")
	sendText(t, c, `{"method":"subscribe","params":{"channel":"instrument","snapshot":true}}`)
	for {
		m, raw := krRead(t, c)
		if m.Channel != "instrument" {
			continue
		}
		var d struct {
			Pairs []struct {
				Symbol         string `json:"symbol"`
				PricePrecision int    `json:"price_precision"`
				QtyPrecision   int    `json:"qty_precision"`
			} `json:"pairs"`
		}
		if err := json.Unmarshal(m.Data, &d); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		for _, p := range d.Pairs {
			if p.Symbol == "BTC/USDT" && (p.PricePrecision != btc.PairDecimals || p.QtyPrecision != btc.LotDecimals) {
				t.Errorf("instrument channel %+v, AssetPairs without the fault %+v", p, btc)
			}
		}
		return
	}
}
