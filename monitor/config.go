package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/sink"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

// VenueMetrics are the counters of one venue of a process that runs
// several. Each function is called at every scrape, once every
// SampleInterval (the venue's row of the dashboard) and by /readyz, from
// several goroutines.
type VenueMetrics struct {
	// Name is the venue's name as its events carry it (feed.Event.Venue,
	// "binance-usdm"): its row's latency and its books are the events'
	// of that name.
	Name string
	// Gateway returns the venue's gateway counters; the zero value before
	// the gateway runs.
	Gateway func() feed.GatewayStats
	// REST and Dials: nil for none.
	REST  func() httpx.Stats
	Dials func() wsconn.BudgetStats
	// BookSymbols are the symbols of the order books the venue keeps, as
	// its events name them: the dashboard and /readyz then check each
	// venue's books against its own BooksInSync and name the venue of a
	// book not in sync. When a venue sets them, Config.BookSymbols is not
	// read for the books waiting for their first snapshot (Config.Books
	// still counts them all).
	BookSymbols []string
}

// DefaultAddr is where a Monitor listens unless told otherwise.
const DefaultAddr = "127.0.0.1:9464"

// ErrTokenRequired is returned by New for an address beyond loopback
// without a Token.
var ErrTokenRequired = errors.New("monitor: listening beyond loopback requires a bearer token")

// Config describes a Monitor. The zero value listens on DefaultAddr and
// serves the process metrics only.
type Config struct {
	// Addr is the listen address, host:port. Default DefaultAddr. A host
	// other than a loopback address or "localhost" (":9464", "0.0.0.0:9464",
	// a public name) requires Token.
	Addr string
	// Token, when set, is required on every path, as "Authorization:
	// Bearer <token>" or as the cookie the dashboard gets by opening
	// /?token=<token> once.
	Token string

	// Venue labels the gateway's metrics (venue="binance"); empty: no label.
	Venue string
	// Gateway returns the gateway's counters (feed.Gateway.Stats). It is
	// called at every scrape, once every SampleInterval, and by /readyz,
	// from several goroutines. Nil: none yet (see Monitor.SetGateway);
	// until there is one, /readyz reports not ready.
	Gateway func() feed.GatewayStats
	// REST returns the REST client's counters (httpx.Client.Stats). Nil:
	// no REST metrics.
	REST func() httpx.Stats
	// Dials returns the process-wide connection-attempt budget's counters
	// (wsconn.Budget.Stats). Nil: no budget metrics.
	Dials func() wsconn.BudgetStats
	// Venues, when set, are the venues of a process that runs several:
	// the gateway, REST and connection-attempt metrics are then served per
	// venue (venue="binance", venue="binance-usdm"), each from its own
	// counters, instead of from Gateway, REST and Dials (which still serve
	// the dashboard's totals, summed: Gateway must then list the sessions
	// venue by venue, in this order, for the dashboard to name each
	// connection by its venue). /readyz and the dashboard check each venue
	// from its own counters: every problem of a venue names it
	// (Problem.Venue), /readyz?venue=okx answers for one venue, and the
	// dashboard and its snapshot (/api/snapshot, "venues") show one row
	// per venue, in this order. Names must differ.
	Venues []VenueMetrics
	// Books is the number of order books the gateway keeps in sync (the
	// diff depth streams of a gateway with a Recovery). /readyz wants
	// GatewayStats.BooksInSync to reach it. 0: books are not checked.
	Books int
	// BookSymbols are the symbols of those books, as the venue names them
	// in events (BTCUSDT): the dashboard and /readyz show each one's sync
	// state, including the books that have not loaded a snapshot yet.
	// When set, Books defaults to its length. Without it, only the books
	// that have loaded a snapshot are named.
	BookSymbols []string
	// Checks are further readiness conditions, by name: each returns nil
	// when ready, or an error saying what is not.
	Checks map[string]func() error
	// Sinks are the outputs whose health /readyz includes, by the name it
	// reports them under ("stdout", "nats", "file:/data"). A sink is not
	// ready while its Health says so (sink.Healther: the NATS sink when no
	// server is reachable or JetStream stopped acknowledging), while events
	// are pending and none was delivered for SinkStall, or when it lost or
	// refused events in the last SinkWindow. The Monitor only reads them.
	Sinks map[string]sink.Sink
	// SinkStall is how long a sink may hold pending events without
	// delivering one before it is not ready. Default DefaultSinkStall.
	SinkStall time.Duration
	// SinkWindow is how long a sink stays not ready after it lost or
	// refused events. Default DefaultSinkWindow.
	SinkWindow time.Duration

	// ServerTime, when set, asks the venue for its clock (Binance:
	// GET /api/v3/time); the Monitor estimates the clock offset from it at
	// start and every ClockInterval, so that latency is not confused with
	// skew. Without it, call SetClockOffset.
	ServerTime func(ctx context.Context) (time.Time, error)
	// ClockInterval is how often the offset is estimated again. Default 1 minute.
	ClockInterval time.Duration
	// ClockSamples is the number of round trips per estimate; the shortest
	// one is used. Default 5.
	ClockSamples int

	// SampleInterval is how often the dashboard's figures are taken and
	// sent. Default 1s.
	SampleInterval time.Duration
	// History is the number of samples the dashboard's charts keep at
	// full resolution (its "5 min" range). Default 300 (5 minutes at 1s).
	// Older samples are kept merged: one point per 10 samples for the last
	// 3600 samples (the "1 h" range), and at most 720 points since start.
	History int

	// Logger receives the Monitor's log lines as it is, with no attribute
	// added: give it the ones that name the Monitor (component=monitor),
	// not a logger that already names another component. Nil is
	// slog.Default() with component=monitor.
	Logger *slog.Logger
}

func (c *Config) fill() error {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.ClockInterval == 0 {
		c.ClockInterval = time.Minute
	}
	if c.ClockSamples == 0 {
		c.ClockSamples = 5
	}
	if c.SampleInterval == 0 {
		c.SampleInterval = time.Second
	}
	if c.History == 0 {
		c.History = 300
	}
	if c.Books == 0 {
		c.Books = len(c.BookSymbols)
	}
	if c.SinkStall == 0 {
		c.SinkStall = DefaultSinkStall
	}
	if c.SinkWindow == 0 {
		c.SinkWindow = DefaultSinkWindow
	}
	if c.Logger == nil {
		c.Logger = slog.Default().With("component", "monitor")
	}
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("monitor: Addr %q: %w", c.Addr, err)
	}
	switch {
	case c.Token == "" && !isLoopback(host):
		return fmt.Errorf("%w: Addr %q: set Token (--http-token) or listen on 127.0.0.1", ErrTokenRequired, c.Addr)
	case strings.ContainsAny(c.Token, " \t\r\n"):
		return errors.New("monitor: Token contains white space")
	case c.ClockInterval < 0:
		return fmt.Errorf("monitor: ClockInterval %v is negative", c.ClockInterval)
	case c.ClockSamples < 1:
		return fmt.Errorf("monitor: ClockSamples %d is below 1", c.ClockSamples)
	case c.SampleInterval < 10*time.Millisecond:
		return fmt.Errorf("monitor: SampleInterval %v is below 10ms", c.SampleInterval)
	case c.History < 2:
		return fmt.Errorf("monitor: History %d is below 2", c.History)
	case c.Books < 0:
		return fmt.Errorf("monitor: Books %d is negative", c.Books)
	case len(c.BookSymbols) > 0 && c.Books != len(c.BookSymbols):
		return fmt.Errorf("monitor: Books %d but %d BookSymbols", c.Books, len(c.BookSymbols))
	case c.SinkStall < 0:
		return fmt.Errorf("monitor: SinkStall %v is negative", c.SinkStall)
	case c.SinkWindow < 0:
		return fmt.Errorf("monitor: SinkWindow %v is negative", c.SinkWindow)
	}
	for n, s := range c.Sinks {
		if s == nil {
			return fmt.Errorf("monitor: Sinks[%q] is nil", n)
		}
	}
	return nil
}

// isLoopback reports whether host names only loopback addresses.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
