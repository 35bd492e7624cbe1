package sim

import (
	"encoding/json"
	"hash/crc32"
	"sort"
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
	i, f, _ := strings.Cut(num, ".")
	for len(f) < prec {
		f += "0"
	}
	s := strings.TrimLeft(i+f[:prec], "0")
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
