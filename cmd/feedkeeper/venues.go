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
func (c *runConfig) options(f venue.Factory) venue.Options { return c.optionsOf(c.Venue[0], f) }

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

// venueNames is --venue: the venues of a run, the flag repeated or comma
// separated; in the config file, a name or a list of names.
type venueNames []string

func (v venueNames) String() string { return strings.Join(v, ",") }

// UnmarshalYAML reads venue: binance, venue: binance,okx or
// venue: [binance, okx].
func (v *venueNames) UnmarshalYAML(n *yaml.Node) error {
	var list []string
	switch n.Kind {
	case yaml.ScalarNode:
		list = []string{n.Value}
	case yaml.SequenceNode:
		if err := n.Decode(&list); err != nil {
			return err
		}
	default:
		return fmt.Errorf("line %d: venue: want a venue's name or a list of names", n.Line)
	}
	*v = nil
	for _, s := range list {
		for _, name := range strings.Split(s, ",") {
			*v = append(*v, strings.TrimSpace(name))
		}
	}
	return nil
}

// venueRun is one venue of a run, resolved: the top-level venue (--venue
// and the streams), or an entry of venues:.
type venueRun struct {
	entry    int  // index in venues:, -1 for a venue of --venue
	several  bool // one of several venues of --venue
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
	if r.several {
		return fmt.Errorf("--venue %s: %w", r.name, err)
	}
	if r.entry < 0 {
		return err
	}
	return fmt.Errorf("venues[%d] (%s): %w", r.entry, r.name, err)
}

// venueRuns resolves the venues c asks for: those of --venue with the
// streams, or each entry of venues: in the config file. It checks the
// stream names and the venues' settings, before any network call.
func (c *runConfig) venueRuns() ([]venueRun, error) {
	if len(c.Venues) == 0 {
		switch len(c.Venue) {
		case 0:
			return nil, &usageError{err: &flagError{Flag: "venue", Value: "", Want: "name at least one venue: " + strings.Join(venue.Names(), ", ")}}
		case 1:
			return c.oneVenue()
		}
		return c.severalVenues()
	}
	file := "--config " + c.configPath + ": "
	if len(c.Venue) > 1 {
		return nil, usageErrorf("--venue %s: the config file's venues: list names the venues of the run", c.Venue)
	}
	if len(c.Streams) > 0 {
		return nil, usageErrorf("%sstreams %s: with a venues: list, each entry names its streams", file, strings.Join(c.Streams, ", "))
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

// oneVenue resolves the run of the one venue of --venue.
func (c *runConfig) oneVenue() ([]venueRun, error) {
	name := c.Venue[0]
	f, err := lookupVenue(name)
	if err != nil {
		return nil, err
	}
	var k checks
	for _, ep := range []struct {
		flag string
		v    *string
	}{{"ws-endpoint", &c.WSEndpoint}, {"rest-endpoint", &c.RESTEndpoint}} {
		// VENUE=URL is taken for the one venue too
		if m, err := endpointsOf(ep.flag, *ep.v, c.Venue); err == nil && m[name] != "" {
			*ep.v = m[name]
		} else if err != nil && isVenueURL(*ep.v) {
			k.errs = append(k.errs, err)
		}
	}
	var streams []string
	for _, st := range c.Streams {
		own, err := venue.Expand(name, f, []string{st})
		if errors.Is(err, venue.ErrNotListed) {
			if on := listedBy(st, name); len(on) > 0 {
				err = fmt.Errorf("%w; listed by %s: ask one of them with --venue, or several at once (--venue %s,%s)", err, strings.Join(on, ", "), name, on[0])
			}
		}
		if err != nil {
			k.errs = append(k.errs, err)
			continue
		}
		for _, s := range own {
			if !slices.Contains(streams, s) {
				streams = append(streams, s)
			}
		}
	}
	if err := k.err(); err != nil {
		return nil, err
	}
	c.Streams = streams
	if err := checkStreams(f, c.Streams); err != nil {
		return nil, err
	}
	def := f.Defaults()
	return []venueRun{{entry: -1, name: name, f: f, ws: cmp.Or(c.WSEndpoint, def.WSURL), rest: cmp.Or(c.RESTEndpoint, def.RESTURL),
		streams: c.Streams, opts: c.options(f)}}, nil
}

// listedBy returns the venues other than but that list the market of
// the stream st (in the form every venue reads).
func listedBy(st, but string) []string {
	var on []string
	for _, name := range venue.Names() {
		f, _ := venue.Lookup(name)
		if name == but {
			continue
		}
		if _, err := venue.Expand(name, f, []string{st}); err == nil {
			on = append(on, name)
		}
	}
	return on
}

// portable reports whether st is in the form every venue reads
// (trades:BTC-USDT), not a venue's own name.
func portable(st string) bool {
	return strings.Contains(st, ":") && !strings.Contains(st, "@") && !strings.Contains(st, "/")
}

// isVenueURL reports whether an endpoint flag's value is in the form
// VENUE=URL[,VENUE=URL].
func isVenueURL(v string) bool {
	name, _, ok := strings.Cut(v, "=")
	return ok && !strings.Contains(name, "/")
}

// endpointsOf reads an endpoint flag (ws-endpoint, rest-endpoint) of a run
// of the venues names: VENUE=URL[,VENUE=URL…], one URL per venue that is
// not to use its own; a plain URL only for a run of one venue. The URLs
// are not checked here.
func endpointsOf(flag, v string, names venueNames) (map[string]string, error) {
	out := map[string]string{}
	if v == "" {
		return out, nil
	}
	if !isVenueURL(v) {
		if len(names) == 1 {
			out[names[0]] = v
			return out, nil
		}
		return nil, &flagError{Flag: flag, Value: v, Want: fmt.Sprintf("an endpoint is a venue's own, and --venue names %d venues (%s): give VENUE=URL for each venue not to use its own (--%s %s=%s,…), or list the venues with their endpoints in the config file's venues:",
			len(names), names, flag, names[len(names)-1], v)}
	}
	for _, part := range strings.Split(v, ",") {
		name, u, ok := strings.Cut(part, "=")
		switch {
		case !ok || u == "":
			return nil, &flagError{Flag: flag, Value: v, Want: fmt.Sprintf("%q: want VENUE=URL", part)}
		case !slices.Contains(names, name):
			return nil, &flagError{Flag: flag, Value: v, Want: fmt.Sprintf("%q is not a venue of the run (--venue %s)", name, names)}
		case out[name] != "":
			return nil, &flagError{Flag: flag, Value: v, Want: fmt.Sprintf("%s is given twice", name)}
		}
		out[name] = u
	}
	return out, nil
}

// severalVenues resolves the runs of several venues of --venue: each
// takes the streams (all in the form every venue reads) it lists; a
// stream no venue lists is refused. The streams some venues lack are
// noted in c.skipped, for the run to log.
func (c *runConfig) severalVenues() ([]venueRun, error) {
	names := c.Venue
	var k checks
	factories := make([]venue.Factory, len(names))
	for i, name := range names {
		f, err := venue.Lookup(name)
		switch {
		case err != nil:
			k.add("venue", names.String(), fmt.Sprintf("%q: known venues are %s", name, strings.Join(venue.Names(), ", ")))
		case slices.Contains(names[:i], name):
			k.add("venue", names.String(), name+" is named twice (several entries of one venue, each with its own streams or settings: the config file's venues:)")
		}
		factories[i] = f
	}
	for _, st := range c.Streams {
		if !portable(st) {
			k.errs = append(k.errs, fmt.Errorf("stream %q: a venue's own stream name, and --venue names %d venues (%s): ask for it in the form every venue reads (%s:INSTRUMENT, e.g. trades:BTC-USDT, book:BTC-USDT-PERP), or give each venue its own streams in the config file's venues:",
				st, len(names), names, strings.Join(venue.Wants, "|")))
		}
	}
	if len(c.Streams) == 0 {
		k.errs = append(k.errs, fmt.Errorf("no streams given: name at least one in the form every venue reads, e.g. trades:BTC-USDT"))
	}
	ws, err := endpointsOf("ws-endpoint", c.WSEndpoint, names)
	if err != nil {
		k.errs = append(k.errs, err)
	}
	rest, err := endpointsOf("rest-endpoint", c.RESTEndpoint, names)
	if err != nil {
		k.errs = append(k.errs, err)
	}
	if err := k.err(); err != nil {
		return nil, err
	}
	var runs []venueRun
	lacking := map[string][]string{} // stream → the venues that do not list it
	seen := map[string]bool{}        // errors, each said once
	for i, name := range names {
		f := factories[i]
		r := venueRun{entry: -1, several: true, name: name, f: f}
		for _, st := range c.Streams {
			own, err := venue.Expand(name, f, []string{st})
			switch {
			case errors.Is(err, venue.ErrNotListed):
				lacking[st] = append(lacking[st], name)
				continue
			case err != nil:
				if !seen[err.Error()] {
					seen[err.Error()] = true
					k.errs = append(k.errs, err)
				}
				continue
			}
			for _, s := range own {
				if !slices.Contains(r.streams, s) {
					r.streams = append(r.streams, s)
				}
			}
		}
		if len(r.streams) == 0 {
			continue // it lists none of them: said in c.skipped
		}
		if err := checkStreams(f, r.streams); err != nil {
			k.errs = append(k.errs, r.wrap(err))
		}
		def := f.Defaults()
		r.ws, r.rest = cmp.Or(ws[name], def.WSURL), cmp.Or(rest[name], def.RESTURL)
		var ek checks
		ek.endpoint("ws-endpoint", r.ws, "wss")
		ek.endpoint("rest-endpoint", r.rest, "https")
		for _, err := range ek.errs {
			var fe *flagError
			if errors.As(err, &fe) {
				fe.Value = name + "=" + fe.Value // as typed
			}
			k.errs = append(k.errs, err)
		}
		r.opts = c.optionsOf(name, f)
		runs = append(runs, r)
	}
	var skipped []string
	for _, st := range c.Streams {
		switch v := lacking[st]; {
		case len(v) == len(names):
			k.errs = append(k.errs, fmt.Errorf("stream %q: no venue of --venue %s lists it", st, names))
		case len(v) > 0:
			skipped = append(skipped, fmt.Sprintf("%s not on %s", st, strings.Join(v, ",")))
		}
	}
	if err := k.err(); err != nil {
		return nil, err
	}
	c.skipped = strings.Join(skipped, "; ")
	return runs, nil
}
