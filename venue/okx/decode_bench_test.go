package okx

import (
	"testing"

	"github.com/feedkeeper/feedkeeper/feed"
)

// BenchmarkDecode measures the frames of the busiest channels: a books
// update of 20 levels, a trades-all push of a swap (sizes times ctVal), a
// bbo-tbt push.
func BenchmarkDecode(b *testing.B) {
	levels := ""
	for i := range 10 {
		if i > 0 {
			levels += ","
		}
		levels += `["8476.` + string(rune('0'+i)) + `","1.25","0","3"]`
	}
	for _, c := range []struct{ name, frame string }{
		{"books-update-20", `{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[` + levels + `],"bids":[` + levels + `],"ts":"1597026383185","checksum":0,"prevSeqId":123456,"seqId":123457}]}`},
		{"trades-all-swap", `{"arg":{"channel":"trades-all","instId":"BTC-USDT-SWAP"},"data":[{"instId":"BTC-USDT-SWAP","tradeId":"130639474","px":"42219.9","sz":"12","side":"buy","source":"0","ts":"1630048897897"}]}`},
		{"bbo-tbt", `{"arg":{"channel":"bbo-tbt","instId":"BTC-USDT"},"data":[{"asks":[["8476.98","415","0","13"]],"bids":[["8476.97","256","0","12"]],"ts":"1597026383085","seqId":78}]}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			d := &Decoder{Symbols: testSymbols(b)}
			frame := []byte(c.frame)
			var ev feed.Event
			if _, err := d.Decode(frame, &ev); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				if _, err := d.Decode(frame, &ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
