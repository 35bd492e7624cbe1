package wsconn

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/time/rate"
)

// SlowPolicy says what a session does when its consumer falls behind and
// the frame queue is full.
type SlowPolicy uint8

const (
	// Block stops reading (TCP flow control pushes back on the server) for
	// at most Config.BlockTimeout; if the queue is still full then, the
	// connection is dropped and replaced, and a Gap frame tells the consumer
	// to recover what it missed.
	Block SlowPolicy = iota
	// Drop discards the frame at once, counts it, and queues a Gap frame
	// (coalesced) so the consumer knows data was lost.
	Drop
)

func (p SlowPolicy) String() string {
	if p == Drop {
		return "drop"
	}
	return "block"
}

// Config describes one resilient WebSocket session. The zero value of every
// field but URL is a sensible default.
type Config struct {
	// URL of the WebSocket endpoint: wss://host:port/path?query.
	URL string
	// AltURLs are other endpoints of the same streams (another host of the
	// venue). A connection replaced on request (Session.Replace: a link that
	// falls behind) goes to the next of URL, AltURLs… in turn; reconnects
	// after a failure stay where they were.
	AltURLs []string
	// Name identifies the session in logs and errors (default: the URL's path).
	Name string
	// Subscribe returns the messages to send after every connect, in order:
	// they are paced by MessageRate. Called once per connection.
	Subscribe func() [][]byte
	// IsShutdown reports whether a data frame announces that the server is
	// about to close the connection (Binance's serverShutdown): the session
	// then rotates to a new connection at once. Must be cheap and must not
	// keep the frame.
	IsShutdown func(frame []byte) bool

	// TLS is the process-wide TLS configuration, shared by every connection
	// and never modified; its ClientSessionCache gives session resumption
	// on reconnect. Nil: DefaultTLS(), the process default that httpx
	// uses too (system roots, one session cache).
	TLS *tls.Config
	// Header is sent with the handshake.
	Header http.Header
	// Proxy chooses a proxy per connection. Nil: http.ProxyFromEnvironment
	// (HTTPS_PROXY, NO_PROXY).
	Proxy func(*http.Request) (*url.URL, error)
	// HandshakeTimeout bounds TCP connect, TLS and WebSocket handshakes. Default 10s.
	HandshakeTimeout time.Duration

	// PingInterval is how often the session pings the server. Default 15s.
	PingInterval time.Duration
	// StaleTimeout declares a connection dead when no frame at all (data,
	// ping, pong) arrived for this long. Default 3 × PingInterval, at least 5s.
	StaleTimeout time.Duration
	// Keepalive is an application-level ping, for venues that require one
	// besides (or instead of) WebSocket pings; off when its Interval is 0.
	Keepalive Keepalive
	// ReadLimit is the largest frame accepted; a larger one is refused
	// before it is read and the connection replaced. Default 1 MiB.
	ReadLimit int64

	// BackoffMin and BackoffMax bound the reconnect delay: capped
	// exponential backoff with full jitter. Defaults 100ms and 30s.
	BackoffMin, BackoffMax time.Duration
	// StableAfter resets the backoff once a connection has lived this
	// long: the next reconnect is quick again. Default 2s; the Dials
	// budget keeps a flapping server from causing a storm.
	StableAfter time.Duration
	// PolicyBackoff is the least wait before reconnecting after the server
	// closed the connection for a policy (1008: too many messages), which
	// venues punish when repeated: the retry is slower than after other
	// closes, and the backoff goes two steps up. Default 1s (at most
	// BackoffMax).
	PolicyBackoff time.Duration
	// Dials limits connection attempts: every attempt waits for it, the
	// first connect, every reconnect and every rotation's replacement.
	// Share one between every session that counts against the same limit
	// (a venue's per-IP limit) so a mass disconnect never becomes a storm.
	// Nil: DefaultBudget(), shared by every session of the process that
	// leaves Dials nil (240 attempts in any 5 minutes, paced).
	Dials DialLimiter
	// Subscribes, when set, also paces subscribe messages: share one
	// limiter between every session of a venue so a mass reconnect
	// resubscribes at a steady rate.
	Subscribes *rate.Limiter
	// MessageRate bounds the messages this session sends on one connection
	// (subscriptions, pings), per second. Default 3: Binance closes a
	// connection past 5 incoming messages a second, pongs included.
	MessageRate float64

	// Lifetime is the server's maximum connection lifetime (Binance: 24h).
	// The session opens a replacement RotateBefore it ends, subscribes,
	// and closes the old one once the new one delivers data. 0: never rotate
	// on a schedule.
	Lifetime time.Duration
	// RotateBefore is how long before Lifetime the rotation starts. Default
	// 10% of Lifetime, at most 5 minutes.
	RotateBefore time.Duration
	// Overlap is the longest the old connection is kept once its
	// replacement is subscribed, waiting for the new one's first data
	// frame. Default 5s.
	Overlap time.Duration

	// QueueFrames and QueueBytes bound the frames waiting for the consumer.
	// Defaults 4096 frames and 16 MiB.
	QueueFrames int
	QueueBytes  int
	// Slow is the policy when the queue is full. Default Block.
	Slow SlowPolicy
	// BlockTimeout bounds how long Block waits. Default 5s.
	BlockTimeout time.Duration

	// Logger receives one line per connect, disconnect (with the reason,
	// close code and text) and rotation. Nil: slog.Default().
	Logger *slog.Logger
}

// Keepalive is a venue's application-level ping: a message the client
// sends on a schedule and the venue answers in a data frame (OKX: the text
// "ping", answered "pong", and a connection closed after 30 s without a
// message; Bybit: {"op":"ping"} every 20 s; Kraken: {"method":"ping"}).
type Keepalive struct {
	// Interval is how often each connection sends Message, counted against
	// MessageRate. 0: no application-level ping.
	Interval time.Duration
	// Message returns the message to send, called for each ping (a venue
	// may want a fresh request ID in it).
	Message func() []byte
	// IsReply reports whether a text frame is the venue's answer to the
	// ping. Answers are counted (Stats.AppPongs) and not delivered to the
	// consumer. It must be cheap and must not keep the frame. Nil: answers
	// are delivered like any frame.
	IsReply func(frame []byte) bool
	// Timeout, when set, declares a connection dead (ErrStale) when the
	// answer to a ping has not come after this long, even if other frames
	// keep coming. 0: only StaleTimeout's silence counts.
	Timeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.Name == "" {
		if u, err := url.Parse(c.URL); err == nil {
			c.Name = u.Host + u.Path
		}
	}
	if c.Proxy == nil {
		c.Proxy = http.ProxyFromEnvironment
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.PingInterval == 0 {
		c.PingInterval = 15 * time.Second
	}
	if c.StaleTimeout == 0 {
		c.StaleTimeout = max(3*c.PingInterval, 5*time.Second)
	}
	if c.ReadLimit == 0 {
		c.ReadLimit = 1 << 20
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = 100 * time.Millisecond
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = 30 * time.Second
	}
	if c.StableAfter == 0 {
		c.StableAfter = 2 * time.Second
	}
	if c.PolicyBackoff == 0 {
		c.PolicyBackoff = time.Second
	}
	c.PolicyBackoff = min(c.PolicyBackoff, c.BackoffMax)
	if c.Dials == nil {
		c.Dials = DefaultBudget()
	}
	if c.MessageRate == 0 {
		c.MessageRate = 3
	}
	if c.Lifetime > 0 && c.RotateBefore == 0 {
		c.RotateBefore = min(c.Lifetime/10, 5*time.Minute)
	}
	if c.Overlap == 0 {
		c.Overlap = 5 * time.Second
	}
	if c.QueueFrames == 0 {
		c.QueueFrames = 4096
	}
	if c.QueueBytes == 0 {
		c.QueueBytes = 16 << 20
	}
	if c.BlockTimeout == 0 {
		c.BlockTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("wsconn: URL %q: %w", c.URL, err)
	}
	if u.Scheme != "wss" && u.Scheme != "ws" {
		return fmt.Errorf("wsconn: URL %q: scheme must be wss (or ws)", c.URL)
	}
	if u.Host == "" {
		return fmt.Errorf("wsconn: URL %q: no host", c.URL)
	}
	for i, alt := range c.AltURLs {
		if a, err := url.Parse(alt); err != nil || (a.Scheme != "wss" && a.Scheme != "ws") || a.Host == "" {
			return fmt.Errorf("wsconn: AltURLs[%d] %q: want wss://host[:port]/path", i, alt)
		}
	}
	if c.TLS != nil && c.TLS.InsecureSkipVerify {
		return fmt.Errorf("wsconn: TLS: InsecureSkipVerify is refused; pass the server's CA instead")
	}
	for name, d := range map[string]time.Duration{"HandshakeTimeout": c.HandshakeTimeout, "PingInterval": c.PingInterval,
		"StaleTimeout": c.StaleTimeout, "BackoffMin": c.BackoffMin, "BackoffMax": c.BackoffMax, "StableAfter": c.StableAfter,
		"Overlap": c.Overlap, "BlockTimeout": c.BlockTimeout} {
		if d <= 0 {
			return fmt.Errorf("wsconn: %s: %v must be positive", name, d)
		}
	}
	if c.BackoffMax < c.BackoffMin {
		return fmt.Errorf("wsconn: BackoffMax %v is below BackoffMin %v", c.BackoffMax, c.BackoffMin)
	}
	if c.StaleTimeout <= c.PingInterval {
		return fmt.Errorf("wsconn: StaleTimeout %v must exceed PingInterval %v (pongs keep a quiet connection alive)", c.StaleTimeout, c.PingInterval)
	}
	if c.Lifetime < 0 || c.RotateBefore < 0 || (c.Lifetime > 0 && c.RotateBefore >= c.Lifetime) {
		return fmt.Errorf("wsconn: RotateBefore %v must be below Lifetime %v", c.RotateBefore, c.Lifetime)
	}
	if c.ReadLimit < 1024 {
		return fmt.Errorf("wsconn: ReadLimit %d is below 1024", c.ReadLimit)
	}
	if c.QueueFrames < 1 || c.QueueBytes < int(c.ReadLimit) {
		return fmt.Errorf("wsconn: QueueFrames %d must be positive and QueueBytes %d at least ReadLimit %d", c.QueueFrames, c.QueueBytes, c.ReadLimit)
	}
	if c.MessageRate <= 0 {
		return fmt.Errorf("wsconn: MessageRate %v must be positive", c.MessageRate)
	}
	if c.Slow > Drop {
		return fmt.Errorf("wsconn: Slow: unknown policy %d", c.Slow)
	}
	if k := c.Keepalive; k.Interval != 0 || k.Message != nil || k.Timeout != 0 {
		switch {
		case k.Interval <= 0:
			return fmt.Errorf("wsconn: Keepalive.Interval %v must be positive", k.Interval)
		case k.Message == nil:
			return fmt.Errorf("wsconn: Keepalive.Message is required with an Interval")
		case k.Timeout < 0 || (k.Timeout > 0 && k.IsReply == nil):
			return fmt.Errorf("wsconn: Keepalive.Timeout %v needs IsReply and must not be negative", k.Timeout)
		case float64(time.Second)/float64(k.Interval) >= c.MessageRate:
			return fmt.Errorf("wsconn: Keepalive.Interval %v sends MessageRate %v messages a second or more", k.Interval, c.MessageRate)
		}
	}
	return nil
}
