package kraken

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/feedkeeper/feedkeeper/fixed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/venue"
)

// ChannelInstrument is the reference-data channel ("Instruments"): a
// snapshot of every asset and pair with its precisions, then updates.
const ChannelInstrument = "instrument"

// instrumentSubscribe asks for the instrument channel with its snapshot.
// It carries no req_id: it subscribes no stream of the plan.
var instrumentSubscribe = []byte(`{"method":"subscribe","params":{"channel":"instrument","snapshot":true}}`)

// SymbolSource gives the pair table in force: a *Symbols, or the
// *Instruments that keep it current.
type SymbolSource interface {
	Table() *Symbols
}

// Table returns t itself: a fixed table is its own source.
func (t *Symbols) Table() *Symbols { return t }

// Instruments keeps the pair table in force while the venue runs. It
// starts from AssetPairs (pair_decimals, lot_decimals) and takes the
// precisions of the instrument channel (price_precision, qty_precision)
// where they differ: Kraken's checksum guide ("Book checksum (WebSocket
// v2)") formats prices and quantities at those, so a pair whose REST
// listing disagrees would fail every checksum at AssetPairs' decimals. A
// disagreement with AssetPairs is logged once per pair and precisions,
// and counted (InstrumentStats.Disagreements); a later change of a pair's
// precisions on the channel (an update, a refresh) is logged and counted
// as a change. A change takes effect for the events decoded after it;
// the pair's book is then rebuilt from a new snapshot (see Decoder).
// Safe for concurrent use; lookups do not allocate.
type Instruments struct {
	tab venue.Table[Symbols]
	log *slog.Logger

	mu          sync.Mutex
	assetPairs  map[string][2]uint8 // AssetPairs' precisions of each pair, as last read
	told        map[string][2]uint8 // the precisions last logged for a pair
	fromChannel map[string]bool     // pairs whose precisions the instrument channel gave
	watched     map[string]bool     // pairs streamed (Watch); nil: every pair
	status      map[string]string   // the instrument channel's status of each pair watched

	disagreements, changes, refreshes, refreshErrors, listed atomic.Int64
}

// InstrumentStats counts how the pair table changed while running.
type InstrumentStats struct {
	// Disagreements counts pairs whose instrument-channel precisions
	// differed from AssetPairs' (each pair and precisions once).
	Disagreements int64
	// Changes counts precision changes taken after the first values.
	Changes int64
	// Listed counts pairs added to the table by a refresh.
	Listed int64
	// Refreshes and RefreshErrors count the reads of AssetPairs made by
	// the refresh loop, and those that failed.
	Refreshes, RefreshErrors int64
}

// NewInstruments starts from table, AssetPairs' precisions; log nil is
// slog.Default().
func NewInstruments(table *Symbols, log *slog.Logger) *Instruments {
	if log == nil {
		log = slog.Default()
	}
	in := &Instruments{log: log, assetPairs: map[string][2]uint8{}, told: map[string][2]uint8{}, fromChannel: map[string]bool{}, status: map[string]string{}}
	for _, s := range table.List() {
		in.assetPairs[s.Name] = [2]uint8{s.PriceScale, s.QtyScale}
	}
	in.tab.Store(table)
	return in
}

// Table returns the table in force.
func (in *Instruments) Table() *Symbols { return in.tab.Load() }

// Stats returns the counters.
func (in *Instruments) Stats() InstrumentStats {
	return InstrumentStats{Disagreements: in.disagreements.Load(), Changes: in.changes.Load(), Listed: in.listed.Load(),
		Refreshes: in.refreshes.Load(), RefreshErrors: in.refreshErrors.Load()}
}

// instrumentPair is one pair of the instrument channel's data.pairs.
type instrumentPair struct {
	Symbol         string `json:"symbol"`
	Status         string `json:"status"`
	PricePrecision *int   `json:"price_precision"`
	QtyPrecision   *int   `json:"qty_precision"`
}

// Change is a change of a streamed pair while running: of its precisions
// (not the first disagreement with AssetPairs, which is logged), or of
// whether it trades.
type Change struct {
	Old, New Symbol
	// Status, when set, is the pair's status on the instrument channel,
	// which started or stopped its trading (TradingStatus); Old and New
	// are then the same.
	Status string
}

// TradingStatus reports whether a pair of that status on the instrument
// channel trades: every status but cancel_only and post_only ("no order
// matching will occur", as the engine's statuses of the same names say),
// maintenance, delisted and work_in_progress.
func TradingStatus(status string) bool {
	switch status {
	case "cancel_only", "post_only", "maintenance", "delisted", "work_in_progress":
		return false
	}
	return true
}

// ApplyInstrumentMessage reads a push of the instrument channel
// ({"channel":"instrument","type":"snapshot"|"update","data":{"assets":[…],
// "pairs":[…]}}) and takes the precisions of the pairs of the table from
// it. It returns the changes of the precisions of streamed pairs (Watch).
func (in *Instruments) ApplyInstrumentMessage(frame []byte) ([]Change, error) {
	var m struct {
		Channel string `json:"channel"`
		Type    string `json:"type"`
		Data    struct {
			Pairs []instrumentPair `json:"pairs"`
		} `json:"data"`
	}
	if err := json.Unmarshal(frame, &m); err != nil {
		return nil, fmt.Errorf("%w: instrument: %w", ErrMalformed, err)
	}
	if m.Channel != ChannelInstrument {
		return nil, fmt.Errorf("%w: instrument: channel %q", ErrMalformed, m.Channel)
	}
	want := make(map[string][2]uint8, len(m.Data.Pairs))
	for _, p := range m.Data.Pairs {
		if p.PricePrecision == nil || p.QtyPrecision == nil {
			continue
		}
		pp, qp := *p.PricePrecision, *p.QtyPrecision
		if pp < 0 || pp > fixed.MaxScale || qp < 0 || qp > fixed.MaxScale {
			return nil, fmt.Errorf("%w: instrument: pair %s: precisions %d/%d outside 0..%d", ErrMalformed, p.Symbol, pp, qp, fixed.MaxScale)
		}
		want[p.Symbol] = [2]uint8{uint8(pp), uint8(qp)}
	}
	in.mu.Lock()
	for n, w := range want {
		in.fromChannel[n] = true
		if _, told := in.told[n]; !told && w == in.assetPairs[n] {
			in.told[n] = w // agreed: a later difference is a change
		}
	}
	var trading []string // pairs that started or stopped trading
	for _, p := range m.Data.Pairs {
		if p.Status == "" || (in.watched != nil && !in.watched[p.Symbol]) {
			continue
		}
		prev, seen := in.status[p.Symbol]
		in.status[p.Symbol] = p.Status
		if (seen && TradingStatus(prev) != TradingStatus(p.Status)) || (!seen && !TradingStatus(p.Status)) {
			trading = append(trading, p.Symbol)
		}
	}
	in.mu.Unlock()
	changes := in.take(want, "instrument channel")
	t := in.tab.Load()
	for _, n := range trading {
		s, ok := t.Lookup(n)
		if !ok {
			continue
		}
		st := in.statusOf(n)
		in.log.Info("pair status changed", "venue", Venue, "symbol", n, "status", st, "trading", TradingStatus(st))
		changes = append(changes, Change{Old: s, New: s, Status: st})
	}
	return changes, nil
}

func (in *Instruments) statusOf(name string) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.status[name]
}

// take puts the precisions of want (pair → price, qty) in force for the
// pairs of the table, logging each difference once; from names the
// source in the log. It returns the changes of streamed pairs.
func (in *Instruments) take(want map[string][2]uint8, from string) []Change {
	var changed []Change
	in.tab.Replace(func(old *Symbols) *Symbols {
		changed = changed[:0]
		list := old.List()
		for i, s := range list {
			w, ok := want[s.Name]
			if !ok || (w[0] == s.PriceScale && w[1] == s.QtyScale) {
				continue
			}
			list[i].PriceScale, list[i].QtyScale = w[0], w[1]
			changed = append(changed, Change{Old: s, New: list[i]})
		}
		if len(changed) == 0 {
			return nil
		}
		next, err := NewSymbols(list...)
		if err != nil {
			return nil
		}
		return next
	})
	quiet := 0
	var out []Change
	for _, c := range changed {
		switch in.tell(c.New, from) {
		case toldQuiet:
			quiet++
		case toldChange:
			if in.isWatched(c.New.Name) {
				out = append(out, c)
			}
		}
	}
	if quiet > 0 {
		in.log.Info("pair precisions disagree with AssetPairs for pairs not streamed; the "+from+"'s are used", "venue", Venue, "pairs", quiet)
	}
	return out
}

func (in *Instruments) isWatched(name string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.watched == nil || in.watched[name]
}

// What tell made of a pair's precisions.
const (
	toldNothing  = iota // the same as last told
	toldDisagree        // the first values, not AssetPairs': logged
	toldQuiet           // the same, for a pair not streamed: counted only
	toldChange          // a change after the first values
)

// tell logs a pair's precisions changed to s's, once per pair and
// precisions. A disagreement with AssetPairs of a pair not watched is
// counted, not logged.
func (in *Instruments) tell(s Symbol, from string) int {
	now := [2]uint8{s.PriceScale, s.QtyScale}
	in.mu.Lock()
	last, toldBefore := in.told[s.Name]
	ap := in.assetPairs[s.Name]
	watched := in.watched == nil || in.watched[s.Name]
	if toldBefore && last == now {
		in.mu.Unlock()
		return toldNothing
	}
	in.told[s.Name] = now
	in.mu.Unlock()
	if !toldBefore && now != ap {
		in.disagreements.Add(1)
		if !watched {
			return toldQuiet
		}
		in.log.Warn("pair precisions disagree with AssetPairs; the "+from+"'s are used (the checksum is computed at them)",
			"venue", Venue, "symbol", s.Name, "asset_pairs_price", ap[0], "asset_pairs_qty", ap[1],
			"price_precision", now[0], "qty_precision", now[1])
		return toldDisagree
	}
	in.changes.Add(1)
	in.log.Info("pair precisions changed", "venue", Venue, "symbol", s.Name, "from", from,
		"price_precision", now[0], "qty_precision", now[1])
	return toldChange
}

// DefaultInstrumentsRefresh is how often AssetPairs is read again while
// running (--kraken-instruments-refresh): listings and precision changes
// are rare, and the instrument channel brings precision changes at once.
const DefaultInstrumentsRefresh = time.Hour

// Watch marks names (v2 names, "BTC/USD") as the pairs streamed: a
// disagreement of their precisions is logged one line each; the others'
// are counted and summed up in one line a message.
func (in *Instruments) Watch(names ...string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.watched == nil {
		in.watched = map[string]bool{}
	}
	for _, n := range names {
		in.watched[n] = true
	}
}

// Refresh reads AssetPairs over c and merges it into the table in force:
// a pair not in the table is added (a new listing: its streams can be
// planned from then on), and a pair whose decimals changed takes them,
// unless the instrument channel gave its precisions, which win; the REST
// name follows AssetPairs. Each listing and change is logged and counted.
func (in *Instruments) Refresh(ctx context.Context, c *httpx.Client) error {
	in.refreshes.Add(1)
	fresh, err := loadAssetPairs(ctx, c)
	if err != nil {
		in.refreshErrors.Add(1)
		return err
	}
	in.mu.Lock()
	channel := make(map[string]bool, len(in.fromChannel))
	for n := range in.fromChannel {
		channel[n] = true
	}
	for _, f := range fresh {
		in.assetPairs[f.Name] = [2]uint8{f.PriceScale, f.QtyScale}
	}
	in.mu.Unlock()
	var listed, changed []Symbol
	in.tab.Replace(func(old *Symbols) *Symbols {
		listed, changed = listed[:0], changed[:0]
		list := old.List()
		at := make(map[string]int, len(list))
		for i, s := range list {
			at[s.Name] = i
		}
		edited := false
		for _, f := range fresh {
			i, ok := at[f.Name]
			if !ok {
				list = append(list, f)
				listed = append(listed, f)
				continue
			}
			s := &list[i]
			if s.RESTPair != f.RESTPair {
				s.RESTPair, edited = f.RESTPair, true
			}
			if !channel[f.Name] && (s.PriceScale != f.PriceScale || s.QtyScale != f.QtyScale) {
				s.PriceScale, s.QtyScale = f.PriceScale, f.QtyScale
				changed = append(changed, *s)
			}
		}
		if len(listed) == 0 && len(changed) == 0 && !edited {
			return nil
		}
		next, err := NewSymbols(list...)
		if err != nil {
			return nil
		}
		return next
	})
	for _, s := range listed {
		in.listed.Add(1)
		in.log.Info("pair listed", "venue", Venue, "symbol", s.Name, "rest_pair", s.RESTPair, "price_precision", s.PriceScale, "qty_precision", s.QtyScale)
	}
	for _, s := range changed {
		in.tell(s, "AssetPairs")
	}
	return nil
}

// Start refreshes the table every period (Refresh) from a goroutine of
// its own until the returned stop is called; stop waits for it. A period
// of 0 starts nothing. A failed read is logged and tried again at the
// next period.
func (in *Instruments) Start(c *httpx.Client, period time.Duration) (stop func()) {
	return venue.Periodically(period, func(ctx context.Context) error { return in.Refresh(ctx, c) }, func(err error) {
		in.log.Warn("AssetPairs refresh failed", "venue", Venue, "err", err)
	})
}
