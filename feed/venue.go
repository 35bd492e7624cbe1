package feed

import (
	"context"
	"strconv"
	"time"

	"github.com/feedkeeper/feedkeeper/book"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

// Venue is what the Gateway needs of an exchange. A venue is a package
// under venue/ that implements it; nothing else changes for a new one.
type Venue interface {
	// Name is the venue's name in events ("binance").
	Name() string
	// Plan checks the stream names and splits them over connections within
	// the venue's limits (streams per connection, message rate).
	Plan(streams []string) ([]ConnPlan, error)
	// NewDecoder returns the decoder for the frames of one connection plan.
	// Each plan's sessions use their own decoder, from one goroutine at a
	// time (never concurrently).
	NewDecoder(plan ConnPlan) Decoder
	// IsShutdown reports whether a frame announces that the server is
	// about to close the connection. It must be cheap.
	IsShutdown(frame []byte) bool
	// Lifetime is the server's maximum connection lifetime (0: none).
	Lifetime() time.Duration
	// MessageRate is the most messages a second the client may send on one
	// connection, pings and pongs included.
	MessageRate() float64
	// Rules are the venue's rules for its sequences, which the gateway
	// carries out: read once when the gateway opens.
	Rules() Rules
}

// Rules are how a venue's sequences work. The venue states them; the
// gateway's machinery (sequencing, gaps, books) carries them out the same
// way for every venue.
type Rules struct {
	// BookChain is how the venue's book deltas follow one another.
	BookChain Chain
	// Book is how a book is built and rebuilt when its chain breaks.
	Book BookProcedure
	// Trades says whether the venue's trade IDs show a gap.
	Trades TradeIDs
	// BookIDsUncounted says the venue's book IDs do not count book updates
	// (Kraken's timestamps, Coinbase's sequence_num of every message of a
	// connection): a break of a book's chain is a gap of unknown size,
	// counted in GatewayStats.Gaps but adding nothing to Missing, and its
	// TypeGap event says so.
	BookIDsUncounted bool
	// Checksum, when set, checks the book against the checksum the venue
	// sent with a book event (Event.Checksummed): after each snapshot the
	// book is built from and each delta applied. It computes the venue's
	// checksum over b (levels at ev's scales) and compares it with
	// ev.Checksum. A mismatch rebuilds the book.
	Checksum func(b *book.Book, ev *Event) bool
}

// ReasonUncounted is the Reason of a TypeGap event of book updates of a
// venue whose book IDs do not count them (Rules.BookIDsUncounted): its
// FirstID..ID bound the gap in the venue's IDs, not its size.
const ReasonUncounted = "book updates missing from the stream: how many is unknown (the venue's book IDs do not count updates)"

// TradeIDs says what a venue's trade IDs tell.
type TradeIDs uint8

const (
	// TradeIDsContiguous: each trade's ID is the one before + 1 (Binance);
	// a jump is a gap, recovered over REST (Recovery) or announced by a
	// TypeGap event of the missing IDs.
	TradeIDsContiguous TradeIDs = iota
	// TradeIDsOpaque: trade IDs cannot show a gap (not contiguous, or not
	// numbers: Event.ID may be 0). Trades are not sequenced, and every
	// connection lost without a make-before-break replacement (and every
	// run of frames dropped for a slow consumer) is announced by a TypeGap
	// event per symbol that had traded on it: a time window
	// (GapFrom..GapTo) in which trades may be missing, from the last trade
	// received before to the first received after, delivered just before
	// that one (or when the gateway closes).
	TradeIDsOpaque
)

// BookProcedure is how a venue's order book is built.
type BookProcedure uint8

const (
	// BookFromREST: deltas are held while a snapshot is fetched over REST
	// (Recovery.Depth); those it covers are dropped, the rest applied
	// (Binance spot and USD-M).
	BookFromREST BookProcedure = iota
	// BookFromStream: the stream sends the whole book when subscribed (a
	// TypeBookSnapshot with Base set) and deltas after it; the book is
	// rebuilt by subscribing to that stream again on its connection
	// (Resubscriber), deltas dropped until the new snapshot comes (OKX,
	// Bybit, Coinbase, Kraken).
	BookFromStream
)

// Resubscriber is implemented by venues whose streams can be asked for
// again on a live connection: the messages that unsubscribe and subscribe
// stream again, so that the venue sends its snapshot anew.
// BookFromStream venues must implement it.
type Resubscriber interface {
	ResubscribeMessages(stream string) ([][]byte, error)
}

// Chain is the rule by which a venue's book deltas follow one another.
type Chain uint8

const (
	// ChainFirstID: a delta covers update IDs FirstID..ID and continues the
	// one before when FirstID is that one's ID + 1 (Binance spot: U == the
	// previous u + 1). The first delta applied on a snapshot at S has
	// FirstID <= S+1 <= ID; deltas with ID <= S are in the snapshot.
	ChainFirstID Chain = iota
	// ChainPrevID: a delta names the ID of the one before it in PrevID and
	// continues it when that is the previous delta's ID; consecutive deltas'
	// IDs may jump (Binance USD-M futures: pu == the previous u). The first
	// delta applied on a snapshot at S has FirstID <= S <= ID; deltas with
	// ID < S are in the snapshot.
	ChainPrevID
)

var chainNames = [...]string{"first-id", "prev-id"}

// String returns the rule's name ("first-id", "prev-id").
func (c Chain) String() string {
	if int(c) < len(chainNames) {
		return chainNames[c]
	}
	return "chain(" + strconv.Itoa(int(c)) + ")"
}

// missing says whether ev, a delta after one whose ID was last, shows
// deltas missing before it, and which update IDs: from..to (for a broken
// PrevID chain that names an earlier update, the one ID after last).
func (c Chain) missing(last int64, ev *Event) (gap bool, from, to int64) {
	switch c {
	case ChainPrevID:
		if ev.PrevID == last {
			return false, 0, 0
		}
		return true, last + 1, max(ev.PrevID, last+1)
	default:
		if ev.FirstID > last+1 {
			return true, last + 1, ev.FirstID - 1
		}
		return false, 0, 0
	}
}

// inSnapshot says whether the delta ev is wholly in a snapshot at snap:
// held deltas that are, are dropped when the snapshot is loaded.
func (c Chain) inSnapshot(snap int64, ev *Event) bool {
	if c == ChainPrevID {
		return ev.ID < snap
	}
	return ev.ID <= snap
}

// older says whether a snapshot at snap is older than the delta ev, the
// first one held: some deltas between them are not held, so another
// snapshot is needed.
func (c Chain) older(snap int64, ev *Event) bool {
	if c == ChainPrevID {
		return ev.FirstID > snap
	}
	return ev.FirstID > snap+1
}

// bridges says whether the delta ev, the first after those in a snapshot
// at snap, continues it.
func (c Chain) bridges(snap int64, ev *Event) bool {
	if c == ChainPrevID {
		return ev.FirstID <= snap && snap <= ev.ID
	}
	return ev.FirstID <= snap+1 && snap+1 <= ev.ID
}

// ConnPlan is one connection of a venue: where to connect, which streams
// it carries and the messages that subscribe to them.
type ConnPlan struct {
	URL string
	// AltURLs are other endpoints of the same streams (another host of the
	// venue), tried in turn when a connection is replaced for lagging.
	AltURLs   []string
	Streams   []string
	Subscribe [][]byte // sent after every connect, in order, paced
	// Build, when set, builds the subscribe messages on every connect
	// instead of Subscribe, for a venue whose requests carry a fresh ID or
	// time. Called from the connection's goroutine; Requests must still
	// describe what it builds.
	Build func() [][]byte
	// Requests says, for each message of Subscribe, the request ID its
	// reply carries and the streams it asks for. With a ReplyParser decoder,
	// an error reply to one of them is a failure of those streams: counted,
	// announced by a TypeStatus event, and the message sent again with
	// backoff on the live connection.
	Requests []Request
	// Confirm, when set, is a request whose reply lists the streams the
	// connection has (Binance LIST_SUBSCRIPTIONS), and ConfirmID the ID
	// that reply carries. The gateway sends it once a connection is up and
	// subscribed (apart from Subscribe, so that connecting waits for no
	// more messages); a stream of the plan missing from the list is
	// handled as refused.
	Confirm   []byte
	ConfirmID int64
}

// Pinger is implemented by venues that require an application-level
// ping besides WebSocket pings (OKX's text "ping", Bybit's {"op":"ping"}):
// every connection sends it as the Keepalive says, and the venue's answers
// are kept from the decoder. A GatewayConfig.Session with its own
// Keepalive overrides it.
type Pinger interface {
	Keepalive() wsconn.Keepalive
}

// Request is one request of a ConnPlan: the ID its reply carries and the
// streams it subscribes to.
type Request struct {
	ID      int64
	Streams []string
}

// Reply is a venue's answer to a request, as a ReplyParser reads it.
type Reply struct {
	ID    int64    // the request's ID; 0 when the reply has none usable
	Err   error    // set when the request was refused
	List  []string // the streams listed, for a reply to a listing request
	IsErr bool     // Err is set
}

// ReplyParser is implemented by decoders whose venue answers requests: a
// frame decoded as DecodedReply is parsed again for its ID and outcome.
type ReplyParser interface {
	ParseReply(frame []byte) (Reply, error)
}

// Decoded says what a decoded frame held.
type Decoded uint8

const (
	DecodedEvent    Decoded = iota // a market-data event, in the Event
	DecodedShutdown                // the server announced it will close the connection
	DecodedReply                   // a reply to a request; an error reply is returned as an error
	DecodedBatch                   // several events (a market-wide array): the first in the Event, the others by BatchDecoder.Next
)

// BatchDecoder is implemented by decoders of frames that hold several
// events (Binance !miniTicker@arr). After Decode returned DecodedBatch with
// the first event, Next fills ev with each following one, reporting false
// when none is left.
type BatchDecoder interface {
	Next(ev *Event) bool
}

// LossReporter is implemented by decoders of venues that number every
// message of a connection (Coinbase's sequence_num): Lost reports whether
// the frame just decoded showed messages of its connection missing before
// it. The gateway reads it as frames dropped on the connection kept: for a
// venue whose trade IDs cannot show a gap (TradeIDsOpaque), every symbol
// that traded on the connection gets a gap window, from its last trade
// before the loss to its first after (the books are the decoder's to
// break: see Rules.BookChain).
type LossReporter interface {
	Lost() bool
}

// Decoder turns one frame into an event.
type Decoder interface {
	// Decode decodes frame into ev (all fields but ReceiveTime). It keeps
	// no reference to frame.
	Decode(frame []byte, ev *Event) (Decoded, error)
}

// Watcher is implemented by venues that watch their instruments while the
// gateway runs (trading status, tick and step sizes). The gateway calls
// Watch from a goroutine of its own and cancels ctx on Close; announce
// delivers a TypeStatus event to the handler, in order with the others.
type Watcher interface {
	Watch(ctx context.Context, announce func(*Event))
}

// Recovery fetches from a venue's REST API what its streams missed. A
// venue package implements it; the Gateway calls it from its own worker
// goroutines, concurrently for different symbols, with a context that ends
// when the Gateway closes.
type Recovery interface {
	// AggTrades appends to dst the aggregate trades of symbol (as in
	// events: "BTCUSDT") with IDs from fromID on, at most limit of them,
	// oldest first, as TypeTrade events with Aggregated and Recovered set.
	// When the venue no longer keeps fromID, the first trade returned is
	// above it; fewer than limit means the venue has no more yet (its
	// history may lag its streams: the Gateway asks again for a while).
	AggTrades(ctx context.Context, symbol string, fromID int64, limit int, dst []Event) ([]Event, error)
	// Trades is AggTrades for individual trades (TypeTrade events without
	// Aggregated), by trade ID.
	Trades(ctx context.Context, symbol string, fromID int64, limit int, dst []Event) ([]Event, error)
	// Depth fills ev with a snapshot of symbol's order book, at most limit
	// levels a side, best first: a TypeBookSnapshot whose ID is the last
	// update ID the snapshot reflects. ev's level arrays are reused.
	Depth(ctx context.Context, symbol string, limit int, ev *Event) error
}
