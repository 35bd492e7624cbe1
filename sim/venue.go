package sim

import (
	"fmt"
	"strings"
	"time"
)

// Venue names: the protocol front-ends the simulator serves. Binance spot is
// always served, on Config.Addr; every other front-end listed in
// Config.Venues gets a TLS listener of its own (the real venues have hosts
// of their own), with a certificate from the same CA, on the same market.
const (
	VenueBinance     = "binance"      // Binance spot: /ws, /stream, /api/v3/
	VenueBinanceUSDM = "binance-usdm" // Binance USD-M futures: /public, /market, /fapi/v1/
)

// knownVenues are the names Config.Venues accepts.
var knownVenues = []string{VenueBinance, VenueBinanceUSDM, VenueBybit, VenueOKX, VenueKraken, VenueCoinbase}

// Venues lists the front-ends the simulator can serve.
func Venues() []string { return append([]string{}, knownVenues...) }

// Endpoint is where one venue's front-end is served.
type Endpoint struct {
	Venue   string `json:"venue"`   // VenueBinance, VenueBinanceUSDM, …
	WSURL   string `json:"wsUrl"`   // base of the WebSocket routes: wss://host:port
	RESTURL string `json:"restUrl"` // base of the REST API: https://host:port
}

// Endpoints lists the front-ends being served, Binance spot first.
func (s *Server) Endpoints() []Endpoint {
	out := []Endpoint{{Venue: VenueBinance, WSURL: s.WSURL(), RESTURL: s.RESTURL()}}
	if s.usdm != nil {
		out = append(out, Endpoint{Venue: VenueBinanceUSDM, WSURL: s.usdm.WSURL(), RESTURL: s.usdm.RESTURL()})
	}
	if s.bybit != nil {
		out = append(out, Endpoint{Venue: VenueBybit, WSURL: s.bybit.WSURL(), RESTURL: s.bybit.RESTURL()})
	}
	if s.okx != nil {
		out = append(out, Endpoint{Venue: VenueOKX, WSURL: s.okx.WSURL(), RESTURL: s.okx.RESTURL()})
	}
	if s.kraken != nil {
		out = append(out, Endpoint{Venue: VenueKraken, WSURL: s.kraken.WSURL(), RESTURL: s.kraken.RESTURL()})
	}
	if s.coinbase != nil {
		out = append(out, Endpoint{Venue: VenueCoinbase, WSURL: s.coinbase.WSURL(), RESTURL: s.coinbase.RESTURL()})
	}
	return out
}

// Kraken returns the Kraken front-end, or nil when Config.Venues does not
// list VenueKraken.
func (s *Server) Kraken() *Kraken { return s.kraken }

// Coinbase returns the Coinbase front-end, or nil when Config.Venues does
// not list VenueCoinbase.
func (s *Server) Coinbase() *Coinbase { return s.coinbase }

// OKX returns the OKX front-end, or nil when Config.Venues does not list
// VenueOKX.
func (s *Server) OKX() *OKX { return s.okx }

// USDM returns the Binance USD-M futures front-end, or nil when
// Config.Venues does not list VenueBinanceUSDM.
func (s *Server) USDM() *USDM { return s.usdm }

// Bybit returns the Bybit front-end, or nil when Config.Venues does not
// list VenueBybit.
func (s *Server) Bybit() *Bybit { return s.bybit }

// USDMConfig sets up the Binance USD-M futures front-end. The zero value
// has the limits of the real service (Binance's USDⓈ-M "Websocket Market
// Streams" and "General Info" pages).
type USDMConfig struct {
	// Addr is the TCP address of its listener. Default "127.0.0.1:0".
	Addr string
	// PingInterval: "The websocket server will send a ping frame every 3
	// minutes." Default 3 minutes.
	PingInterval time.Duration
	// PongTimeout: "If the websocket server does not receive a pong frame
	// back from the connection within a 10 minute period, the connection
	// will be disconnected." Default 10 minutes.
	PongTimeout time.Duration
	// MaxLifetime: "A single connection is only valid for 24 hours; expect
	// to be disconnected at the 24 hour mark." Default 24h.
	MaxLifetime time.Duration
	// MaxIncoming: "Websocket connections have a limit of 10 incoming
	// messages per second." Over it the connection is closed (1008).
	// Default 10.
	MaxIncoming int
	// MaxStreams: "A single connection can listen to a maximum of 200
	// streams." Default 200.
	MaxStreams int
	// WeightLimit is the REST REQUEST_WEIGHT per minute per client IP
	// (exchangeInfo's rateLimits: 2400). Default 2400.
	WeightLimit int
	// StreamTick is how often the front-end looks at the market for new
	// trades and book changes: the latency of its real-time streams
	// (aggTrade, bookTicker). Default 10ms.
	StreamTick time.Duration
}

func (c USDMConfig) withDefaults() USDMConfig {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	c.PingInterval = orDefault(c.PingInterval, 3*time.Minute)
	c.PongTimeout = orDefault(c.PongTimeout, 10*time.Minute)
	c.MaxLifetime = orDefault(c.MaxLifetime, 24*time.Hour)
	c.MaxIncoming = orDefault(c.MaxIncoming, 10)
	c.MaxStreams = orDefault(c.MaxStreams, 200)
	c.WeightLimit = orDefault(c.WeightLimit, 2400)
	c.StreamTick = orDefault(c.StreamTick, 10*time.Millisecond)
	return c
}

func (c USDMConfig) validate() error {
	if err := atLeast("USDM", 1, "must be positive", []named[time.Duration]{{"PingInterval", c.PingInterval}, {"PongTimeout", c.PongTimeout}, {"MaxLifetime", c.MaxLifetime}}); err != nil {
		return err
	}
	if err := checkTick("USDM.StreamTick", c.StreamTick); err != nil {
		return err
	}
	return atLeast("USDM", 1, "must be at least 1", []named[int]{{"MaxIncoming", c.MaxIncoming}, {"MaxStreams", c.MaxStreams}, {"WeightLimit", c.WeightLimit}})
}

// validateVenues checks Config.Venues and the configuration of the venues
// it lists.
func (c Config) validateVenues() error {
	seen := map[string]bool{}
	for _, v := range c.Venues {
		known := false
		for _, k := range knownVenues {
			known = known || v == k
		}
		if !known {
			return fmt.Errorf("sim: Venues: %q is not a venue (known: %s)", v, strings.Join(knownVenues, ", "))
		}
		if seen[v] {
			return fmt.Errorf("sim: Venues: %q given twice", v)
		}
		seen[v] = true
	}
	if seen[VenueBinanceUSDM] {
		if err := c.USDM.withDefaults().validate(); err != nil {
			return err
		}
	}
	if seen[VenueBybit] {
		if err := c.Bybit.withDefaults().validate(); err != nil {
			return err
		}
	}
	if seen[VenueKraken] {
		if err := c.Kraken.withDefaults().validate(); err != nil {
			return err
		}
	}
	if seen[VenueOKX] {
		if err := c.OKX.withDefaults().validate(); err != nil {
			return err
		}
	}
	if seen[VenueCoinbase] {
		if err := c.Coinbase.withDefaults().validate(); err != nil {
			return err
		}
	}
	for i, f := range c.Faults {
		if err := f.validate(); err != nil {
			return fmt.Errorf("sim: Faults[%d]: %w", i, err)
		}
		if err := c.checkServed(f); err != nil {
			return fmt.Errorf("sim: Faults[%d]: %w", i, err)
		}
	}
	return nil
}

// serves reports whether the configuration lists venue.
func (c Config) serves(venue string) bool {
	for _, v := range c.Venues {
		if v == venue {
			return true
		}
	}
	return false
}
