package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.uber.org/goleak"

	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/record"
	"github.com/feedkeeper/feedkeeper/sim"
	filesink "github.com/feedkeeper/feedkeeper/sink/file"
	"github.com/feedkeeper/feedkeeper/soak"
)

func TestMain(m *testing.M) {
	if os.Getenv(cliChildEnv) != "" { // started by soak as `feedkeeper sim` or `feedkeeper run`
		ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer cancel()
		os.Exit(exitCode(run(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
	}
	goleak.VerifyTestMain(m)
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startSim(t *testing.T, cfg sim.Config) (*sim.Server, string) {
	t.Helper()
	s := simtest.Start(t, cfg)
	return s, simtest.CAFile(t, s)
}

// jsonLines decodes every line of out, failing on a line that is not JSON.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestRunStreamsJSONLines(t *testing.T) {
	s, ca := startSim(t, sim.Config{})
	var out, errOut syncBuffer
	err := run(context.Background(), []string{"run", "--ws-endpoint", s.WSURL(), "--rest-endpoint", s.RESTURL(),
		"--ca", ca, "--duration", "1500ms", "--http", "127.0.0.1:0", "btcusdt@aggTrade", "ethusdt@bookTicker", "btcusdt@depth@100ms"}, &out, &errOut)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	types := map[string]int{}
	for _, m := range jsonLines(t, out.String()) {
		types[m["type"].(string)]++
		if m["v"] != 1.0 || m["venue"] != "binance" || m["receive_ts"] == nil {
			t.Fatalf("event without its common fields: %v", m)
		}
	}
	if types["trade"] == 0 || types["top_of_book"] == 0 || types["book_delta"] == 0 || types["status"] == 0 {
		t.Fatalf("event types seen: %v\nstderr:\n%s", types, errOut.String())
	}
	if !strings.Contains(errOut.String(), "connected") || !strings.Contains(errOut.String(), "dashboard: http://127.0.0.1:") {
		t.Fatalf("no connection log or dashboard URL on stderr:\n%s", errOut.String())
	}
}

func TestRunConfigFile(t *testing.T) {
	s, ca := startSim(t, sim.Config{})
	cfgFile := filepath.Join(t.TempDir(), "feedkeeper.yaml")
	yaml := "ws_endpoint: " + s.WSURL() + "\nrest_endpoint: " + s.RESTURL() + "\nca: " + ca +
		"\nduration: 1s\nhttp: \"\"\nstreams:\n  - btcusdt@aggTrade\n"
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut syncBuffer
	if err := run(context.Background(), []string{"run", "--config", cfgFile}, &out, &errOut); err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), `"type":"trade"`) {
		t.Fatalf("no trades from the config file's stream:\n%s", errOut.String())
	}
	// unknown keys are errors
	if err := os.WriteFile(cfgFile, []byte("ws_endpoint: wss://127.0.0.1:1\nrest_endpoint: https://127.0.0.1:1\nstreams: [btcusdt@aggTrade]\nstale_timout: 3s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"run", "--config", cfgFile}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "stale_timout") {
		t.Fatalf("a misspelt key was accepted: %v", err)
	}
}

func TestRunBadInput(t *testing.T) {
	s, ca := startSim(t, sim.Config{})
	cases := [][]string{
		{"run", "--ws-endpoint", s.WSURL(), "--rest-endpoint", s.RESTURL(), "--ca", ca}, // no streams
		{"run", "--ws-endpoint", s.WSURL(), "--rest-endpoint", s.RESTURL(), "--ca", ca, "--slow-consumer", "maybe", "btcusdt@aggTrade"},
		{"run", "--ws-endpoint", s.WSURL(), "--rest-endpoint", s.RESTURL(), "--ca", ca, "--venue", "ftx", "btcusdt@aggTrade"},
		{"run", "--ws-endpoint", s.WSURL(), "--rest-endpoint", s.RESTURL(), "--ca", ca, "nosuch@aggTrade"},
		{"run", "--ws-endpoint", s.WSURL(), "--rest-endpoint", s.RESTURL(), "--ca", ca, "btcusdt@candles"},
		{"run", "--ws-endpoint", s.WSURL(), "--rest-endpoint", s.RESTURL(), "--ca", "/nonexistent/ca.pem", "btcusdt@aggTrade"},
		{"nosuchcommand"},
	}
	for _, args := range cases {
		var out, errOut syncBuffer
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := run(ctx, args, &out, &errOut)
		cancel()
		if err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
	// the simulator's CA is not trusted unless given
	var out, errOut syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := run(ctx, []string{"run", "--ws-endpoint", s.WSURL(), "--rest-endpoint", s.RESTURL(), "--http", "", "btcusdt@aggTrade"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without --ca: %v", err)
	}
}

func TestTapResendsAfterReconnect(t *testing.T) {
	s, ca := startSim(t, sim.Config{Faults: []sim.Fault{{Kind: sim.FaultDrop, Every: 500 * time.Millisecond}}})
	var out, errOut syncBuffer
	// as the README writes it: the URL first, then the flags
	err := run(context.Background(), []string{"tap", s.WSURL() + "/ws", "--send", `{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":7}`,
		"--ca=" + ca, "--duration", "2s"}, &out, &errOut)
	if err != nil {
		t.Fatalf("tap: %v\n%s", err, errOut.String())
	}
	lines := jsonLines(t, out.String())
	replies, trades := 0, 0
	for _, m := range lines {
		if m["id"] == 7.0 {
			replies++
		}
		if m["e"] == "trade" {
			trades++
		}
	}
	if replies < 2 || trades == 0 {
		t.Fatalf("%d subscribe replies (want one per connection, ≥ 2), %d trades\n%s", replies, trades, errOut.String())
	}
}

func TestSimCommand(t *testing.T) {
	dir := t.TempDir()
	var out, errOut syncBuffer
	err := run(context.Background(), []string{"sim", "--duration", "300ms", "--ca-out", filepath.Join(dir, "ca.pem"),
		"--symbols", "BTCUSDT", "--fault", "drop:every=10s"}, &out, &errOut)
	if err != nil {
		t.Fatalf("sim: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "wss://127.0.0.1:") || !strings.Contains(out.String(), "drop:every=10s") ||
		!strings.Contains(out.String(), "/market/stream?streams=") || !strings.Contains(out.String(), "/fapi/v1/") {
		t.Fatalf("URLs or faults not printed:\n%s", out.String())
	}
	if pem, err := os.ReadFile(filepath.Join(dir, "ca.pem")); err != nil || !bytes.Contains(pem, []byte("BEGIN CERTIFICATE")) {
		t.Fatalf("--ca-out: %v", err)
	}
	var ue *usageError
	if err := run(context.Background(), []string{"sim", "--fault", "explode:p=1"}, &out, &errOut); !errors.As(err, &ue) || !strings.Contains(err.Error(), "explode") {
		t.Fatalf("a bad fault: %v", err)
	}
	if err := run(context.Background(), []string{"sim", "-h"}, &out, &errOut); err != nil {
		t.Fatalf("-h: %v", err)
	}
}

func TestDemoShowsRecovery(t *testing.T) {
	var out, errOut syncBuffer
	err := run(context.Background(), []string{"demo", "--duration", "5s", "--lifetime", "1500ms", "--http", "127.0.0.1:0",
		"--fault", "close:code=1011,every=2500ms", "--rate", "300"}, &out, &errOut)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, errOut.String())
	}
	types := map[string]int{}
	for _, m := range jsonLines(t, out.String()) {
		types[m["type"].(string)]++
	}
	logs := errOut.String()
	if types["trade"] == 0 || types["status"] < 2 || !strings.Contains(logs, "rotating") || !strings.Contains(logs, "code=1011") {
		t.Fatalf("demo: events %v\n%s", types, logs)
	}
}

// TestSoakShort runs a short soak without --out: the report goes to a new
// temporary directory, named on stdout, not into the working directory.
func TestSoakShort(t *testing.T) {
	var out, errOut syncBuffer
	err := run(context.Background(), []string{"soak", "--duration", "8s", "--warmup", "3s", "--faults", "rotations",
		"--lifetime", "3s", "--rate", "300", "--http", "127.0.0.1:0"}, &out, &errOut)
	m := regexp.MustCompile(`report in (\S+)`).FindStringSubmatch(out.String())
	if m == nil || !strings.HasPrefix(m[1], os.TempDir()) {
		t.Fatalf("the report directory is not a temporary one named on stdout:\n%s", out.String())
	}
	dir := m[1]
	t.Cleanup(func() { os.RemoveAll(dir) })
	if _, err := os.Stat("soak-report"); err == nil {
		t.Fatal("soak wrote soak-report/ into the working directory")
	}
	if err != nil {
		t.Fatalf("soak: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "soak: PASS") || !strings.Contains(out.String(), "soak: dashboard http://127.0.0.1:") {
		t.Fatalf("no verdict:\n%s", out.String())
	}
	var rep struct {
		Pass    bool              `json:"pass"`
		Trades  int64             `json:"trades"`
		Samples []json.RawMessage `json:"samples"`
		Gateway struct {
			Rotations int64 `json:"rotations"`
		} `json:"gateway"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil || json.Unmarshal(b, &rep) != nil {
		t.Fatalf("report.json: %v", err)
	}
	if !rep.Pass || rep.Trades == 0 || len(rep.Samples) < 6 || rep.Gateway.Rotations < 1 {
		t.Fatalf("report: pass %v, %d trades, %d samples, %d rotations", rep.Pass, rep.Trades, len(rep.Samples), rep.Gateway.Rotations)
	}
	html, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil || !bytes.Contains(html, []byte("uPlot")) || !bytes.Contains(html, []byte("PASS")) {
		t.Fatalf("report.html: %v", err)
	}
}

// TestSoakRestarts runs the restarts profile for 20 s: the gateway, a
// child process with --state, is killed twice (SIGKILL, once after a
// downtime) and stopped once with SIGTERM, and the outputs of its four
// runs hold every aggregate trade of the simulator from the first to the
// last (aggregate and individual), the downtime's recovered over REST.
func TestSoakRestarts(t *testing.T) {
	dir := t.TempDir()
	var out, errOut syncBuffer
	err := run(context.Background(), []string{"soak", "--faults", "restarts", "--duration", "20s", "--restart-every", "5s",
		"--restart-downtime", "2s", "--rate", "300", "--http", "", "--out", dir,
		"--streams", "btcusdt@aggTrade,btcusdt@trade,ethusdt@aggTrade,btcusdt@depth@100ms"}, &out, &errOut)
	if err != nil {
		gwLog, _ := os.ReadFile(filepath.Join(dir, "gateway.log"))
		t.Fatalf("soak: %v\n%s\n%s\n%s", err, out.String(), errOut.String(), gwLog)
	}
	if !strings.Contains(out.String(), "soak: PASS") || !strings.Contains(out.String(), "0 missing") {
		t.Fatalf("no verdict:\n%s", out.String())
	}
	var rep struct {
		Pass      bool  `json:"pass"`
		Trades    int64 `json:"trades"`
		Lost      int64 `json:"lost"`
		Recovered int64 `json:"recovered"`
		Restarts  []struct {
			Signal, Exit string
			Downtime     float64 `json:"downtime_s"`
		} `json:"restarts"`
		Audit struct {
			Expected, Delivered, Missing, Duplicates int64
			Partial                                  int `json:"partial_files"`
			Runs                                     []struct {
				Trades    int64 `json:"trades"`
				Recovered int64 `json:"recovered"`
			} `json:"runs"`
			Symbols []struct{ Symbol string } `json:"symbols"`
		} `json:"audit"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil || json.Unmarshal(b, &rep) != nil {
		t.Fatalf("report.json: %v", err)
	}
	a := rep.Audit
	if !rep.Pass || rep.Lost != 0 || a.Missing != 0 || a.Duplicates != 0 || a.Delivered < 200 || a.Delivered != a.Expected || rep.Trades != a.Delivered {
		t.Fatalf("report: %s", b)
	}
	var got []string
	for _, r := range rep.Restarts {
		got = append(got, r.Signal+"/"+r.Exit)
	}
	if strings.Join(got, " ") != "SIGKILL/killed SIGKILL/killed SIGTERM/exit 0" || rep.Restarts[0].Downtime > 1 || rep.Restarts[1].Downtime < 2 {
		t.Fatalf("restarts %+v", rep.Restarts)
	}
	if len(a.Runs) != 4 || a.Partial < 1 || len(a.Symbols) != 3 { // BTCUSDT's aggregate and individual trades, ETHUSDT's
		t.Fatalf("audit: %s", b)
	}
	// the run after the 2 s downtime recovered that downtime's trades
	if a.Runs[2].Recovered < 20 || rep.Recovered < a.Runs[2].Recovered {
		t.Fatalf("run 3 recovered %d trades, all %d", a.Runs[2].Recovered, rep.Recovered)
	}
	html, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil || !bytes.Contains(html, []byte("re-delivered after a kill")) || !bytes.Contains(html, []byte("SIGTERM")) || !bytes.Contains(html, []byte("<td>BTCUSDT</td><td>trade</td>")) {
		t.Fatalf("report.html: %v", err)
	}
}

// TestSoakRestartsFindsALoss: the same soak with gateways told not to
// recover a downtime (--resume-max-age 1ms: it is announced by gap
// events) fails, naming the trades missing.
func TestSoakRestartsFindsALoss(t *testing.T) {
	dir := t.TempDir()
	ws, rest, ca, _, stop, err := startSimProcess(dir, []string{"sim", "--rate", "300", "--log-level", "error"})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := soak.RunRestarts(context.Background(), soak.RestartConfig{
		Exe: exe, Env: append(os.Environ(), cliChildEnv+"=1"), Dir: dir, RESTURL: rest, CAFile: ca,
		Args: []string{"run", "btcusdt@aggTrade", "--ws-endpoint", ws, "--rest-endpoint", rest, "--ca", ca, "--http", "",
			"--log-level", "error", "--resume-max-age", "1ms"},
		Duration: 7 * time.Second, Every: 3 * time.Second, Downtime: time.Second,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Pass || rep.Lost == 0 || rep.Audit.Missing != rep.Lost || len(rep.Restarts) != 2 {
		t.Fatalf("pass %v, lost %d, restarts %+v, failures %q", rep.Pass, rep.Lost, rep.Restarts, rep.Failures)
	}
	if f := strings.Join(rep.Failures, "; "); !strings.Contains(f, "BTCUSDT aggTrade: ") || !strings.Contains(f, "in no output (first: [") {
		t.Fatalf("failures %q", f)
	}
}

func TestRunToFilesAndNATS(t *testing.T) {
	s, ca := startSim(t, sim.Config{})
	dir := t.TempDir()
	var out, errOut syncBuffer
	err := run(context.Background(), []string{"run", "--ws-endpoint", s.WSURL(), "--rest-endpoint", s.RESTURL(),
		"--ca", ca, "--duration", "2s", "--http", "", "--out", "file:" + dir, "--nats", "--nats-store", filepath.Join(dir, "js"),
		"btcusdt@aggTrade", "btcusdt@depth@100ms"}, &out, &errOut)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	files, err := filesink.List(dir, "")
	if err != nil || len(files) == 0 {
		t.Fatalf("no event files in %s: %v\n%s", dir, err, errOut.String())
	}
	r, err := filesink.OpenFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	types := map[string]int{}
	for _, m := range jsonLines(t, string(b)) {
		types[m["type"].(string)]++
	}
	if types["trade"] == 0 || types["book_snapshot"] == 0 || types["book_delta"] == 0 {
		t.Fatalf("file holds %v", types)
	}
	logs := errOut.String()
	if !strings.Contains(logs, "embedded NATS JetStream server") || !strings.Contains(logs, "nats://127.0.0.1:") {
		t.Fatalf("the embedded NATS URL is not printed:\n%s", logs)
	}
	if out.String() != "" {
		t.Fatalf("stdout used although --out names only files (and NATS): %q", out.String()[:min(200, len(out.String()))])
	}
}

// readEvents reads the JSON Lines files of a file sink, without the status
// events (connections are not replayed), as raw lines.
func readEvents(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filesink.List(dir, "")
	if err != nil || len(files) == 0 {
		t.Fatalf("no event files in %s: %v", dir, err)
	}
	var lines []string
	for _, f := range files {
		r, err := filesink.OpenFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l != "" && !strings.Contains(l, `"type":"status"`) {
				lines = append(lines, l)
			}
		}
	}
	return lines
}

func TestRecordAndReplayGiveIdenticalEvents(t *testing.T) {
	s, ca := startSim(t, sim.Config{Rate: 800, Faults: []sim.Fault{{Kind: sim.FaultMalformed, Prob: 0.5}}})
	dir := t.TempDir()
	rec, live, replayed := filepath.Join(dir, "rec"), filepath.Join(dir, "live"), filepath.Join(dir, "replayed")
	var out, errOut syncBuffer
	err := run(context.Background(), []string{"run", "--ws-endpoint", s.WSURL(), "--rest-endpoint", s.RESTURL(),
		"--ca", ca, "--duration", "2s", "--http", "", "--recovery=false", "--record", rec, "--out", "file:" + live,
		"btcusdt@aggTrade", "ethusdt@trade", "btcusdt@depth@100ms", "ethusdt@bookTicker", "btcusdt@depth5"}, &out, &errOut)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	if err := run(context.Background(), []string{"replay", rec, "--out", "file:" + replayed}, &out, &errOut); err != nil {
		t.Fatalf("replay: %v\n%s", err, errOut.String())
	}
	a, b := readEvents(t, live), readEvents(t, replayed)
	if len(a) < 100 {
		t.Fatalf("only %d events recorded", len(a))
	}
	if len(a) != len(b) {
		t.Fatalf("%d events live, %d replayed", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("event %d differs:\nlive     %s\nreplayed %s", i, a[i], b[i])
		}
	}
	// a recording in the first form (version 1: the venue's fields at the
	// top of meta.json), as made before venues kept their own metadata,
	// and in the second (version 2: one venue, its metadata under
	// venue_meta), both with records that name no source, replay the same
	var meta map[string]json.RawMessage
	mb, err := os.ReadFile(filepath.Join(rec, "meta.json"))
	if err != nil || json.Unmarshal(mb, &meta) != nil {
		t.Fatalf("meta.json: %v %s", err, mb)
	}
	var sources []map[string]json.RawMessage
	if err := json.Unmarshal(meta["sources"], &sources); err != nil || len(sources) != 1 {
		t.Fatalf("sources %s: %v", meta["sources"], err)
	}
	var venueMeta map[string]json.RawMessage
	if err := json.Unmarshal(sources[0]["venue_meta"], &venueMeta); err != nil || venueMeta["symbols"] == nil || venueMeta["streams_per_conn"] == nil {
		t.Fatalf("venue_meta %s: %v", sources[0]["venue_meta"], err)
	}
	delete(meta, "sources")
	meta["venue"], meta["streams"] = sources[0]["venue"], sources[0]["streams"]
	v2 := maps.Clone(meta)
	v2["venue_meta"], v2["version"] = sources[0]["venue_meta"], json.RawMessage("2")
	for k, v := range venueMeta {
		meta[k] = v
	}
	meta["version"] = json.RawMessage("1")
	for version, m := range map[string]map[string]json.RawMessage{"1": meta, "2": v2} {
		old := filepath.Join(dir, "rec-v"+version)
		writeOneVenueFrames(t, rec, old)
		if mb, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(old, "meta.json"), mb, 0o644); err != nil {
			t.Fatal(err)
		}
		replayedOld := filepath.Join(dir, "replayed-v"+version)
		if err := run(context.Background(), []string{"replay", old, "--out", "file:" + replayedOld}, &out, &errOut); err != nil {
			t.Fatalf("replay of version %s: %v\n%s", version, err, errOut.String())
		}
		if c := readEvents(t, replayedOld); !slices.Equal(c, a) {
			t.Fatalf("version %s replayed %d events unlike the %d live ones", version, len(c), len(a))
		}
	}
	// a recording is not overwritten: refused at start
	var ue *usageError
	if err := run(context.Background(), []string{"run", "--ws-endpoint", s.WSURL(), "--rest-endpoint", s.RESTURL(),
		"--ca", ca, "--duration", "1s", "--http", "", "--record", rec, "btcusdt@aggTrade"}, &out, &errOut); !errors.As(err, &ue) || !strings.Contains(err.Error(), "--record "+rec) {
		t.Fatalf("an existing recording: %v", err)
	}
	// recorded speed takes the recorded time
	start := time.Now()
	if err := run(context.Background(), []string{"replay", "--speed", "recorded", "--out", "file:" + filepath.Join(dir, "slow"), rec}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("a 2 s recording replayed at recorded speed in %v", d)
	}
}

func TestJoinNATSArg(t *testing.T) {
	got := joinNATSArg([]string{"--nats", "nats://a:4222,nats://b:4222", "btcusdt@aggTrade", "--nats", "x@trade", "--", "--nats", "nats://c"})
	want := []string{"--nats=nats://a:4222,nats://b:4222", "btcusdt@aggTrade", "--nats", "x@trade", "--", "--nats", "nats://c"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// writeOneVenueFrames writes the frames of the recording in from into
// dir/frames.fkr.zst as recordings of one venue (versions 1 and 2) laid
// their records out: no source.
func writeOneVenueFrames(t *testing.T, from, dir string) {
	t.Helper()
	r, err := record.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var raw []byte
	for {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil || f.Source != 0 {
			t.Fatalf("frame %+v: %v", f, err)
		}
		raw = binary.AppendUvarint(raw, uint64(f.Plan))
		raw = binary.AppendVarint(raw, f.Recv)
		raw = binary.AppendUvarint(raw, uint64(len(f.Data)))
		raw = append(raw, f.Data...)
	}
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zw.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "frames.fkr.zst"), zw.EncodeAll(raw, nil), 0o644); err != nil {
		t.Fatal(err)
	}
}
