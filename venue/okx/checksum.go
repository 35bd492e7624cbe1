package okx

import (
	"hash/crc32"

	"github.com/feedkeeper/feedkeeper/book"
	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
)

// ChecksumLevels is how many levels a side the checksum covers.
const ChecksumLevels = 25

// Checksum computes OKX's legacy book checksum over levels (best first),
// as "WS / Order book channel" gave it until 2026-06-22: the first 25 bids
// and 25 asks interleaved, bid then ask at each depth, as
// "price:size", joined by ":" (a side with fewer levels is skipped where
// it has none); the CRC-32 (IEEE) of that string, read as a signed 32-bit
// integer. Prices and sizes are written as OKX writes them: the shortest
// decimal, without trailing zeros ("3366", "8476.9"). The docs' example
// "3366.1:7:3366.8:9:3366:6:3368:8" gives -1881014294.
//
// Sizes are as sent: contracts for a swap (see Symbol.Contracts).
func Checksum(bids, asks []book.Level, priceScale, sizeScale uint8) int32 {
	var arr [4096]byte
	buf := arr[:0]
	for i := range ChecksumLevels {
		if i < len(bids) {
			buf = appendLevel(buf, bids[i], priceScale, sizeScale)
		}
		if i < len(asks) {
			buf = appendLevel(buf, asks[i], priceScale, sizeScale)
		}
	}
	if len(buf) > 0 {
		buf = buf[:len(buf)-1] // the last ':'
	}
	return int32(crc32.ChecksumIEEE(buf))
}

func appendLevel(dst []byte, lv book.Level, ps, qs uint8) []byte {
	dst = appendShort(dst, lv.Price, ps)
	dst = append(dst, ':')
	dst = appendShort(dst, lv.Qty, qs)
	return append(dst, ':')
}

// appendShort appends m at scale without trailing fractional zeros.
func appendShort(dst []byte, m int64, scale uint8) []byte {
	n := len(dst)
	dst = fixed.Append(dst, m, scale)
	if scale == 0 {
		return dst
	}
	for len(dst) > n && dst[len(dst)-1] == '0' {
		dst = dst[:len(dst)-1]
	}
	if dst[len(dst)-1] == '.' {
		dst = dst[:len(dst)-1]
	}
	return dst
}

// checksum is Rules.Checksum: b's checksum, its sizes turned back into
// what OKX sent, against the one ev carries.
func (v *OKX) checksum(b *book.Book, ev *feed.Event) bool {
	sym, ok := v.cfg.Symbols.byName[ev.Symbol]
	if !ok {
		return false
	}
	var bids, asks [ChecksumLevels]book.Level
	bl := b.Top(book.Bid, ChecksumLevels, bids[:0])
	al := b.Top(book.Ask, ChecksumLevels, asks[:0])
	for i := range bl {
		bl[i].Qty = sym.Contracts(bl[i].Qty)
	}
	for i := range al {
		al[i].Qty = sym.Contracts(al[i].Qty)
	}
	return Checksum(bl, al, ev.PriceScale, sym.LotScale) == int32(ev.Checksum)
}
