package sim

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FaultKind names a fault the simulator can inject (see docs/faults.md).
type FaultKind string

// Connection faults: checked by every WebSocket connection ten times a
// second. Prob is per connection per second; Every is measured from the
// connection's start; Times fires on the next Times checks.
const (
	FaultDrop      FaultKind = "drop"      // abrupt TCP close, no close frame
	FaultClose     FaultKind = "close"     // close frame with Code (default 1001) and Reason
	FaultStall     FaultKind = "stall"     // TCP open, no data and no pings for Duration (default: for ever)
	FaultNoPong    FaultKind = "nopong"    // client pings ignored for Duration (default: for ever)
	FaultMalformed FaultKind = "malformed" // one bad frame; Variant json|truncated|utf8|binary (default: each in turn)
	FaultOversize  FaultKind = "oversize"  // one text frame of Size bytes (default 1 MiB)
	FaultShutdown  FaultKind = "shutdown"  // serverShutdown event, then a 1001 close after Duration (default 1s)
)

// Message faults: decided for every message written to a connection, with
// the connection's own random source. Prob is per message.
const (
	FaultDepthDrop    FaultKind = "depth-drop"    // a diff depth update is not sent
	FaultDepthDup     FaultKind = "depth-dup"     // a diff depth update is sent twice
	FaultDepthReorder FaultKind = "depth-reorder" // a diff depth update is sent after the next one
	FaultTradeGap     FaultKind = "trade-gap"     // an aggTrade (or trade) is not sent
)

// TLS faults: decided for every accepted TCP connection.
const (
	FaultTLSReset     FaultKind = "tls-reset"      // the connection is reset during the handshake
	FaultTLSSlow      FaultKind = "tls-slow"       // the handshake waits Duration (default 5s) first
	FaultTLSWrongHost FaultKind = "tls-wrong-host" // a certificate for another host name, from the right CA
	FaultTLSUnknownCA FaultKind = "tls-unknown-ca" // a certificate for the right host from an unknown CA
)

// REST faults: decided for every REST request (not /sim/ paths).
const (
	FaultREST5xx       FaultKind = "rest-5xx"       // HTTP Code (default 503)
	FaultREST429       FaultKind = "rest-429"       // 429 with Retry-After (Duration, default 1s) and -1003
	FaultREST418       FaultKind = "rest-418"       // 418 ban for Duration (default BanTime)
	FaultRESTSlow      FaultKind = "rest-slow"      // the answer waits Duration (default 2s)
	FaultRESTTruncate  FaultKind = "rest-truncate"  // the body is cut in half and the connection closed
	FaultRESTBadJSON   FaultKind = "rest-bad-json"  // a 200 whose body is not JSON
	FaultStaleSnapshot FaultKind = "stale-snapshot" // /api/v3/depth answers with the book as it was Count (default 1000) updates ago
)

// Server faults.
const (
	FaultRefuse FaultKind = "refuse" // the listeners (of the venues it applies to) are closed for Duration (default 2s): connections are refused
	FaultBurst  FaultKind = "burst"  // the market makes Count (default 100000) updates at once
)

// REST faults of the trade history and the firewall: decided for every
// REST request, like the others.
const (
	// FaultRESTLag: this answer of /api/v3/aggTrades or historicalTrades
	// leaves out the trades younger than Duration (default 5s), as a
	// database that has not caught up; other endpoints do not spend it.
	FaultRESTLag FaultKind = "rest-lag"
	// FaultREST403: HTTP 403 with the HTML page of the web application
	// firewall in front of the API, no Binance error code, no Retry-After.
	FaultREST403 FaultKind = "rest-403"
)

// Market faults: server faults (checked with them by the engine, and
// carried out at once by Server.Fire) that change one symbol's market:
// Symbol, or when empty one chosen by the seed among those trading.
const (
	// FaultQtyCap: one of the five best levels of one side gets a quantity
	// too large for the base asset's precision, written as Binance caps it,
	// "92233720368.54775807", in the diff and partial depth streams, the
	// REST snapshot and the ground truth. Trades leave it capped; a later
	// cancel brings it back to a normal quantity.
	FaultQtyCap FaultKind = "qty-cap"
	// FaultHalt: the symbol goes to HALT for Duration (default 5s), then
	// back to TRADING; while halted it trades nothing, its book does not
	// move and its streams are silent.
	FaultHalt FaultKind = "halt"
	// FaultFilters: the symbol's tickSize and stepSize (Variant "tick" or
	// "step": only that one) become ten times finer, or, when already
	// changed, go back to the configured ones (see Server.SetSymbolFilters).
	FaultFilters FaultKind = "filters"
)

func init() {
	for k, c := range map[FaultKind]faultClass{
		FaultRESTLag: classREST, FaultREST403: classREST,
		FaultQtyCap: classServer, FaultHalt: classServer, FaultFilters: classServer,
	} {
		faultClasses[k] = c
	}
}

// Link faults: connection faults (checked like the others) that change the
// link rather than the stream.
const (
	// FaultThrottle: the connection's writes are paced to Rate bytes per
	// second for Duration (default: for ever), pings and control frames
	// included, as over a starved link: its messages arrive later and
	// later while the connection looks alive. Messages wait in the
	// connection's send queue (closed with 1008 when it fills, as for any
	// slow client); when the throttle ends the backlog goes at full speed.
	// A connection opened later is not throttled unless the rule fires for
	// it too (times=1 throttles one connection).
	FaultThrottle FaultKind = "throttle"
)

func init() { faultClasses[FaultThrottle] = classConn }

// Faults of the Binance USD-M front-end (Config.Venues).
const (
	// FaultPUBreak: a diff depth event of the USD-M front-end is lost on
	// the server's side: no subscriber of its stream gets it, and the
	// stream's next event carries as pu the u of the lost one, so pu is not
	// the u of the event before it, as after a gap at Binance ("If pu !=
	// the previous event's u, restart from the snapshot"). Prob is per
	// event; decided once per event for every subscriber of the stream.
	// depth-drop, depth-dup and depth-reorder apply to the USD-M diff
	// depth streams per connection as on spot.
	FaultPUBreak FaultKind = "pu-break"
)

func init() { faultClasses[FaultPUBreak] = classMessage }

// validateLink checks the throttle fault's Rate.
func (f Fault) validateLink() error {
	if f.Rate < 0 {
		return fmt.Errorf("fault %s: rate=%d is negative", f.Kind, f.Rate)
	}
	if f.Kind == FaultThrottle && f.Rate == 0 {
		return fmt.Errorf("fault throttle: give rate= (bytes per second, e.g. rate=12500 for 100 kbit/s)")
	}
	return nil
}

// validateMarket checks Symbol (any kind) and the filters fault's Variant.
func (f Fault) validateMarket() error {
	if f.Symbol != "" && strings.IndexFunc(f.Symbol, func(r rune) bool { return (r < 'A' || r > 'Z') && (r < '0' || r > '9') }) >= 0 {
		return fmt.Errorf("fault %s: symbol=%q is not a symbol (upper-case letters and digits)", f.Kind, f.Symbol)
	}
	if f.Kind == FaultFilters {
		switch f.Variant {
		case "", "tick", "step":
		default:
			return fmt.Errorf("fault filters: variant=%q is not tick or step", f.Variant)
		}
	}
	return nil
}

type faultClass uint8

const (
	classConn faultClass = iota
	classMessage
	classTLS
	classREST
	classServer
	numClasses
)

var faultClasses = map[FaultKind]faultClass{
	FaultDrop: classConn, FaultClose: classConn, FaultStall: classConn, FaultNoPong: classConn,
	FaultMalformed: classConn, FaultOversize: classConn, FaultShutdown: classConn,
	FaultDepthDrop: classMessage, FaultDepthDup: classMessage, FaultDepthReorder: classMessage, FaultTradeGap: classMessage,
	FaultTLSReset: classTLS, FaultTLSSlow: classTLS, FaultTLSWrongHost: classTLS, FaultTLSUnknownCA: classTLS,
	FaultREST5xx: classREST, FaultREST429: classREST, FaultREST418: classREST, FaultRESTSlow: classREST,
	FaultRESTTruncate: classREST, FaultRESTBadJSON: classREST, FaultStaleSnapshot: classREST,
	FaultRefuse: classServer, FaultBurst: classServer,
}

// FaultKinds lists every fault kind, sorted.
func FaultKinds() []FaultKind {
	ks := make([]FaultKind, 0, len(faultClasses))
	for k := range faultClasses {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i] < ks[j] })
	return ks
}

// Fault is one rule of fault injection. Exactly one of Prob, Every and
// Times says when it fires; the other fields are parameters of the kind.
type Fault struct {
	Kind  FaultKind
	Prob  float64       // probability per opportunity (see the kind's group)
	Every time.Duration // on a schedule
	Times int           // the next Times opportunities, then the rule is spent

	Code     int           // close code (close) or HTTP status (rest-5xx)
	Reason   string        // close reason (close)
	Duration time.Duration // length of stall, nopong, refuse, tls-slow, rest-slow, halt, rest-endless; Retry-After of rest-429/418; delay of shutdown; age of the trades rest-lag leaves out; pace of rest-huge
	Size     int           // frame size (oversize) or announced length (rest-huge)
	Count    int           // messages (burst) or updates back (stale-snapshot)
	Variant  string        // malformed: json, truncated, utf8 or binary; filters: tick or step
	Symbol   string        // the symbol of qty-cap, halt and filters (default: chosen by the seed)
	Rate     int           // bytes per second (throttle)
	// Venue aims the rule at some front-ends: their names (see Venues)
	// joined by "+", for example "okx" or "okx+bybit"; empty: every
	// front-end. A venue's own kinds (pu-break, okx-*, bybit-*, kraken-*,
	// coinbase-*: see KindVenue) apply to their venue whatever is given,
	// and naming another venue for them is an error; so it is for the
	// faults of the market every venue shares (burst, qty-cap, halt,
	// filters). Aimed at a venue, a rule spends its chances (Times, an
	// Every schedule) only on that venue's opportunities: its connections,
	// its listener's handshakes, its REST requests, its listener for
	// refuse.
	Venue string
}

func (f Fault) validate() error {
	if _, ok := faultClasses[f.Kind]; !ok {
		return fmt.Errorf("unknown fault %q (known: %v)", f.Kind, FaultKinds())
	}
	n := 0
	if f.Prob != 0 {
		n++
		if f.Prob < 0 || f.Prob > 1 || math.IsNaN(f.Prob) {
			return fmt.Errorf("fault %s: p=%v is outside 0..1", f.Kind, f.Prob)
		}
	}
	if f.Every != 0 {
		n++
		if f.Every < time.Millisecond {
			return fmt.Errorf("fault %s: every=%v is below 1ms", f.Kind, f.Every)
		}
	}
	if f.Times != 0 {
		n++
		if f.Times < 0 {
			return fmt.Errorf("fault %s: times=%d is negative", f.Kind, f.Times)
		}
	}
	if n != 1 {
		return fmt.Errorf("fault %s: give exactly one of p, every and times", f.Kind)
	}
	if f.Duration < 0 || f.Size < 0 || f.Count < 0 {
		return fmt.Errorf("fault %s: negative parameter", f.Kind)
	}
	if f.Kind == FaultClose && f.Code != 0 && (f.Code < 1000 || f.Code > 4999 || f.Code == 1005 || f.Code == 1006) {
		return fmt.Errorf("fault close: code=%d cannot be sent in a close frame", f.Code)
	}
	if f.Kind == FaultREST5xx && f.Code != 0 && (f.Code < 500 || f.Code > 599) {
		return fmt.Errorf("fault rest-5xx: code=%d is not a 5xx status", f.Code)
	}
	if f.Kind == FaultMalformed {
		switch f.Variant {
		case "", "json", "truncated", "utf8", "binary":
		default:
			return fmt.Errorf("fault malformed: variant=%q is not json, truncated, utf8 or binary", f.Variant)
		}
	}
	if len(f.Reason) > 123 {
		return fmt.Errorf("fault %s: reason is longer than 123 bytes", f.Kind)
	}
	if err := f.validateLink(); err != nil {
		return err
	}
	if err := f.validateMarket(); err != nil {
		return err
	}
	_, err := f.venueMask()
	return err
}

// String gives the fault in the form ParseFault reads.
func (f Fault) String() string {
	var parts []string
	add := func(k, v string) { parts = append(parts, k+"="+v) }
	if f.Prob != 0 {
		add("p", strconv.FormatFloat(f.Prob, 'g', -1, 64))
	}
	if f.Every != 0 {
		add("every", f.Every.String())
	}
	if f.Times != 0 {
		add("times", strconv.Itoa(f.Times))
	}
	if f.Code != 0 {
		add("code", strconv.Itoa(f.Code))
	}
	if f.Reason != "" {
		add("reason", f.Reason)
	}
	if f.Duration != 0 {
		add("duration", f.Duration.String())
	}
	if f.Size != 0 {
		add("size", strconv.Itoa(f.Size))
	}
	if f.Count != 0 {
		add("count", strconv.Itoa(f.Count))
	}
	if f.Variant != "" {
		add("variant", f.Variant)
	}
	if f.Symbol != "" {
		add("symbol", f.Symbol)
	}
	if f.Rate != 0 {
		add("rate", strconv.Itoa(f.Rate))
	}
	if f.Venue != "" {
		add("venue", f.Venue)
	}
	return string(f.Kind) + ":" + strings.Join(parts, ",")
}

// ParseFault reads a fault in the form kind:key=value,key=value, for example
// "drop:every=10s", "depth-drop:p=0.01", "close:code=1008,reason=Too many requests,times=1"
// or "drop:every=10s,venue=okx+bybit".
// Keys: p, every, times, code, reason, duration, size, count, variant, symbol, rate, venue
// (venue may be given more than once: each adds its venues). The venues
// come back in the order of Venues, whatever order they were given in.
func ParseFault(s string) (Fault, error) {
	kind, rest, _ := strings.Cut(strings.TrimSpace(s), ":")
	f := Fault{Kind: FaultKind(kind)}
	if rest != "" {
		for _, kv := range strings.Split(rest, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return Fault{}, fmt.Errorf("fault %q: %q is not key=value", s, kv)
			}
			var err error
			switch strings.TrimSpace(k) {
			case "p":
				f.Prob, err = strconv.ParseFloat(v, 64)
			case "every":
				f.Every, err = time.ParseDuration(v)
			case "times":
				f.Times, err = strconv.Atoi(v)
			case "code":
				f.Code, err = strconv.Atoi(v)
			case "reason":
				f.Reason = v
			case "duration":
				f.Duration, err = time.ParseDuration(v)
			case "size":
				f.Size, err = strconv.Atoi(v)
			case "count":
				f.Count, err = strconv.Atoi(v)
			case "variant":
				f.Variant = v
			case "symbol":
				f.Symbol = strings.ToUpper(strings.TrimSpace(v))
			case "rate":
				f.Rate, err = strconv.Atoi(v)
			case "venue":
				if f.Venue != "" {
					v = f.Venue + "+" + v
				}
				f.Venue = v
			default:
				return Fault{}, fmt.Errorf("fault %q: unknown key %q", s, k)
			}
			if err != nil {
				return Fault{}, fmt.Errorf("fault %q: %s: %w", s, k, err)
			}
		}
	}
	if err := f.validate(); err != nil {
		return Fault{}, err
	}
	f.Venue = f.canonicalVenue()
	return f, nil
}

type faultJSON struct {
	Kind     FaultKind `json:"kind"`
	Prob     float64   `json:"p,omitempty"`
	Every    string    `json:"every,omitempty"`
	Times    int       `json:"times,omitempty"`
	Code     int       `json:"code,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Duration string    `json:"duration,omitempty"`
	Size     int       `json:"size,omitempty"`
	Count    int       `json:"count,omitempty"`
	Variant  string    `json:"variant,omitempty"`
	Symbol   string    `json:"symbol,omitempty"`
	Rate     int       `json:"rate,omitempty"`
	Venue    string    `json:"venue,omitempty"`
}

// MarshalJSON writes durations as strings ("5s").
func (f Fault) MarshalJSON() ([]byte, error) {
	j := faultJSON{Kind: f.Kind, Prob: f.Prob, Times: f.Times, Code: f.Code, Reason: f.Reason,
		Size: f.Size, Count: f.Count, Variant: f.Variant, Symbol: f.Symbol, Rate: f.Rate, Venue: f.Venue}
	if f.Every != 0 {
		j.Every = f.Every.String()
	}
	if f.Duration != 0 {
		j.Duration = f.Duration.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes, and validates it.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var j faultJSON
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	g := Fault{Kind: j.Kind, Prob: j.Prob, Times: j.Times, Code: j.Code, Reason: j.Reason,
		Size: j.Size, Count: j.Count, Variant: j.Variant, Symbol: j.Symbol, Rate: j.Rate, Venue: j.Venue}
	var err error
	if j.Every != "" {
		if g.Every, err = time.ParseDuration(j.Every); err != nil {
			return fmt.Errorf("fault %s: every: %w", j.Kind, err)
		}
	}
	if j.Duration != "" {
		if g.Duration, err = time.ParseDuration(j.Duration); err != nil {
			return fmt.Errorf("fault %s: duration: %w", j.Kind, err)
		}
	}
	if err := g.validate(); err != nil {
		return err
	}
	g.Venue = g.canonicalVenue()
	*f = g
	return nil
}

// rule is an active fault with its firing state.
type rule struct {
	id   uint64
	f    Fault
	aim  aim       // the venues it applies to
	next time.Time // next due time of a global schedule
	left int       // Times left
}

// faults holds the active fault rules. It is safe for concurrent use; the
// per-class flags let hot paths skip it when no fault of a class is active.
type faults struct {
	seed   int64
	mu     sync.Mutex
	rules  []*rule
	nextID uint64
	active [numClasses]atomic.Bool
	fired  map[FaultKind]*atomic.Int64
	// firedBy counts by venue, then kind; fixed after newFaults.
	firedBy map[string]map[FaultKind]*atomic.Int64
	// owner is the venue of each random source made while that venue's
	// front-end started (starting), guarded by mu: hit decides for that
	// venue the opportunities the source decides.
	owner    map[*rand.Rand]string
	starting string
}

func newFaults(seed int64) *faults {
	fs := &faults{seed: seed, fired: make(map[FaultKind]*atomic.Int64, len(faultClasses)),
		firedBy: make(map[string]map[FaultKind]*atomic.Int64, len(knownVenues)), owner: map[*rand.Rand]string{}}
	for k := range faultClasses {
		fs.fired[k] = new(atomic.Int64)
	}
	for _, v := range knownVenues {
		m := make(map[FaultKind]*atomic.Int64, len(faultClasses))
		for k := range faultClasses {
			m[k] = new(atomic.Int64)
		}
		fs.firedBy[v] = m
	}
	return fs
}

// rng returns a random source for one opportunity stream (a connection, the
// REST handler), derived from the seed so that a run can be replayed. A
// source made while a venue's front-end starts (see startVenue) belongs to
// that venue.
func (fs *faults) rng(stream uint64) *rand.Rand {
	r := rand.New(rand.NewPCG(uint64(fs.seed), stream))
	fs.mu.Lock()
	if fs.starting != "" {
		fs.owner[r] = fs.starting
	}
	fs.mu.Unlock()
	return r
}

// startVenue says which venue's front-end is starting: the random sources
// made until the next call ("" when none is starting) belong to it.
func (fs *faults) startVenue(venue string) {
	fs.mu.Lock()
	fs.starting = venue
	fs.mu.Unlock()
}

func (fs *faults) set(list []Fault) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.rules = fs.rules[:0]
	for _, f := range list {
		fs.addLocked(f)
	}
	fs.refreshLocked()
}

func (fs *faults) add(f Fault) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.addLocked(f)
	fs.refreshLocked()
}

func (fs *faults) addLocked(f Fault) {
	fs.nextID++
	r := &rule{id: fs.nextID, f: f, aim: aimOf(f), left: f.Times}
	if f.Every > 0 {
		r.next = time.Now().Add(f.Every)
	}
	fs.rules = append(fs.rules, r)
}

func (fs *faults) refreshLocked() {
	var on [numClasses]bool
	for _, r := range fs.rules {
		on[faultClasses[r.f.Kind]] = true
	}
	for c := range on {
		fs.active[c].Store(on[c])
	}
}

func (fs *faults) list() []Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := make([]Fault, 0, len(fs.rules))
	for _, r := range fs.rules {
		g := r.f
		if g.Times > 0 {
			g.Times = r.left
		}
		out = append(out, g)
	}
	return out
}

// counts returns how often each kind has fired.
func (fs *faults) counts() map[FaultKind]int64 {
	out := make(map[FaultKind]int64)
	for k, c := range fs.fired {
		if n := c.Load(); n > 0 {
			out[k] = n
		}
	}
	return out
}

// countsByVenue returns how often each kind has fired at each venue; a
// venue at which nothing fired is left out.
func (fs *faults) countsByVenue() map[string]map[FaultKind]int64 {
	out := make(map[string]map[FaultKind]int64)
	for v, m := range fs.firedBy {
		for k, c := range m {
			if n := c.Load(); n > 0 {
				if out[v] == nil {
					out[v] = make(map[FaultKind]int64)
				}
				out[v][k] = n
			}
		}
	}
	return out
}

func (fs *faults) count(k FaultKind) { fs.fired[k].Add(1) }

// countAt counts a firing of kind k in the totals and at venue (a venue's
// own kind at its venue; nothing by venue when the venue is not known).
func (fs *faults) countAt(venue string, k FaultKind) {
	fs.fired[k].Add(1)
	fs.countVenue(venue, k)
}

// countVenue counts a firing of kind k at venue only.
func (fs *faults) countVenue(venue string, k FaultKind) {
	if own := KindVenue(k); own != "" {
		venue = own
	}
	if m := fs.firedBy[venue]; m != nil {
		m[k].Add(1)
	}
}

// hit decides one opportunity of class c for a global (not per-connection)
// schedule: the first active rule of that class that fires is returned.
// accept filters the kinds that apply to this opportunity (nil: all). The
// opportunity is the venue's that owns rng (see rng), or of no known
// venue; hitAt names it.
func (fs *faults) hit(c faultClass, rng *rand.Rand, now time.Time, accept func(FaultKind) bool) (Fault, bool) {
	if !fs.active[c].Load() {
		return Fault{}, false
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.hitLocked(fs.owner[rng], c, rng, now, accept)
}

// hitAt is hit at an opportunity of venue: only the rules that apply to
// venue are decided (anyVenue: every rule).
func (fs *faults) hitAt(venue string, c faultClass, rng *rand.Rand, now time.Time, accept func(FaultKind) bool) (Fault, bool) {
	if !fs.active[c].Load() {
		return Fault{}, false
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.hitLocked(venue, c, rng, now, accept)
}

func (fs *faults) hitLocked(venue string, c faultClass, rng *rand.Rand, now time.Time, accept func(FaultKind) bool) (Fault, bool) {
	for i, r := range fs.rules {
		if faultClasses[r.f.Kind] != c || !r.aim.at(venue) || (accept != nil && !accept(r.f.Kind)) {
			continue
		}
		if fs.firesLocked(i, r, rng, now, 1) {
			fs.countAt(venue, r.f.Kind)
			return r.f, true
		}
	}
	return Fault{}, false
}

// firesLocked decides rule r at one opportunity; frac scales a probability
// given per second to the opportunity's share of a second.
func (fs *faults) firesLocked(i int, r *rule, rng *rand.Rand, now time.Time, frac float64) bool {
	switch {
	case r.f.Times > 0:
		r.left--
		if r.left <= 0 {
			fs.rules = append(fs.rules[:i:i], fs.rules[i+1:]...)
			fs.refreshLocked()
		}
		return true
	case r.f.Every > 0:
		if now.Before(r.next) {
			return false
		}
		r.next = now.Add(r.f.Every)
		return true
	default:
		p := r.f.Prob
		if frac != 1 {
			p = 1 - math.Pow(1-p, frac)
		}
		return rng.Float64() < p
	}
}

// connSchedule is one connection's view of the connection-class rules:
// Every is measured from the connection's start. It belongs to the
// connection's watchLoop, which checks on its own clock whatever the
// writer is doing.
type connSchedule struct {
	start time.Time
	next  map[uint64]time.Time
	rng   *rand.Rand
	// last is when the connection last checked its faults (its start
	// before the first check).
	last time.Time
	// venue is the venue of the front-end the connection came to: only
	// the rules that apply to it are decided.
	venue string
}

// connCheckEvery is how often a connection checks its faults.
const connCheckEvery = 100 * time.Millisecond

// connHits returns the connection faults that fire for one connection at
// now. A probability per second applies to the time since the
// connection's last check, however long: a check that comes late (a
// loaded machine) gets the late time's chances, so the rate per
// connection and second holds whatever the rhythm of the checks.
func (fs *faults) connHits(cs *connSchedule, now time.Time) []Fault {
	if cs.last.IsZero() {
		cs.last = cs.start
	}
	elapsed := now.Sub(cs.last).Seconds()
	if elapsed < 0 {
		elapsed = 0
	}
	cs.last = now
	if !fs.active[classConn].Load() {
		return nil
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out []Fault
	for i := 0; i < len(fs.rules); i++ {
		r := fs.rules[i]
		if faultClasses[r.f.Kind] != classConn || !r.aim.at(cs.venue) {
			continue
		}
		fire := false
		if r.f.Every > 0 {
			due, ok := cs.next[r.id]
			if !ok {
				due = cs.start.Add(r.f.Every)
			}
			if !now.Before(due) {
				fire = true
				due = now.Add(r.f.Every)
			}
			cs.next[r.id] = due
		} else {
			n := len(fs.rules)
			fire = (elapsed > 0 || r.f.Times > 0) && fs.firesLocked(i, r, cs.rng, now, elapsed)
			if len(fs.rules) < n {
				i-- // the rule was spent and removed
			}
		}
		if fire {
			fs.countAt(cs.venue, r.f.Kind)
			out = append(out, r.f)
		}
	}
	return out
}

// REST faults of a hostile or broken server: answers far larger than any
// of Binance's, decided for every REST request like the others. Each is a
// 200 carrying the real answer without its last byte, then spaces (JSON
// whitespace: the value never ends within what is sent), so a client that
// reads it all holds it all.
const (
	// FaultRESTHuge: the answer's Content-Length announces Size bytes
	// (default 200 MiB; at least the real answer's length). The body is
	// written as fast as the client reads it, or, with Duration, at the
	// pace that would send the whole of it in Duration; the connection is
	// cut after half of the announced length, so it never completes.
	FaultRESTHuge FaultKind = "rest-huge"
	// FaultRESTEndless: the answer has no Content-Length (chunked on
	// HTTP/1.1) and never ends: spaces are written as fast as the client
	// reads them until it goes away, or, with Duration, until Duration has
	// passed, when the connection is cut.
	FaultRESTEndless FaultKind = "rest-endless"
)

// DefaultHugeSize is the Content-Length a rest-huge answer announces when
// its Size is 0.
const DefaultHugeSize = 200 << 20

func init() {
	faultClasses[FaultRESTHuge] = classREST
	faultClasses[FaultRESTEndless] = classREST
}
