package binanceusdm

import (
	"fmt"
	"strings"
	"testing"

	"github.com/feedkeeper/feedkeeper/feed"
)

// depthFrame20 is a diff depth event with 20 bids and 20 asks, as spot's
// benchmark has it, with USD-M's T and pu.
var depthFrame20 = func() string {
	var sb strings.Builder
	sb.WriteString(`{"e":"depthUpdate","E":1672515782136,"T":1672515782134,"s":"BTCUSDT","U":157,"u":160,"pu":149,"b":[`)
	for i := range 20 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `["%d.%d","%d.%03d"]`, 60000-i, i%10, i, 7*i+1)
	}
	sb.WriteString(`],"a":[`)
	for i := range 20 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `["%d.%d","%d.%03d"]`, 60001+i, i%10, i, 7*i+1)
	}
	sb.WriteString(`]}`)
	return sb.String()
}()

// BenchmarkDecode is venue/binance's BenchmarkDecode for USD-M frames.
func BenchmarkDecode(b *testing.B) {
	d := &Decoder{Symbols: testSymbols(b)}
	for _, f := range []struct{ name, frame string }{
		{"aggTrade", docAggTrade},
		{"depthUpdate20", depthFrame20},
		{"bookTicker", docBookTicker},
		{"markPrice", docMarkPrice},
		{"forceOrder", docForceOrder},
		{"combinedAggTrade", combined("btcusdt@aggTrade", docAggTrade)},
		{"combinedDepth20", combined("btcusdt@depth@100ms", depthFrame20)},
	} {
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
