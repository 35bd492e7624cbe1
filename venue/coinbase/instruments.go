package coinbase

import (
	"context"
	"time"

	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/venue"
)

// DefaultInstrumentsRefresh is how often the products are read again
// while running (--coinbase-instruments-refresh): listings and increment
// changes are rare, and a value with more decimals than its product's
// increment widens the scale at once anyway.
const DefaultInstrumentsRefresh = time.Hour

// InstrumentStats counts how the product table changed while running.
type InstrumentStats struct {
	// Widened counts scales widened by a value with more decimals than
	// the product's increment.
	Widened int64
	// Listed counts products added by a refresh; Changed, products whose
	// increments or status a refresh changed.
	Listed, Changed int64
	// Refreshes and RefreshErrors count the reads of the products made by
	// the refresh loop, and those that failed.
	Refreshes, RefreshErrors int64
}

// InstrumentStats returns the counters.
func (v *Coinbase) InstrumentStats() InstrumentStats {
	return InstrumentStats{Widened: v.tab.Widened(), Listed: v.listed.Load(), Changed: v.changed.Load(),
		Refreshes: v.refreshes.Load(), RefreshErrors: v.refreshErrors.Load()}
}

// Refresh reads the products over rc (LoadSymbols) and merges them into
// the table in force: a product not in it is added (a new listing: its
// streams can be planned from then on); a known product takes the new
// status and the finer of its scales and the fresh ones (scales only
// grow: a value at a coarser increment still parses at a finer scale, and
// the books in hand stay valid), which the events decoded after carry.
// Each listing and change is logged and counted.
func (v *Coinbase) Refresh(ctx context.Context, rc *httpx.Client) error {
	v.refreshes.Add(1)
	fresh, err := LoadSymbols(ctx, rc)
	if err != nil {
		v.refreshErrors.Add(1)
		return err
	}
	var listed, changed []Symbol
	v.tab.Replace(func(old *Symbols) *Symbols {
		listed, changed = listed[:0], changed[:0]
		n := &Symbols{by: make(map[string]Symbol, len(fresh.by))}
		for k, s := range old.by {
			n.by[k] = s
		}
		for k, f := range fresh.by {
			s, ok := old.by[k]
			if !ok {
				n.by[k] = f
				listed = append(listed, f)
				continue
			}
			m := s
			m.PriceScale, m.QtyScale, m.Status = max(s.PriceScale, f.PriceScale), max(s.QtyScale, f.QtyScale), f.Status
			if m != s {
				n.by[k] = m
				changed = append(changed, m)
			}
		}
		if len(listed) == 0 && len(changed) == 0 {
			return nil
		}
		return n
	})
	log := v.cfg.Logger
	for _, s := range listed {
		v.listed.Add(1)
		log.Info("product listed", "venue", Venue, "symbol", s.Name, "status", s.Status, "price_scale", s.PriceScale, "qty_scale", s.QtyScale)
	}
	for _, s := range changed {
		v.changed.Add(1)
		log.Info("product changed", "venue", Venue, "symbol", s.Name, "status", s.Status, "price_scale", s.PriceScale, "qty_scale", s.QtyScale)
	}
	return nil
}

// StartRefresh refreshes the table every period (Refresh) from a
// goroutine of its own until the returned stop is called; stop waits for
// it. A period of 0 starts nothing. A failed read is logged and tried
// again at the next period.
func (v *Coinbase) StartRefresh(rc *httpx.Client, period time.Duration) (stop func()) {
	return venue.Periodically(period, func(ctx context.Context) error { return v.Refresh(ctx, rc) }, func(err error) {
		v.cfg.Logger.Warn("products refresh failed", "venue", Venue, "err", err)
	})
}
