package feed

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/feedkeeper/feedkeeper/fixed"
)

var updateGolden = flag.Bool("update-json-golden", false, "rewrite testdata/json_golden.jsonl from the current AppendJSON")

// randomEvent returns an event of a random type with random fields: the
// extremes of int64, every scale, strings with quotes, control bytes and
// invalid UTF-8 among them.
func randomEvent(r *rand.Rand) *Event {
	ints := func() int64 {
		switch r.IntN(8) {
		case 0:
			return 0
		case 1:
			return []int64{math.MinInt64, math.MaxInt64, -1, 1, 9, 10, 99, 100, 999999999999999999, 1000000000000000000}[r.IntN(10)]
		case 2:
			return -r.Int64N(1 << uint(r.IntN(62)+1))
		case 3:
			return 1_700_000_000_000_000_000 + r.Int64N(1e18)
		default:
			return r.Int64N(1 << uint(r.IntN(62)+1))
		}
	}
	scale := func() uint8 {
		if r.IntN(10) == 0 {
			return uint8(fixed.MaxScale + 1 + r.IntN(8)) // beyond what fixed parses: Append still formats it
		}
		return uint8(r.IntN(fixed.MaxScale + 1))
	}
	strs := []string{"", "binance", "BTCUSDT", "BTC-USDT-PERP", "btcusdt@depth@100ms", `a"b\c`, "tab\there", "\x00\x1f\x7f", "é€😀", "bad\xff\xfeutf8", "\xc3", "1h@+08:00"}
	str := func() string { return strs[r.IntN(len(strs))] }
	dec := func() fixed.Dec { return fixed.Dec{M: ints(), S: scale()} }
	levels := func() []Level {
		ls := make([]Level, r.IntN(5))
		for i := range ls {
			ls[i] = Level{Price: ints(), Qty: ints()}
		}
		return ls
	}
	e := &Event{
		Type: Type(r.IntN(int(TypeOpenInterest) + 2)), Side: Side(r.IntN(4)), Status: Status(r.IntN(int(StatusCaughtUp) + 2)),
		Missing: Type(r.IntN(4)), PriceScale: scale(), QtyScale: scale(),
		Recovered: r.IntN(2) == 0, Derived: r.IntN(2) == 0, Base: r.IntN(2) == 0, Aggregated: r.IntN(2) == 0, Capped: r.IntN(2) == 0,
		Venue: str(), Stream: str(), Symbol: str(), Instrument: str(),
		ID: ints(), FirstID: ints(), PrevID: ints(), GapFrom: ints(), GapTo: ints(), FirstTradeID: ints(), LastTradeID: ints(),
		ExchangeTime: ints(), EventTime: ints(), ReceiveTime: ints(), Price: ints(), Qty: ints(),
		Bid: Level{ints(), ints()}, Ask: Level{ints(), ints()}, Bids: levels(), Asks: levels(), Reason: str(),
	}
	if r.IntN(2) == 0 {
		e.Stats = &Stats{Window: str(), OpenTime: ints(), CloseTime: ints(), Open: ints(), High: ints(), Low: ints(), Close: ints(),
			Volume: ints(), QuoteVolume: dec(), TakerBuyVolume: ints(), TakerBuyQuote: dec(), Avg: dec(), Trades: ints(),
			Closed: r.IntN(2) == 0, Mini: r.IntN(2) == 0}
	}
	if r.IntN(2) == 0 {
		e.Deriv = &Deriv{MarkPrice: dec(), IndexPrice: dec(), SettlePrice: dec(), FundingRate: dec(), NextFunding: ints(), OpenInterest: dec()}
	}
	return e
}

// TestJSONGolden: AppendJSON's output for 500 random events is byte for
// byte the one recorded in testdata/json_golden.jsonl (the JSON Lines
// format is a contract: docs/schema.md), each line valid JSON; 200 000
// more are checked by the hash of their encoding.
func TestJSONGolden(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var got []byte
	for range 500 {
		got = randomEvent(r).AppendJSON(got)
		got = append(got, '\n')
	}
	const path = "testdata/json_golden.jsonl"
	h := sha256.New()
	var buf []byte
	for range 200000 {
		buf = randomEvent(r).AppendJSON(buf[:0])
		h.Write(buf)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if *updateGolden {
		if err := os.WriteFile(path, append(got, sum+"\n"...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wantLines := strings.Split(strings.TrimSuffix(string(want), "\n"), "\n")
	gotLines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	if len(wantLines) != len(gotLines)+1 {
		t.Fatalf("%d lines, %s has %d", len(gotLines), path, len(wantLines)-1)
	}
	for i, line := range gotLines {
		if line != wantLines[i] {
			t.Fatalf("event %d:\n got %s\nwant %s", i, line, wantLines[i])
		}
		if !json.Valid([]byte(line)) {
			t.Fatalf("event %d: invalid JSON %s", i, line)
		}
	}
	if wantSum := wantLines[len(wantLines)-1]; sum != wantSum {
		t.Fatalf("200 000 more events: sha256 %s, %s records %s", sum, path, wantSum)
	}
	if !bytes.Equal(got, want[:len(got)]) {
		t.Fatal("output differs") // unreachable when every line matched
	}
}

// aggTradeEvent is an aggregate trade as Binance spot's decoder makes it.
func aggTradeEvent() *Event {
	return &Event{Type: TypeTrade, Venue: "binance", Symbol: "BTCUSDT", Instrument: "BTC-USDT", Aggregated: true,
		ID: 3170452213, FirstTradeID: 5132043127, LastTradeID: 5132043129, Price: 9712345000000, PriceScale: 8,
		Qty: 1234000, QtyScale: 8, Side: SideSell, ExchangeTime: 1_764_140_000_123_000_000,
		EventTime: 1_764_140_000_124_000_000, ReceiveTime: 1_764_140_000_125_432_187}
}

// BenchmarkAppendJSON encodes one aggregate trade and one 20-level book
// delta, the JSON Lines output's work per event.
func BenchmarkAppendJSON(b *testing.B) {
	delta := &Event{Type: TypeBookDelta, Venue: "binance", Symbol: "BTCUSDT", Instrument: "BTC-USDT", Stream: "btcusdt@depth@100ms",
		FirstID: 71234567801, ID: 71234567890, PriceScale: 2, QtyScale: 5, ExchangeTime: 1_764_140_000_123_000_000,
		EventTime: 1_764_140_000_123_000_000, ReceiveTime: 1_764_140_000_125_432_187}
	for i := range 20 {
		delta.Bids = append(delta.Bids, Level{Price: 9712345 - int64(i)*7, Qty: int64(i) * 123457})
		delta.Asks = append(delta.Asks, Level{Price: 9712346 + int64(i)*7, Qty: int64(i) * 98761})
	}
	for _, c := range []struct {
		name string
		ev   *Event
	}{{"aggTrade", aggTradeEvent()}, {"depth20", delta}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			buf := c.ev.AppendJSON(nil)
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				buf = c.ev.AppendJSON(buf[:0])
			}
		})
	}
}
