package main

import (
	"errors"
	"strings"

	"github.com/spf13/pflag"

	"github.com/feedkeeper/feedkeeper/venue"
	// The venues this program offers: each registers itself.
	_ "github.com/feedkeeper/feedkeeper/venue/binance"
)

// defaultVenue is --venue when not given.
const defaultVenue = "binance"

// venueDefaults returns the default endpoints of the venue name (none for
// a name not registered).
func venueDefaults(name string) venue.Defaults {
	f, err := venue.Lookup(name)
	if err != nil {
		return venue.Defaults{}
	}
	return f.Defaults()
}

// lookupVenue returns the venue of --venue, or a usage error that lists
// the known ones.
func lookupVenue(name string) (venue.Factory, error) {
	f, err := venue.Lookup(name)
	if err != nil {
		return nil, &usageError{err: &flagError{Flag: "venue", Value: name, Want: "known venues are " + strings.Join(venue.Names(), ", ")}}
	}
	return f, nil
}

// bindVenues binds the flags of every venue's options; a venue's flags
// set the same values as its section of the config file.
func (c *runConfig) bindVenues(fs *pflag.FlagSet) {
	c.venueOpts = map[string]venue.Options{}
	for _, name := range venue.Names() {
		f, _ := venue.Lookup(name)
		o := f.NewOptions()
		own := pflag.NewFlagSet(name, pflag.ContinueOnError)
		o.BindFlags(own)
		own.VisitAll(func(fl *pflag.Flag) {
			fl.Usage = name + ": " + fl.Usage // --help says whose it is
			fs.AddFlag(fl)
		})
		c.venueOpts[name] = o
	}
}

// options returns the options of c's venue: bound to flags and read from
// the config file, or the venue's defaults for a command without them.
func (c *runConfig) options(f venue.Factory) venue.Options {
	if o, ok := c.venueOpts[c.Venue]; ok {
		return o
	}
	if c.venueOpts == nil {
		c.venueOpts = map[string]venue.Options{}
	}
	o := f.NewOptions()
	c.venueOpts[c.Venue] = o
	return o
}

// settings adds the errors of a venue's Options.Validate, naming the flag.
func (k *checks) settings(err error) {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var se *venue.SettingError
		if errors.As(e, &se) {
			k.add(se.Flag, se.Value, se.Want)
		} else {
			k.errs = append(k.errs, e)
		}
	}
}

// venueError maps an error of a venue's Open to the exit codes: the
// user's input, or a venue that could not be used.
func venueError(err error) error {
	switch {
	case errors.Is(err, venue.ErrBadInput):
		return &usageError{err: err}
	case errors.Is(err, venue.ErrUnavailable):
		return &unavailableError{err: err}
	}
	return err
}
