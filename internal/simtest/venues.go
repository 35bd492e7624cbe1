package simtest

import (
	"crypto/tls"
	"testing"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue/venuetest"
)

// SpotSim starts a simulator and returns its Binance spot front-end as the
// conformance suite drives it.
func SpotSim(t testing.TB, cfg sim.Config) venuetest.Sim {
	s := Start(t, cfg)
	return &venueSim{s: s, ws: s.WSURL(), rest: s.RESTURL(), trades: s.AggTrades, book: s.BookAt}
}

// USDMSim starts a simulator serving Binance USD-M futures and returns
// that front-end as the conformance suite drives it.
func USDMSim(t testing.TB, cfg sim.Config) venuetest.Sim {
	cfg.Venues = append(cfg.Venues, sim.VenueBinanceUSDM)
	s := Start(t, cfg)
	u := s.USDM()
	return &venueSim{s: s, ws: u.WSURL(), rest: u.RESTURL(), trades: u.AggTrades, book: u.BookAt}
}

type venueSim struct {
	s        *sim.Server
	ws, rest string
	trades   func(symbol string, from, to int64) ([]sim.AggTrade, error)
	book     func(symbol string, id int64) (sim.BookState, error)
}

func (v *venueSim) WSURL() string   { return v.ws }
func (v *venueSim) RESTURL() string { return v.rest }
func (v *venueSim) TLS() *tls.Config {
	return &tls.Config{RootCAs: v.s.CertPool(), ClientSessionCache: tls.NewLRUClientSessionCache(16)}
}

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
	for _, l := range bs.Bids {
		bids = append(bids, venuetest.Level{Price: l.Price, Qty: l.Qty})
	}
	for _, l := range bs.Asks {
		asks = append(asks, venuetest.Level{Price: l.Price, Qty: l.Qty})
	}
	return bids, asks, nil
}

func (v *venueSim) Fire() error { return v.s.Fire(sim.Fault{Kind: sim.FaultDrop}) }

func (v *venueSim) BookFaults(p float64) error {
	if p == 0 {
		return v.s.SetFaults()
	}
	return v.s.SetFaults(sim.Fault{Kind: sim.FaultDepthDrop, Prob: p}, sim.Fault{Kind: sim.FaultDepthDup, Prob: p},
		sim.Fault{Kind: sim.FaultDepthReorder, Prob: p})
}

// OKXSim starts a simulator serving OKX and returns that front-end as the
// conformance suite drives it: trades by tradeId and books by seqId of
// the instIds ("BTC-USDT", "BTC-USDT-SWAP"); prices and sizes as OKX
// writes them (swap sizes in contracts).
func OKXSim(t testing.TB, cfg sim.Config) venuetest.Sim {
	cfg.Venues = append(cfg.Venues, sim.VenueOKX)
	s := Start(t, cfg)
	o := s.OKX()
	return &venueSim{s: s, ws: o.WSURL(), rest: o.RESTURL(), trades: func(instID string, from, to int64) ([]sim.AggTrade, error) {
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
