// Package venue is the registry of venues, in the manner of database/sql's
// drivers: each venue package (venue/binance, …) registers a Factory under
// its name from its init function, and a program imports the venues it
// offers for that side effect:
//
//	import _ "github.com/feedkeeper/feedkeeper/venue/binance"
//
//	f, err := venue.Lookup("binance")
//	setup, err := f.Open(ctx, venue.Env{Streams: streams, TLS: tlsCfg})
//	defer setup.Close()
//
// A venue owns its settings (Options: its config section and its flags),
// its default endpoints, the check of its stream names, its recording
// metadata and how a replay rebuilds it from that metadata. The rest of the
// program names no venue.
package venue

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

// Factory builds one venue. Its methods are called from any goroutine.
type Factory interface {
	// Defaults are the venue's own endpoints.
	Defaults() Defaults
	// NewOptions returns the venue's settings with their defaults.
	NewOptions() Options
	// CheckStream checks a stream name before any network call, with an
	// error that names the stream as typed. Whether its symbol is listed is
	// known only once the venue answers (Open).
	CheckStream(name string) error
	// CompleteStream returns the stream names that complete a prefix typed
	// by the user (shell completion); nil when it knows none.
	CompleteStream(prefix string) []string
	// Open sets the venue up for env.Streams: REST client, symbols,
	// feed.Venue, recovery. Errors matching ErrBadInput are the user's
	// (a symbol the venue does not list, a bad setting); errors matching
	// ErrUnavailable say the venue could not be used. The caller owns the
	// Setup and must Close it.
	Open(ctx context.Context, env Env) (*Setup, error)
	// Replay rebuilds, from the metadata a Setup gave for a recording
	// (Setup.Meta), the venue that decodes the recorded frames. It makes no
	// network call.
	Replay(meta json.RawMessage) (feed.Venue, error)
}

// Defaults are a venue's own endpoints, used when the user gives none.
type Defaults struct {
	WSURL   string // wss://host[:port]
	RESTURL string // https://host[:port]
}

// Options are a venue's own settings: the section of the config file
// named after the venue (binance:) and the flags that set the same
// values. An implementation is a pointer to a struct whose fields carry
// yaml tags equal to the flag names with _ for -, so that the file's key
// micros and the flag --micros set the same field.
type Options interface {
	// BindFlags registers the venue's flags on fs, writing to the
	// options, and sets each field to its flag's default. The command line
	// binds every registered venue's flags on one set: a flag name must
	// not be another venue's or a generic flag's.
	BindFlags(fs *pflag.FlagSet)
	// Validate checks the values; each bad one is a *SettingError.
	Validate() error
}

// SettingError is a setting whose value is out of range or malformed. It
// names the flag and the value as typed.
type SettingError struct {
	Flag  string // without the dashes
	Value string // as typed
	Want  string // what would be accepted
}

func (e *SettingError) Error() string { return fmt.Sprintf("--%s %s: %s", e.Flag, e.Value, e.Want) }

// Env is what a Factory builds a venue from: the parts every venue of a
// process shares and what the user asked of this one.
type Env struct {
	// WSURL and RESTURL are the endpoints the user gave; empty: the
	// venue's Defaults.
	WSURL, RESTURL string
	// Streams are the stream names, each checked with CheckStream.
	Streams []string
	// TLS is the process's one TLS config; the venue's HTTP client and the
	// gateway's connections share it. Nil: httpx's default.
	TLS *tls.Config
	// Logger: nil is slog.Default().
	Logger *slog.Logger
	// Recovery asks for the venue's REST recovery (trade backfill, book
	// snapshots): Setup.Recovery and Setup.BookSymbols are set only then.
	Recovery bool
	// Dials, when set, is the connection-attempt budget the venue's
	// connections share (it stays the caller's). Nil: the venue makes its
	// own from its options (its limit per IP) and Setup.Close closes it.
	Dials *wsconn.Budget
	// Options are the venue's settings, from its NewOptions (with the
	// config file and flags applied). Nil: the defaults.
	Options Options
}

// Setup is a venue set up for a run: what every command needs of it.
type Setup struct {
	// Venue is what feed.Gateway plans, dials and decodes with.
	Venue feed.Venue
	// Recovery is the venue's REST recovery; nil unless Env.Recovery.
	Recovery feed.Recovery
	// Dials is the connection-attempt budget to give the gateway.
	Dials *wsconn.Budget
	// WSURL and RESTURL are the endpoints in use (Env's or the venue's).
	WSURL, RESTURL string
	// ServerTime asks the venue for its clock (the monitor's clock offset,
	// the lag watch). Nil: the venue has none.
	ServerTime func(ctx context.Context) (time.Time, error)
	// RESTStats returns the REST client's counters; nil: no REST client.
	RESTStats func() httpx.Stats
	// BookSymbols are the symbols, as events name them, of the streams
	// whose order books are kept in sync (with Env.Recovery).
	BookSymbols []string
	// Symbols are the symbols, as events name them, of the streams asked
	// for (market-wide streams name none).
	Symbols []string
	// Meta is the venue's recording metadata: what Factory.Replay needs to
	// rebuild the venue. Opaque to everything but the venue.
	Meta json.RawMessage
	// Release, when set, releases what the venue holds (its REST client,
	// its own dial budget, refresh goroutines); Close calls it once.
	Release func()

	once sync.Once
}

// Close releases everything the Setup holds. It is safe to call twice.
func (s *Setup) Close() error {
	s.once.Do(func() {
		if s.Release != nil {
			s.Release()
		}
	})
	return nil
}

// ErrBadInput is matched (errors.Is) by errors of Open caused by what the
// user asked for: a symbol the venue does not list, a bad setting.
var ErrBadInput = errors.New("bad input")

// ErrUnavailable is matched (errors.Is) by errors of Open saying the venue
// could not be used: unreachable, refusing, an untrusted certificate.
var ErrUnavailable = errors.New("venue unavailable")

// ErrUnknown is matched by the error of Lookup for a name no venue was
// registered under.
var ErrUnknown = errors.New("unknown venue")

type classified struct{ err, kind error }

func (e *classified) Error() string   { return e.err.Error() }
func (e *classified) Unwrap() []error { return []error{e.err, e.kind} }

// CertHint says what to do about err when it is a certificate the
// process does not trust (appended to an error message), or "".
func CertHint(err error) string {
	var unknownCA x509.UnknownAuthorityError
	var certErr *tls.CertificateVerificationError
	var hostErr x509.HostnameError
	switch {
	case errors.As(err, &hostErr):
		return " (the certificate is for another host: check the endpoint's host name)"
	case errors.As(err, &unknownCA), errors.As(err, &certErr):
		return " (the server's certificate is not trusted: for the simulator pass --ca FILE, written by feedkeeper sim --ca-out FILE)"
	}
	return ""
}

// BadInput marks err as caused by the user's input (ErrBadInput); its
// message is err's.
func BadInput(err error) error { return &classified{err, ErrBadInput} }

// Unavailable marks err as the venue being unusable (ErrUnavailable); its
// message is err's.
func Unavailable(err error) error { return &classified{err, ErrUnavailable} }

var (
	mu        sync.RWMutex
	factories = map[string]Factory{}
)

// Register makes a venue available under name. It panics when name is
// already registered or f is nil, as database/sql's Register does: call it
// from the venue package's init.
func Register(name string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if f == nil {
		panic("venue: Register of a nil Factory for " + name)
	}
	if name == "" {
		panic("venue: Register with an empty name")
	}
	if _, dup := factories[name]; dup {
		panic("venue: Register called twice for " + name)
	}
	factories[name] = f
}

// Lookup returns the venue registered under name, or an error matching
// ErrUnknown that lists the known ones.
func Lookup(name string) (Factory, error) {
	mu.RLock()
	f, ok := factories[name]
	mu.RUnlock()
	if !ok {
		known := Names()
		if len(known) == 0 {
			return nil, fmt.Errorf("%w %q: no venue is registered", ErrUnknown, name)
		}
		return nil, fmt.Errorf("%w %q: known venues are %s", ErrUnknown, name, strings.Join(known, ", "))
	}
	return f, nil
}

// Names returns the registered names, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(factories))
	for n := range factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
