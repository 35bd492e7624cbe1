package peers

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/internal/simtest"
	"github.com/feedkeeper/feedkeeper/sim"
)

// End to end: each client a process of its own, reading a simulator in
// another process and writing every event as a JSON line to a pipe that
// the benchmark drains. CPU is the user + system time of the client
// process alone.

// binaries are the programs the end-to-end benchmarks run, built once.
type binaries struct {
	feedkeeper, gobinanceJSON string
}

// buildBinaries builds feedkeeper (from the repository root) and the
// go-binance printer into a temporary directory.
func buildBinaries(b *testing.B) binaries {
	b.Helper()
	dir := b.TempDir()
	bin := binaries{feedkeeper: filepath.Join(dir, "feedkeeper"), gobinanceJSON: filepath.Join(dir, "gobinancejson")}
	for _, x := range []struct{ dir, pkg, out string }{
		{"../..", "./cmd/feedkeeper", bin.feedkeeper},
		{".", "./gobinancejson", bin.gobinanceJSON},
	} {
		cmd := exec.Command("go", "build", "-o", x.out, x.pkg)
		cmd.Dir = x.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("go build %s: %v\n%s", x.pkg, err, out)
		}
	}
	return bin
}

// procStats is what one client process did over the measured window.
type procStats struct {
	cpu      time.Duration // user + system of the process over the window
	msgs     int64         // lines written over the window
	bytes    int64
	elapsed  time.Duration
	peakRSS  int64         // bytes, the process's high-water mark
	wholeCPU time.Duration // user + system of the whole run (rusage at exit)
	allMsgs  int64         // lines of the whole run
}

func (p procStats) cpuPerMsg() float64   { return float64(p.cpu) / float64(p.msgs) }
func (p procStats) msgsPerSec() float64  { return float64(p.msgs) / p.elapsed.Seconds() }
func (p procStats) bytesPerMsg() float64 { return float64(p.bytes) / float64(p.msgs) }
func (p procStats) wholePerMsg() float64 { return float64(p.wholeCPU) / float64(p.allMsgs) }
func (p procStats) String() string {
	return fmt.Sprintf("%.0f ns/msg (whole run %.0f), %.0f msgs/s, %.0f B/line, peak RSS %.1f MiB",
		p.cpuPerMsg(), p.wholePerMsg(), p.msgsPerSec(), p.bytesPerMsg(), float64(p.peakRSS)/(1<<20))
}

// measureProc starts cmd with its stdout on a pipe drained here, counts
// its lines (each line an event), waits for warm lines of warm-up, then
// measures the process's CPU over window, stops it with SIGINT and waits.
func measureProc(b *testing.B, name string, cmd *exec.Cmd, warm int64, window time.Duration) procStats {
	b.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{b: &stderr, max: 64 << 10}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	var lines, nbytes atomic.Int64
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		buf := make([]byte, 256<<10)
		for {
			n, err := out.Read(buf)
			lines.Add(int64(bytes.Count(buf[:n], []byte{'\n'})))
			nbytes.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGINT)
		waited := make(chan struct{})
		go func() {
			select {
			case <-waited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
			}
		}()
		<-drained
		cmd.Wait()
		close(waited)
	}
	defer stop()

	deadline := time.Now().Add(15 * time.Second)
	for lines.Load() < warm {
		if time.Now().After(deadline) {
			b.Fatalf("%s: only %d lines in 15 s\n%s", name, lines.Load(), stderr.Bytes())
		}
		time.Sleep(10 * time.Millisecond)
	}
	pid := cmd.Process.Pid
	n0, by0, c0, t0 := lines.Load(), nbytes.Load(), procCPU(pid), time.Now()
	time.Sleep(window)
	n1, by1, c1, t1 := lines.Load(), nbytes.Load(), procCPU(pid), time.Now()
	st := procStats{cpu: c1 - c0, msgs: n1 - n0, bytes: by1 - by0, elapsed: t1.Sub(t0),
		peakRSS: simtest.ProcStatus(pid, "VmHWM")}
	alive := c1 >= c0 && st.peakRSS > 0
	stop()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		st.wholeCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	st.allMsgs = lines.Load()
	if !alive {
		b.Fatalf("%s ended during the measurement (%v)\n%s", name, cmd.ProcessState, stderr.Bytes())
	}
	if st.msgs == 0 {
		b.Fatalf("%s: no lines in %v\n%s", name, window, stderr.Bytes())
	}
	return st
}

// procCPU is the CPU time of every thread of process pid so far, from
// /proc/<pid>/task/*/schedstat (nanoseconds on a CPU, user and system):
// finer than the clock ticks of /proc/<pid>/stat.
func procCPU(pid int) time.Duration {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			sum += ns
		}
	}
	return time.Duration(sum)
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	mu  sync.Mutex
	b   *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

var _ io.Writer = (*limitedBuffer)(nil)

// e2eClient is one client process of the end-to-end benchmarks: cmd
// returns it, pointed at the simulator's front-end ep.
type e2eClient struct {
	name string
	cmd  func(ep sim.Endpoint) *exec.Cmd
}

// feedkeeperRun is `feedkeeper run` of bin on venue's streams, its JSON
// Lines on stdout (the default output), the monitor on a free loopback
// port (as by default, without taking the default's port).
func feedkeeperRun(name, bin, venue string, streams []string) e2eClient {
	return e2eClient{name, func(ep sim.Endpoint) *exec.Cmd {
		args := append([]string{"run", "--venue", venue}, streams...)
		args = append(args, "--ws-endpoint", ep.WSURL, "--rest-endpoint", ep.RESTURL,
			"--ca", filepath.Join(certDir, "ca.pem"), "--http", "127.0.0.1:0")
		return exec.Command(bin, args...)
	}}
}

// baselineEnv names a feedkeeper binary (another build, say of the commit
// before a change) that the end-to-end benchmarks also run, right after
// the current one, as "feedkeeper-baseline": before and after in one run.
const baselineEnv = "FEEDKEEPER_BENCH_BASELINE"

// runE2E runs each client in turn, each on a fresh simulator (cfg, in a
// child process) serving venue, and reports each one's CPU per line over a
// window of 3 s after warm lines, and each peer's as a multiple of
// feedkeeper's (the first client).
func runE2E(b *testing.B, cfg sim.Config, venue string, warm int64, clients []e2eClient) {
	// with -benchtime=Nx, N rounds of every client in turn; the metrics are
	// the means of the rounds
	cpu := make([]float64, len(clients))
	rate := make([]float64, len(clients))
	for i := 0; i < b.N; i++ {
		for j, c := range clients {
			cfg.CertDir = certDir // the CA the peers trust
			child := simtest.StartChild(b, cfg)
			ep, ok := child.Endpoints[venue]
			if !ok {
				b.Fatalf("the simulator serves no %s", venue)
			}
			st := measureProc(b, c.name, c.cmd(ep), warm, 3*time.Second)
			child.Stop()
			b.Logf("round %d: %-24s %v", i+1, c.name, st)
			cpu[j] += st.cpuPerMsg() / float64(b.N)
			rate[j] += st.msgsPerSec() / float64(b.N)
		}
	}
	for j, c := range clients {
		b.ReportMetric(cpu[j], c.name+"-cpu-ns/msg")
		b.ReportMetric(rate[j], c.name+"-msgs/s")
		if j > 0 {
			b.ReportMetric(cpu[j]/cpu[0], c.name+"-x")
		}
	}
}

// withBaseline inserts the binary of FEEDKEEPER_BENCH_BASELINE, when set,
// after the first client.
func withBaseline(clients []e2eClient, venue string, streams []string) []e2eClient {
	base := os.Getenv(baselineEnv)
	if base == "" {
		return clients
	}
	return append([]e2eClient{clients[0], feedkeeperRun("feedkeeper-baseline", base, venue, streams)}, clients[1:]...)
}

func lowerStreams(symbols []string, suffix string) []string {
	var out []string
	for _, s := range symbols {
		out = append(out, strings.ToLower(s)+suffix)
	}
	return out
}

// BenchmarkRunJSONL is what users of `feedkeeper run` pay: the feedkeeper
// binary running `run` on the aggTrade streams of 4 symbols with its JSON
// Lines output to a pipe, beside go-binance printing the same events with
// encoding/json (gobinancejson: one write a line, as
// json.NewEncoder(os.Stdout) does, and through a 64 KiB buffer flushed
// every 100 ms), each from a fresh simulator in a child process, one after
// the other in the same run. It reports each client's CPU (user + system
// of its process over a 3 s window after a warm-up) per line, and each
// peer's as a multiple of feedkeeper's (-x). Run with -benchtime=1x
// (-benchtime=3x: three rounds, alternated, averaged); set
// FEEDKEEPER_BENCH_BASELINE to a feedkeeper binary to run it too.
func BenchmarkRunJSONL(b *testing.B) {
	bin := buildBinaries(b)
	streams := lowerStreams(firehoseSymbols, "@aggTrade")
	syms := strings.Join(firehoseSymbols, ",")
	clients := withBaseline([]e2eClient{
		feedkeeperRun("feedkeeper", bin.feedkeeper, "binance", streams),
		{"go-binance", func(ep sim.Endpoint) *exec.Cmd {
			return exec.Command(bin.gobinanceJSON, "-ws", ep.WSURL, "-symbols", syms)
		}},
		{"go-binance-buffered", func(ep sim.Endpoint) *exec.Cmd {
			return exec.Command(bin.gobinanceJSON, "-ws", ep.WSURL, "-symbols", syms, "-buffered")
		}},
	}, "binance", streams)
	// updates a second → ≈ 37 k and ≈ 93 k aggTrade messages a second
	for _, updates := range []int{20000, 50000} {
		b.Run(fmt.Sprintf("aggTrade/updates=%dk", updates/1000), func(b *testing.B) {
			runE2E(b, sim.Config{Rate: updates, TradeShare: 1, Levels: 200, History: 100000,
				Symbols: firehoseSymbols, PingInterval: time.Hour}, sim.VenueBinance, 20000, clients)
		})
	}
}

// BenchmarkVenueJSONL is BenchmarkRunJSONL on every other venue: the
// trades of 4 markets from that venue's simulator front-end, feedkeeper
// beside the venue's peer client, each printing every trade as a JSON
// line (ccxt under Node.js: okxccxt/trades.js; hirokisan/bybit:
// bybitjson; go-binance's futures package: gobinancejson -usdm; Coinbase
// without a peer). The simulator makes 20 k trades a second. Run with -benchtime=1x; a single
// venue with -bench 'VenueJSONL/okx'.
func BenchmarkVenueJSONL(b *testing.B) {
	bin := buildBinaries(b)
	bybitJSON := filepath.Join(b.TempDir(), "bybitjson")
	if out, err := exec.Command("go", "build", "-o", bybitJSON, "./bybitjson").CombinedOutput(); err != nil {
		b.Fatalf("go build ./bybitjson: %v\n%s", err, out)
	}
	pairs := func(sep, quote string) []string {
		var out []string
		for _, s := range firehoseSymbols {
			out = append(out, strings.TrimSuffix(s, quote)+sep+quote)
		}
		return out
	}
	suffixed := func(list []string, suffix string) []string {
		var out []string
		for _, s := range list {
			out = append(out, s+suffix)
		}
		return out
	}
	ccxt := func(exchange string, symbols []string) e2eClient {
		return e2eClient{"ccxt", func(ep sim.Endpoint) *exec.Cmd {
			cmd := exec.Command("node", append([]string{"trades.js", exchange, ep.WSURL, ep.RESTURL}, symbols...)...)
			cmd.Dir = ccxtDir
			cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+filepath.Join(certDir, "ca.pem"))
			return cmd
		}}
	}
	syms := strings.Join(firehoseSymbols, ",")
	venues := []struct {
		venue   string
		streams []string
		peer    e2eClient
		rate    int   // trades a second; 0: 20 000
		warm    int64 // lines of warm-up; 0: 5 000
	}{
		{sim.VenueBinanceUSDM, lowerStreams(firehoseSymbols, "@aggTrade"), e2eClient{"go-binance-futures", func(ep sim.Endpoint) *exec.Cmd {
			return exec.Command(bin.gobinanceJSON, "-usdm", "-ws", ep.WSURL, "-symbols", syms)
		}}, 0, 0},
		{sim.VenueOKX, suffixed(pairs("-", "USDT"), "@trades-all"), ccxt("okx", pairs("/", "USDT")), 0, 0},
		{sim.VenueBybit, nil, e2eClient{"hirokisan-bybit", func(ep sim.Endpoint) *exec.Cmd {
			return exec.Command(bybitJSON, "-ws", ep.WSURL, "-category", "linear", "-symbols", syms)
		}}, 0, 0},
		{sim.VenueKraken, suffixed(pairs("/", "USDT"), "@trade"), ccxt("kraken", pairs("/", "USDT")), 0, 0},
		// at 2 000 trades a second: at 20 000 ccxt's Coinbase client prints
		// about 80 lines a second (batches of thousands of trades) and never
		// warms up
		// (and ccxt printing a few hundred lines a second at best, a warm-up
		// of 1 000 lines)
		{venue: sim.VenueCoinbase, streams: suffixed(pairs("-", "USDT"), "@market_trades"), peer: ccxt("coinbase", pairs("/", "USDT")), rate: 2000, warm: 1000},
	}
	for _, s := range firehoseSymbols {
		venues[2].streams = append(venues[2].streams, "linear/publicTrade."+s)
	}
	for _, v := range venues {
		b.Run(v.venue, func(b *testing.B) {
			clients := []e2eClient{feedkeeperRun("feedkeeper", bin.feedkeeper, v.venue, v.streams)}
			switch v.peer.name {
			case "":
			case "ccxt":
				ccxtReady(b)
				fallthrough
			default:
				clients = append(clients, v.peer)
			}
			clients = withBaseline(clients, v.venue, v.streams)
			runE2E(b, sim.Config{Rate: cmp.Or(v.rate, 20000), TradeShare: 1, Levels: 200, History: 100000,
				Symbols: firehoseSymbols, PingInterval: time.Hour, Venues: []string{v.venue}}, v.venue, cmp.Or(v.warm, 5000), clients)
		})
	}
}
