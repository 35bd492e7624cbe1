package okx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/fixed"
	"github.com/feedkeeper/feedkeeper/httpx"
)

// OKX made BTC-USDT's tickSz finer than the table says: a push and a page
// of history-trades with a finer price widen the price scale for both,
// instead of losing the push and the gap it would fill.
func TestFinerTickWidensTheScale(t *testing.T) {
	syms, err := NewSymbols(Symbol{InstID: "BTC-USDT", InstType: InstSpot, PriceScale: 1, LotScale: 8, Base: "BTC", Quote: "USDT"})
	if err != nil {
		t.Fatal(err)
	}
	in := NewInstruments(syms)

	dec := &widening{src: in}
	var ev feed.Event
	frame := []byte(`{"arg":{"channel":"trades-all","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"130639474","px":"42219.95","sz":"0.12060306","side":"buy","ts":"1630048897897"}]}`)
	if _, err := dec.Decode(frame, &ev); err != nil {
		t.Fatalf("a finer price: %v", err)
	}
	if ev.PriceScale != 2 || ev.Price != 4221995 || in.Widened() != 1 {
		t.Fatalf("decoded price %d at scale %d, %d widened; want 4221995 at 2, 1", ev.Price, ev.PriceScale, in.Widened())
	}
	// a fixed table refuses it
	if _, err := (&Decoder{Symbols: syms}).Decode(frame, &ev); err == nil {
		t.Fatal("a fixed table took a price finer than its tick")
	}

	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"code":"0","msg":"","data":[{"instId":"BTC-USDT","side":"sell","sz":"0.5","source":"0","px":"29963.125","tradeId":"1001","ts":"1654161646975"},`+
			`{"instId":"BTC-USDT","side":"buy","sz":"0.5","source":"0","px":"29963.2","tradeId":"1000","ts":"1654161646974"}]}`)
	}))
	defer srv.Close()
	c, err := httpx.New(RESTConfig(httpx.Config{BaseURL: srv.URL, TLS: srv.Client().Transport.(*http.Transport).TLSClientConfig}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fixedRec, _ := NewRecovery(c, syms)
	if _, err := fixedRec.Trades(ctx, "BTC-USDT", 1000, 2, nil); !errors.Is(err, fixed.ErrPrecision) {
		t.Fatalf("a fixed table: %v, want a precision error", err)
	}
	rec, _ := NewRecovery(c, in)
	got, err := rec.Trades(ctx, "BTC-USDT", 1000, 2, nil)
	if err != nil || len(got) != 2 {
		t.Fatalf("trades %v, %v", got, err)
	}
	if got[1].PriceScale != 3 || got[1].Price != 29963125 || got[0].Price != 29963200 || got[0].PriceScale != 3 {
		t.Fatalf("prices %d/%d at scales %d/%d; want 29963200 and 29963125 at 3", got[0].Price, got[1].Price, got[0].PriceScale, got[1].PriceScale)
	}
}
