// Package feed defines the normalized market-data events that feedkeeper
// produces, whatever the venue: trades, order-book deltas and snapshots, top
// of book, gaps and connection status changes.
//
// An Event is one flat struct designed to be reused: a decoder fills a
// caller-owned *Event for each message, and its Bids and Asks slices keep
// their capacity across messages, so the steady state allocates nothing.
// The flip side is ownership: an Event handed to a callback or a channel
// is only valid until its owner reuses it; keep a copy with CopyTo.
//
// Prices and quantities are fixed-point mantissas (see package fixed) at the
// event's PriceScale and QtyScale: a price mantissa of 6000001 at scale 2 is
// 60000.01. Times are nanoseconds since the Unix epoch.
package feed
