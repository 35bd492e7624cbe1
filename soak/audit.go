package soak

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	filesink "github.com/feedkeeper/feedkeeper/sink/file"
)

// Seq is one trade sequence of a venue's symbol: its aggregate trades
// (Agg) or its individual trades, each numbered by its own IDs.
type Seq struct {
	// Venue is the output lines' "venue" (binance, okx, …); FetchTruth
	// reads the ground truth in that venue's form.
	Venue  string
	Symbol string // upper case, as the venue names it: BTCUSDT, BTC-USDT-SWAP, BTC/USDT
	Agg    bool
}

// String is "BTCUSDT aggTrade" or "BTCUSDT trade", after the venue when
// there is one: "okx BTC-USDT trade".
func (q Seq) String() string {
	s := q.Symbol + " trade"
	if q.Agg {
		s = q.Symbol + " aggTrade"
	}
	if q.Venue != "" {
		s = q.Venue + " " + s
	}
	return s
}

// ErrNotAuditable is returned for a venue whose trades cannot be checked
// by ID against the simulator's ground truth.
var ErrNotAuditable = errors.New("trades cannot be audited by ID")

// CheckAuditable tells whether the trades of venue can be audited by ID:
// nil for the venues whose trade IDs follow one another (binance,
// binance-usdm, okx, kraken), so that a missing one shows; an error
// wrapping ErrNotAuditable, saying why, for the others.
func CheckAuditable(venue string) error {
	switch venue {
	case "binance", "binance-usdm", "okx", "kraken":
		return nil
	case "bybit", "coinbase":
		return fmt.Errorf("%s: %w: its trade IDs do not follow one another, so a missing trade cannot be told from the IDs", venue, ErrNotAuditable)
	}
	return fmt.Errorf("%s: %w: the soak knows no ground truth of its trades", venue, ErrNotAuditable)
}

// Output is what the gateway's runs wrote: the trades of every sequence,
// by ID, with the runs that delivered each.
type Output struct {
	// Trades maps a sequence to its trades by ID.
	Trades map[Seq]map[int64]*OutTrade
	// Files and Lines read; Partial counts the files that ended in a
	// partial line or an unfinished compressed frame (cut short by a kill),
	// whose complete lines were read.
	Files, Lines, Partial int
	// Runs has what each run wrote, in run order.
	Runs []RunOutput
	// Gaps are the trade gaps the runs announced (gap events).
	Gaps []Gap
	// StoppedAt is when the soak stopped the last run (zero: it did not):
	// the trades of a gap that run announced from then on were being
	// recovered when the soak ended it, and are counted as announced at
	// the end, not as missing.
	StoppedAt time.Time
}

// Gap is a trade gap announced by a gap event of the outputs: trade IDs
// From..To of Seq, which the run (0-based) could not recover.
type Gap struct {
	Run      int
	Seq      Seq
	From, To int64
	At       time.Time // the event's receive_ts
}

// RunOutput is what one run of the gateway wrote.
type RunOutput struct {
	Files     int   `json:"files"`
	CutShort  bool  `json:"cut_short"` // its last file ended in a partial line or frame
	Trades    int64 `json:"trades"`    // trade lines
	Recovered int64 `json:"recovered"` // of them marked "recovered" (backfilled over REST)
}

// OutTrade is one trade as the outputs hold it.
type OutTrade struct {
	Price, Qty                string
	FirstTradeID, LastTradeID int64
	// Runs lists the run (0-based) of every delivery, in the order read.
	Runs []int
}

// outLine is the part of an output line the audit reads.
type outLine struct {
	Type         string `json:"type"`
	Venue        string `json:"venue"`
	Symbol       string `json:"symbol"`
	ID           int64  `json:"id"`
	Agg          bool   `json:"agg"`
	FirstTradeID int64  `json:"first_trade_id"`
	LastTradeID  int64  `json:"last_trade_id"`
	Price        string `json:"price"`
	Qty          string `json:"qty"`
	Recovered    bool   `json:"recovered"`
	// a gap event's
	Missing string `json:"missing"`  // "trade"
	FirstID int64  `json:"first_id"` // first_id..id
	Receive int64  `json:"receive_ts"`
}

// ReadOutputs reads the JSON Lines files of the file sink in each of dirs
// (one directory per run, in run order). A file cut short by a kill is
// read up to its last complete line; a partial last line, or an
// unfinished zstd frame, is left out and counted in Partial. A complete
// line that is not JSON is an error.
func ReadOutputs(dirs []string) (*Output, error) {
	out := &Output{Trades: map[Seq]map[int64]*OutTrade{}}
	for run, dir := range dirs {
		out.Runs = append(out.Runs, RunOutput{})
		files, err := filesink.List(dir, "")
		if err != nil {
			return nil, fmt.Errorf("soak: outputs of run %d: %w", run+1, err)
		}
		for _, path := range files {
			if err := out.readFile(path, run); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func (o *Output) readFile(path string, run int) error {
	f, err := filesink.OpenFile(path)
	if err != nil {
		return fmt.Errorf("soak: %s: %w", path, err)
	}
	defer f.Close()
	o.Files++
	ro := &o.Runs[run]
	ro.Files++
	r := bufio.NewReaderSize(f, 64<<10)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if err != nil {
			// a last line without its newline, or a frame that ends early:
			// written up to the kill, not delivered
			if len(line) > 0 || !errors.Is(err, io.EOF) {
				o.Partial++
				ro.CutShort = true
			}
			return nil
		}
		o.Lines++
		var ev outLine
		if err := json.Unmarshal(line, &ev); err != nil {
			return fmt.Errorf("soak: %s line %d: %w", path, n, err)
		}
		if ev.Type == "gap" && ev.Missing == "trade" {
			seq := Seq{Venue: ev.Venue, Symbol: strings.ToUpper(ev.Symbol), Agg: ev.Agg}
			o.Gaps = append(o.Gaps, Gap{Run: run, Seq: seq, From: ev.FirstID, To: ev.ID, At: time.Unix(0, ev.Receive)})
		}
		if ev.Type != "trade" {
			continue
		}
		ro.Trades++
		if ev.Recovered {
			ro.Recovered++
		}
		seq := Seq{Venue: ev.Venue, Symbol: strings.ToUpper(ev.Symbol), Agg: ev.Agg}
		m := o.Trades[seq]
		if m == nil {
			m = map[int64]*OutTrade{}
			o.Trades[seq] = m
		}
		t := m[ev.ID]
		if t == nil {
			t = &OutTrade{Price: ev.Price, Qty: ev.Qty, FirstTradeID: ev.FirstTradeID, LastTradeID: ev.LastTradeID}
			m[ev.ID] = t
		}
		t.Runs = append(t.Runs, run)
	}
}

// TruthTrade is one trade of the simulator's ground truth (GET
// /sim/trades of the venue's front-end); FirstTradeID and LastTradeID are
// those of an aggregate trade, 0 for an individual one. Qty is in the
// unit of the gateway's events (an OKX swap's contracts times ctVal).
type TruthTrade struct {
	ID                        int64
	Price, Qty                string
	FirstTradeID, LastTradeID int64
}

// FetchTruth reads the simulator's trades from..to of seq from the ground
// truth of seq.Venue's front-end under restURL: Binance spot's and USD-M's
// /sim/trades?symbol=&kind=, OKX's /sim/trades?instId= (a swap's or
// future's sizes multiplied by its ctVal from /api/v5/public/instruments),
// Kraken's /sim/trades?symbol= by trade_id. An empty Venue is Binance
// spot. A venue with no such truth fails with ErrNotAuditable.
func FetchTruth(ctx context.Context, client *http.Client, restURL string, seq Seq, from, to int64) ([]TruthTrade, error) {
	base := strings.TrimSuffix(restURL, "/")
	switch seq.Venue {
	case "", "binance", "binance-usdm":
		return fetchBinanceTruth(ctx, client, base, seq, from, to)
	case "okx":
		return fetchOKXTruth(ctx, client, base, seq, from, to)
	case "kraken":
		var raw []struct {
			ID    int64  `json:"trade_id"`
			Price string `json:"price"`
			Qty   string `json:"qty"`
		}
		u := fmt.Sprintf("%s/sim/trades?symbol=%s&from=%d&to=%d", base, url.QueryEscape(seq.Symbol), from, to)
		if err := getJSON(ctx, client, u, &raw); err != nil {
			return nil, err
		}
		trades := make([]TruthTrade, len(raw))
		for i, r := range raw {
			trades[i] = TruthTrade{ID: r.ID, Price: r.Price, Qty: r.Qty}
		}
		return trades, nil
	}
	return nil, fmt.Errorf("soak: ground truth of %s: %w", seq, CheckAuditable(seq.Venue))
}

func fetchBinanceTruth(ctx context.Context, client *http.Client, base string, seq Seq, from, to int64) ([]TruthTrade, error) {
	kind := "trade"
	if seq.Agg {
		kind = "aggTrade"
	}
	u := fmt.Sprintf("%s/sim/trades?symbol=%s&kind=%s&from=%d&to=%d", base, url.QueryEscape(seq.Symbol), kind, from, to)
	// GET /api/v3/aggTrades form, or historicalTrades form
	var raw []struct {
		A     int64  `json:"a"`
		P     string `json:"p"`
		Q     string `json:"q"`
		F     int64  `json:"f"`
		L     int64  `json:"l"`
		ID    int64  `json:"id"`
		Price string `json:"price"`
		Qty   string `json:"qty"`
	}
	if err := getJSON(ctx, client, u, &raw); err != nil {
		return nil, err
	}
	trades := make([]TruthTrade, len(raw))
	for i, r := range raw {
		if seq.Agg {
			trades[i] = TruthTrade{ID: r.A, Price: r.P, Qty: r.Q, FirstTradeID: r.F, LastTradeID: r.L}
		} else {
			trades[i] = TruthTrade{ID: r.ID, Price: r.Price, Qty: r.Qty}
		}
	}
	return trades, nil
}

// fetchOKXTruth reads OKX's trades of seq; the sizes of a swap or a
// future are contracts, which the gateway's events carry times ctVal.
func fetchOKXTruth(ctx context.Context, client *http.Client, base string, seq Seq, from, to int64) ([]TruthTrade, error) {
	ctVal := big.NewRat(1, 1)
	if parts := strings.Split(seq.Symbol, "-"); len(parts) > 2 {
		instType := "FUTURES"
		if parts[len(parts)-1] == "SWAP" {
			instType = "SWAP"
		}
		var inst struct {
			Code string `json:"code"`
			Msg  string `json:"msg"`
			Data []struct {
				CtVal string `json:"ctVal"`
			} `json:"data"`
		}
		u := fmt.Sprintf("%s/api/v5/public/instruments?instType=%s&instId=%s", base, instType, url.QueryEscape(seq.Symbol))
		if err := getJSON(ctx, client, u, &inst); err != nil {
			return nil, err
		}
		if inst.Code != "0" || len(inst.Data) != 1 {
			return nil, fmt.Errorf("soak: %s: code %q %q, %d instruments", u, inst.Code, inst.Msg, len(inst.Data))
		}
		if _, ok := ctVal.SetString(inst.Data[0].CtVal); !ok {
			return nil, fmt.Errorf("soak: %s: ctVal %q is not a decimal", u, inst.Data[0].CtVal)
		}
	}
	var raw []struct {
		ID int64  `json:"tradeId,string"`
		Px string `json:"px"`
		Sz string `json:"sz"`
	}
	u := fmt.Sprintf("%s/sim/trades?instId=%s&from=%d&to=%d", base, url.QueryEscape(seq.Symbol), from, to)
	if err := getJSON(ctx, client, u, &raw); err != nil {
		return nil, err
	}
	trades := make([]TruthTrade, len(raw))
	for i, r := range raw {
		qty := r.Sz
		if sz, ok := new(big.Rat).SetString(r.Sz); ok && ctVal.Cmp(big.NewRat(1, 1)) != 0 {
			qty = sz.Mul(sz, ctVal).FloatString(16)
		}
		trades[i] = TruthTrade{ID: r.ID, Price: r.Px, Qty: qty}
	}
	return trades, nil
}

// getJSON decodes the JSON answer of GET u into v; any status but 200 is
// an error with the answer's text.
func getJSON(ctx context.Context, client *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("soak: ground truth: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("soak: ground truth %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("soak: ground truth %s: %s: %s", u, resp.Status, bytes.TrimSpace(body))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("soak: ground truth %s: %w", u, err)
	}
	return nil
}

// Audit compares the trades the outputs of all runs hold with the ground
// truth, per trade sequence (a symbol's aggregate or individual trades),
// over the IDs from the first delivered to the last.
type Audit struct {
	Symbols []SymbolAudit `json:"symbols"` // one per sequence
	// Totals over the sequences.
	Expected  int64 `json:"expected"`  // trades of the truth in the audited ranges
	Delivered int64 `json:"delivered"` // distinct trade IDs in the outputs
	Missing   int64 `json:"missing"`   // in the truth, in no output
	// AnnouncedAtEnd are in no output either, but in gaps the last run
	// announced when the soak stopped it, still being recovered: said,
	// not lost, as with the in-process soak.
	AnnouncedAtEnd int64       `json:"announced_at_end"`
	Redelivered    int64       `json:"redelivered"` // delivered again by the run after a kill
	Duplicates     int64       `json:"duplicates"`  // delivered twice otherwise: a failure
	Unknown        int64       `json:"unknown"`     // IDs the truth does not have: a failure
	Differ         int64       `json:"differ"`      // price, quantity or trade IDs unlike the truth: a failure
	Runs           []RunOutput `json:"runs"`        // what each gateway process wrote
	Files          int         `json:"files"`
	Lines          int         `json:"lines"`
	Partial        int         `json:"partial_files"` // files cut short, read up to their last complete line
}

// SymbolAudit is the audit of one trade sequence of a symbol.
type SymbolAudit struct {
	Venue      string  `json:"venue,omitempty"`
	Symbol     string  `json:"symbol"`
	Kind       string  `json:"kind"` // aggTrade or trade
	From       int64   `json:"from"` // first and last trade ID delivered
	To         int64   `json:"to"`
	Expected   int64   `json:"expected"`
	Delivered  int64   `json:"delivered"`
	Missing    int64   `json:"missing"`
	MissingIDs []int64 `json:"missing_ids,omitempty"` // the first few
	// AnnouncedAtEnd: see Audit.
	AnnouncedAtEnd int64 `json:"announced_at_end"`
	Redelivered    int64 `json:"redelivered"`
	Duplicates     int64 `json:"duplicates"`
	Unknown        int64 `json:"unknown"`
	Differ         int64 `json:"differ"`
}

// maxListedIDs bounds SymbolAudit.MissingIDs.
const maxListedIDs = 20

// Check audits out against truth (by sequence, ordered by ID). killed[i]
// tells whether run i ended by SIGKILL: a trade delivered by run i and
// again by run i+1 is re-delivered (written before the kill, after the
// last saved state), which --state allows; any other repeat is a
// duplicate. The runs ended by a kill are counted in redelivered, by the
// run that ended.
func Check(out *Output, truth map[Seq][]TruthTrade, killed []bool) (*Audit, []int64) {
	a := &Audit{Files: out.Files, Lines: out.Lines, Partial: out.Partial, Runs: out.Runs}
	perRun := make([]int64, len(killed))
	seqs := make([]Seq, 0, len(out.Trades))
	for q := range out.Trades {
		seqs = append(seqs, q)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i].String() < seqs[j].String() })
	for _, seq := range seqs {
		got := out.Trades[seq]
		sa := SymbolAudit{Venue: seq.Venue, Symbol: seq.Symbol, Kind: "trade", Delivered: int64(len(got))}
		if seq.Agg {
			sa.Kind = "aggTrade"
		}
		first := true
		for id := range got {
			if first || id < sa.From {
				sa.From = id
			}
			if first || id > sa.To {
				sa.To = id
			}
			first = false
		}
		// cutShort tells whether id is in a gap the last run announced
		// once the soak stopped it
		var atEnd []Gap
		for _, g := range out.Gaps {
			if g.Seq == seq && !out.StoppedAt.IsZero() && g.Run == len(out.Runs)-1 && !g.At.Before(out.StoppedAt) {
				atEnd = append(atEnd, g)
			}
		}
		cutShort := func(id int64) bool {
			for _, g := range atEnd {
				if id >= g.From && id <= g.To {
					return true
				}
			}
			return false
		}
		inTruth := map[int64]bool{}
		for _, t := range truth[seq] {
			if t.ID < sa.From || t.ID > sa.To {
				continue
			}
			inTruth[t.ID] = true
			sa.Expected++
			g, ok := got[t.ID]
			if !ok && cutShort(t.ID) {
				sa.AnnouncedAtEnd++
				continue
			}
			if !ok {
				sa.Missing++
				if len(sa.MissingIDs) < maxListedIDs {
					sa.MissingIDs = append(sa.MissingIDs, t.ID)
				}
				continue
			}
			if !sameDecimal(g.Price, t.Price) || !sameDecimal(g.Qty, t.Qty) || seq.Agg && (g.FirstTradeID != t.FirstTradeID || g.LastTradeID != t.LastTradeID) {
				sa.Differ++
			}
		}
		for id, g := range got {
			if !inTruth[id] {
				sa.Unknown++
			}
			for i := 1; i < len(g.Runs); i++ {
				prev, cur := g.Runs[i-1], g.Runs[i]
				if cur == prev+1 && prev < len(killed) && killed[prev] {
					sa.Redelivered++
					perRun[prev]++
				} else {
					sa.Duplicates++
				}
			}
		}
		a.Symbols = append(a.Symbols, sa)
		a.Expected += sa.Expected
		a.Delivered += sa.Delivered
		a.Missing += sa.Missing
		a.AnnouncedAtEnd += sa.AnnouncedAtEnd
		a.Redelivered += sa.Redelivered
		a.Duplicates += sa.Duplicates
		a.Unknown += sa.Unknown
		a.Differ += sa.Differ
	}
	return a, perRun
}

// Venues is the number of distinct venues the audit covers.
func (a *Audit) Venues() int {
	seen := map[string]bool{}
	for _, s := range a.Symbols {
		seen[s.Venue] = true
	}
	return len(seen)
}

// Label names the sequence: "BTCUSDT aggTrade", after its venue when
// withVenue ("okx BTC-USDT trade").
func (s SymbolAudit) Label(withVenue bool) string {
	l := s.Symbol + " " + s.Kind
	if withVenue && s.Venue != "" {
		l = s.Venue + " " + l
	}
	return l
}

// failures are the audit's findings that fail the soak, each naming its
// sequence (by venue too when the audit covers several).
func (a *Audit) failures() []string {
	var f []string
	multi := a.Venues() > 1
	for _, s := range a.Symbols {
		l := s.Label(multi)
		if s.Missing > 0 {
			f = append(f, fmt.Sprintf("%s: %d of %d trades %d..%d in no output (first: %v)", l, s.Missing, s.Expected, s.From, s.To, s.MissingIDs))
		}
		if s.Duplicates > 0 {
			f = append(f, fmt.Sprintf("%s: %d trades delivered twice by one run or across a clean stop", l, s.Duplicates))
		}
		if s.Unknown > 0 {
			f = append(f, fmt.Sprintf("%s: %d trade IDs the simulator never made", l, s.Unknown))
		}
		if s.Differ > 0 {
			f = append(f, fmt.Sprintf("%s: %d trades unlike the simulator's (price, quantity or trade IDs)", l, s.Differ))
		}
	}
	if a.Delivered == 0 {
		f = append(f, "no trade in the outputs")
	}
	return f
}

// sameDecimal compares two decimal strings by value ("1.50" and "1.5").
func sameDecimal(a, b string) bool {
	return normDecimal(a) == normDecimal(b)
}

func normDecimal(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	if s == "" || s == "-" {
		return "0"
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return "bad:" + s
	}
	return s
}
