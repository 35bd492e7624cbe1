package nats

import (
	"strconv"

	"github.com/feedkeeper/feedkeeper/feed"
)

// typeToken returns the name of ev's kind in subjects and message IDs: the
// event type, except "agg_trade" for aggregated trades, whose IDs are a
// sequence of their own.
func typeToken(ev *feed.Event) string {
	if ev.Type == feed.TypeTrade && ev.Aggregated {
		return "agg_trade"
	}
	return ev.Type.String()
}

// AppendSubject appends ev's subject: prefix.venue.symbol.type, venue and
// symbol in lower case, "_" for a missing symbol (connection status), and
// any byte a subject token cannot hold ('.', '*', '>', spaces, controls,
// non-ASCII) replaced with '_'.
func AppendSubject(dst []byte, prefix string, ev *feed.Event) []byte {
	dst = append(dst, prefix...)
	dst = append(dst, '.')
	dst = appendToken(dst, ev.Venue, true)
	dst = append(dst, '.')
	dst = appendToken(dst, ev.Symbol, true)
	dst = append(dst, '.')
	return append(dst, typeToken(ev)...)
}

// AppendMsgID appends ev's Nats-Msg-Id, by which JetStream drops a message
// published twice (by two gateways, or again after a lost
// acknowledgement), and reports whether ev has one:
//
//	trade:          venue:SYMBOL:trade:ID       (agg_trade when aggregated)
//	book snapshot:  venue:SYMBOL:book_snapshot:ID:BIDS:ASKS
//
// A trade without a numeric ID (ID 0: Bybit's trade IDs are strings) has
// none. BIDS and ASKS are the numbers of levels: two snapshots of one book at one
// update ID are the same only if they hold as many levels (a depth5 and a
// depth20 stream, or the gateway's whole book, share update IDs). Other
// types have none: their rate would make JetStream's duplicate memory
// costly, and book deltas are ordered by their IDs anyway.
func AppendMsgID(dst []byte, ev *feed.Event) ([]byte, bool) {
	switch {
	case ev.Type == feed.TypeTrade && ev.ID == 0:
		// a venue whose trade IDs are not numbers (Bybit): nothing names
		// the trade apart from its fellows, and one ID for all would drop
		// every trade but the first within the duplicate window
		return dst, false
	case ev.Type == feed.TypeTrade, ev.Type == feed.TypeBookSnapshot:
	default:
		return dst, false
	}
	dst = appendToken(dst, ev.Venue, false)
	dst = append(dst, ':')
	dst = appendToken(dst, ev.Symbol, false)
	dst = append(dst, ':')
	dst = append(dst, typeToken(ev)...)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, ev.ID, 10)
	if ev.Type == feed.TypeBookSnapshot {
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, int64(len(ev.Bids)), 10)
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, int64(len(ev.Asks)), 10)
		if ev.Stream != "" { // partial depth: depth5 and depth20 share update IDs
			dst = append(dst, ':')
			dst = appendToken(dst, ev.Stream, false)
		}
	}
	return dst, true
}

// appendToken appends s with what a subject token or a message ID must not
// hold replaced with '_', in lower case if lower; "_" if s is empty.
func appendToken(dst []byte, s string, lower bool) []byte {
	if s == "" {
		return append(dst, '_')
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c <= ' ' || c >= 0x7f || c == '.' || c == '*' || c == '>' || c == ':':
			c = '_'
		case lower && 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}
