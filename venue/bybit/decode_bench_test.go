package bybit

import (
	"testing"

	"github.com/feedkeeper/feedkeeper/feed"
)

// BenchmarkVenueDecoder is BenchmarkDecode's publicTrade and
// orderbookDelta with the decoder a venue gives, which checks the venue's
// table in force on every frame; and IsShutdown's cost on a frame when no
// maintenance is due.
func BenchmarkVenueDecoder(b *testing.B) {
	v, err := New(Config{WSURL: "wss://127.0.0.1:1", Symbols: testSymbols(b)})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := v.Plan([]string{"linear/publicTrade.BTCUSDT", "linear/orderbook.50.BTCUSDT"}); err != nil {
		b.Fatal(err)
	}
	trade := []byte(`{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672304486868,"data":[{"T":1672304486865,"s":"BTCUSDT","S":"Buy","v":"0.001","p":"16578.50","L":"PlusTick","i":"20f43950-d8dd-5b31-9112-a178eb6023af","BT":false,"seq":1783284617}]}`)
	for _, c := range []struct {
		name  string
		frame []byte
	}{{"publicTrade", []byte(docTrade)}, {"orderbookDelta", []byte(docBookDelta)}} {
		b.Run(c.name, func(b *testing.B) {
			d := v.NewDecoder(feed.ConnPlan{URL: "wss://127.0.0.1:1/v5/public/linear"}).(*Decoder)
			var ev, next feed.Event
			b.SetBytes(int64(len(c.frame)))
			b.ReportAllocs()
			for range b.N {
				if _, err := d.Decode(c.frame, &ev); err != nil {
					b.Fatal(err)
				}
				for d.Next(&next) {
				}
			}
		})
	}
	b.Run("IsShutdown", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if v.IsShutdown(trade) {
				b.Fatal("shutdown")
			}
		}
	})
}
