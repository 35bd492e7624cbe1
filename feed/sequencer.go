package feed

// seqKey names one sequence of IDs: a symbol's aggregate trades, its
// trades, its book updates, its top of book.
type seqKey struct {
	symbol string
	class  uint8
	stream string // partial depth: each stream is a sequence of its own
}

const (
	classAggTrade uint8 = iota
	classTrade
	classBookDelta
	classBookSnapshot
	classTopOfBook
)

// sequencer drops events already delivered (the overlap of a rotation, a
// server repeating itself) and finds gaps in sequences that must be
// contiguous: trade IDs, and book deltas that must chain.
type sequencer struct {
	last   map[seqKey]int64
	chain  Chain // how book deltas follow one another
	opaque bool  // trade IDs show no gap: trades are not sequenced
}

func newSequencer(chain Chain) *sequencer {
	return &sequencer{last: make(map[seqKey]int64), chain: chain}
}

// verdict is what the sequencer says of one event.
type verdict uint8

const (
	verdictNew       verdict = iota // deliver it
	verdictDuplicate                // already delivered: drop it
	verdictGap                      // deliver it, after the gap from..to
)

func classOf(ev *Event) (uint8, bool) {
	switch ev.Type {
	case TypeTrade:
		if ev.Aggregated {
			return classAggTrade, true
		}
		return classTrade, true
	case TypeBookDelta:
		return classBookDelta, true
	case TypeBookSnapshot:
		return classBookSnapshot, true
	case TypeTopOfBook:
		return classTopOfBook, true
	}
	return 0, false
}

// check judges ev; for a gap it returns the missing IDs from..to.
func (s *sequencer) check(ev *Event) (v verdict, from, to int64) {
	class, ok := classOf(ev)
	if !ok || (s.opaque && (class == classTrade || class == classAggTrade)) {
		return verdictNew, 0, 0
	}
	k := seqKey{ev.Symbol, class, ev.Stream}
	if ev.Base {
		// the whole book anew (a new subscription): the chain starts again
		// from it, whatever came before
		s.last[k] = ev.ID
		s.last[seqKey{ev.Symbol, classBookDelta, ev.Stream}] = ev.ID
		return verdictNew, 0, 0
	}
	last, seen := s.last[k]
	if seen && class == classBookDelta && s.chain == ChainPrevID && ev.PrevID == last {
		// it names the last one: it continues the chain, even with an ID
		// not above it (a keep-alive; IDs restarting after a maintenance)
		s.last[k] = ev.ID
		return verdictNew, 0, 0
	}
	if seen && ev.ID <= last {
		return verdictDuplicate, 0, 0
	}
	if !seen {
		// the map key keeps the symbol string of the symbol table, not of a frame
		s.last[k] = ev.ID
		return verdictNew, 0, 0
	}
	s.last[k] = ev.ID
	switch class {
	case classAggTrade, classTrade:
		if ev.ID > last+1 {
			return verdictGap, last + 1, ev.ID - 1
		}
	case classBookDelta:
		if gap, from, to := s.chain.missing(last, ev); gap {
			return verdictGap, from, to
		}
	}
	return verdictNew, 0, 0
}
