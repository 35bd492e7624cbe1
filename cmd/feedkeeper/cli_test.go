package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/spf13/pflag"

	"github.com/feedkeeper/feedkeeper/sim"
)

// guardNetwork starts a loopback listener that counts connections, to be
// given as HTTPS_PROXY (honoured by the REST client, the WebSocket dialer
// and the start-up checks) to a child process: a command that would reach
// a real endpoint reaches it instead. Go reads the proxy variables once per
// process, so only a child started with them is guarded.
func guardNetwork(t *testing.T) (proxy string, conns *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return "http://" + ln.Addr().String(), &n
}

// runChild runs this test binary as the feedkeeper command with args and
// the proxy, and returns its stderr and exit code.
func runChild(t *testing.T, proxy string, args ...string) (stderr string, code int) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(os.Environ(), cliChildEnv+"=1", "HTTPS_PROXY="+proxy, "https_proxy="+proxy, "NO_PROXY=", "no_proxy=")
	var errb strings.Builder
	cmd.Stderr = &errb
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	return errb.String(), code
}

// TestTypoNeverReachesTheNetwork: a misspelt flag after a stream, a URL
// where a stream belongs, and every bad stream name fail before any
// connection; the guard proves it (and that it sees a command that does
// connect).
func TestTypoNeverReachesTheNetwork(t *testing.T) {
	proxy, conns := guardNetwork(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"run", "btcusdt@aggTrade", "--WS-ENDPOINT", "wss://127.0.0.1:1"}, "unknown flag: --WS-ENDPOINT: did you mean --ws-endpoint?"},
		{[]string{"run", "btcusdt@aggTrade", "--stale-timout=3s"}, "did you mean --stale-timeout?"},
		{[]string{"run", "btcusdt@aggTrade", "wss://127.0.0.1:1"}, `did you mean --ws-endpoint wss://127.0.0.1:1`},
		{[]string{"run", "btcusdt@aggTrade", "nats://127.0.0.1:4222"}, "--nats=nats://127.0.0.1:4222"},
		{[]string{"run", "BTCUSDT@aggTrade"}, `stream "BTCUSDT@aggTrade"`},
		{[]string{"run", "btcusdt@candles"}, `unknown type "candles"`},
		{[]string{"run", "btcusdt"}, `stream "btcusdt"`},
		{[]string{"run"}, "no streams given"},
		{[]string{"run", "btcusdt@aggTrade", "--depth-limit", "6000"}, "--depth-limit 6000"},
		{[]string{"demo", "btcusdt@trad"}, `unknown type "trad"`},
		{[]string{"tap", "ws://127.0.0.1:1/ws"}, `want wss://`},
		{[]string{"tap"}, "accepts 1 arg"},
		{[]string{"replay"}, "accepts 1 arg"},
		{[]string{"sim", "extra"}, `unknown command "extra"`},
		{[]string{"nosuchcommand"}, `unknown command "nosuchcommand"`},
	}
	for _, tc := range cases {
		stderr, code := runChild(t, proxy, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, %q; want exit %d naming %q", tc.args, code, stderr, exitUsage, tc.want)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("%d connections made by commands that should have failed before any", n)
	}
	// The guard sees a command that does connect (to the default endpoint).
	if stderr, code := runChild(t, proxy, "run", "btcusdt@aggTrade", "--http", "", "--duration", "3s"); conns.Load() == 0 || code != exitUnavailable {
		t.Fatalf("the guard saw no connection from a valid run (exit %d): it proves nothing\n%s", code, stderr)
	}
}

// TestBadValuesNameTheFlag: every out-of-range value is refused at start,
// with a message naming the flag and the value as typed, in both
// --flag=value and --flag value forms, before or after the arguments.
func TestBadValuesNameTheFlag(t *testing.T) {
	proxy, conns := guardNetwork(t)
	dir := t.TempDir()
	cases := []struct {
		cmd  []string // command and its arguments
		flag string
		val  string
		want string // in the message besides "--flag value"
	}{
		{[]string{"run", "btcusdt@aggTrade"}, "depth-limit", "6000", "1..5000"},
		{[]string{"run", "btcusdt@aggTrade"}, "depth-limit", "-5", "1..5000"},
		{[]string{"run", "btcusdt@aggTrade"}, "duration", "-5s", "negative"},
		{[]string{"run", "btcusdt@aggTrade"}, "streams-per-conn", "0", "1..1024"},
		{[]string{"run", "btcusdt@aggTrade"}, "streams-per-conn", "1025", "1..1024"},
		{[]string{"run", "btcusdt@aggTrade"}, "sink-buffer", "0", "1.."},
		{[]string{"run", "btcusdt@aggTrade"}, "stale-timeout", "0s", "--ping-interval"},
		{[]string{"run", "btcusdt@aggTrade"}, "stale-timeout", "5s", "--ping-interval 15s"},
		{[]string{"run", "btcusdt@aggTrade"}, "ping-interval", "0s", "positive"},
		{[]string{"run", "btcusdt@aggTrade"}, "rotate-size", "-1", "at least 1024"},
		{[]string{"run", "btcusdt@aggTrade"}, "rotate-every", "0s", "at least 1s"},
		{[]string{"run", "btcusdt@aggTrade"}, "flush-every", "0s", "1ms to 1m"},
		{[]string{"run", "btcusdt@aggTrade"}, "flush-every", "2m0s", "1ms to 1m"},
		{[]string{"cat", dir}, "prefix", "a/b", "start of the file names"},
		{[]string{"run", "btcusdt@aggTrade"}, "queue", "-1", "1..1048576"},
		{[]string{"run", "btcusdt@aggTrade"}, "read-limit", "100", "1024.."},
		{[]string{"run", "btcusdt@aggTrade"}, "lifetime", "-1s", "negative"},
		{[]string{"run", "btcusdt@aggTrade"}, "verify-every", "-1s", "negative"},
		{[]string{"run", "btcusdt@aggTrade"}, "slow-consumer", "maybe", "block, drop"},
		{[]string{"run", "btcusdt@aggTrade"}, "compress", "gzip", "zstd, none"},
		{[]string{"run", "btcusdt@aggTrade"}, "sink-policy", "later", "block, drop"},
		{[]string{"run", "btcusdt@aggTrade"}, "log-level", "loud", "debug, info"},
		{[]string{"run", "btcusdt@aggTrade"}, "venue", "ftx", "binance"},
		{[]string{"run", "btcusdt@aggTrade"}, "ws-endpoint", "ws://127.0.0.1:1", "TLS only"},
		{[]string{"run", "btcusdt@aggTrade"}, "rest-endpoint", "http://127.0.0.1:1", "TLS only"},
		{[]string{"run", "btcusdt@aggTrade"}, "ca", filepath.Join(dir, "none.pem"), "cannot read"},
		{[]string{"run", "btcusdt@aggTrade"}, "http", "0.0.0.0:9464", "--http-token"},
		{[]string{"run", "btcusdt@aggTrade"}, "http", "nonsense", "host:port"},
		{[]string{"run", "btcusdt@aggTrade"}, "out", "s3:bucket", "stdout, file:DIR"},
		{[]string{"run", "btcusdt@aggTrade"}, "nats", "http://127.0.0.1:4222", "not a NATS URL"},
		{[]string{"run", "btcusdt@aggTrade"}, "nats-max-bytes", "-1", "negative"},
		{[]string{"run", "btcusdt@aggTrade"}, "nats-max-age", "-1h0m0s", "negative"},
		{[]string{"demo"}, "rate", "x", "invalid argument"},
		{[]string{"demo"}, "lifetime", "100ms", "at least 1s"},
		{[]string{"demo"}, "sink-buffer", "0", "1.."},
		{[]string{"sim"}, "trade-share", "2", "0..1"},
		{[]string{"sim"}, "levels", "5", "20..20000"},
		{[]string{"sim"}, "weight-window", "1.5s", "whole number of seconds"},
		{[]string{"sim"}, "symbols", "btcusdt", "upper-case"},
		{[]string{"sim"}, "max-lifetime", "0s", "positive"},
		{[]string{"sim"}, "duration", "-1s", "negative"},
		{[]string{"sim"}, "venues", "binance,ftx", "not a venue"},
		{[]string{"sim"}, "usdm-ping-interval", "0s", "positive"},
		{[]string{"sim"}, "okx-keepalive", "0s", "at least 1ms"},
		{[]string{"sim"}, "okx-addr", "nowhere", "host:port"},
		{[]string{"sim"}, "coinbase-addr", "nowhere", "host:port"},
		{[]string{"sim"}, "coinbase-channel-idle", "0s", "at least 1ms"},
		{[]string{"tap", "wss://127.0.0.1:1/ws"}, "read-limit", "10", "1024.."},
		{[]string{"tap", "wss://127.0.0.1:1/ws"}, "message-rate", "0", "positive"},
		{[]string{"tap", "wss://127.0.0.1:1/ws"}, "stale-timeout", "1s", "--ping-interval"},
		{[]string{"replay", dir}, "speed", "fast", "max, recorded"},
		{[]string{"replay", dir}, "out", "ftp:x", "stdout, file:DIR"},
		{[]string{"soak"}, "duration", "0s", "positive"},
		{[]string{"soak"}, "faults", "mayhem", "chaos"},
		{[]string{"soak"}, "warmup", "20m0s", "less than --duration"},
		{[]string{"soak"}, "rate", "0", "1..1000000"},
		{[]string{"soak"}, "restart-every", "500ms", "0 (never) or at least 1s"},
		{[]string{"soak"}, "restart-downtime", "-1s", "≥ 0"},
		{[]string{"soak", "--streams", "trades:BTC-USDT"}, "venues", "binance,binance-usdm", "binance-usdm lists none of --streams trades:BTC-USDT"},
		{[]string{"soak", "--streams", "trades:BTC-USDT-PERP,trades:BTC-USDT"}, "venues", "binance,kraken", "--streams trades:BTC-USDT-PERP: no venue of --venues binance,kraken lists it"},
	}
	for i, tc := range cases {
		// alternate the forms and the place of the flag
		var args []string
		switch i % 3 {
		case 0:
			args = append([]string{tc.cmd[0], "--" + tc.flag + "=" + tc.val}, tc.cmd[1:]...)
		case 1:
			args = append(append([]string{}, tc.cmd...), "--"+tc.flag, tc.val)
		case 2:
			args = append(append([]string{}, tc.cmd...), "--"+tc.flag+"="+tc.val)
		}
		named := "--" + tc.flag + " " + tc.val
		if tc.want == "invalid argument" {
			named = strconv.Quote(tc.val)
		}
		stderr, code := runChild(t, proxy, args...)
		if code != exitUsage || !strings.Contains(stderr, named) || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, %q\nwant exit %d naming %q and %q", args, code, stderr, exitUsage, named, tc.want)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("%d connections made by commands with bad values", n)
	}
}

// parseRun parses args as `feedkeeper run` does and applies the config
// file, returning the merged configuration.
func parseRun(t *testing.T, args []string) (*runConfig, error) {
	t.Helper()
	r := &runCmd{stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	cmd := r.command()
	if err := cmd.ParseFlags(args); err != nil {
		return nil, err
	}
	return r.config(cmd.Flags().Args())
}

// TestConfigFlagMatrix: for every flag of run that the config file also
// holds, the file's value is used when the flag is absent, and the flag's
// when given, even when the flag's value is its default; and no other
// field is disturbed.
func TestConfigFlagMatrix(t *testing.T) {
	dir := t.TempDir()
	var defaults runConfig
	defaults.bindRun(pflag.NewFlagSet("defaults", pflag.ContinueOnError))
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	var bound runConfig
	bound.bindRun(fs)
	n := 0
	fs.VisitAll(func(f *pflag.Flag) {
		key := defaults.flagKey(f.Name) // a venue's flag: in its section, binance.micros
		field, ok := configField(&defaults, key)
		if !ok {
			t.Errorf("flag --%s has no config key %s", f.Name, key)
			return
		}
		var fileYAML, flagArg string
		var fileWant, flagWant any
		switch field.Kind() {
		case reflect.String:
			fileYAML, flagArg, fileWant, flagWant = "from-file", "from-flag", "from-file", "from-flag"
			if f.Name == "nats" {
				fileYAML, flagArg, fileWant, flagWant = "nats://a:1", "nats://b:2", "nats://a:1", "nats://b:2"
			}
		case reflect.Bool:
			def := field.Bool()
			fileYAML, flagArg, fileWant, flagWant = strconv.FormatBool(!def), strconv.FormatBool(def), !def, def
		case reflect.Int, reflect.Int64:
			if field.Type() == reflect.TypeOf(time.Duration(0)) {
				fileYAML, flagArg, fileWant, flagWant = "7s", "9s", 7*time.Second, 9*time.Second
			} else {
				fileYAML, flagArg, fileWant, flagWant = "7", "9", int64(7), int64(9)
			}
		case reflect.Slice:
			fileYAML, flagArg, fileWant, flagWant = "[file:/from-file]", "file:/from-flag", []string{"file:/from-file"}, []string{"file:/from-flag"}
		default:
			t.Fatalf("field %s of kind %s", key, field.Kind())
		}
		path := filepath.Join(dir, key+".yaml")
		sentinel := "nats_store"
		if key == sentinel {
			sentinel = "record"
		}
		line := key + ": " + fileYAML + "\n"
		if section, sub, ok := strings.Cut(key, "."); ok {
			line = section + ":\n  " + sub + ": " + fileYAML + "\n"
		}
		if err := os.WriteFile(path, []byte(line+sentinel+": sentinel\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		check := func(args []string, want any) {
			c, err := parseRun(t, args)
			if err != nil {
				t.Errorf("%q: %v", args, err)
				return
			}
			got, _ := configField(c, key)
			w := reflect.ValueOf(want)
			if w.Type().ConvertibleTo(got.Type()) {
				w = w.Convert(got.Type())
			}
			if !reflect.DeepEqual(got.Interface(), w.Interface()) {
				t.Errorf("%q: %s = %v, want %v", args, key, got.Interface(), w.Interface())
			}
			if v, _ := configField(c, sentinel); v.String() != "sentinel" {
				t.Errorf("%q: %s of the file lost: %q", args, sentinel, v.String())
			}
		}
		check([]string{"--config", path}, fileWant)
		check([]string{"--config", path, "--" + f.Name + "=" + flagArg}, flagWant)
		check([]string{"--" + f.Name + "=" + flagArg, "--config=" + path, "btcusdt@aggTrade"}, flagWant)
		n++
	})
	if n < 25 {
		t.Fatalf("only %d flags checked", n)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// loopback endpoints: a mistake in the checks must not reach a real one
	const local = "ws_endpoint: wss://127.0.0.1:1\nrest_endpoint: https://127.0.0.1:1\n"
	cases := []struct {
		file, body string
		want       []string
	}{
		{"typo.yaml", local + "streams: [btcusdt@aggTrade]\nstale_timout: 3s\n", []string{`line 4: unknown key "stale_timout"`, `did you mean "stale_timeout"?`, "typo.yaml"}},
		{"range.yaml", local + "streams: [btcusdt@aggTrade]\ndepth_limit: 6000\n", []string{"--depth-limit 6000: out of range 1..5000", "key depth_limit of"}},
		{"type.yaml", local + "streams: [btcusdt@aggTrade]\nqueue: many\n", []string{"line 4", "many"}},
	}
	for _, tc := range cases {
		var out, errOut syncBuffer
		err := run(context.Background(), []string{"run", "--config", write(tc.file, tc.body)}, &out, &errOut)
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%s: %v, want a usage error", tc.file, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", tc.file, err, w)
			}
		}
		if strings.Contains(err.Error(), "main.") {
			t.Errorf("%s: a Go type in the message: %q", tc.file, err)
		}
	}
	// the venue's settings live in its section
	for _, tc := range []struct{ body, want string }{
		{local + "streams: [btcusdt@aggTrade]\nmicros: true\n", `line 4: unknown key "micros" (a setting of the venue: write it in the section binance:, as binance.micros)`},
		{local + "streams: [btcusdt@aggTrade]\nbinance:\n  micro: true\n", `line 5: unknown key "binance.micro" (did you mean "binance.micros"?)`},
		{local + "streams: [btcusdt@aggTrade]\nbinance:\n  streams_per_conn: 2000\n", "--streams-per-conn 2000: out of range 1..1024 (key binance.streams_per_conn of"},
		{local + "streams: [btcusdt@aggTrade]\nbinance:\n  dial_budget: [1]\n", "line 5"},
		{local + "streams: [btcusdt@aggTrade]\nftx:\n  micros: true\n", `line 4: unknown key "ftx"`},
		{local + "streams: [btcusdt@aggTrade]\nvenue: ftx\n", "--venue ftx: known venues are binance"},
	} {
		var out, errOut syncBuffer
		err := run(context.Background(), []string{"run", "--config", write("section.yaml", tc.body)}, &out, &errOut)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want a usage error saying %q", tc.body, err, tc.want)
		}
	}
	c, err := parseRun(t, []string{"--config", write("ok.yaml", local+"binance:\n  streams_per_conn: 7\n  micros: true\n"), "--streams-per-conn", "9"})
	if err != nil {
		t.Fatal(err)
	}
	if o := c.venueOpts["binance"]; !strings.Contains(fmt.Sprintf("%+v", o), "StreamsPerConn:9 Micros:true") {
		t.Errorf("binance options %+v: want the flag's 9 over the file's 7, and the file's micros", o)
	}

	var out, errOut syncBuffer
	err = run(context.Background(), []string{"run", "--config", filepath.Join(dir, "absent.yaml")}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "absent.yaml") {
		t.Fatalf("a missing config file: %v", err)
	}
}

// TestConfigWithOutAndFlagsAfterStreams: the config file names the
// endpoints and stdout; --out file:DIR and --duration given after the
// stream on the command line override it.
func TestConfigWithOutAndFlagsAfterStreams(t *testing.T) {
	s, ca := startSim(t, sim.Config{})
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "feedkeeper.yaml")
	yaml := "ws_endpoint: " + s.WSURL() + "\nrest_endpoint: " + s.RESTURL() + "\nca: " + ca +
		"\nduration: 1h\nhttp: \"\"\nout: [stdout]\n"
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut syncBuffer
	start := time.Now()
	err := run(context.Background(), []string{"run", "--config", cfgFile, "btcusdt@aggTrade", "--out", "file:" + filepath.Join(dir, "ev"), "--duration=1500ms"}, &out, &errOut)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	if time.Since(start) > time.Minute {
		t.Fatal("--duration did not override the file's")
	}
	if out.String() != "" {
		t.Fatalf("stdout written although --out file:DIR overrides the file's out")
	}
	if evs := readEvents(t, filepath.Join(dir, "ev")); len(evs) == 0 {
		t.Fatal("no events in the --out directory")
	}
}

// TestSecondInstanceFailsBeforeStarting: with the monitor's port taken,
// demo and run fail at once, say how to choose another, and start nothing.
func TestSecondInstanceFailsBeforeStarting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	for _, args := range [][]string{{"demo", "--http", addr}, {"run", "btcusdt@aggTrade", "--http=" + addr, "--ws-endpoint", "wss://127.0.0.1:1", "--rest-endpoint", "https://127.0.0.1:1"}, {"soak", "--http", addr}} {
		var out, errOut syncBuffer
		start := time.Now()
		err := run(context.Background(), args, &out, &errOut)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--http "+addr) || !strings.Contains(err.Error(), "--http 127.0.0.1:0") {
			t.Errorf("%q: %v", args, err)
		}
		if strings.Contains(errOut.String(), "simulator started") || strings.Contains(errOut.String(), "NATS") || time.Since(start) > 5*time.Second {
			t.Errorf("%q: started things before failing:\n%s", args, errOut.String())
		}
	}
}

// TestRunsThatNeverDeliverFail: an unreachable endpoint, an untrusted
// certificate on the stream endpoint, and a market with no data all end
// with an error of exit code 3, naming what failed.
func TestRunsThatNeverDeliverFail(t *testing.T) {
	s, ca := startSim(t, sim.Config{Rate: -1})
	other, _ := startSim(t, sim.Config{})
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := closed.Addr().String()
	closed.Close()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--ws-endpoint", "wss://" + dead, "--rest-endpoint", s.RESTURL(), "btcusdt@aggTrade"}, "--ws-endpoint wss://" + dead},
		{[]string{"--ws-endpoint", other.WSURL(), "--rest-endpoint", s.RESTURL(), "btcusdt@aggTrade"}, "--ca FILE"},
		{[]string{"--ws-endpoint", s.WSURL(), "--rest-endpoint", s.RESTURL(), "--duration", "1s", "btcusdt@aggTrade"}, "no market data"},
	}
	for _, tc := range cases {
		var out, errOut syncBuffer
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		start := time.Now()
		err := run(ctx, append([]string{"run", "--ca", ca, "--http", ""}, tc.args...), &out, &errOut)
		cancel()
		if code := exitCode(err, &errOut); code != exitUnavailable || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: exit %d, %v; want %d naming %q", tc.args, code, err, exitUnavailable, tc.want)
		}
		if time.Since(start) > 15*time.Second {
			t.Errorf("%q: took %v to fail", tc.args, time.Since(start))
		}
	}
}

// TestMessagesNameWhatWasTyped: an unknown symbol names its stream, and a
// NATS server given with --nats=URL is reported as such.
func TestMessagesNameWhatWasTyped(t *testing.T) {
	s, ca := startSim(t, sim.Config{})
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := closed.Addr().String()
	closed.Close()
	plain, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go plain.Start()
	defer plain.Shutdown()
	if !plain.ReadyForConnections(5 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	common := []string{"run", "--ws-endpoint", s.WSURL(), "--rest-endpoint", s.RESTURL(), "--ca", ca, "--http", "", "--duration", "1s"}
	cases := []struct {
		args []string
		want []string
		code int
	}{
		{[]string{"btcusdt@aggTrade", "nosuch@aggTrade"}, []string{"nosuch@aggTrade", "NOSUCH", "not listed"}, exitUsage},
		{[]string{"btcusdt@aggTrade", "--nats=nats://" + dead}, []string{"--nats=nats://" + dead}, exitUnavailable},
		{[]string{"btcusdt@aggTrade", "--nats", "nats://" + dead}, []string{"--nats=nats://" + dead}, exitUnavailable},
		{[]string{"btcusdt@aggTrade", "--out", "nats:" + plain.ClientURL()}, []string{"--out nats:" + plain.ClientURL(), "does not run JetStream"}, exitUnavailable},
	}
	for _, tc := range cases {
		var out, errOut syncBuffer
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		start := time.Now()
		err := run(ctx, append(append([]string{}, common...), tc.args...), &out, &errOut)
		cancel()
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("%q: took %v to fail", tc.args, took)
		}
		code := exitCode(err, &errOut)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%q: %v does not say %q", tc.args, err, w)
			}
		}
		if code != tc.code {
			t.Errorf("%q: exit %d, want %d", tc.args, code, tc.code)
		}
		if err != nil && strings.Contains(strings.Join(tc.args, " "), "--nats") && strings.Contains(err.Error(), "--out nats") {
			t.Errorf("%q: reported as --out: %v", tc.args, err)
		}
	}
}

// TestSummaryAddsUp: with trades left out of the stream, the final
// summary's trade figures add up, and the backfilled count is the number
// of recovered trades delivered.
func TestSummaryAddsUp(t *testing.T) {
	s, ca := startSim(t, sim.Config{Rate: 400, Faults: []sim.Fault{{Kind: sim.FaultTradeGap, Prob: 0.05}}})
	var out, errOut syncBuffer
	err := run(context.Background(), []string{"run", "btcusdt@aggTrade", "btcusdt@depth@100ms", "--ws-endpoint", s.WSURL(),
		"--rest-endpoint", s.RESTURL(), "--ca", ca, "--duration", "3s", "--http", ""}, &out, &errOut)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	recovered := 0
	for _, m := range jsonLines(t, out.String()) {
		if m["type"] == "trade" && m["recovered"] == true {
			recovered++
		}
	}
	line := ""
	for _, l := range strings.Split(errOut.String(), "\n") {
		if strings.Contains(l, "msg=stopped") {
			line = l
		}
	}
	field := func(k string) int {
		m := regexp.MustCompile(` ` + k + `=(\d+)`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("no %s in the summary %q", k, line)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	missing, filled, unfilled := field("trade_ids_missing"), field("trade_ids_backfilled"), field("trade_ids_unfilled")
	if missing != filled+unfilled || filled != recovered || field("trade_gaps") == 0 || recovered == 0 {
		t.Fatalf("summary %q: %d recovered trades on stdout", line, recovered)
	}
	field("book_resyncs")
	field("book_syncs")
	if strings.Contains(line, " missing=") || strings.Contains(line, " gaps=") {
		t.Fatalf("the summary mixes book and trade IDs: %q", line)
	}
}

// TestDemoScriptShowsEveryFault: at a faster pace, every fault of the
// demo's script is announced and then happens within one cycle, and the
// gateway's recovery shows on stderr and stdout.
func TestDemoScriptShowsEveryFault(t *testing.T) {
	var out, errOut syncBuffer
	pace := 150 * time.Millisecond
	err := run(context.Background(), []string{"demo", "--pace", pace.String(), "--lifetime", "3s", "--duration",
		(demoCycle*pace + 2*time.Second).String(), "--http", "127.0.0.1:0", "--no-nats", "--rate", "400",
		"btcusdt@aggTrade", "btcusdt@depth@100ms"}, &out, &errOut)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, errOut.String())
	}
	logs := errOut.String()
	for _, s := range demoScript {
		if !strings.Contains(logs, "demo: in "+(2*pace).String()+": "+string(s.Fault.Kind)) {
			t.Errorf("%s not announced:\n%s", s.Fault.Kind, logs)
		}
	}
	if !strings.Contains(logs, ": rotation") {
		t.Errorf("the lifetime rotation is not announced")
	}
	recovered := strings.Count(out.String(), `"recovered":true`)
	for _, w := range []string{"server shutdown announced", "connection rotated", "book resync", "malformed", "reconnecting", "dashboard: http://127.0.0.1:"} {
		if !strings.Contains(logs, w) {
			t.Errorf("%q not in the log", w)
		}
	}
	if recovered == 0 {
		t.Errorf("no trade recovered after the trade-gap fault")
	}
	for _, l := range strings.Split(logs, "\n") {
		if strings.Count(l, "component=") > 1 {
			t.Errorf("component repeated: %q", l)
		}
	}
}

// TestHelpStatesRangesAndExamples: every subcommand's --help states its
// argument order, an example, and each numeric flag's range.
func TestHelpStatesRangesAndExamples(t *testing.T) {
	root := newRootCmd(&syncBuffer{}, &syncBuffer{})
	for _, c := range root.Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		var out, errOut syncBuffer
		if err := run(context.Background(), []string{c.Name(), "--help"}, &out, &errOut); err != nil {
			t.Fatalf("%s --help: %v", c.Name(), err)
		}
		h := out.String()
		for _, w := range []string{"Usage:\n  feedkeeper " + c.Name() + " [flags]", "Examples:\n  feedkeeper " + c.Name(), "Exit codes:"} {
			if !strings.Contains(h, w) {
				t.Errorf("%s --help lacks %q:\n%s", c.Name(), w, h)
			}
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			switch f.Value.Type() {
			case "int", "int64", "float64", "duration":
				if f.Hidden {
					return
				}
				if !regexp.MustCompile(`\d\.\.|≥|> 0|negative|0:|more than|any`).MatchString(f.Usage) {
					t.Errorf("%s --%s: no range in %q", c.Name(), f.Name, f.Usage)
				}
			}
		})
	}
	// shell completion comes with cobra; stream types are completed
	var comp syncBuffer
	if err := run(context.Background(), []string{"__complete", "run", "btcusdt@de"}, &comp, &syncBuffer{}); err != nil ||
		!strings.Contains(comp.String(), "btcusdt@depth@100ms") || strings.Contains(comp.String(), "btcusdt@trade") {
		t.Fatalf("completion of btcusdt@de: %v\n%s", err, comp.String())
	}
	var out syncBuffer
	if err := run(context.Background(), []string{"completion", "bash"}, &out, &syncBuffer{}); err != nil || !strings.Contains(out.String(), "feedkeeper") {
		t.Fatalf("completion bash: %v", err)
	}
}

// TestExitCodesOfTheProcess runs this binary as the feedkeeper command
// and checks the exit status a shell sees.
func TestExitCodesOfTheProcess(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		code int
	}{
		{[]string{"--help"}, exitOK},
		{[]string{"run", "btcusdt@aggTrade", "--depth-limit", "6000"}, exitUsage},
		{[]string{"nosuch"}, exitUsage},
		{[]string{"demo", "btcusdt@trad"}, exitUsage},
	}
	for _, tc := range cases {
		cmd := exec.Command(exe, tc.args...)
		cmd.Env = append(os.Environ(), cliChildEnv+"=1")
		outb, err := cmd.CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		if code != tc.code {
			t.Errorf("%q: exit %d, want %d\n%s", tc.args, code, tc.code, outb)
		}
	}
	if got := exitCode(fmt.Errorf("sink: %w", errors.New("disk full")), &syncBuffer{}); got != exitFailure {
		t.Errorf("a failure while running: exit %d", got)
	}
}

// TestStateResumesAfterARestart: two runs one after the other with the
// same --state and outputs: the trades made while neither ran are
// recovered by the second, so the outputs of both hold every trade once.
func TestStateResumesAfterARestart(t *testing.T) {
	s, ca := startSim(t, sim.Config{Rate: 400, TradeShare: 0.5})
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	runOnce := func(out string) {
		t.Helper()
		var stdout, errOut syncBuffer
		args := []string{"run", "btcusdt@aggTrade", "btcusdt@trade", "--ws-endpoint", s.WSURL(), "--rest-endpoint", s.RESTURL(),
			"--ca", ca, "--http", "", "--out", "file:" + filepath.Join(dir, out), "--compress", "none", "--state", state, "--duration", "1500ms"}
		if err := run(context.Background(), args, &stdout, &errOut); err != nil {
			t.Fatalf("run: %v\n%s", err, errOut.String())
		}
	}
	runOnce("first")
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("no state file: %v", err)
	}
	time.Sleep(time.Second) // the market goes on while no gateway runs
	runOnce("second")
	recovered := 0
	for _, agg := range []bool{true, false} {
		seen := map[int64]int{}
		var lo, hi int64
		for _, part := range []string{"first", "second"} {
			for _, ev := range jsonLines(t, strings.Join(readEvents(t, filepath.Join(dir, part)), "\n")) {
				if ev["type"] != "trade" || ev["agg"] != agg {
					if ev["type"] == "gap" {
						t.Fatalf("gap event %v", ev)
					}
					continue
				}
				id := int64(ev["id"].(float64))
				seen[id]++
				if lo == 0 || id < lo {
					lo = id
				}
				hi = max(hi, id)
				if part == "second" && ev["recovered"] == true {
					recovered++
				}
			}
		}
		for id := lo; id <= hi; id++ {
			if seen[id] != 1 {
				t.Fatalf("agg %v: trade %d delivered %d times (of %d..%d)", agg, id, seen[id], lo, hi)
			}
		}
	}
	if recovered < 50 {
		t.Fatalf("%d trades recovered by the second run", recovered)
	}
}
