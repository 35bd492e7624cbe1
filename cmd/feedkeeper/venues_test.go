package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/httpx"
	"github.com/feedkeeper/feedkeeper/record"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/venue"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

// TestSeveralVenuesInOneProcess: a config file's venues: list runs one
// gateway per entry (here binance twice, against two simulators) into the
// same outputs and the same monitor, each entry with its own settings.
func TestSeveralVenuesInOneProcess(t *testing.T) {
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs") // one CA: the process has one TLS configuration
	a, caA := startSim(t, sim.Config{CertDir: certs})
	b, _ := startSim(t, sim.Config{CertDir: certs})
	cfg := filepath.Join(dir, "venues.yaml")
	body := "ca: " + caA + "\nhttp: 127.0.0.1:0\nbinance:\n  streams_per_conn: 1\nvenues:\n" +
		"  - name: binance\n    ws_endpoint: " + a.WSURL() + "\n    rest_endpoint: " + a.RESTURL() + "\n    streams: [btcusdt@aggTrade, btcusdt@depth@100ms]\n" +
		"  - name: binance\n    ws_endpoint: " + b.WSURL() + "\n    rest_endpoint: " + b.RESTURL() + "\n    streams: [ethusdt@bookTicker, ethusdt@depth@100ms]\n    binance:\n      streams_per_conn: 2\n"
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := parseRun(t, []string{"--config", cfg})
	if err != nil {
		t.Fatal(err)
	}
	runs, err := c.venueRuns()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[1].ws != b.WSURL() || !strings.Contains(strings.Join(runs[1].streams, ","), "ethusdt@bookTicker") {
		t.Fatalf("runs %+v", runs)
	}
	// one recording and one state file hold both entries
	c.Record, c.State = filepath.Join(dir, "rec"), filepath.Join(dir, "state.json")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out syncBuffer
	var metrics string
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	err = runGateway(ctx, c, runs, &out, log, nil, func(url string) {
		go func() {
			defer cancel()
			for ctx.Err() == nil {
				// the top level's streams_per_conn 1 splits the first
				// entry's two streams over two connections; the second
				// entry's own 2 keeps its two on one
				metrics = scrape(url + "metrics")
				if strings.Count(metrics, "feedkeeper_conn_up{") == 3 && !strings.Contains(metrics, "feedkeeper_conn_up{conn=\"2\",venue=\"binance\"} 0") &&
					strings.Contains(metrics, "feedkeeper_books_in_sync{venue=\"binance\"} 2") &&
					strings.Contains(out.String(), `"type":"trade","venue":"binance","symbol":"BTCUSDT"`) && strings.Contains(out.String(), `"type":"top_of_book","venue":"binance","symbol":"ETHUSDT"`) {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("never saw both venues' connections, books and events; metrics:\n%s\nout: %.2000s", grepLines(metrics, "conn_up", "books_in_sync"), out.String())
	}
	r, err := record.Open(c.Record)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if len(r.Meta.Sources) != 2 || r.Meta.Sources[1].Venue != "binance" || !slices.Contains(r.Meta.Sources[1].Streams, "ethusdt@bookTicker") {
		t.Fatalf("recorded %+v", r.Meta.Sources)
	}
	sources := map[int]int{}
	for {
		f, err := r.Next()
		if err != nil {
			break
		}
		sources[f.Source]++
	}
	if sources[0] == 0 || sources[1] == 0 {
		t.Fatalf("frames by source %v", sources)
	}
	positions, err := loadState(c.State)
	if err != nil || len(positions) == 0 {
		t.Fatalf("state: %v %v", positions, err)
	}
}

func scrape(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s string, words ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) && !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}

// TestVenuesListErrors: what a venues: list cannot hold is refused before
// any connection, naming the entry.
func TestVenuesListErrors(t *testing.T) {
	dir := t.TempDir()
	const entry = "  - name: binance\n    ws_endpoint: wss://127.0.0.1:1\n    rest_endpoint: https://127.0.0.1:1\n    streams: [btcusdt@aggTrade]\n"
	cases := []struct {
		body string
		args []string
		want string
	}{
		{"venues:\n  - name: ftx\n    streams: [btcusdt@aggTrade]\n", nil, `venues[0]: name "ftx": known venues are binance`},
		{"venues:\n" + entry + "  - name: binance\n    streams: [btcusdt@nope]\n", nil, `venues[1] (binance): stream "btcusdt@nope": unknown type`},
		{"venues:\n" + entry + "    binance:\n      streams_per_conn: 5000\n", nil, "venues[0] (binance): --streams-per-conn 5000: out of range 1..1024"},
		{"venues:\n" + entry + "    binance:\n      micro: true\n", nil, `unknown key "binance.micro" (did you mean "binance.micros"?)`},
		{"venues:\n" + entry + "    stream: [x]\n", nil, `--config ` + filepath.Join(dir, "v.yaml") + `: venues[0] (binance): line 6: unknown key "stream"`},
		{"venues:\n" + entry + "  - name: binance\n    ws_endpoint: ws://127.0.0.1:1\n    streams: [btcusdt@trade]\n", nil, "venues[1] (binance): --ws-endpoint ws://127.0.0.1:1: feedkeeper speaks TLS only"},
		{"venues:\n" + entry, []string{"ethusdt@trade"}, "streams ethusdt@trade: with a venues: list, each entry names its streams"},
		{"venues:\n" + entry, []string{"--venue", "binance,okx"}, "--venue binance,okx: the config file's venues: list names the venues of the run"},
	}
	for i, tc := range cases {
		path := filepath.Join(dir, "v.yaml")
		if err := os.WriteFile(path, []byte(tc.body), 0o644); err != nil {
			t.Fatal(err)
		}
		var out, errOut syncBuffer
		err := run(context.Background(), append([]string{"run", "--http", "", "--config", path}, tc.args...), &out, &errOut)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("case %d: %v, want a usage error saying %q", i, err, tc.want)
		}
	}
}

func TestSumStats(t *testing.T) {
	later := time.Now()
	got := sumStats([]httpx.Stats{{Requests: 2, WaitTime: time.Second, Hosts: []httpx.HostStats{{}}},
		{Requests: 3, WaitTime: time.Second, BannedUntil: later, Hosts: []httpx.HostStats{{}}}})
	if got.Requests != 5 || got.WaitTime != 2*time.Second || len(got.Hosts) != 2 || !got.BannedUntil.Equal(later) {
		t.Errorf("REST stats summed: %+v", got)
	}
	b := sumStats([]wsconn.BudgetStats{{Limit: 240, Window: 5 * time.Minute, Attempts: 3}, {Limit: 100, Window: time.Minute, Attempts: 4}})
	if b.Limit != 340 || b.Window != 5*time.Minute || b.Attempts != 7 {
		t.Errorf("budgets summed: %+v", b)
	}
}

// TestSpotAndFuturesInOneProcess: Binance spot and USD-M futures, each from
// its own front-end of one simulator, stream side by side from one config:
// trades of both with their instruments, both books in sync, funding.
func TestSpotAndFuturesInOneProcess(t *testing.T) {
	dir := t.TempDir()
	s, ca := startSim(t, sim.Config{Venues: []string{sim.VenueBinanceUSDM}})
	u := s.USDM()
	cfg := filepath.Join(dir, "venues.yaml")
	body := "ca: " + ca + "\nhttp: 127.0.0.1:0\nvenues:\n" +
		"  - name: binance\n    ws_endpoint: " + s.WSURL() + "\n    rest_endpoint: " + s.RESTURL() + "\n    streams: [btcusdt@aggTrade, btcusdt@depth@100ms]\n" +
		"  - name: binance-usdm\n    ws_endpoint: " + u.WSURL() + "\n    rest_endpoint: " + u.RESTURL() +
		"\n    streams: [trades:BTC-USDT-PERP, book:BTC-USDT-PERP, funding:BTC-USDT-PERP]\n"
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := parseRun(t, []string{"--config", cfg})
	if err != nil {
		t.Fatal(err)
	}
	runs, err := c.venueRuns()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	// the venue-independent form became the venue's own streams
	if got := strings.Join(runs[1].streams, ","); got != "btcusdt@aggTrade,btcusdt@depth@100ms,btcusdt@markPrice@1s" {
		t.Fatalf("binance-usdm streams %s", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out syncBuffer
	var metrics string
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	err = runGateway(ctx, c, runs, &out, log, nil, func(url string) {
		go func() {
			defer cancel()
			for ctx.Err() == nil {
				metrics = scrape(url + "metrics")
				o := out.String()
				// each venue's metrics apart, the dashboard's connections named by venue
				snap := scrape(url + "api/snapshot")
				if strings.Contains(snap, `"name":"binance-usdm#1"`) && strings.Contains(snap, `"name":"binance#0"`) &&
					strings.Contains(metrics, `feedkeeper_books_in_sync{venue="binance"} 1`) &&
					strings.Contains(metrics, `feedkeeper_books_in_sync{venue="binance-usdm"} 1`) &&
					strings.Contains(metrics, `feedkeeper_conn_up{conn="0",venue="binance-usdm"} 1`) &&
					strings.Contains(metrics, `feedkeeper_rest_requests_total{venue="binance-usdm"}`) &&
					strings.Contains(o, `"type":"trade","venue":"binance","symbol":"BTCUSDT","instrument":"BTC-USDT"`) &&
					strings.Contains(o, `"type":"trade","venue":"binance-usdm","symbol":"BTCUSDT","instrument":"BTC-USDT-PERP"`) &&
					strings.Contains(o, `"type":"funding","venue":"binance-usdm"`) &&
					strings.Contains(o, `"type":"book_delta","venue":"binance-usdm"`) {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("never saw both venues' trades, books and funding; metrics:\n%s\nout: %.3000s", grepLines(metrics, "conn_up", "books_in_sync"), out.String())
	}
}

// The venue-independent form is refused with a message naming what was
// typed when the venue has no such market or the form is wrong.
func TestInstrumentFormErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--venue", "binance", "trades:BTC-USDT-PERP"}, `stream "trades:BTC-USDT-PERP" on binance: BTC-USDT-PERP is a perpetual`},
		{[]string{"--venue", "binance-usdm", "book:BTC-USDT"}, `ask for BTC-USDT-PERP`},
		{[]string{"--venue", "binance", "book:btc-usdt"}, `want BASE-QUOTE`},
		{[]string{"--venue", "binance", "candles:BTC-USDT"}, `"candles" is not one of trades, book, top, funding, liquidations`},
		{[]string{"--venue", "binance", "funding:BTC-USDT"}, `binance has no funding of spot markets`},
		// a market the venue lacks names the venues that list it
		{[]string{"--venue", "binance", "trades:BTC-USDT-PERP"}, `listed by binance-usdm, bybit, okx: ask one of them with --venue, or several at once (--venue binance,binance-usdm)`},
		{[]string{"--venue", "binance", "--ws-endpoint", "okx=wss://127.0.0.1:1", "trades:BTC-USDT"}, `--ws-endpoint okx=wss://127.0.0.1:1: "okx" is not a venue of the run (--venue binance)`},
	} {
		c, err := parseRun(t, tt.args)
		if err == nil {
			_, err = c.venueRuns()
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err %v, want one containing %q", tt.args, err, tt.want)
		}
	}
}

// TestDemoOverEveryVenue: streams in the form every venue reads are shown
// from every venue the embedded simulator serves that lists them; a market
// the venue does not list is the user's error, naming it.
func TestDemoOverEveryVenue(t *testing.T) {
	out, stderr, code := cliRun(t, "demo", "trades:BTC-USDT", "trades:BTC-USDT-PERP", "--duration", "6s", "--no-nats", "--no-faults",
		"--http", "", "--log-level", "warn")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, v := range venue.Names() {
		if !strings.Contains(out, `"type":"trade","venue":"`+v+`"`) {
			t.Errorf("no trade of %s in the demo's output", v)
		}
	}
	_, stderr, code = cliRun(t, "demo", "trades:BTC-XYZ-PERP", "--duration", "2s", "--no-nats", "--http", "")
	if code != exitUsage || !strings.Contains(stderr, "BTCXYZ") {
		t.Fatalf("a stream no venue lists: exit %d, %s", code, stderr)
	}
}

// TestSeveralVenuesFlag: --venue repeated or comma separated gives each
// venue its own names of the streams in the form every venue reads; a
// market a venue does not list is skipped for it (and said), and refused
// only when no venue lists it.
func TestSeveralVenuesFlag(t *testing.T) {
	for _, args := range [][]string{
		{"--venue", "binance", "--venue", "binance-usdm", "trades:BTC-USDT", "trades:BTC-USDT-PERP", "book:BTC-USDT-PERP", "--ws-endpoint", "binance-usdm=wss://127.0.0.1:7"},
		{"--venue", "binance,binance-usdm", "trades:BTC-USDT", "trades:BTC-USDT-PERP", "book:BTC-USDT-PERP", "--ws-endpoint=binance-usdm=wss://127.0.0.1:7"},
	} {
		c, err := parseRun(t, args)
		if err != nil {
			t.Fatal(err)
		}
		runs, err := c.venueRuns()
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		if err := c.validate(); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		if len(runs) != 2 || runs[0].name != "binance" || strings.Join(runs[0].streams, ",") != "btcusdt@aggTrade" ||
			runs[1].name != "binance-usdm" || strings.Join(runs[1].streams, ",") != "btcusdt@aggTrade,btcusdt@depth@100ms" {
			t.Fatalf("%q: runs %+v", args, runs)
		}
		if runs[1].ws != "wss://127.0.0.1:7" || runs[0].ws != venueDefaults("binance").WSURL || runs[1].rest != venueDefaults("binance-usdm").RESTURL {
			t.Fatalf("%q: endpoints %s %s %s", args, runs[0].ws, runs[1].ws, runs[1].rest)
		}
		want := "trades:BTC-USDT not on binance-usdm; trades:BTC-USDT-PERP not on binance; book:BTC-USDT-PERP not on binance"
		if c.skipped != want {
			t.Fatalf("%q: skipped %q, want %q", args, c.skipped, want)
		}
	}
	// the config file's venue: takes a list too
	path := filepath.Join(t.TempDir(), "f.yaml")
	if err := os.WriteFile(path, []byte("venue: [okx, bybit]\nstreams: [trades:BTC-USDT]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := parseRun(t, []string{"--config", path})
	if err != nil {
		t.Fatal(err)
	}
	if runs, err := c.venueRuns(); err != nil || len(runs) != 2 || runs[0].name != "okx" || runs[1].name != "bybit" {
		t.Fatalf("venue: [okx, bybit]: %+v %v", runs, err)
	}
}

// TestSeveralVenuesFlagErrors: what several venues of --venue cannot take
// is refused before any connection, naming what was typed.
func TestSeveralVenuesFlagErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"--venue", "binance", "--venue", "okx", "btcusdt@aggTrade"},
			[]string{`stream "btcusdt@aggTrade": a venue's own stream name, and --venue names 2 venues (binance,okx)`, "trades:BTC-USDT", "venues:"}},
		{[]string{"--venue", "binance,okx", "--ws-endpoint", "wss://127.0.0.1:1", "trades:BTC-USDT"},
			[]string{"--ws-endpoint wss://127.0.0.1:1: an endpoint is a venue's own, and --venue names 2 venues (binance,okx)", "okx=wss://127.0.0.1:1", "venues:"}},
		{[]string{"--venue", "binance,okx", "--rest-endpoint", "kraken=https://127.0.0.1:1", "trades:BTC-USDT"},
			[]string{`--rest-endpoint kraken=https://127.0.0.1:1: "kraken" is not a venue of the run (--venue binance,okx)`}},
		{[]string{"--venue", "binance,okx", "--ws-endpoint", "okx=ws://127.0.0.1:1", "trades:BTC-USDT"},
			[]string{"--ws-endpoint okx=ws://127.0.0.1:1: feedkeeper speaks TLS only"}},
		{[]string{"--venue", "binance", "--venue", "ftx", "trades:BTC-USDT"}, []string{`--venue binance,ftx: "ftx": known venues are`}},
		{[]string{"--venue", "okx,okx", "trades:BTC-USDT"}, []string{"--venue okx,okx: okx is named twice"}},
		{[]string{"--venue", "binance,okx", "funding:BTC-USDT"}, []string{`stream "funding:BTC-USDT": no venue of --venue binance,okx lists it`}},
		{[]string{"--venue", "binance,okx", "trades:btc-usdt"}, []string{`stream "trades:btc-usdt"`, "want BASE-QUOTE"}},
		{[]string{"--venue", "binance,okx"}, []string{"no streams given"}},
	} {
		c, err := parseRun(t, tt.args)
		if err == nil {
			_, err = c.venueRuns()
		}
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: %v, want a usage error", tt.args, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: %v\nwant it to say %q", tt.args, err, w)
			}
		}
		if n := strings.Count(err.Error(), "want BASE-QUOTE"); n > 1 {
			t.Errorf("%q: said %d times: %v", tt.args, n, err)
		}
	}
}

// endpointArgs gives --ws-endpoint and --rest-endpoint of the venues
// names, each its front-end of the simulator s, as VENUE=URL lists.
func endpointArgs(t *testing.T, s *sim.Server, names ...string) []string {
	t.Helper()
	var ws, rest []string
	for _, name := range names {
		i := slices.IndexFunc(s.Endpoints(), func(ep sim.Endpoint) bool { return ep.Venue == name })
		if i < 0 {
			t.Fatalf("the simulator serves no %s", name)
		}
		ep := s.Endpoints()[i]
		ws, rest = append(ws, name+"="+ep.WSURL), append(rest, name+"="+ep.RESTURL)
	}
	return []string{"--ws-endpoint", strings.Join(ws, ","), "--rest-endpoint", strings.Join(rest, ",")}
}

// byVenue groups event lines by their venue, each group sorted (the
// connections of a venue interleave as the scheduler has it).
func byVenue(t *testing.T, lines []string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, l := range lines {
		var ev struct {
			Venue string `json:"venue"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		out[ev.Venue] = append(out[ev.Venue], l)
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out
}

// TestRecordAndReplayOfSeveralVenues: one recording of three venues run by
// --venue; replay gives each venue's events as they were delivered live.
func TestRecordAndReplayOfSeveralVenues(t *testing.T) {
	s, ca := startSim(t, sim.Config{Rate: 400, Venues: []string{sim.VenueOKX, sim.VenueBybit}})
	dir := t.TempDir()
	rec, live, replayed := filepath.Join(dir, "rec"), filepath.Join(dir, "live"), filepath.Join(dir, "replayed")
	names := []string{"binance", "okx", "bybit"}
	args := append([]string{"run", "--venue", strings.Join(names, ","), "trades:BTC-USDT", "book:ETH-USDT", "--ca", ca, "--duration", "3s",
		"--http", "", "--recovery=false", "--record", rec, "--out", "file:" + live, "--compress", "none"}, endpointArgs(t, s, names...)...)
	var out, errOut syncBuffer
	if err := run(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	r, err := record.Open(rec)
	if err != nil {
		t.Fatal(err)
	}
	var recorded []string
	for _, src := range r.Meta.Sources {
		recorded = append(recorded, src.Venue)
	}
	r.Close()
	if !slices.Equal(recorded, names) || r.Meta.Version != record.Version {
		t.Fatalf("recorded version %d of %v", r.Meta.Version, recorded)
	}
	if err := run(context.Background(), []string{"replay", rec, "--out", "file:" + replayed, "--compress", "none"}, &out, &errOut); err != nil {
		t.Fatalf("replay: %v\n%s", err, errOut.String())
	}
	a, b := byVenue(t, readEvents(t, live)), byVenue(t, readEvents(t, replayed))
	for _, name := range names {
		if len(a[name]) < 20 || !strings.Contains(strings.Join(a[name], "\n"), `"type":"trade"`) || !strings.Contains(strings.Join(a[name], "\n"), `"type":"book_`) {
			t.Fatalf("%s: %d events live, without trades or book", name, len(a[name]))
		}
		if !slices.Equal(a[name], b[name]) {
			t.Fatalf("%s: %d events live, %d replayed, unlike", name, len(a[name]), len(b[name]))
		}
	}
	if len(a) != len(names) || len(b) != len(names) {
		t.Fatalf("venues live %d, replayed %d", len(a), len(b))
	}
}

// TestStateOfSeveralVenues: one --state file keeps the positions of every
// venue. A state file of one venue (as runs of one venue write it) is
// resumed by a run of two, which starts the other afresh; a later run of
// the second venue alone resumes it and keeps the first's positions.
// Across the runs every trade of each venue is delivered once.
func TestStateOfSeveralVenues(t *testing.T) {
	s, ca := startSim(t, sim.Config{Rate: 400, TradeShare: 0.5, Venues: []string{sim.VenueBinanceUSDM}})
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	runOnce := func(out string, names ...string) {
		t.Helper()
		var stdout, errOut syncBuffer
		args := append([]string{"run", "--venue", strings.Join(names, ","), "trades:BTC-USDT", "trades:BTC-USDT-PERP", "--ca", ca, "--http", "",
			"--out", "file:" + filepath.Join(dir, out), "--compress", "none", "--state", state, "--duration", "1500ms"}, endpointArgs(t, s, names...)...)
		if len(names) == 1 { // the streams of the other venue would be refused
			args = slices.DeleteFunc(args, func(a string) bool {
				return a == map[string]string{"binance": "trades:BTC-USDT-PERP", "binance-usdm": "trades:BTC-USDT"}[names[0]]
			})
		}
		if err := run(context.Background(), args, &stdout, &errOut); err != nil {
			t.Fatalf("run %v: %v\n%s", names, err, errOut.String())
		}
	}
	readState := func() map[string]map[string]int64 {
		t.Helper()
		b, err := os.ReadFile(state)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Version   int
			Positions []struct {
				Venue, Symbol string
				Agg           bool
				ID            int64
			}
		}
		if err := json.Unmarshal(b, &doc); err != nil || doc.Version != 1 {
			t.Fatalf("state %s: %v", b, err)
		}
		out := map[string]map[string]int64{}
		for _, p := range doc.Positions {
			if out[p.Venue] == nil {
				out[p.Venue] = map[string]int64{}
			}
			out[p.Venue][fmt.Sprintf("%s/%v", p.Symbol, p.Agg)] = p.ID
		}
		return out
	}
	runOnce("first", "binance")
	if st := readState(); len(st) != 1 || len(st["binance"]) == 0 {
		t.Fatalf("state of one venue: %v", st)
	}
	time.Sleep(time.Second) // the market goes on while no gateway runs
	runOnce("second", "binance", "binance-usdm")
	afterSecond := readState()
	if len(afterSecond) != 2 {
		t.Fatalf("state of two venues: %v", afterSecond)
	}
	time.Sleep(time.Second)
	runOnce("third", "binance-usdm")
	afterThird := readState()
	if !maps.Equal(afterThird["binance"], afterSecond["binance"]) || len(afterThird["binance-usdm"]) == 0 {
		t.Fatalf("binance's positions not kept by a run without it: %v, then %v", afterSecond, afterThird)
	}
	for name, parts := range map[string][]string{"binance": {"first", "second"}, "binance-usdm": {"second", "third"}} {
		seen := map[int64]int{}
		var lo, hi int64
		recovered := 0
		for _, part := range parts {
			for _, ev := range jsonLines(t, strings.Join(readEvents(t, filepath.Join(dir, part)), "\n")) {
				if ev["venue"] != name {
					continue
				}
				if ev["type"] == "gap" {
					t.Fatalf("gap event %v", ev)
				}
				if ev["type"] != "trade" {
					continue
				}
				id := int64(ev["id"].(float64))
				seen[id]++
				if lo == 0 || id < lo {
					lo = id
				}
				hi = max(hi, id)
				if part == parts[1] && ev["recovered"] == true {
					recovered++
				}
			}
		}
		if hi-lo < 20 {
			t.Fatalf("%s: trades %d..%d", name, lo, hi)
		}
		for id := lo; id <= hi; id++ {
			if seen[id] != 1 {
				t.Fatalf("%s: trade %d delivered %d times (of %d..%d)", name, id, seen[id], lo, hi)
			}
		}
		if recovered < 10 {
			t.Fatalf("%s: %d trades recovered by the run after the restart", name, recovered)
		}
	}
}
