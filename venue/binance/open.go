package binance

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/feedkeeper/feedkeeper/venue"
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
	errs = append(errs, venue.CheckDialBudget(flags.DialBudget, dialBudget, DefaultDialBudget))
	return errors.Join(errs...)
}

// Opening is a venue's Open under way (venue.Opening), as the factories
// of Binance's markets use it.
type Opening = venue.Opening

// NewOpening starts an Open for env (venue.NewOpening): the Setup's
// endpoints are env's, or the market's wsURL and restURL where env gives
// none.
func NewOpening(env venue.Env, wsURL, restURL string) *Opening {
	return venue.NewOpening(env, wsURL, restURL)
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
