package binance

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/venue"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

// ConnFlags name the flags of the settings every venue of Binance's markets
// takes, for the errors of CheckConnSettings: each market names them
// apart, as they share the command line.
type ConnFlags struct {
	StreamsPerConn     string // "streams-per-conn"
	RefreshInstruments string // "refresh-instruments"
	DialBudget         string // "dial-budget"
}

// CheckConnSettings checks the settings every venue of Binance's markets
// takes against the ranges its flags state: streams per connection in
// 1..maxPerConn, a refresh period that is not negative (0 turns it off),
// a dial budget of the form LIMIT/WINDOW. It returns a *venue.SettingError
// naming the flag and the value for each bad one, joined.
func CheckConnSettings(flags ConnFlags, perConn, maxPerConn int, refresh time.Duration, dialBudget string) error {
	var errs []error
	if perConn < 1 || perConn > maxPerConn {
		errs = append(errs, &venue.SettingError{Flag: flags.StreamsPerConn, Value: fmt.Sprint(perConn), Want: fmt.Sprintf("out of range 1..%d", maxPerConn)})
	}
	if refresh < 0 {
		errs = append(errs, &venue.SettingError{Flag: flags.RefreshInstruments, Value: refresh.String(), Want: "must not be negative (0 turns it off)"})
	}
	if _, err := wsconn.ParseBudget(dialBudget); err != nil {
		errs = append(errs, &venue.SettingError{Flag: flags.DialBudget, Value: dialBudget, Want: "want LIMIT/WINDOW, e.g. 240/5m"})
	}
	return errors.Join(errs...)
}

// Opening is a venue's Open under way, shared by the factories of
// Binance's markets: the Setup it fills and what the Setup holds. The
// Setup's Release releases what Hold was given, last first; Close the
// Setup when the Open fails.
type Opening struct {
	Setup   *venue.Setup
	release []func()
}

// NewOpening starts an Open for env: the Setup's endpoints are env's, or
// the market's wsURL and restURL where env gives none.
func NewOpening(env venue.Env, wsURL, restURL string) *Opening {
	o := &Opening{Setup: &venue.Setup{WSURL: env.WSURL, RESTURL: env.RESTURL}}
	if o.Setup.WSURL == "" {
		o.Setup.WSURL = wsURL
	}
	if o.Setup.RESTURL == "" {
		o.Setup.RESTURL = restURL
	}
	o.Setup.Release = func() {
		for i := len(o.release) - 1; i >= 0; i-- {
			o.release[i]()
		}
	}
	return o
}

// Hold adds release to what the Setup's Release runs.
func (o *Opening) Hold(release func()) { o.release = append(o.release, release) }

// REST returns the REST client of cfg (the market's RESTConfig of the
// Setup's RESTURL), held by the Setup. A bad config is venue.BadInput
// naming --rest-endpoint.
func (o *Opening) REST(cfg httpx.Config) (*httpx.Client, error) {
	rest, err := httpx.New(cfg)
	if err != nil {
		return nil, venue.BadInput(fmt.Errorf("--rest-endpoint %s: %w", o.Setup.RESTURL, err))
	}
	o.Hold(func() { rest.Close() })
	return rest, nil
}

// Dials sets the Setup's dial budget: env's when it gives one, else one of
// its own, held by the Setup, of spec (LIMIT/WINDOW, the setting of the
// flag named flag, which a bad spec's venue.BadInput names).
func (o *Opening) Dials(env venue.Env, flag, spec string) error {
	if o.Setup.Dials = env.Dials; o.Setup.Dials != nil {
		return nil
	}
	bc, err := wsconn.ParseBudget(spec)
	if err != nil {
		return venue.BadInput(fmt.Errorf("--%s %s: %w", flag, spec, err))
	}
	bc.Logger = env.Logger
	dials, err := wsconn.NewBudget(bc)
	if err != nil {
		return venue.BadInput(fmt.Errorf("--%s %s: %w", flag, spec, err))
	}
	o.Hold(func() { dials.Close() })
	o.Setup.Dials = dials
	return nil
}

// RefreshEvery is the refresh period of a venue's config for the
// --refresh-instruments setting of Binance's markets, whose 0 turns it
// off: -1 (never) for 0.
func RefreshEvery(setting time.Duration) time.Duration {
	if setting == 0 {
		return -1
	}
	return setting
}

// StreamsOfSymbols returns the streams, of streams, whose symbol is one of
// symbols (in any case): what the user typed for them, for errors.
func StreamsOfSymbols(streams, symbols []string) []string {
	var named []string
	for _, st := range streams {
		sym, _, _ := strings.Cut(st, "@")
		for _, s := range symbols {
			if strings.EqualFold(sym, s) {
				named = append(named, st)
			}
		}
	}
	return named
}
