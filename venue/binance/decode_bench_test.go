package binance

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
)

// depthFrame20 is a diff depth event with 20 bids and 20 asks.
var depthFrame20 = func() string {
	var sb strings.Builder
	sb.WriteString(`{"e":"depthUpdate","E":1672515782136,"s":"BTCUSDT","U":157,"u":160,"b":[`)
	for i := range 20 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `["%d.%02d000000","%d.%05d000"]`, 60000-i, i, i, 1000*i+7)
	}
	sb.WriteString(`],"a":[`)
	for i := range 20 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `["%d.%02d000000","%d.%05d000"]`, 60001+i, i, i, 1000*i+7)
	}
	sb.WriteString(`]}`)
	return sb.String()
}()

var benchFrames = []struct{ name, frame string }{
	{"aggTrade", aggTradeFrame},
	{"depthUpdate20", depthFrame20},
	{"bookTicker", bookTickerFrame},
	{"combinedAggTrade", combinedAggTrade},
}

func benchSymbols(b *testing.B) *Symbols {
	syms, err := NewSymbols(Symbol{Name: "BTCUSDT", PriceScale: 2, QtyScale: 5, Base: "BTC", Quote: "USDT"},
		Symbol{Name: "BNBUSDT", PriceScale: 4, QtyScale: 3, Base: "BNB", Quote: "USDT"})
	if err != nil {
		b.Fatal(err)
	}
	return syms
}

func BenchmarkDecode(b *testing.B) {
	d := Decoder{Symbols: benchSymbols(b)}
	for _, f := range benchFrames {
		frame := []byte(f.frame)
		b.Run(f.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			var ev feed.Event
			for b.Loop() {
				if _, err := d.Decode(frame, &ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The encoding/json baseline: the same frames into structs that declare
// every key (so "m"/"M" and "b"/"B" do not collide), then converted to the
// same feed.Event, prices through fixed.Parse.

type jsonAggTrade struct {
	E  string `json:"e"`
	E2 int64  `json:"E"`
	S  string `json:"s"`
	A  int64  `json:"a"`
	P  string `json:"p"`
	Q  string `json:"q"`
	F  int64  `json:"f"`
	L  int64  `json:"l"`
	T  int64  `json:"T"`
	M  bool   `json:"m"`
	M2 bool   `json:"M"`
}

type jsonDepth struct {
	E  string      `json:"e"`
	E2 int64       `json:"E"`
	S  string      `json:"s"`
	U  int64       `json:"U"`
	U2 int64       `json:"u"`
	B  [][2]string `json:"b"`
	A  [][2]string `json:"a"`
}

type jsonBookTicker struct {
	U  int64  `json:"u"`
	S  string `json:"s"`
	B  string `json:"b"`
	B2 string `json:"B"`
	A  string `json:"a"`
	A2 string `json:"A"`
}

type jsonCombined struct {
	Stream string       `json:"stream"`
	Data   jsonAggTrade `json:"data"`
}

func (j *jsonAggTrade) event(syms *Symbols, ev *feed.Event) (err error) {
	sym, _ := syms.Lookup(j.S)
	ev.Reset()
	ev.Type, ev.Venue, ev.Symbol, ev.ID, ev.FirstID = feed.TypeTrade, Venue, sym.Name, j.A, j.A
	ev.FirstTradeID, ev.LastTradeID, ev.EventTime, ev.ExchangeTime = j.F, j.L, j.E2*1e6, j.T*1e6
	if ev.Price, err = fixed.Parse(j.P, sym.PriceScale); err != nil {
		return err
	}
	ev.Qty, err = fixed.Parse(j.Q, sym.QtyScale)
	return err
}

func levels(dst []feed.Level, src [][2]string, sym Symbol) ([]feed.Level, error) {
	for _, l := range src {
		p, err := fixed.Parse(l[0], sym.PriceScale)
		if err != nil {
			return dst, err
		}
		q, err := fixed.Parse(l[1], sym.QtyScale)
		if err != nil {
			return dst, err
		}
		dst = append(dst, feed.Level{Price: p, Qty: q})
	}
	return dst, nil
}

func BenchmarkDecodeEncodingJSON(b *testing.B) {
	syms := benchSymbols(b)
	run := func(name, frame string, decode func([]byte, *feed.Event) error) {
		data := []byte(frame)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			var ev feed.Event
			for b.Loop() {
				if err := decode(data, &ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	run("aggTrade", aggTradeFrame, func(data []byte, ev *feed.Event) error {
		var j jsonAggTrade
		if err := json.Unmarshal(data, &j); err != nil {
			return err
		}
		return j.event(syms, ev)
	})
	run("depthUpdate20", depthFrame20, func(data []byte, ev *feed.Event) (err error) {
		var j jsonDepth
		if err := json.Unmarshal(data, &j); err != nil {
			return err
		}
		sym, _ := syms.Lookup(j.S)
		ev.Reset()
		ev.Type, ev.Venue, ev.Symbol, ev.ID, ev.FirstID, ev.EventTime = feed.TypeBookDelta, Venue, sym.Name, j.U2, j.U, j.E2*1e6
		if ev.Bids, err = levels(ev.Bids, j.B, sym); err != nil {
			return err
		}
		ev.Asks, err = levels(ev.Asks, j.A, sym)
		return err
	})
	run("bookTicker", bookTickerFrame, func(data []byte, ev *feed.Event) (err error) {
		var j jsonBookTicker
		if err := json.Unmarshal(data, &j); err != nil {
			return err
		}
		sym, _ := syms.Lookup(j.S)
		ev.Reset()
		ev.Type, ev.Venue, ev.Symbol, ev.ID = feed.TypeTopOfBook, Venue, sym.Name, j.U
		for _, f := range []struct {
			dst   *int64
			s     string
			scale uint8
		}{{&ev.Bid.Price, j.B, sym.PriceScale}, {&ev.Bid.Qty, j.B2, sym.QtyScale}, {&ev.Ask.Price, j.A, sym.PriceScale}, {&ev.Ask.Qty, j.A2, sym.QtyScale}} {
			if *f.dst, err = fixed.Parse(f.s, f.scale); err != nil {
				return err
			}
		}
		return nil
	})
	run("combinedAggTrade", combinedAggTrade, func(data []byte, ev *feed.Event) error {
		var j jsonCombined
		if err := json.Unmarshal(data, &j); err != nil {
			return err
		}
		return j.Data.event(syms, ev)
	})
}
