package simtest

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue/venuetest"
)

// SpotSim starts a simulator and returns its Binance spot front-end as the
// conformance suite drives it.
func SpotSim(t testing.TB, cfg sim.Config) venuetest.Sim {
	s := Start(t, cfg)
	return &venueSim{server: server{s}, ws: s.WSURL(), rest: s.RESTURL(), trades: s.AggTrades, book: byID(s.BookAt)}
}

// USDMSim starts a simulator serving Binance USD-M futures and returns
// that front-end as the conformance suite drives it.
func USDMSim(t testing.TB, cfg sim.Config) venuetest.Sim {
	cfg.Venues = append(cfg.Venues, sim.VenueBinanceUSDM)
	s := Start(t, cfg)
	u := s.USDM()
	return &venueSim{server: server{s}, ws: u.WSURL(), rest: u.RESTURL(), trades: u.AggTrades, book: byID(u.BookAt)}
}

// BybitSim starts a simulator serving Bybit and returns that front-end as
// the conformance suite drives it. A symbol is named "BTC-USDT" (spot),
// "BTC-USDT-PERP" (linear), "spot:BTCUSDT" / "linear:BTCUSDT" or
// "spot/BTCUSDT" / "linear/BTCUSDT" (the bybit venue's event symbols); a bare
// "BTCUSDT" is linear. Book IDs are the u of the symbol's orderbook topics.
// Bybit's trade IDs are strings that cannot be ordered, so Trades reads its
// from and to as times in milliseconds and returns the trades of that
// range, oldest first, with ID 0.
func BybitSim(t testing.TB, cfg sim.Config) venuetest.Sim {
	cfg.Venues = append(cfg.Venues, sim.VenueBybit)
	s := Start(t, cfg)
	return &bybitSim{server: server{s}, b: s.Bybit()}
}

type bybitSim struct {
	server
	b *sim.Bybit
}

// bybitSymbol reads the category and the Bybit symbol out of a name.
func bybitSymbol(name string) (category, symbol string, err error) {
	if c, sym, ok := strings.Cut(name, "/"); ok { // as the bybit venue names its events: linear/BTCUSDT
		name = c + ":" + sym
	}
	if c, sym, ok := strings.Cut(name, ":"); ok {
		if c != sim.BybitSpot && c != sim.BybitLinear {
			return "", "", fmt.Errorf("symbol %q: category %q is not %s or %s", name, c, sim.BybitSpot, sim.BybitLinear)
		}
		return c, sym, nil
	}
	if base, ok := strings.CutSuffix(name, "-PERP"); ok {
		return sim.BybitLinear, strings.ReplaceAll(base, "-", ""), nil
	}
	if strings.Contains(name, "-") {
		return sim.BybitSpot, strings.ReplaceAll(name, "-", ""), nil
	}
	return sim.BybitLinear, name, nil
}

func (v *bybitSim) WSURL() string   { return v.b.WSURL() }
func (v *bybitSim) RESTURL() string { return v.b.RESTURL() }
func (v *bybitSim) Trades(symbol string, fromMs, toMs int64) ([]venuetest.Trade, error) {
	cat, sym, err := bybitSymbol(symbol)
	if err != nil {
		return nil, err
	}
	ts, err := v.b.Trades(sym, cat, fromMs, toMs)
	if err != nil {
		return nil, err
	}
	out := make([]venuetest.Trade, len(ts))
	for i, tr := range ts {
		side := feed.SideBuy
		if tr.Side == "Sell" {
			side = feed.SideSell
		}
		out[i] = venuetest.Trade{Price: tr.Price, Qty: tr.Size, Side: side, Time: tr.Time}
	}
	return out, nil
}

func (v *bybitSim) Book(symbol string, u, _ int64) (bids, asks []venuetest.Level, err error) {
	cat, sym, err := bybitSymbol(symbol)
	if err != nil {
		return nil, nil, err
	}
	bs, err := v.b.BookAt(sym, cat, u)
	if err != nil {
		return nil, nil, err
	}
	return levels(bs)
}

// byID answers books by ID alone: the front-end's IDs name one update of
// the whole run.
func byID(book func(symbol string, id int64) (sim.BookState, error)) func(symbol string, id, sent int64) (sim.BookState, error) {
	return func(symbol string, id, _ int64) (sim.BookState, error) { return book(symbol, id) }
}

type venueSim struct {
	server
	ws, rest string
	trades   func(symbol string, from, to int64) ([]sim.AggTrade, error)
	book     func(symbol string, id, sent int64) (sim.BookState, error)
}

func (v *venueSim) WSURL() string   { return v.ws }
func (v *venueSim) RESTURL() string { return v.rest }
func (v *venueSim) Trades(symbol string, from, to int64) ([]venuetest.Trade, error) {
	ts, err := v.trades(symbol, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]venuetest.Trade, len(ts))
	for i, tr := range ts {
		side := feed.SideBuy
		if tr.BuyerMaker {
			side = feed.SideSell
		}
		out[i] = venuetest.Trade{ID: tr.ID, Price: tr.Price, Qty: tr.Qty, Side: side}
	}
	return out, nil
}

func (v *venueSim) Book(symbol string, id, sent int64) (bids, asks []venuetest.Level, err error) {
	bs, err := v.book(symbol, id, sent)
	if err != nil {
		return nil, nil, err
	}
	return levels(bs)
}

// OKXSim starts a simulator serving OKX and returns that front-end as the
// conformance suite drives it: trades by tradeId and books by seqId of
// the instIds ("BTC-USDT", "BTC-USDT-SWAP"); prices as OKX writes them,
// sizes in the base currency as the okx venue's events carry them: a
// swap's sizes, which OKX writes in contracts, times the contract's face
// value ctVal (read from the front-end's GET /api/v5/public/instruments).
func OKXSim(t testing.TB, cfg sim.Config) venuetest.Sim {
	cfg.Venues = append(cfg.Venues, sim.VenueOKX)
	s := Start(t, cfg)
	o := s.OKX()
	v := &okxSim{o: o}
	v.venueSim = venueSim{server: server{s}, ws: o.WSURL(), rest: o.RESTURL(), trades: func(instID string, from, to int64) ([]sim.AggTrade, error) {
		ts, err := o.Trades(instID, from, to)
		if err != nil {
			return nil, err
		}
		out := make([]sim.AggTrade, len(ts))
		for i, tr := range ts {
			sz, err := v.base(instID, tr.Sz)
			if err != nil {
				return nil, err
			}
			// one trade each: the suite compares trades one by one
			out[i] = sim.AggTrade{ID: tr.TradeID, Price: tr.Px, Qty: sz, FirstTradeID: tr.TradeID, LastTradeID: tr.TradeID,
				Time: tr.Ts, BuyerMaker: tr.Side == "sell"}
		}
		return out, nil
	}, book: func(instID string, id, _ int64) (sim.BookState, error) {
		b, err := o.BookAt(instID, id)
		if err != nil {
			return sim.BookState{}, err
		}
		for _, side := range [][]sim.Level{b.Bids, b.Asks} {
			for i := range side {
				if side[i].Qty, err = v.base(instID, side[i].Qty); err != nil {
					return sim.BookState{}, err
				}
			}
		}
		return sim.BookState{Symbol: b.InstID, LastUpdateID: b.SeqID, Bids: b.Bids, Asks: b.Asks}, nil
	}}
	return v
}

type okxSim struct {
	venueSim
	o *sim.OKX

	mu    sync.Mutex
	ctVal map[string]string // swap instId → ctVal, once read
}

// base returns a size of instID in the base currency: a swap's, in
// contracts, times ctVal, exactly; a spot one as it is.
func (v *okxSim) base(instID, sz string) (string, error) {
	if !strings.HasSuffix(instID, "-SWAP") {
		return sz, nil
	}
	ct, err := v.ctValOf(instID)
	if err != nil {
		return "", err
	}
	a, ok1 := new(big.Rat).SetString(sz)
	b, ok2 := new(big.Rat).SetString(ct)
	if !ok1 || !ok2 {
		return "", fmt.Errorf("%s: size %q or ctVal %q is not a decimal", instID, sz, ct)
	}
	return a.Mul(a, b).FloatString(decimals(sz) + decimals(ct)), nil
}

func decimals(s string) int {
	if _, frac, ok := strings.Cut(s, "."); ok {
		return len(frac)
	}
	return 0
}

// ctValOf reads the swaps' ctVal from the front-end's instruments, once.
func (v *okxSim) ctValOf(instID string) (string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.ctVal == nil {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: v.TLS()}, Timeout: 10 * time.Second}
		defer hc.CloseIdleConnections()
		resp, err := hc.Get(v.o.RESTURL() + "/api/v5/public/instruments?instType=SWAP")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var ans struct {
			Code string `json:"code"`
			Data []struct {
				InstID string `json:"instId"`
				CtVal  string `json:"ctVal"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil || ans.Code != "0" {
			return "", fmt.Errorf("okx instruments: code %q: %v", ans.Code, err)
		}
		v.ctVal = map[string]string{}
		for _, in := range ans.Data {
			v.ctVal[in.InstID] = in.CtVal
		}
	}
	ct, ok := v.ctVal[instID]
	if !ok {
		return "", fmt.Errorf("okx: no swap %q among the instruments", instID)
	}
	return ct, nil
}

// KrakenSim starts a simulator serving Kraken and returns that front-end
// as the conformance suite drives it. Symbols are v2 pairs ("BTC/USDT")
// or the market's ("BTCUSDT", "BTC-USDT"); Trades takes trade_ids, Book
// the timestamp (µs) of a book message.
func KrakenSim(t testing.TB, cfg sim.Config) venuetest.Sim {
	cfg.Venues = append(cfg.Venues, sim.VenueKraken)
	s := Start(t, cfg)
	return &krakenSim{server: server{s}, k: s.Kraken()}
}

type krakenSim struct {
	server
	k *sim.Kraken
}

// krakenPair reads a pair out of a name: BTC/USDT, BTC-USDT or BTCUSDT.
func krakenPair(name string) string {
	return strings.ReplaceAll(strings.ReplaceAll(name, "-", ""), "/", "")
}

func (v *krakenSim) WSURL() string   { return v.k.WSURL() }
func (v *krakenSim) RESTURL() string { return v.k.RESTURL() }
func (v *krakenSim) Trades(symbol string, from, to int64) ([]venuetest.Trade, error) {
	ts, err := v.k.Trades(krakenPair(symbol), from, to)
	if err != nil {
		return nil, err
	}
	out := make([]venuetest.Trade, len(ts))
	for i, tr := range ts {
		side := feed.SideBuy
		if tr.Side == "sell" {
			side = feed.SideSell
		}
		out[i] = venuetest.Trade{ID: tr.ID, Price: tr.Price, Qty: tr.Qty, Side: side, Time: tr.Time / 1000}
	}
	return out, nil
}

func (v *krakenSim) Book(symbol string, ts, _ int64) (bids, asks []venuetest.Level, err error) {
	bs, err := v.k.BookAt(krakenPair(symbol), ts)
	if err != nil {
		return nil, nil, err
	}
	return levels(bs)
}

// CoinbaseSim starts a simulator serving Coinbase and returns that
// front-end as the conformance suite drives it: products "BTC-USDT".
// Coinbase's trades are opaque to the coinbase venue (TradeIDsOpaque), so
// Trades reads its from and to as times in milliseconds and returns the
// front-end's trades of that range, oldest first, each with its trade_id
// and its time truncated to the millisecond. A book ID is an l2_data
// message's sequence_num, which counts per connection: Book takes the
// message of that number sent nearest the update's time, on any
// connection, open or closed (Coinbase.BookAtMessage).
func CoinbaseSim(t testing.TB, cfg sim.Config) venuetest.Sim {
	cfg.Venues = append(cfg.Venues, sim.VenueCoinbase)
	s := Start(t, cfg)
	return &coinbaseSim{server: server{s}, cb: s.Coinbase()}
}

type coinbaseSim struct {
	server
	cb *sim.Coinbase
}

func (v *coinbaseSim) WSURL() string   { return v.cb.WSURL() }
func (v *coinbaseSim) RESTURL() string { return v.cb.RESTURL() }

func (v *coinbaseSim) Trades(product string, fromMs, toMs int64) ([]venuetest.Trade, error) {
	last, err := v.cb.LastTradeID(product)
	if err != nil {
		return nil, err
	}
	// the oldest trade kept: asking from below it is an error
	lo, hi := int64(1), last
	for lo < hi {
		mid := lo + (hi-lo)/2
		if _, err := v.cb.Trades(product, mid, mid); err == nil {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	ts, err := v.cb.Trades(product, lo, last)
	if err != nil {
		return nil, err
	}
	var out []venuetest.Trade
	for _, tr := range ts {
		tm, err := time.Parse(time.RFC3339Nano, tr.Time)
		if err != nil {
			return nil, fmt.Errorf("trade %s: time %q: %w", tr.TradeID, tr.Time, err)
		}
		ms := tm.UnixMilli()
		if ms < fromMs || ms > toMs {
			continue
		}
		id, err := strconv.ParseInt(tr.TradeID, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("trade_id %q: %w", tr.TradeID, err)
		}
		side := feed.SideBuy
		if tr.Side == "SELL" {
			side = feed.SideSell
		}
		out = append(out, venuetest.Trade{ID: id, Price: tr.Price, Qty: tr.Size, Side: side, Time: ms})
	}
	return out, nil
}

func (v *coinbaseSim) Book(product string, seq, sent int64) (bids, asks []venuetest.Level, err error) {
	b, err := v.cb.BookAtMessage(product, seq, time.Unix(0, sent))
	if err != nil {
		return nil, nil, err
	}
	return levels(sim.BookState{Bids: b.Bids, Asks: b.Asks})
}

// server is what every front-end's adapter does alike: trust the
// simulator's CA, drop its connections, turn its book faults on and off.
type server struct{ s *sim.Server }

func (v server) TLS() *tls.Config {
	return &tls.Config{RootCAs: v.s.CertPool(), ClientSessionCache: tls.NewLRUClientSessionCache(16)}
}

func (v server) Fire() error { return v.s.Fire(sim.Fault{Kind: sim.FaultDrop}) }

// Fault reads spec as the --fault flag does and carries it out with
// Server.Fire: once when it says neither p=, every= nor times=.
func (v server) Fault(spec string) error {
	kind, rest, _ := strings.Cut(spec, ":")
	when := false
	for _, kv := range strings.Split(rest, ",") {
		k, _, _ := strings.Cut(kv, "=")
		when = when || k == "p" || k == "every" || k == "times"
	}
	if !when {
		rest = strings.Trim(rest+",times=1", ",")
	}
	f, err := sim.ParseFault(kind + ":" + rest)
	if err != nil {
		return err
	}
	return v.s.Fire(f)
}

func (v server) Fired(kind string) int64 { return v.s.FaultCounts()[sim.FaultKind(kind)] }

func (v server) BookFaults(p float64) error {
	if p == 0 {
		return v.s.SetFaults()
	}
	return v.s.SetFaults(sim.Fault{Kind: sim.FaultDepthDrop, Prob: p}, sim.Fault{Kind: sim.FaultDepthDup, Prob: p},
		sim.Fault{Kind: sim.FaultDepthReorder, Prob: p})
}

// levels turns the simulator's book into the suite's levels.
func levels(bs sim.BookState) (bids, asks []venuetest.Level, err error) {
	for _, l := range bs.Bids {
		bids = append(bids, venuetest.Level{Price: l.Price, Qty: l.Qty})
	}
	for _, l := range bs.Asks {
		asks = append(asks, venuetest.Level{Price: l.Price, Qty: l.Qty})
	}
	return bids, asks, nil
}
