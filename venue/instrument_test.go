package venue_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/feedkeeper/feedkeeper/venue"
)

func TestParseInstrument(t *testing.T) {
	for in, want := range map[string]venue.Instrument{
		"BTC-USDT":      {Base: "BTC", Quote: "USDT"},
		"BTC-USDT-PERP": {Base: "BTC", Quote: "USDT", Perp: true},
		"1000PEPE-USDT": {Base: "1000PEPE", Quote: "USDT"},
		"ETH-USDC-PERP": {Base: "ETH", Quote: "USDC", Perp: true},
	} {
		got, err := venue.ParseInstrument(in)
		if err != nil || got != want || got.String() != in {
			t.Errorf("%s: %+v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"btc-usdt", "BTCUSDT", "BTC-USDT-SWAP", "BTC--USDT", "-USDT", "BTC-USDT-PERP-X"} {
		if _, err := venue.ParseInstrument(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s: err %v, want one naming it", bad, err)
		}
	}
}

// spotOnly lists spot markets: trades and books.
type spotOnly struct{ venue.Factory }

func (spotOnly) Streams(what string, in venue.Instrument) ([]string, error) {
	if in.Perp {
		return nil, venue.ErrNotListed
	}
	s := strings.ToLower(in.Base + in.Quote)
	switch what {
	case venue.WantTrades:
		return []string{s + "@trade"}, nil
	case venue.WantBook:
		return []string{s + "@book"}, nil
	}
	return nil, venue.ErrNotListed
}

func TestExpand(t *testing.T) {
	got, err := venue.Expand("x", spotOnly{}, []string{"trades:BTC-USDT", "btcusdt@trade", "book:BTC-USDT", "ethusdt@x"})
	if err != nil || strings.Join(got, ",") != "btcusdt@trade,btcusdt@book,ethusdt@x" {
		t.Fatalf("expanded %v, %v: native names kept, repeats dropped, order kept", got, err)
	}
	_, err = venue.Expand("x", spotOnly{}, []string{"trades:BTC-USDT-PERP", "top:BTC-USDT", "ohlc:BTC-USDT", "trades:btc"})
	for _, want := range []string{`"trades:BTC-USDT-PERP" on x`, `"top:BTC-USDT" on x`, `"ohlc" is not one of`, `instrument "btc"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err %v, want it to say %q", err, want)
		}
	}
	if !errors.Is(err, venue.ErrNotListed) {
		t.Errorf("err %v does not match ErrNotListed", err)
	}
	if _, err := venue.Expand("plain", struct{ venue.Factory }{}, []string{"trades:BTC-USDT"}); err == nil || !strings.Contains(err.Error(), "takes only its own stream names") {
		t.Errorf("a venue without the form: %v", err)
	}
}
