package sim

import (
	"encoding/json"
	"fmt"
	"strings"
)

// anyVenue is the venue of an opportunity that belongs to every venue: the
// market engine's, which decides the server faults (refuse then acts on
// the listeners of the venues the rule is aimed at).
const anyVenue = "*"

// venueBit is venue's bit in a venue mask (its place in knownVenues), 0
// for a name that is not a venue.
func venueBit(venue string) uint64 {
	for i, v := range knownVenues {
		if v == venue {
			return 1 << i
		}
	}
	return 0
}

// venueNames lists the venues of mask in the order of Venues.
func venueNames(mask uint64) []string {
	var out []string
	for i, v := range knownVenues {
		if mask&(1<<i) != 0 {
			out = append(out, v)
		}
	}
	return out
}

// KindVenue is the venue whose front-end alone carries out faults of kind
// k: VenueBinanceUSDM for pu-break, the venue a kind's name starts with
// (okx-seq-break: VenueOKX; bybit-*, kraken-*, coinbase-* alike), or ""
// for a kind every front-end can carry out in its own shape.
func KindVenue(k FaultKind) string {
	if k == FaultPUBreak {
		return VenueBinanceUSDM
	}
	own := ""
	for _, v := range knownVenues {
		if strings.HasPrefix(string(k), v+"-") && len(v) > len(own) {
			own = v
		}
	}
	return own
}

// marketFault reports whether k changes the market every venue shares, so
// that it cannot be aimed at one venue.
func marketFault(k FaultKind) bool {
	switch k {
	case FaultBurst, FaultQtyCap, FaultHalt, FaultFilters:
		return true
	}
	return false
}

// venueMask reads f.Venue into the mask of the venues the rule applies
// to: the kind's own venue for a venue's own kind, the venues named, or 0
// for every venue. Its errors quote Venue as given.
func (f Fault) venueMask() (uint64, error) {
	own := KindVenue(f.Kind)
	var mask uint64
	if f.Venue != "" {
		for _, name := range strings.Split(f.Venue, "+") {
			bit := venueBit(name)
			switch {
			case name == "":
				return 0, fmt.Errorf("fault %s: venue=%q has an empty name (join venues with +, e.g. venue=okx+bybit)", f.Kind, f.Venue)
			case bit == 0:
				return 0, fmt.Errorf("fault %s: venue=%q: %q is not a venue (known: %s)", f.Kind, f.Venue, name, strings.Join(knownVenues, ", "))
			case mask&bit != 0:
				return 0, fmt.Errorf("fault %s: venue=%q names %s twice", f.Kind, f.Venue, name)
			case own != "" && name != own:
				return 0, fmt.Errorf("fault %s: venue=%q: %s is a fault of %s alone, it cannot be aimed at %s", f.Kind, f.Venue, f.Kind, own, name)
			case marketFault(f.Kind):
				return 0, fmt.Errorf("fault %s: venue=%q: %s changes the market every venue shares; it cannot be aimed at a venue", f.Kind, f.Venue, f.Kind)
			}
			mask |= bit
		}
	}
	if own != "" {
		mask = venueBit(own)
	}
	return mask, nil
}

// canonicalVenue is Venue with its names in the order of Venues ("" when
// none is given). f must be valid.
func (f Fault) canonicalVenue() string {
	if f.Venue == "" {
		return ""
	}
	mask, _ := f.venueMask()
	return strings.Join(venueNames(mask), "+")
}

// Venues lists the venues the rule applies to, in the order of the
// package's Venues: the kind's own venue (see KindVenue), else those
// Venue names; nil when it applies to every venue. f must be valid.
func (f Fault) Venues() []string {
	mask, _ := f.venueMask()
	return venueNames(mask)
}

// aim is where a rule applies: the venues of its mask (0: every venue);
// bound when its kind is a venue's own.
type aim struct {
	mask  uint64
	bound bool
}

// aimOf reads where f applies; f must be valid.
func aimOf(f Fault) aim {
	mask, _ := f.venueMask()
	return aim{mask: mask, bound: KindVenue(f.Kind) != ""}
}

// at reports whether the rule is decided at an opportunity of venue:
// anyVenue is the engine's (every rule), "" one whose venue is not known
// (a random source no venue owns: the rules aimed at no venue, and a
// venue's own kinds, which only that venue's code asks for).
func (a aim) at(venue string) bool {
	switch {
	case a.mask == 0 || venue == anyVenue:
		return true
	case venue == "":
		return a.bound
	}
	return a.mask&venueBit(venue) != 0
}

// checkServed refuses a fault aimed at a venue the configuration does not
// serve: it would never fire. A venue's own kinds named without Venue
// are let through, as before venues could be named.
func (c Config) checkServed(f Fault) error {
	if f.Venue == "" {
		return nil
	}
	for _, v := range f.Venues() {
		if !c.serves(v) && v != VenueBinance {
			serving := append([]string{VenueBinance}, c.Venues...)
			return fmt.Errorf("fault %s: venue=%q: %s is not served (serving: %s; Config.Venues, --venues)", f.Kind, f.Venue, v, strings.Join(serving, ", "))
		}
	}
	return nil
}

// venue is the venue of the front-end c came to.
func (c *wsConn) venue() string {
	if c.fe != nil {
		return c.fe.venue
	}
	return VenueBinance
}

// FaultCountsByVenue says how often each fault kind fired at each venue:
// on its connections, its handshakes, its REST requests, its streams (a
// venue's own kinds count at their venue), its listener (refuse). The
// faults of the shared market (burst, qty-cap, halt, filters) count in
// FaultCounts alone, as does a rule fired where the venue is not known.
func (s *Server) FaultCountsByVenue() map[string]map[FaultKind]int64 {
	return s.faults.countsByVenue()
}

// faultView is an active rule as the admin endpoints list it: the fault's
// JSON with the venues it applies to.
type faultView struct {
	f      Fault
	venues []string
}

// MarshalJSON writes the fault's fields and "venues".
func (v faultView) MarshalJSON() ([]byte, error) {
	b, err := v.f.MarshalJSON()
	if err != nil {
		return nil, err
	}
	vs, err := json.Marshal(v.venues)
	if err != nil {
		return nil, err
	}
	out := append(b[:len(b)-1:len(b)-1], `,"venues":`...)
	out = append(out, vs...)
	return append(out, '}'), nil
}

// faultViews lists the active rules with their venues: those a rule names
// or its kind's, else every venue served.
func (s *Server) faultViews() []faultView {
	var served []string
	for _, ep := range s.Endpoints() {
		served = append(served, ep.Venue)
	}
	list := s.Faults()
	out := make([]faultView, len(list))
	for i, f := range list {
		vs := f.Venues()
		if vs == nil {
			vs = served
		}
		out[i] = faultView{f: f, venues: vs}
	}
	return out
}
