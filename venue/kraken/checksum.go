package kraken

import (
	"hash/crc32"

	"github.com/feedkeeper/feedkeeper/book"
	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
)

// ChecksumLevels is how many levels a side the checksum covers, whatever
// the subscribed depth ("Book checksum (WebSocket v2)").
const ChecksumLevels = 10

// Checksum computes Kraken's v2 book checksum ("Book checksum (WebSocket
// v2)"): the best 10 asks ascending, then the best 10 bids descending;
// each level's price and quantity written at the pair's precisions
// (price_precision, qty_precision), the '.' removed and leading zeros
// stripped, price then quantity; the CRC-32 (IEEE) of the whole string.
// The guide's BTC/USD example (precisions 1 and 8) gives 3310070434.
func Checksum(asks, bids []book.Level, priceScale, qtyScale uint8) uint32 {
	var arr [1024]byte
	buf := arr[:0]
	for i := range min(len(asks), ChecksumLevels) {
		buf = appendDigits(buf, asks[i].Price, priceScale)
		buf = appendDigits(buf, asks[i].Qty, qtyScale)
	}
	for i := range min(len(bids), ChecksumLevels) {
		buf = appendDigits(buf, bids[i].Price, priceScale)
		buf = appendDigits(buf, bids[i].Qty, qtyScale)
	}
	return crc32.ChecksumIEEE(buf)
}

// appendDigits appends m at scale without its '.' and leading zeros
// ("0.00100000" → "100000"; zero → "0").
func appendDigits(dst []byte, m int64, scale uint8) []byte {
	n := len(dst)
	dst = fixed.Append(dst, m, scale)
	j := n
	for i := n; i < len(dst); i++ {
		c := dst[i]
		if c == '.' || (c == '0' && j == n) || c == '-' {
			continue
		}
		dst[j] = c
		j++
	}
	if j == n {
		dst[j] = '0'
		j++
	}
	return dst[:j]
}

// checksum is Rules.Checksum. The book is first cut to the subscribed
// depth: Kraken sends no delete for a level pushed out of scope by an
// insert, and the client must drop it after every message ("Book
// (Level 2)": "truncate … to the subscribed depth"); then the top 10 of
// each side are checked against ev.Checksum.
func (v *Kraken) checksum(b *book.Book, ev *feed.Event) bool {
	v.truncate(b, book.Bid)
	v.truncate(b, book.Ask)
	var bids, asks [ChecksumLevels]book.Level
	bl := b.Top(book.Bid, ChecksumLevels, bids[:0])
	al := b.Top(book.Ask, ChecksumLevels, asks[:0])
	return Checksum(al, bl, ev.PriceScale, ev.QtyScale) == ev.Checksum
}

// truncate removes the levels of side beyond the subscribed depth.
func (v *Kraken) truncate(b *book.Book, side book.Side) {
	d := v.cfg.BookDepth
	if b.Depth(side) <= d {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.scratch = b.Levels(side, v.scratch[:0])
	for _, lv := range v.scratch[d:] {
		b.Set(side, lv.Price, 0)
	}
}
