package sim

import (
	"fmt"
	"strings"
	"time"
)

// Config sets up a simulator. The zero value is usable: every field has the
// default of the real service (or a sensible one for a local simulator).
type Config struct {
	// Addr is the TCP address to listen on. Default "127.0.0.1:0" (a random port).
	Addr string
	// CertDir, when set, is where the CA and server certificate are loaded
	// from (ca.pem, ca-key.pem) and written to when absent. Empty: a fresh CA
	// is generated in memory on every start.
	CertDir string

	// Seed makes the market and the faults deterministic. Default 1.
	Seed int64
	// Symbols traded. Default BTCUSDT, ETHUSDT, BNBUSDT, SOLUSDT. A symbol
	// trades with its real tick and step sizes when the simulator knows it,
	// with sizes derived from its name otherwise; NAME:TICK:STEP gives its
	// own, powers of ten written as decimals, e.g. "DOGEUSDT:0.00001:1" (a
	// step of 1: whole quantities, the base asset precision at which a
	// capped depth quantity has more decimals than the step allows).
	Symbols []string
	// Rate is the number of market updates (trades and order-book changes)
	// per second over all symbols. Default 50. Negative: the market does not
	// move on its own (tests drive it with Server.Advance).
	Rate int
	// TradeShare is the fraction of market updates that are trades (0..1).
	// Default 0.3.
	TradeShare float64
	// History is how many aggregate trades per symbol are kept for REST
	// backfill (with every individual trade they cover), and how many book
	// updates per symbol are kept for ground truth. Default 100000.
	History int
	// Levels is the number of price levels per side the book starts with.
	// Default 500.
	Levels int

	// PingInterval is how often the server pings each connection. Default 20s.
	PingInterval time.Duration
	// PongTimeout closes a connection whose last ping got no pong in time.
	// Default 1 minute.
	PongTimeout time.Duration
	// MaxLifetime closes a connection (code 1001) this long after it opened.
	// Default 24h.
	MaxLifetime time.Duration
	// MaxIncoming is the number of incoming messages per second (pings,
	// pongs and requests) above which the connection is closed with 1008.
	// Default 5.
	MaxIncoming int
	// MaxStreams per connection. Default 1024.
	MaxStreams int
	// MaxFrame is the largest incoming frame the server reads. Default 64 KiB.
	MaxFrame int
	// SendQueue is the number of messages queued for one connection before
	// the server closes it as too slow (1008). Default 65536. A close
	// frame (this one or any other) that the socket does not take within
	// 10 s, as to a client that stopped reading, becomes an abrupt drop.
	SendQueue int

	// WeightLimit is the REST request weight allowed per WeightWindow.
	// Default 6000.
	WeightLimit int
	// WeightWindow is the window the weight is counted in, a whole number
	// of seconds, aligned on the clock. exchangeInfo publishes it and the
	// used-weight header is named after it (X-MBX-USED-WEIGHT-1M for a
	// minute, -5S for five seconds). Default one minute.
	WeightWindow time.Duration
	// BanAfter is how many requests over the limit a client may make before
	// it is banned with 418. Default 5.
	BanAfter int
	// BanTime is how long the first ban lasts. Default 2 minutes.
	BanTime time.Duration

	// Faults active from the start.
	Faults []Fault

	// RESTLag is how far GET /api/v3/aggTrades and historicalTrades lag
	// the streams: trades younger than this are not served yet (an empty or
	// short page near the live edge, as from the real endpoints, whose data
	// source is the database). GET /api/v3/trades (memory) does not lag.
	// Default 200ms; negative: no lag.
	RESTLag time.Duration

	// WebSocket streams computed from the market's trades, and the
	// connection-attempt budget.

	// TickerEvery is how often <symbol>@miniTicker, !miniTicker@arr,
	// <symbol>@ticker, <symbol>@ticker_<1h|4h|1d> and <symbol>@avgPrice send
	// an event ("Update Speed: 1000ms"). Default one second.
	TickerEvery time.Duration
	// Kline1sEvery is how often <symbol>@kline_1s sends an event ("1000ms
	// for 1s"). Default one second.
	Kline1sEvery time.Duration
	// KlineEvery is how often the klines of every other interval send an
	// event ("2000ms for the other intervals"). Default two seconds. A
	// kline that closes is sent once more, with "x":true, at the first
	// event after its close.
	KlineEvery time.Duration
	// ConnAttemptLimit is how many WebSocket connection attempts one client
	// IP may make per ConnAttemptWindow ("There is a limit of 300
	// connections per attempt every 5 minutes per IP"). Every upgrade
	// request counts, refused ones included; over the budget the upgrade is
	// answered with HTTP 429. Default 300.
	ConnAttemptLimit int
	// ConnAttemptWindow is the sliding window ConnAttemptLimit is counted
	// over. Default 5 minutes.
	ConnAttemptWindow time.Duration
	// KeepOpenAfterInvalidStream keeps a connection open after it asked for
	// a malformed stream name. By default the simulator closes it (1008)
	// after the error reply, as Binance has been seen to do.
	KeepOpenAfterInvalidStream bool

	// Venues lists the front-ends served besides Binance spot, each on a
	// listener of its own: VenueBinanceUSDM, VenueBybit, VenueOKX, VenueKraken. Empty: spot only.
	Venues []string
	// USDM configures the Binance USD-M futures front-end.
	USDM USDMConfig
	// Bybit configures the Bybit front-end (VenueBybit).
	Bybit BybitConfig
	// Kraken configures the Kraken front-end (VenueKraken).
	Kraken KrakenConfig
	// OKX configures the OKX front-end.
	OKX OKXConfig
	// Coinbase configures the Coinbase front-end.
	Coinbase CoinbaseConfig
}

// restLagDefault is Config.RESTLag's default.
const restLagDefault = 200 * time.Millisecond

// symbolEntry is one item of Config.Symbols: a name, with its own tick and
// step exponents when given as NAME:TICK:STEP.
type symbolEntry struct {
	name             string
	custom           bool
	tickExp, stepExp int
}

// parseSymbolEntry reads one item of Config.Symbols (upper case).
func parseSymbolEntry(v string) (symbolEntry, error) {
	name, rest, custom := strings.Cut(v, ":")
	e := symbolEntry{name: name, custom: custom}
	if name == "" || strings.IndexFunc(name, func(r rune) bool { return (r < 'A' || r > 'Z') && (r < '0' || r > '9') }) >= 0 {
		return e, fmt.Errorf("sim: Symbols: %q is not a symbol (letters and digits only)", name)
	}
	if !custom {
		return e, nil
	}
	tick, step, ok := strings.Cut(rest, ":")
	if !ok {
		return e, fmt.Errorf("sim: Symbols: %q is not NAME:TICK:STEP", v)
	}
	if e.tickExp, ok = parsePow10(tick); !ok || e.tickExp < -8 || e.tickExp > 3 {
		return e, fmt.Errorf("sim: Symbols: %q: tick %q is not a power of ten from 0.00000001 to 1000", v, tick)
	}
	if e.stepExp, ok = parsePow10(step); !ok || e.stepExp < -8 || e.stepExp > 3 {
		return e, fmt.Errorf("sim: Symbols: %q: step %q is not a power of ten from 0.00000001 to 1000", v, step)
	}
	return e, nil
}

// DefaultSymbols are traded when Config.Symbols is empty.
var DefaultSymbols = []string{"BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT"}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if len(c.Symbols) == 0 {
		c.Symbols = DefaultSymbols
	}
	syms := make([]string, len(c.Symbols))
	for i, s := range c.Symbols {
		syms[i] = strings.ToUpper(strings.TrimSpace(s))
	}
	c.Symbols = syms
	if c.Rate == 0 {
		c.Rate = 50
	}
	if c.TradeShare == 0 {
		c.TradeShare = 0.3
	}
	if c.History == 0 {
		c.History = 100000
	}
	if c.Levels == 0 {
		c.Levels = 500
	}
	if c.PingInterval == 0 {
		c.PingInterval = 20 * time.Second
	}
	if c.PongTimeout == 0 {
		c.PongTimeout = time.Minute
	}
	if c.MaxLifetime == 0 {
		c.MaxLifetime = 24 * time.Hour
	}
	if c.MaxIncoming == 0 {
		c.MaxIncoming = 5
	}
	if c.MaxStreams == 0 {
		c.MaxStreams = 1024
	}
	if c.MaxFrame == 0 {
		c.MaxFrame = 64 << 10
	}
	if c.SendQueue == 0 {
		c.SendQueue = 65536
	}
	if c.WeightLimit == 0 {
		c.WeightLimit = 6000
	}
	if c.WeightWindow == 0 {
		c.WeightWindow = time.Minute
	}
	if c.BanAfter == 0 {
		c.BanAfter = 5
	}
	if c.BanTime == 0 {
		c.BanTime = 2 * time.Minute
	}
	if c.RESTLag == 0 {
		c.RESTLag = restLagDefault
	}
	c = c.streamDefaults()
	return c
}

// streamDefaults fills in the stream cadences and the connection-attempt
// budget.
func (c Config) streamDefaults() Config {
	if c.TickerEvery == 0 {
		c.TickerEvery = time.Second
	}
	if c.Kline1sEvery == 0 {
		c.Kline1sEvery = time.Second
	}
	if c.KlineEvery == 0 {
		c.KlineEvery = 2 * time.Second
	}
	if c.ConnAttemptLimit == 0 {
		c.ConnAttemptLimit = 300
	}
	if c.ConnAttemptWindow == 0 {
		c.ConnAttemptWindow = 5 * time.Minute
	}
	return c
}

// validateStreams checks the fields streamDefaults fills in.
func (c Config) validateStreams() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"TickerEvery", c.TickerEvery}, {"Kline1sEvery", c.Kline1sEvery}, {"KlineEvery", c.KlineEvery}, {"ConnAttemptWindow", c.ConnAttemptWindow}} {
		if d.v < 10*time.Millisecond {
			return fmt.Errorf("sim: %s: %v is below 10ms", d.name, d.v)
		}
	}
	if c.ConnAttemptLimit < 1 {
		return fmt.Errorf("sim: ConnAttemptLimit: %d must be at least 1", c.ConnAttemptLimit)
	}
	return nil
}

func (c Config) validate() error {
	if err := c.validateStreams(); err != nil {
		return err
	}
	if err := c.validateVenues(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, v := range c.Symbols {
		e, err := parseSymbolEntry(v)
		if err != nil {
			return err
		}
		if seen[e.name] {
			return fmt.Errorf("sim: Symbols: %q given twice", e.name)
		}
		seen[e.name] = true
	}
	if c.TradeShare < 0 || c.TradeShare > 1 {
		return fmt.Errorf("sim: TradeShare: %v is outside 0..1", c.TradeShare)
	}
	if c.History < 10 {
		return fmt.Errorf("sim: History: %d is below 10", c.History)
	}
	if c.Levels < 20 || c.Levels > 20000 {
		return fmt.Errorf("sim: Levels: %d is outside 20..20000", c.Levels)
	}
	for name, d := range map[string]time.Duration{"PingInterval": c.PingInterval, "PongTimeout": c.PongTimeout, "MaxLifetime": c.MaxLifetime, "BanTime": c.BanTime} {
		if d < 0 {
			return fmt.Errorf("sim: %s: %v is negative", name, d)
		}
	}
	if c.WeightWindow < time.Second || c.WeightWindow%time.Second != 0 {
		return fmt.Errorf("sim: WeightWindow: %v is not a whole number of seconds", c.WeightWindow)
	}
	for name, n := range map[string]int{"MaxIncoming": c.MaxIncoming, "MaxStreams": c.MaxStreams, "MaxFrame": c.MaxFrame, "SendQueue": c.SendQueue, "WeightLimit": c.WeightLimit, "BanAfter": c.BanAfter} {
		if n < 1 {
			return fmt.Errorf("sim: %s: %d must be at least 1", name, n)
		}
	}
	for i, f := range c.Faults {
		if err := f.validate(); err != nil {
			return fmt.Errorf("sim: Faults[%d]: %w", i, err)
		}
		if f.Symbol != "" && len(c.Symbols) > 0 && !seen[f.Symbol] {
			return fmt.Errorf("sim: Faults[%d]: %s: symbol=%q is not traded", i, f.Kind, f.Symbol)
		}
	}
	return nil
}
