package monitor

import (
	"fmt"
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
// Config.BookSymbols and the symbols with a derived snapshot; inSync is
// GatewayStats.BooksInSync.
func (m *Monitor) books(qs []symbolQuote, inSync int64, now time.Time) []bookView {
	var out []bookView
	seen := map[symKey]bool{}
	for _, q := range qs {
		if q.bookSyncs == 0 {
			continue
		}
		seen[q.key] = true
		v := bookView{Venue: q.key.venue, Symbol: q.key.symbol, State: bookInSync, Syncs: q.bookSyncs,
			SyncedAt: q.syncedAt / 1e6, AgeMS: max(0, now.UnixMilli()-q.bookTime/1e6)}
		out = append(out, v)
	}
	// the loaded books beyond the gateway's count are resyncing: the stalest first
	if extra := len(out) - int(inSync); extra > 0 {
		idx := make([]int, len(out))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int { return int(out[b].AgeMS - out[a].AgeMS) })
		for _, i := range idx[:min(extra, len(idx))] {
			out[i].State = bookResyncing
		}
	}
	for _, sym := range m.cfg.BookSymbols {
		k := symKey{m.cfg.Venue, sym}
		if !seen[k] {
			out = append(out, bookView{Venue: k.venue, Symbol: sym, State: bookWaiting, AgeMS: -1})
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

// bookProblems names the books not in sync.
func bookProblems(bs []bookView) []Problem {
	var ps []Problem
	for _, b := range bs {
		switch b.State {
		case bookWaiting:
			ps = append(ps, Problem{Check: "books", Symbol: b.Symbol, Detail: "waiting for its first snapshot"})
		case bookResyncing:
			ps = append(ps, Problem{Check: "books", Symbol: b.Symbol, Detail: fmt.Sprintf(
				"resyncing: no book update for %v, %d snapshots loaded since start", (time.Duration(b.AgeMS) * time.Millisecond).Round(100*time.Millisecond), b.Syncs)})
		}
	}
	return ps
}
