package feed

import "github.com/feedkeeper/feedkeeper/fixed"

// Type says what an Event carries.
type Type uint8

// Event types.
const (
	TypeUnknown      Type = iota
	TypeTrade             // one trade or aggregated trade: Price, Qty, Side
	TypeBookDelta         // changed book levels (absolute quantities, 0 removes): Bids, Asks
	TypeBookSnapshot      // the top of the book or all of it: Bids, Asks
	TypeTopOfBook         // best bid and ask: Bid, Ask
	TypeGap               // IDs FirstID..ID of events of type Missing that could not be recovered
	TypeStatus            // a connection state change: Status, Reason
	TypeCandle            // a candle (Binance kline) so far, or closed: Stats
	TypeTicker            // rolling-window statistics (Binance 24h, 1h, 4h, 1d tickers; mini tickers): Stats
	TypeAvgPrice          // the venue's average price over a window (Binance avgPrice): Stats.Window, Stats.Avg
	TypeFunding           // a perpetual's mark and index price and funding rate (Binance USD-M markPrice): Deriv
	TypeLiquidation       // a position closed by the venue (Binance USD-M forceOrder): Side, Price, Qty
	TypeOpenInterest      // the contracts open on a derivative: Deriv.OpenInterest
)

var typeNames = [...]string{"unknown", "trade", "book_delta", "book_snapshot", "top_of_book", "gap", "status",
	"candle", "ticker", "avg_price", "funding", "liquidation", "open_interest"}

// String returns the type's stable lower-case name ("trade", "book_delta", …).
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "unknown"
}

// Side is the side of the taker (the aggressor) of a trade.
type Side uint8

// Trade sides.
const (
	SideUnknown Side = iota
	SideBuy          // the buyer took liquidity: the price was lifted
	SideSell         // the seller took liquidity: the price was hit
)

var sideNames = [...]string{"unknown", "buy", "sell"}

// String returns "buy", "sell" or "unknown".
func (s Side) String() string {
	if int(s) < len(sideNames) {
		return sideNames[s]
	}
	return "unknown"
}

// Status is the state of a venue connection reported by a TypeStatus event.
type Status uint8

// Connection states.
const (
	StatusUnknown        Status = iota
	StatusConnecting            // dialling or subscribing
	StatusConnected             // subscribed and receiving
	StatusDisconnected          // the connection was lost; a reconnect follows
	StatusServerShutdown        // the venue announced it will close the connection soon
	StatusClosed                // closed for good by the local side
	StatusRefused               // the venue refused streams (Reason names them); they are asked for again
	StatusSubscribed            // streams refused before are now subscribed (Reason names them)
	StatusHalted                // the symbol does not trade (venue status in Reason): its streams are silent, not stalled
	StatusTrading               // the symbol trades again
	StatusInstrument            // the symbol's tick or step size changed: scales in Reason, events carry the new ones
	StatusLagging               // the connection's data arrives too late (GatewayConfig.Lag); it is being replaced
	StatusCaughtUp              // the lagging connection (or its replacement) keeps up again
)

var statusNames = [...]string{"unknown", "connecting", "connected", "disconnected", "server_shutdown", "closed", "refused", "subscribed",
	"halted", "trading", "instrument", "lagging", "caught_up"}

// String returns the status's stable lower-case name.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "unknown"
}

// Level is one price level of a book side: mantissas at the event's
// PriceScale and QtyScale. A Qty of 0 in a TypeBookDelta removes the level.
type Level struct {
	Price, Qty int64
}

// Event is one normalized market-data event. Which fields are set depends
// on Type, as each field's comment says; the others are zero.
//
// An Event is not safe for concurrent use. Producers reuse the Event and
// its Bids and Asks backing arrays for the next message, so a consumer that
// keeps an event past its callback must copy it with CopyTo.
type Event struct {
	Type Type
	// Side is, for TypeTrade, the taker's side; for TypeLiquidation, the
	// side of the venue's order that closed the position (SideSell closed
	// a long).
	Side   Side
	Status Status // TypeStatus
	// Missing is, for TypeGap, the type of the events that are missing.
	Missing Type

	// PriceScale and QtyScale are the decimal places of every price and
	// quantity mantissa in the event.
	PriceScale, QtyScale uint8

	// Recovered is true for events recovered by backfill (REST) rather
	// than received live.
	Recovered bool

	// Derived is true for events the gateway builds from the order book it
	// keeps for a symbol's diff depth stream, rather than receives from the
	// venue: the TypeBookSnapshot of the whole book after each (re)sync, which
	// replaces any book built from earlier events, and a TypeTopOfBook each
	// time that book's best bid or ask changes. The venue's own top of book
	// (Binance bookTicker) and partial depth snapshots have it false.
	Derived bool

	// Base is true for a TypeBookSnapshot of the whole book that the
	// stream's following TypeBookDelta events build on (OKX books, Bybit
	// orderbook "snapshot", Kraken book): it replaces any book built from
	// earlier events, as a Derived snapshot does.
	Base bool

	// Checksummed says Checksum holds the venue's checksum of its book
	// after this TypeBookSnapshot or TypeBookDelta (OKX, Kraken CRC32).
	Checksummed bool
	Checksum    uint32

	// Aggregated is true for a TypeTrade that aggregates trades (Binance
	// aggTrade), and for a TypeGap in such trades: aggregate trade IDs are a
	// sequence of their own, distinct from individual trade IDs.
	Aggregated bool

	// Capped is true when the venue capped a quantity of the event at the
	// largest value its precision allows (Binance writes
	// 92233720368.54775807): such a quantity is truncated to QtyScale, or
	// saturated at the largest mantissa when it does not fit. It means
	// "more than can be said", not an exact amount.
	Capped bool

	Venue string // "binance"
	// Stream is the venue's stream a TypeBookSnapshot of partial depth came
	// from ("btcusdt@depth5@100ms"): several such streams of one symbol
	// carry the same update IDs and are sequenced apart. Empty otherwise.
	Stream string
	Symbol string // the venue's symbol, upper case: "BTCUSDT"; empty for connection-wide status
	// Instrument is the venue-independent name of the symbol's market, the
	// same on every venue: "BASE-QUOTE" for spot ("BTC-USDT"; Binance's
	// BTCUSDT), "BASE-QUOTE-PERP" for a linear perpetual. Empty when the
	// venue did not say the symbol's assets, and for connection-wide status.
	// Producers set it from their symbol tables, so it is shared, not built
	// per event.
	Instrument string

	// ID is the exchange's sequence number of the event, the one that must
	// be contiguous: trade or aggregate trade ID, the last update ID of a
	// book delta, the update ID of a snapshot or top of book, the last
	// missing ID of a gap.
	ID int64
	// FirstID is the first sequence number the event covers: the first
	// update ID of a book delta, the first missing ID of a gap; equal to ID
	// for the other types.
	FirstID int64
	// PrevID is, for a TypeBookDelta of a venue whose deltas name the one
	// before them (Binance USD-M pu; Rules.BookChain ChainPrevID), the ID
	// of the previous delta of the symbol's stream; 0 otherwise.
	PrevID int64
	// GapFrom and GapTo bound, for a TypeGap of trades whose IDs cannot
	// show a gap (Rules.Trades TradeIDsOpaque), the time window in which
	// trades may be missing, ns, both excluded: the exchange times of the
	// last trade received before the loss and of the first received after
	// (the local clock when the gateway closed first). FirstID and ID are
	// 0 then.
	GapFrom, GapTo int64
	// FirstTradeID and LastTradeID are, for TypeTrade, the range of
	// individual trade IDs (equal for a single trade; the venue's range
	// for an aggregated one).
	FirstTradeID, LastTradeID int64

	// ExchangeTime is when the event happened at the exchange: the trade
	// time of a trade, the event time otherwise; 0 when the venue gives none
	// (Binance spot bookTicker and partial depth).
	ExchangeTime int64
	// EventTime is when the exchange sent the event (Binance "E"); 0 when
	// the venue gives none.
	EventTime int64
	// ReceiveTime is the local wall clock when the message was read off the
	// connection. Decoders leave it alone: the reader stamps it.
	ReceiveTime int64

	Price, Qty int64 // TypeTrade, TypeLiquidation
	Bid, Ask   Level // TypeTopOfBook: best bid and best ask

	// Bids and Asks are the levels of a TypeBookDelta or TypeBookSnapshot,
	// in the venue's order (Binance: best first). Owned by the Event.
	Bids, Asks []Level

	// Reason is a human-readable cause for TypeStatus and TypeGap events.
	Reason string

	// Stats holds the figures of a TypeCandle, TypeTicker or TypeAvgPrice
	// event; nil for the other types. Owned by the Event (CopyTo copies it).
	Stats *Stats

	// Deriv holds the figures of a TypeFunding or TypeOpenInterest event;
	// nil for the other types. Owned by the Event (CopyTo copies it).
	Deriv *Deriv
}

// Deriv are the figures of a derivative's funding and open interest. Each
// is a decimal of its own scale: the venue's mark price has more decimals
// than the tick.
type Deriv struct {
	MarkPrice  fixed.Dec // the venue's mark price
	IndexPrice fixed.Dec // the index (spot) price the mark follows
	// SettlePrice is the estimated settle price (Binance: meaningful only
	// in the last hour before a delivery contract settles); 0 when not
	// given.
	SettlePrice fixed.Dec
	// FundingRate is the rate of the next funding payment, as a fraction
	// (0.0001 is 0.01 %): longs pay shorts when it is positive.
	FundingRate fixed.Dec
	// NextFunding is when the next funding is paid, ns since the epoch; 0
	// for contracts without funding.
	NextFunding int64
	// OpenInterest is the number of contracts (base asset for linear
	// contracts) open, for TypeOpenInterest.
	OpenInterest fixed.Dec
}

// Stats are the figures of a candle, a rolling-window ticker or an average
// price. Prices are at the event's PriceScale, base volumes at its
// QtyScale; quote amounts and averages are decimals of their own scale (a
// product or a mean of prices has more decimals than the tick).
type Stats struct {
	// Window is the candle's interval ("1m", "1h", "1M", with a time zone
	// when asked for: "1h@+08:00"), the ticker's window ("24h", "1h",
	// "4h", "1d") or the average price's ("5m").
	Window string
	// OpenTime and CloseTime bound the candle or the window, ns.
	OpenTime, CloseTime int64
	// Open, High, Low, Close: prices of the first, highest, lowest and
	// last trades in it.
	Open, High, Low, Close int64
	Volume                 int64     // base asset traded
	QuoteVolume            fixed.Dec // quote asset traded
	TakerBuyVolume         int64     // candles: base asset bought by takers
	TakerBuyQuote          fixed.Dec // candles: quote asset spent by takers buying
	Avg                    fixed.Dec // tickers: volume-weighted average price; avg_price: the average
	Trades                 int64     // number of trades
	// Closed is true for the last update of a candle: its figures are final.
	Closed bool
	// Mini is true for a mini ticker (Binance miniTicker): no trade IDs,
	// trade count or average.
	Mini bool
}

// Reset clears every field except ReceiveTime and keeps the capacity of
// Bids and Asks for reuse.
func (e *Event) Reset() {
	*e = Event{ReceiveTime: e.ReceiveTime, Bids: e.Bids[:0], Asks: e.Asks[:0]}
}

// CopyTo makes dst a deep copy of e, reusing dst's level arrays.
func (e *Event) CopyTo(dst *Event) {
	bids, asks, stats, deriv := dst.Bids[:0], dst.Asks[:0], dst.Stats, dst.Deriv
	*dst = *e
	dst.Bids = append(bids, e.Bids...)
	dst.Asks = append(asks, e.Asks...)
	if e.Stats != nil {
		if stats == nil || stats == e.Stats {
			stats = new(Stats)
		}
		*stats = *e.Stats
		dst.Stats = stats
	}
	if e.Deriv != nil {
		if deriv == nil || deriv == e.Deriv {
			deriv = new(Deriv)
		}
		*deriv = *e.Deriv
		dst.Deriv = deriv
	}
}

// PriceDec returns the price mantissa m as a fixed.Dec at the event's price scale.
func (e *Event) PriceDec(m int64) fixed.Dec { return fixed.Dec{M: m, S: e.PriceScale} }

// QtyDec returns the quantity mantissa m as a fixed.Dec at the event's quantity scale.
func (e *Event) QtyDec(m int64) fixed.Dec { return fixed.Dec{M: m, S: e.QtyScale} }
