package binance_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue"
	_ "github.com/feedkeeper/feedkeeper/venue/binance"
)

// TestFactoryOpensAgainstTheSimulator: the registered factory sets the
// venue up as run does (symbols, recovery, books, clock, metadata), and
// its metadata rebuilds the same venue for a replay.
func TestFactoryOpensAgainstTheSimulator(t *testing.T) {
	f, err := venue.Lookup("binance")
	if err != nil {
		t.Fatal(err)
	}
	s := simtest.Start(t, sim.Config{})
	tlsCfg, err := httpx.TLSConfig(simtest.CAFile(t, s))
	if err != nil {
		t.Fatal(err)
	}
	opts := f.NewOptions()
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	opts.BindFlags(fs)
	if err := fs.Parse([]string{"--streams-per-conn", "2", "--micros"}); err != nil {
		t.Fatal(err)
	}
	streams := []string{"btcusdt@aggTrade", "btcusdt@depth@100ms", "ethusdt@trade"}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	setup, err := f.Open(ctx, venue.Env{WSURL: s.WSURL(), RESTURL: s.RESTURL(), Streams: streams, TLS: tlsCfg,
		Logger: log, Recovery: true, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close()
	if setup.Recovery == nil || setup.Dials == nil || setup.RESTStats == nil {
		t.Fatalf("setup lacks recovery, dials or REST stats: %+v", setup)
	}
	if got := strings.Join(setup.BookSymbols, ","); got != "BTCUSDT" {
		t.Errorf("BookSymbols = %s, want BTCUSDT (the one diff depth stream)", got)
	}
	if got := strings.Join(setup.Symbols, ","); got != "BTCUSDT,ETHUSDT" {
		t.Errorf("Symbols = %s", got)
	}
	now, err := setup.ServerTime(ctx)
	if err != nil || time.Since(now).Abs() > time.Minute {
		t.Errorf("ServerTime = %v, %v", now, err)
	}
	plans, err := setup.Venue.Plan(streams)
	if err != nil || len(plans) != 2 {
		t.Fatalf("%d plans (%v), want 2 of --streams-per-conn 2", len(plans), err)
	}
	if !strings.Contains(string(setup.Meta), `"micros":true`) {
		t.Errorf("metadata %s lacks micros", setup.Meta)
	}
	replayed, err := f.Replay(setup.Meta)
	if err != nil {
		t.Fatal(err)
	}
	rplans, err := replayed.Plan(streams)
	if err != nil || len(rplans) != len(plans) || rplans[0].URL != plans[0].URL {
		t.Fatalf("replay plans %+v (%v), live %+v", rplans, err, plans)
	}
	// the replayed venue decodes with the recorded scales
	var ev feed.Event
	frame := []byte(`{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1,"s":"BTCUSDT","a":5,"p":"100.01","q":"0.5","f":1,"l":1,"T":1,"m":true,"M":true}}`)
	if _, err := replayed.NewDecoder(rplans[0]).Decode(frame, &ev); err != nil || ev.Symbol != "BTCUSDT" || ev.ID != 5 {
		t.Fatalf("replayed decoder: %v %+v", err, ev)
	}
	rs := setup.RESTStats()
	setup.Close()
	if rs.Requests == 0 {
		t.Error("no REST request counted")
	}

	// a symbol the venue does not list is the user's input, named
	_, err = f.Open(ctx, venue.Env{WSURL: s.WSURL(), RESTURL: s.RESTURL(), Streams: []string{"nosuchcoin@trade"}, TLS: tlsCfg, Logger: log})
	if !errors.Is(err, venue.ErrBadInput) || !strings.Contains(err.Error(), "nosuchcoin@trade") {
		t.Fatalf("unlisted symbol: %v", err)
	}
	// an endpoint whose certificate is not trusted: unavailable
	_, err = f.Open(ctx, venue.Env{WSURL: s.WSURL(), RESTURL: s.RESTURL(), Streams: streams, Logger: log})
	if !errors.Is(err, venue.ErrUnavailable) || !strings.Contains(err.Error(), "--ca") {
		t.Fatalf("untrusted certificate: %v", err)
	}
}

// TestReplayOfTheFirstRecordingForm: recordings made before the venue kept
// its own metadata hold its keys at the top of meta.json, beside the
// generic ones; the whole file reads as the venue's metadata.
func TestReplayOfTheFirstRecordingForm(t *testing.T) {
	f, _ := venue.Lookup("binance")
	old := `{"version":1,"venue":"binance","ws_url":"wss://127.0.0.1:9443","streams":["btcusdt@aggTrade"],
		"streams_per_conn":200,"micros":false,"symbols":[{"name":"BTCUSDT","price_scale":2,"qty_scale":5}],"started":"2026-11-25T10:00:00Z"}`
	v, err := f.Replay([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	plans, err := v.Plan([]string{"btcusdt@aggTrade"})
	if err != nil || len(plans) != 1 || !strings.HasPrefix(plans[0].URL, "wss://127.0.0.1:9443") {
		t.Fatalf("plans %+v, %v", plans, err)
	}
}

func TestOptionsNameTheFlag(t *testing.T) {
	f, _ := venue.Lookup("binance")
	opts := f.NewOptions()
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	opts.BindFlags(fs)
	if err := fs.Parse([]string{"--streams-per-conn=1025", "--dial-budget=lots", "--refresh-instruments=-1s"}); err != nil {
		t.Fatal(err)
	}
	err := opts.Validate()
	for _, want := range []string{"--streams-per-conn 1025: out of range 1..1024", "--dial-budget lots", "--refresh-instruments -1s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v; want %q", err, want)
		}
	}
	var se *venue.SettingError
	if !errors.As(err, &se) {
		t.Errorf("%v is not a *venue.SettingError", err)
	}
	for st, want := range map[string]string{"btcusdt@aggTrade": "", "!miniTicker@arr": "", "BTCUSDT@trade": "want <lower-case symbol>",
		"btcusdt@nope": `unknown type "nope"`, "!bogus@arr": "unknown market-wide"} {
		err := f.CheckStream(st)
		if (want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("CheckStream(%q) = %v, want %q", st, err, want)
		}
	}
	if got := f.CompleteStream("btcusdt@dep"); len(got) == 0 || got[0] != "btcusdt@depth" {
		t.Errorf("CompleteStream = %v", got)
	}
}
