package simtest

import (
	"cmp"
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
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
	return &venueSim{server: server{s}, ws: s.WSURL(), rest: s.RESTURL(), trades: s.AggTrades, book: s.BookAt}
}

// USDMSim starts a simulator serving Binance USD-M futures and returns
// that front-end as the conformance suite drives it.
func USDMSim(t testing.TB, cfg sim.Config) venuetest.Sim {
	cfg.Venues = append(cfg.Venues, sim.VenueBinanceUSDM)
	s := Start(t, cfg)
	u := s.USDM()
	return &venueSim{server: server{s}, ws: u.WSURL(), rest: u.RESTURL(), trades: u.AggTrades, book: u.BookAt}
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

func (v *bybitSim) Book(symbol string, u int64) (bids, asks []venuetest.Level, err error) {
	cat, sym, err := bybitSymbol(symbol)
	if err != nil {
		return nil, nil, err
	}
	bs, err := v.b.BookAt(sym, cat, u)
	if err != nil {
		return nil, nil, err
	}
	bids, asks = levels(bs)
	return bids, asks, nil
}

type venueSim struct {
	server
	ws, rest string
	trades   func(symbol string, from, to int64) ([]sim.AggTrade, error)
	book     func(symbol string, id int64) (sim.BookState, error)
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

func (v *venueSim) Book(symbol string, id int64) (bids, asks []venuetest.Level, err error) {
	bs, err := v.book(symbol, id)
	if err != nil {
		return nil, nil, err
	}
	bids, asks = levels(bs)
	return bids, asks, nil
}

// OKXSim starts a simulator serving OKX and returns that front-end as the
// conformance suite drives it: trades by tradeId and books by seqId of
// the instIds ("BTC-USDT", "BTC-USDT-SWAP"); prices and sizes as OKX
// writes them (swap sizes in contracts).
func OKXSim(t testing.TB, cfg sim.Config) venuetest.Sim {
	cfg.Venues = append(cfg.Venues, sim.VenueOKX)
	s := Start(t, cfg)
	o := s.OKX()
	return &venueSim{server: server{s}, ws: o.WSURL(), rest: o.RESTURL(), trades: func(instID string, from, to int64) ([]sim.AggTrade, error) {
		ts, err := o.Trades(instID, from, to)
		if err != nil {
			return nil, err
		}
		out := make([]sim.AggTrade, len(ts))
		for i, tr := range ts {
			// one trade each: the suite compares trades one by one
			out[i] = sim.AggTrade{ID: tr.TradeID, Price: tr.Px, Qty: tr.Sz, FirstTradeID: tr.TradeID, LastTradeID: tr.TradeID,
				Time: tr.Ts, BuyerMaker: tr.Side == "sell"}
		}
		return out, nil
	}, book: func(instID string, id int64) (sim.BookState, error) {
		b, err := o.BookAt(instID, id)
		if err != nil {
			return sim.BookState{}, err
		}
		return sim.BookState{Symbol: b.InstID, LastUpdateID: b.SeqID, Bids: b.Bids, Asks: b.Asks}, nil
	}}
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

func (v *krakenSim) Book(symbol string, ts int64) (bids, asks []venuetest.Level, err error) {
	bs, err := v.k.BookAt(krakenPair(symbol), ts)
	if err != nil {
		return nil, nil, err
	}
	bids, asks = levels(bs)
	return bids, asks, nil
}

// CoinbaseSim starts a simulator serving Coinbase and returns that
// front-end as the conformance suite drives it: products "BTC-USDT";
// trades by trade_id (integers per product); a book ID is an l2_data
// message's sequence_num, looked up on the front-end's open connections,
// newest first (sequence_num counts per connection).
func CoinbaseSim(t testing.TB, cfg sim.Config) venuetest.Sim {
	cfg.Venues = append(cfg.Venues, sim.VenueCoinbase)
	s := Start(t, cfg)
	cb := s.Coinbase()
	return &venueSim{server: server{s}, ws: cb.WSURL(), rest: cb.RESTURL(), trades: func(product string, from, to int64) ([]sim.AggTrade, error) {
		ts, err := cb.Trades(product, from, to)
		if err != nil {
			return nil, err
		}
		out := make([]sim.AggTrade, len(ts))
		for i, tr := range ts {
			id := from + int64(i)
			tm, err := time.Parse(time.RFC3339Nano, tr.Time)
			if err != nil {
				return nil, err
			}
			out[i] = sim.AggTrade{ID: id, Price: tr.Price, Qty: tr.Size, FirstTradeID: id, LastTradeID: id,
				Time: tm.UnixMilli(), BuyerMaker: tr.Side == "SELL"}
		}
		return out, nil
	}, book: func(product string, seq int64) (sim.BookState, error) {
		conns := cb.Conns()
		slices.SortFunc(conns, func(a, b sim.ConnStats) int { return cmp.Compare(a.ID, b.ID) })
		err := fmt.Errorf("%s sequence_num %d: no connection", product, seq)
		for i := len(conns) - 1; i >= 0; i-- {
			b, e := cb.BookAtSequence(conns[i].ID, product, seq)
			if e == nil {
				return sim.BookState{Symbol: b.ProductID, LastUpdateID: seq, Bids: b.Bids, Asks: b.Asks}, nil
			}
			err = e
		}
		return sim.BookState{}, err
	}}
}

// server is what every front-end's adapter does alike: trust the
// simulator's CA, drop its connections, turn its book faults on and off.
type server struct{ s *sim.Server }

func (v server) TLS() *tls.Config {
	return &tls.Config{RootCAs: v.s.CertPool(), ClientSessionCache: tls.NewLRUClientSessionCache(16)}
}

func (v server) Fire() error { return v.s.Fire(sim.Fault{Kind: sim.FaultDrop}) }

func (v server) BookFaults(p float64) error {
	if p == 0 {
		return v.s.SetFaults()
	}
	return v.s.SetFaults(sim.Fault{Kind: sim.FaultDepthDrop, Prob: p}, sim.Fault{Kind: sim.FaultDepthDup, Prob: p},
		sim.Fault{Kind: sim.FaultDepthReorder, Prob: p})
}

// levels turns the simulator's book into the suite's levels.
func levels(bs sim.BookState) (bids, asks []venuetest.Level) {
	for _, l := range bs.Bids {
		bids = append(bids, venuetest.Level{Price: l.Price, Qty: l.Qty})
	}
	for _, l := range bs.Asks {
		asks = append(asks, venuetest.Level{Price: l.Price, Qty: l.Qty})
	}
	return bids, asks
}
