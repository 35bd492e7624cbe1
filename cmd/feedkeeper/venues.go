package main

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/feedkeeper/feedkeeper/venue"
	// The venues this program offers: each registers itself.
	_ "github.com/feedkeeper/feedkeeper/venue/binance"
	_ "github.com/feedkeeper/feedkeeper/venue/binanceusdm"
	_ "github.com/feedkeeper/feedkeeper/venue/bybit"
	_ "github.com/feedkeeper/feedkeeper/venue/coinbase"
	_ "github.com/feedkeeper/feedkeeper/venue/kraken"
	_ "github.com/feedkeeper/feedkeeper/venue/okx"
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
func (c *runConfig) options(f venue.Factory) venue.Options { return c.optionsOf(c.Venue, f) }

// optionsOf returns the options of the venue name (whose factory is f),
// as options does for c's venue.
func (c *runConfig) optionsOf(name string, f venue.Factory) venue.Options {
	if o, ok := c.venueOpts[name]; ok {
		return o
	}
	if c.venueOpts == nil {
		c.venueOpts = map[string]venue.Options{}
	}
	o := f.NewOptions()
	c.venueOpts[name] = o
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

// venueEntry is one entry of the config file's venues: list, a venue of
// its own in the same process: its streams go to the same outputs and its
// figures to the same monitor.
type venueEntry struct {
	Name         string   `yaml:"name"`
	WSEndpoint   string   `yaml:"ws_endpoint"`
	RESTEndpoint string   `yaml:"rest_endpoint"`
	Streams      []string `yaml:"streams"`
	// Sections holds the entry's own settings of its venue, under the
	// venue's name (binance: {streams_per_conn: 100}); they override the
	// top level's.
	Sections map[string]yaml.Node `yaml:",inline"`
}

// venueRun is one venue of a run, resolved: the top-level venue (--venue
// and the streams), or an entry of venues:.
type venueRun struct {
	entry    int // index in venues:, -1 for the top-level venue
	name     string
	f        venue.Factory
	ws, rest string
	streams  []string
	opts     venue.Options
}

// flag names a setting of r in messages: the flag (--ws-endpoint) for the
// top-level venue, the key (venues[1].ws_endpoint) for an entry.
func (r *venueRun) flag(name string) string {
	if r.entry < 0 {
		return "--" + name
	}
	return fmt.Sprintf("venues[%d].%s", r.entry, yamlKey(name))
}

// wrap names the entry of venues: an error is about (the errors of the
// top-level venue name their flags already).
func (r *venueRun) wrap(err error) error {
	if r.entry < 0 {
		return err
	}
	return fmt.Errorf("venues[%d] (%s): %w", r.entry, r.name, err)
}

// venueRuns resolves the venues c asks for: the top-level one (--venue,
// the streams), or each entry of venues: in the config file. It checks the
// stream names and the venues' settings, before any network call.
func (c *runConfig) venueRuns() ([]venueRun, error) {
	if len(c.Venues) == 0 {
		f, err := lookupVenue(c.Venue)
		if err != nil {
			return nil, err
		}
		streams, err := venue.Expand(c.Venue, f, c.Streams)
		if err != nil {
			return nil, usageErrorf("%w", err)
		}
		c.Streams = streams
		if err := checkStreams(f, c.Streams); err != nil {
			return nil, err
		}
		def := f.Defaults()
		return []venueRun{{entry: -1, name: c.Venue, f: f, ws: cmp.Or(c.WSEndpoint, def.WSURL), rest: cmp.Or(c.RESTEndpoint, def.RESTURL),
			streams: c.Streams, opts: c.options(f)}}, nil
	}
	file := "--config " + c.configPath + ": "
	switch {
	case len(c.Streams) > 0:
		return nil, usageErrorf("%sstreams %s: with a venues: list, each entry names its streams", file, strings.Join(c.Streams, ", "))
	case c.Record != "":
		return nil, usageErrorf("--record %s: a recording holds one venue, and the config file lists %d", c.Record, len(c.Venues))
	case c.State != "":
		return nil, usageErrorf("--state %s: keeps the positions of one venue, and the config file lists %d", c.State, len(c.Venues))
	}
	var k checks
	var runs []venueRun
	for i, e := range c.Venues {
		r := venueRun{entry: i, name: e.Name, streams: e.Streams}
		f, err := venue.Lookup(e.Name)
		if err != nil {
			k.errs = append(k.errs, fmt.Errorf("%svenues[%d]: name %q: known venues are %s", file, i, e.Name, strings.Join(venue.Names(), ", ")))
			continue
		}
		r.f = f
		var ek checks
		if streams, err := venue.Expand(e.Name, f, e.Streams); err != nil {
			ek.errs = append(ek.errs, err)
		} else {
			r.streams = streams
		}
		if len(r.streams) == 0 {
			ek.errs = append(ek.errs, errors.New("no streams"))
		} else if err := checkStreams(f, r.streams); err != nil {
			ek.errs = append(ek.errs, err)
		}
		def := f.Defaults()
		r.ws, r.rest = cmp.Or(e.WSEndpoint, def.WSURL), cmp.Or(e.RESTEndpoint, def.RESTURL)
		ek.endpoint("ws-endpoint", r.ws, "wss")
		ek.endpoint("rest-endpoint", r.rest, "https")
		r.opts = f.NewOptions()
		if base, o := optionsValue(c.optionsOf(e.Name, f)), optionsValue(r.opts); base.IsValid() && o.IsValid() {
			o.Set(base) // the top level's settings, then the entry's
		}
		for _, key := range slices.Sorted(maps.Keys(e.Sections)) {
			node := e.Sections[key]
			if key != e.Name {
				ek.errs = append(ek.errs, fmt.Errorf("line %d: unknown key %q (an entry holds name, ws_endpoint, rest_endpoint, streams and its venue's section %s:)", node.Line, key, e.Name))
				continue
			}
			if _, err := loadSection(e.Name, &node, r.opts); err != nil {
				ek.errs = append(ek.errs, errors.New(yamlTypeName.ReplaceAllString(err.Error(), "")))
			}
		}
		if err := r.opts.Validate(); err != nil {
			ek.settings(err)
		}
		for _, err := range ek.errs {
			k.errs = append(k.errs, fmt.Errorf("%svenues[%d] (%s): %w", file, i, e.Name, err))
		}
		runs = append(runs, r)
	}
	if err := k.err(); err != nil {
		return nil, err
	}
	return runs, nil
}
