package kraken

import (
	"testing"

	"github.com/feedkeeper/feedkeeper/feed"
)

func BenchmarkDecodeBookUpdate(b *testing.B) {
	d := NewDecoder(testSymbols(b))
	ev := feed.Event{Bids: make([]feed.Level, 0, 16), Asks: make([]feed.Level, 0, 16)}
	if _, err := d.Decode([]byte(docSnapshot), &ev); err != nil {
		b.Fatal(err)
	}
	frames := [][]byte{
		[]byte(`{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":45283.5,"qty":0.2}],"asks":[{"price":45285.2,"qty":1e-03}],"checksum":1,"timestamp":"2023-10-06T17:35:55.440295Z"}]}`),
		[]byte(`{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":45283.5,"qty":0.1}],"asks":[{"price":45285.2,"qty":0.001}],"checksum":2,"timestamp":"2023-10-06T17:35:55.440296Z"}]}`),
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := d.Decode(frames[i%2], &ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeTrade(b *testing.B) {
	d := NewDecoder(testSymbols(b))
	var ev feed.Event
	f := []byte(`{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":105944.20,"qty":0.00027625,"ord_type":"limit","trade_id":10218208,"timestamp":"2023-10-06T17:35:55.440295Z"}]}`)
	b.ReportAllocs()
	for range b.N {
		if _, err := d.Decode(f, &ev); err != nil {
			b.Fatal(err)
		}
	}
}
