package monitor

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Book sync states, as the dashboard and /readyz name them.
const (
	bookInSync    = "in sync"
	bookResyncing = "resyncing"
	bookWaiting   = "waiting"
)

// bookView is the sync state of one symbol's order book.
//
// The gateway counts the books in sync (GatewayStats.BooksInSync); which
// ones they are is read from the events: a derived book_snapshot means the
// gateway loaded that book, and a book in sync keeps delivering its diffs.
// When fewer books are in sync than have been loaded, the ones whose last
// book event is oldest are the ones resyncing: a book waiting for its
// snapshot delivers nothing.
type bookView struct {
	Venue    string `json:"venue"`
	Symbol   string `json:"symbol"`
	State    string `json:"state"`     // "in sync", "resyncing", "waiting" (for its first snapshot)
	Syncs    int64  `json:"syncs"`     // snapshots loaded; more than one: resynced
	SyncedAt int64  `json:"synced_at"` // unix ms of the last; 0: never
	AgeMS    int64  `json:"age_ms"`    // since the last book event; -1: none
}

// books returns the state of every book the gateway keeps that is known:
// the books of VenueMetrics.BookSymbols (or else of Config.BookSymbols)
// and the symbols with a derived snapshot. Which loaded books are
// resyncing is worked out venue by venue with Config.Venues, from each
// venue's own BooksInSync.
func (m *Monitor) books(qs []symbolQuote, rd *reading, now time.Time) []bookView {
	var out []bookView
	seen := map[symKey]bool{}
	seenSym := map[string]bool{}
	for _, q := range qs {
		if q.bookSyncs == 0 {
			continue
		}
		seen[q.key] = true
		seenSym[q.key.symbol] = true
		v := bookView{Venue: q.key.venue, Symbol: q.key.symbol, State: bookInSync, Syncs: q.bookSyncs,
			SyncedAt: q.syncedAt / 1e6, AgeMS: max(0, now.UnixMilli()-q.bookTime/1e6)}
		out = append(out, v)
	}
	// the loaded books beyond the gateway's count are resyncing: the
	// stalest first; with Venues, each venue's beyond its own count (the
	// books of other venues are taken as in sync)
	inSync := map[string]int64{"": rd.st.BooksInSync}
	if len(m.cfg.Venues) > 0 {
		inSync = map[string]int64{"": math.MaxInt64}
		for i, v := range m.cfg.Venues {
			inSync[v.Name] = rd.venues[i].BooksInSync
		}
	}
	group := func(venue string) string {
		if _, ok := inSync[venue]; ok {
			return venue
		}
		return ""
	}
	for g, n := range inSync {
		var idx []int
		for i := range out {
			if group(out[i].Venue) == g {
				idx = append(idx, i)
			}
		}
		if extra := int64(len(idx)) - n; extra > 0 {
			slices.SortStableFunc(idx, func(a, b int) int { return int(out[b].AgeMS - out[a].AgeMS) })
			for _, i := range idx[:min(int(extra), len(idx))] {
				out[i].State = bookResyncing
			}
		}
	}
	switch {
	case m.perVenueBooks():
		for _, v := range m.cfg.Venues {
			for _, sym := range v.BookSymbols {
				if k := (symKey{v.Name, sym}); !seen[k] {
					seen[k] = true
					out = append(out, bookView{Venue: k.venue, Symbol: sym, State: bookWaiting, AgeMS: -1})
				}
			}
		}
	case len(m.cfg.Venues) > 0:
		// the venue of each book is not known: waiting while no venue has
		// loaded a book of its symbol
		for _, sym := range m.cfg.BookSymbols {
			if !seenSym[sym] {
				seenSym[sym] = true
				out = append(out, bookView{Symbol: sym, State: bookWaiting, AgeMS: -1})
			}
		}
	default:
		for _, sym := range m.cfg.BookSymbols {
			k := symKey{m.cfg.Venue, sym}
			if !seen[k] {
				out = append(out, bookView{Venue: k.venue, Symbol: sym, State: bookWaiting, AgeMS: -1})
			}
		}
	}
	slices.SortFunc(out, func(a, b bookView) int {
		if c := strings.Compare(a.Venue, b.Venue); c != 0 {
			return c
		}
		return strings.Compare(a.Symbol, b.Symbol)
	})
	return out
}

// bookProblems names the books not in sync, each with its venue.
func bookProblems(bs []bookView) []Problem {
	var ps []Problem
	for _, b := range bs {
		switch b.State {
		case bookWaiting:
			ps = append(ps, Problem{Check: "books", Venue: b.Venue, Symbol: b.Symbol, Detail: "waiting for its first snapshot"})
		case bookResyncing:
			ps = append(ps, Problem{Check: "books", Venue: b.Venue, Symbol: b.Symbol, Detail: fmt.Sprintf(
				"resyncing: no book update for %v, %d snapshots loaded since start", (time.Duration(b.AgeMS) * time.Millisecond).Round(100*time.Millisecond), b.Syncs)})
		}
	}
	return ps
}
