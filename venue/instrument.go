package venue

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// A stream may be asked for in a form every venue understands,
// WHAT:INSTRUMENT: "trades:BTC-USDT", "book:BTC-USDT-PERP". The venue
// turns it into its own stream names (Instrumenter).

// What a user can ask of an instrument, on any venue that has it.
const (
	WantTrades       = "trades"       // every trade (the venue's aggregate trades where it has them)
	WantBook         = "book"         // the order book kept in sync (diff stream, or the stream's snapshots and deltas)
	WantTop          = "top"          // the venue's own best bid and ask
	WantFunding      = "funding"      // mark price and funding rate (perpetuals)
	WantLiquidations = "liquidations" // positions the venue closed (derivatives)
)

// Wants lists the forms, for messages.
var Wants = []string{WantTrades, WantBook, WantTop, WantFunding, WantLiquidations}

// Instrument is a venue-independent market name: BASE-QUOTE for spot,
// BASE-QUOTE-PERP for a linear perpetual, assets upper case.
type Instrument struct {
	Base, Quote string
	Perp        bool
}

func (i Instrument) String() string {
	if i.Perp {
		return i.Base + "-" + i.Quote + "-PERP"
	}
	return i.Base + "-" + i.Quote
}

var instrumentForm = regexp.MustCompile(`^([A-Z0-9]{1,20})-([A-Z0-9]{1,20})(-PERP)?$`)

// ParseInstrument reads BASE-QUOTE or BASE-QUOTE-PERP (upper case).
func ParseInstrument(s string) (Instrument, error) {
	m := instrumentForm.FindStringSubmatch(s)
	if m == nil {
		return Instrument{}, fmt.Errorf("instrument %q: want BASE-QUOTE (spot, e.g. BTC-USDT) or BASE-QUOTE-PERP (linear perpetual), upper case", s)
	}
	return Instrument{Base: m[1], Quote: m[2], Perp: m[3] != ""}, nil
}

// Instrumenter is implemented by factories that take the
// venue-independent form: the venue's streams that carry what of inst, or
// an error saying why the venue has none (a perpetual asked of a spot
// venue).
type Instrumenter interface {
	Streams(what string, inst Instrument) ([]string, error)
}

// ErrNotListed is matched by errors of Instrumenter.Streams for a market
// the venue does not have.
var ErrNotListed = errors.New("not on this venue")

// Expand replaces every WHAT:INSTRUMENT of streams with the venue's own
// stream names (in place, in order, without repeating a name), and leaves
// native names alone. Its errors name what was typed.
func Expand(name string, f Factory, streams []string) ([]string, error) {
	out := make([]string, 0, len(streams))
	seen := make(map[string]bool, len(streams))
	add := func(st string) {
		if !seen[st] {
			seen[st] = true
			out = append(out, st)
		}
	}
	var errs []error
	for _, st := range streams {
		what, inst, ok := strings.Cut(st, ":")
		if !ok || strings.Contains(st, "@") || strings.Contains(st, "/") {
			add(st)
			continue
		}
		in, ok := f.(Instrumenter)
		if !ok {
			errs = append(errs, fmt.Errorf("stream %q: venue %s takes only its own stream names", st, name))
			continue
		}
		known := false
		for _, w := range Wants {
			known = known || w == what
		}
		if !known {
			errs = append(errs, fmt.Errorf("stream %q: %q is not one of %s (WHAT:INSTRUMENT, e.g. trades:BTC-USDT)", st, what, strings.Join(Wants, ", ")))
			continue
		}
		i, err := ParseInstrument(inst)
		if err != nil {
			errs = append(errs, fmt.Errorf("stream %q: %w", st, err))
			continue
		}
		list, err := in.Streams(what, i)
		if err != nil {
			errs = append(errs, fmt.Errorf("stream %q on %s: %w", st, name, err))
			continue
		}
		for _, s := range list {
			add(s)
		}
	}
	return out, errors.Join(errs...)
}
