package venue

import (
	"context"
	"fmt"
	"net/url"

	"github.com/spf13/pflag"

	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

// DefaultOptions returns a venue's settings, a *T, with their defaults:
// the flags' defaults BindFlags sets (Factory.NewOptions).
func DefaultOptions[T any, O interface {
	*T
	Options
}]() O {
	o := O(new(T))
	o.BindFlags(pflag.NewFlagSet("defaults", pflag.ContinueOnError))
	return o
}

// OptionsOf returns env.Options as the venue's own settings, a *T, or
// DefaultOptions when env gives none, after checking them: a failed check
// is BadInput with Validate's errors. The error of an Options of another
// type (a program's mistake, not the user's) names both types, after the
// venue's package name pkg.
func OptionsOf[T any, O interface {
	*T
	Options
}](env Env, pkg string) (O, error) {
	var opts O
	if env.Options == nil {
		opts = DefaultOptions[T, O]()
	} else {
		var ok bool
		if opts, ok = env.Options.(O); !ok {
			var zero O
			return zero, fmt.Errorf("%s: Env.Options is a %T, not %T", pkg, env.Options, zero)
		}
	}
	if err := opts.Validate(); err != nil {
		var zero O
		return zero, BadInput(err)
	}
	return opts, nil
}

// Opening is a Factory's Open under way: the Setup it fills and what the
// Setup holds. The Setup's Release releases what Hold was given, last
// first; Close the Setup when the Open fails. Not safe for concurrent use.
type Opening struct {
	Setup   *Setup
	release []func()
}

// NewOpening starts an Open for env: the Setup's endpoints are env's, or
// the venue's wsURL and restURL where env gives none.
func NewOpening(env Env, wsURL, restURL string) *Opening {
	o := &Opening{Setup: &Setup{WSURL: env.WSURL, RESTURL: env.RESTURL}}
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

// CloseOnError closes the Setup, releasing what it holds, when *err is
// set: deferred by an Open with a named error result, it undoes a failed
// Open.
func (o *Opening) CloseOnError(err *error) {
	if *err != nil {
		o.Setup.Close()
	}
}

// Hold adds release to what the Setup's Release runs.
func (o *Opening) Hold(release func()) { o.release = append(o.release, release) }

// REST returns the REST client of cfg (the venue's config of the Setup's
// RESTURL), held by the Setup. A bad config is BadInput naming
// --rest-endpoint.
func (o *Opening) REST(cfg httpx.Config) (*httpx.Client, error) {
	rest, err := httpx.New(cfg)
	if err != nil {
		return nil, BadInput(fmt.Errorf("--rest-endpoint %s: %w", o.Setup.RESTURL, err))
	}
	o.Hold(func() { rest.Close() })
	return rest, nil
}

// Dials sets the Setup's dial budget: env's when it gives one, else one of
// its own, held by the Setup, of spec (LIMIT/WINDOW, the setting of the
// flag named flag, which a bad spec's BadInput names).
func (o *Opening) Dials(env Env, flag, spec string) error {
	if o.Setup.Dials = env.Dials; o.Setup.Dials != nil {
		return nil
	}
	bc, err := wsconn.ParseBudget(spec)
	if err != nil {
		return BadInput(fmt.Errorf("--%s %s: %w", flag, spec, err))
	}
	bc.Logger = env.Logger
	dials, err := wsconn.NewBudget(bc)
	if err != nil {
		return BadInput(fmt.Errorf("--%s %s: %w", flag, spec, err))
	}
	o.Hold(func() { dials.Close() })
	o.Setup.Dials = dials
	return nil
}

// LoadError is the error of an Open whose first REST call, the reading of
// the venue's instrument list (what names it: "symbols", "contracts",
// "instruments"), failed with err: ctx's error when ctx ended, else
// Unavailable naming --rest-endpoint endpoint, with CertHint's advice.
func LoadError(ctx context.Context, endpoint, what string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return Unavailable(fmt.Errorf("--rest-endpoint %s: cannot load the %s: %w%s", endpoint, what, err, CertHint(err)))
}

// CheckDialBudget checks a dial-budget setting, LIMIT/WINDOW, of the flag
// named flag: nil, or a *SettingError citing example as the form wanted.
func CheckDialBudget(flag, spec, example string) error {
	if _, err := wsconn.ParseBudget(spec); err != nil {
		return &SettingError{Flag: flag, Value: spec, Want: "want LIMIT/WINDOW, e.g. " + example}
	}
	return nil
}

// IsWSURL reports whether s is a ws:// or wss:// URL naming a host: the
// form a venue's WebSocket endpoint takes.
func IsWSURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "wss" || u.Scheme == "ws") && u.Host != ""
}
