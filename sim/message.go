package sim

// Kind says what a stream message carries.
type Kind uint8

// Kinds of stream messages.
const (
	KindAggTrade Kind = iota + 1
	KindTrade
	KindDepth      // diff depth (depthUpdate)
	KindPartial    // partial book depth (depth5/10/20)
	KindBookTicker // best bid and ask
	KindControl    // serverShutdown and other events not tied to a symbol
	KindStats      // klines, tickers, mini tickers, average price: computed from the trades
)

var kindNames = [...]string{"", "aggTrade", "trade", "depth", "partial", "bookTicker", "control", "stats"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Message is one stream event, encoded once by the market and shared
// read-only by every connection subscribed to its stream.
type Message struct {
	Stream string // stream name as clients subscribe to it: "btcusdt@aggTrade"
	Symbol string // upper case: "BTCUSDT"; empty for control events
	Kind   Kind
	// ID is the aggregate trade ID (aggTrade), the trade ID (trade), the
	// last update ID u (depth, bookTicker) or lastUpdateId (partial).
	ID int64
	// At is the message's own time, ns, where a front-end writes one and
	// its truth looks messages up by it (Coinbase's timestamp); else 0.
	At int64
	Ms []byte // payload with times in milliseconds
	Us []byte // payload with times in microseconds; nil unless a subscriber asked for them
}

// marketSink receives what the market produces. The server's hub implements it.
type marketSink interface {
	// wants reports whether any connection subscribes to stream, and
	// whether one of them asked for times in microseconds.
	wants(stream string) (any, micros bool)
	// publish hands a message to every subscriber of m.Stream. The market
	// must not modify m afterwards.
	publish(m *Message)
}
