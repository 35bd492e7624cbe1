package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/monitor"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/soak"
	"github.com/feedkeeper/feedkeeper/venue"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

// soakProfiles are the fault sets of `feedkeeper soak --faults`.
var soakProfiles = map[string][]string{
	"none":      nil,
	"rotations": nil, // the short connection lifetime alone
	// connection faults by probability per connection per second, so that
	// every kind fires whatever the connections' age (rotation included)
	"reconnects": {"drop:p=0.05", "close:code=1001,p=0.03", "close:code=1008,reason=Too many requests,p=0.01",
		"shutdown:p=0.02,duration=2s", "stall:p=0.015,duration=10s"},
	"chaos": {"drop:p=0.05", "close:code=1011,p=0.03", "shutdown:p=0.02,duration=2s", "stall:p=0.015,duration=10s",
		"malformed:p=0.05", "trade-gap:p=0.01", "depth-drop:p=0.01", "depth-dup:p=0.01", "depth-reorder:p=0.01",
		"rest-5xx:p=0.05", "rest-429:p=0.02", "stale-snapshot:p=0.1",
		// what real Binance also does: capped quantities, a REST history that
		// lags the stream, a firewall's 403, halts and tick size changes
		"qty-cap:p=0.001", "rest-lag:p=0.05,duration=2s", "rest-403:p=0.002", "halt:every=23s,duration=3s",
		"filters:every=37s,variant=tick"},
	// no fault but the gateway's own death: SIGKILL every --restart-every
	// (15s unless given), once SIGTERM
	"restarts": nil,
}

// defaultRestartEvery is --restart-every of the restarts profile when not
// given.
const defaultRestartEvery = 15 * time.Second

func profileNames() string {
	var names []string
	for n := range soakProfiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// cliChildEnv makes a test binary behave as the feedkeeper command, so the
// soak's simulator child can be started from tests too.
const cliChildEnv = "FEEDKEEPER_AS_CLI"

// soakCmd is `feedkeeper soak`: the gateway against a simulator child
// process with faults, measured for leaks and losses.
type soakCmd struct {
	stdout, stderr      io.Writer
	duration            time.Duration
	profile             string
	extra               faultList
	out                 string
	streams             []string
	venues              []string
	rate                int
	lifetime            time.Duration
	interval, warmup    time.Duration
	maxHeap             int64
	logLevel            string
	httpAddr, httpToken string
	restartEvery        time.Duration
	restartDowntime     time.Duration
}

func newSoakCmd(stdout, stderr io.Writer) *cobra.Command {
	s := &soakCmd{stdout: stdout, stderr: stderr}
	cmd := &cobra.Command{
		Use:   "soak [flags]",
		Short: "run the gateway against the simulator with faults and report leaks and losses",
		Long: `Runs the gateway against a simulator (in a child process, so the measurements are the
gateway's own) with faults, samples memory, goroutines, open files and connections every
interval, and writes report.json and a self-contained report.html into --out (default: a new
temporary directory, printed at the start). It takes no arguments. Exits 1 when memory or
goroutines grow beyond the bounds or any trade was lost.

With --restart-every (or --faults restarts, every 15s) the gateway runs as a child process
instead (feedkeeper run --state --out file:DIR/run-N), killed with SIGKILL (the third time
stopped with SIGTERM) that long after each start and started again, and the outputs of all
runs are checked against the simulator's trades: it exits 1 when one is missing, unknown or
unlike the simulator's, or delivered twice other than by the run after a kill (written after
the last saved state: counted as re-delivered). The leak bounds do not apply then; the
gateway's memory and open files are charted. With several --venues the one gateway process
streams them all (run --venue a,b with each venue's front-end of the simulator), and each
venue's trades are checked against its own front-end's; restarts take the venues whose trade
IDs follow one another (binance, binance-usdm, okx, kraken), so that a missing one shows:
bybit and coinbase are refused.

` + exitCodesHelp,
		Example: `  feedkeeper soak --duration 10m --faults reconnects
  feedkeeper soak --duration 1h --faults chaos --out /tmp/soak-chaos --http 127.0.0.1:0
  feedkeeper soak --duration 10m --faults restarts
  feedkeeper soak --duration 10m --faults chaos --restart-every 15s --restart-downtime 5s
  feedkeeper soak --duration 10m --restart-every 10s --venues binance,binance-usdm,okx,kraken --streams trades:BTC-USDT,trades:BTC-USDT-PERP`,
		RunE: func(cmd *cobra.Command, args []string) error { return s.Run(cmd.Context(), args) },
	}
	fs := cmd.Flags()
	fs.DurationVar(&s.duration, "duration", 10*time.Minute, "how long to run, > 0")
	fs.StringVar(&s.profile, "faults", "reconnects", "fault profile: "+profileNames())
	fs.Var(&s.extra, "fault", "an extra fault rule for the simulator (repeatable), as for feedkeeper sim")
	fs.StringVar(&s.out, "out", "", "`directory` for report.json and report.html (default: a new temporary directory)")
	fs.StringSliceVar(&s.streams, "streams", []string{"btcusdt@aggTrade", "ethusdt@aggTrade", "btcusdt@depth@100ms", "ethusdt@bookTicker"}, "streams, comma separated")
	fs.StringSliceVar(&s.venues, "venues", []string{defaultVenue}, "venues soaked at once, each through its front-end of the one simulator with the same --streams (in a form every venue reads: trades:BTC-USDT,book:ETH-USDT; a market a venue does not list is soaked on the others), comma separated: "+strings.Join(venue.Names(), ", "))
	fs.IntVar(&s.rate, "rate", 400, "market updates a second of the simulator, 1..1000000")
	fs.DurationVar(&s.lifetime, "lifetime", 90*time.Second, "the simulator's connection lifetime, ≥ 1s: the gateway rotates before it")
	fs.DurationVar(&s.interval, "interval", time.Second, "sampling interval, ≥ 10ms")
	fs.DurationVar(&s.warmup, "warmup", 0, "left out of the growth figures, ≥ 0, less than --duration (0: 10% of the duration, at least 5s)")
	fs.Int64Var(&s.maxHeap, "max-heap-growth", 2<<20, "fail when the live heap grows more than this many bytes, ≥ 1")
	fs.StringVar(&s.logLevel, "log-level", "warn", "debug, info, warn or error")
	fs.StringVar(&s.httpAddr, "http", monitor.DefaultAddr, "serve /metrics, /healthz, /readyz and the dashboard here during the soak (port 0: any free port; '': off); beyond loopback needs --http-token")
	fs.StringVar(&s.httpToken, "http-token", "", "bearer token required on every path of --http")
	fs.DurationVar(&s.restartEvery, "restart-every", 0, "run the gateway as a child process (feedkeeper run --state --out file:) and kill it (SIGKILL; the third time SIGTERM, a deploy) this long after each start, then start it again, ≥ 1s (0: never; the restarts profile: 15s); the outputs of all runs are checked against the simulator's trades (venues: binance, binance-usdm, okx, kraken)")
	fs.DurationVar(&s.restartDowntime, "restart-downtime", 2*time.Second, "with restarts: every second restart waits this long before starting the gateway again (the others start it at once), ≥ 0")
	return cmd
}

// Run soaks for --duration; it fails when the report's verdict does.
func (s *soakCmd) Run(ctx context.Context, args []string) error {
	stdout, stderr := s.stdout, s.stderr
	var k checks
	if s.duration <= 0 {
		k.add("duration", s.duration.String(), "must be positive")
	}
	if _, ok := soakProfiles[s.profile]; !ok {
		k.add("faults", s.profile, "known profiles are "+profileNames())
	}
	if len(s.venues) == 0 {
		k.add("venues", "", "name at least one venue")
	}
	streamsOf := map[string][]string{} // each venue's own names of --streams
	lacking := map[string][]string{}   // a stream of --streams → the venues that do not list it
	for i, name := range s.venues {
		f, err := venue.Lookup(name)
		if err != nil || slices.Contains(s.venues[:i], name) {
			k.add("venues", strings.Join(s.venues, ","), "want distinct venues of "+strings.Join(venue.Names(), ", "))
			break
		}
		var streams []string
		for _, st := range s.streams {
			own, err := venue.Expand(name, f, []string{st})
			switch {
			case errors.Is(err, venue.ErrNotListed) && len(s.venues) > 1:
				lacking[st] = append(lacking[st], name) // soaked on the venues that list it
			case err != nil:
				k.errs = append(k.errs, fmt.Errorf("%s: %w", name, err))
			default:
				streams = append(streams, own...)
			}
		}
		if len(streams) == 0 && len(s.streams) > 0 {
			k.errs = append(k.errs, fmt.Errorf("--venues %s: %s lists none of --streams %s", strings.Join(s.venues, ","), name, strings.Join(s.streams, ",")))
		} else if err := checkStreams(f, streams); err != nil {
			k.errs = append(k.errs, fmt.Errorf("%s: %w", name, err))
		}
		streamsOf[name] = streams
	}
	for _, st := range s.streams {
		if len(lacking[st]) == len(s.venues) {
			k.errs = append(k.errs, fmt.Errorf("--streams %s: no venue of --venues %s lists it", st, strings.Join(s.venues, ",")))
		}
	}
	if s.restartEvery != 0 || s.profile == "restarts" {
		// the audit of restarts finds a lost trade by its ID
		for _, name := range s.venues {
			if err := soak.CheckAuditable(name); err != nil {
				k.add("venues", strings.Join(s.venues, ","), "with restarts every trade is audited by its ID: "+err.Error()+"; soak it without restarts")
			}
		}
	}
	k.intRange("rate", int64(s.rate), 1, 1000000)
	if s.lifetime < time.Second {
		k.add("lifetime", s.lifetime.String(), "must be at least 1s")
	}
	if s.interval < 10*time.Millisecond {
		k.add("interval", s.interval.String(), "must be at least 10ms")
	}
	if s.warmup < 0 || (s.warmup > 0 && s.warmup >= s.duration) {
		k.add("warmup", s.warmup.String(), fmt.Sprintf("must be ≥ 0 and less than --duration %v", s.duration))
	}
	k.atLeast("max-heap-growth", s.maxHeap, 1)
	k.logLevel("log-level", s.logLevel)
	k.httpAddr("http", s.httpAddr, s.httpToken)
	if s.restartEvery != 0 && s.restartEvery < time.Second {
		k.add("restart-every", s.restartEvery.String(), "must be 0 (never) or at least 1s")
	}
	if s.restartDowntime < 0 {
		k.add("restart-downtime", s.restartDowntime.String(), "must be ≥ 0")
	}
	if err := k.err(); err != nil {
		return err
	}
	if err := checkListen("http", s.httpAddr); err != nil {
		return err
	}
	log, err := newLogger(stderr, s.logLevel)
	if err != nil {
		return err
	}
	out := s.out
	if out == "" {
		if out, err = os.MkdirTemp("", "feedkeeper-soak-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		return usageErrorf("--out %s: %w", out, pathErr(err))
	}
	restartEvery := s.restartEvery
	if s.profile == "restarts" && restartEvery == 0 {
		restartEvery = defaultRestartEvery
	}
	history := 20000
	if restartEvery > 0 {
		// the ground truth must still hold the first run's trades at the end
		history = int(min(max(int64(s.rate)*int64(s.duration/time.Second+10), 20000), 5_000_000))
	}
	// the soak reconnects far more often than a venue allows an IP: the
	// simulator's attempt budget is lifted, the gateway's own stays
	simArgs := []string{"sim", "--rate", strconv.Itoa(s.rate), "--max-lifetime", s.lifetime.String(),
		"--history", strconv.Itoa(history), "--log-level", "error", "--conn-attempt-limit", "1000000000"}
	all := append([]string{}, soakProfiles[s.profile]...)
	for _, f := range s.extra {
		all = append(all, f.String())
	}
	for _, f := range all {
		simArgs = append(simArgs, "--fault", f)
	}
	ws, rest, caFile, frontEnds, stop, err := startSimProcess(out, simArgs)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(stdout, "soak: %v against %s, faults %q, report in %s\n", s.duration, ws, s.profile, out)
	tty := false
	if f, ok := stderr.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}

	if restartEvery > 0 {
		return s.runRestarts(ctx, out, ws, rest, caFile, frontEnds, all, restartEvery, log, tty)
	}
	var observe func(*feed.Event)
	var started func(func() feed.GatewayStats)
	if s.httpAddr != "" {
		mon, err := monitor.New(monitor.Config{Addr: s.httpAddr, Token: s.httpToken, Venue: strings.Join(s.venues, ","), Logger: log})
		if err != nil {
			return err
		}
		defer mon.Close()
		observe, started = mon.Observe, mon.SetGateway
		fmt.Fprintf(stdout, "soak: dashboard %s\n", mon.URL())
	}
	runs := make([]soak.Venue, 0, len(s.venues))
	for _, name := range s.venues {
		r := soak.Venue{Name: name, WSURL: ws, RESTURL: rest, Streams: streamsOf[name]}
		if name != sim.VenueBinance {
			ep, ok := frontEnds[name]
			if !ok || ep[0] == "" || ep[1] == "" {
				return fmt.Errorf("--venues %s: the simulator serves no front-end of %s (it serves %v)", strings.Join(s.venues, ","), name, frontEnds)
			}
			r.WSURL, r.RESTURL = ep[0], ep[1]
		}
		runs = append(runs, r)
	}
	rep, err := soak.Run(ctx, soak.Config{
		Observe: observe, Started: started, Also: runs[1:],
		Venue: runs[0].Name, WSURL: runs[0].WSURL, RESTURL: runs[0].RESTURL, CAFile: caFile, Streams: runs[0].Streams,
		Duration: s.duration, Interval: s.interval, Warmup: s.warmup, MaxHeapGrowth: s.maxHeap, Logger: log,
		Session: wsconn.Config{Lifetime: s.lifetime, PingInterval: 2 * time.Second, StaleTimeout: 5 * time.Second},
	}, func(s soak.Sample) {
		line := fmt.Sprintf("soak %5.0fs  heap %7.2f MiB  rss %7.2f MiB  goroutines %4d  fds %4d  up %d  events %9d  reconnects %5d",
			s.T, float64(s.Heap)/(1<<20), float64(s.RSS)/(1<<20), s.Goroutines, s.FDs, s.Connected, s.Events, s.Reconnects)
		switch {
		case tty:
			fmt.Fprint(stderr, "\r"+line)
		case int(s.T)%10 == 0: // a log, not a terminal: a line every 10 s
			fmt.Fprintln(stderr, line)
		}
	})
	if tty {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		return err
	}
	rep.Faults = all
	if err := writeFile(filepath.Join(out, "report.json"), rep.WriteJSON); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(out, "report.html"), rep.WriteHTML); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "soak: %d trades (%d recovered), %d lost, %d twice, %d announced (%d when stopping); %d reconnects, %d rotations; heap %+d B, goroutines %+d, files %+d after Close\n",
		rep.Trades, rep.Recovered, rep.Lost, rep.Duplicates, rep.Announced, rep.AnnouncedAtClose, rep.Gateway.Reconnects, rep.Gateway.Rotations,
		rep.Growth.Heap, rep.Growth.Goroutines, rep.Growth.FDs)
	if !rep.Pass {
		for _, f := range rep.Failures {
			fmt.Fprintln(stdout, "soak: FAIL:", f)
		}
		return errors.New("soak failed")
	}
	fmt.Fprintln(stdout, "soak: PASS")
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// startSimProcess runs `feedkeeper sim` as a child process and returns its
// URLs, its CA file and a function that stops it.
func startSimProcess(dir string, args []string) (ws, rest, caFile string, frontEnds map[string][2]string, stop func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", "", "", nil, nil, err
	}
	caFile = filepath.Join(dir, "sim-ca.pem")
	cmd := exec.Command(exe, append(args, "--ca-out", caFile)...)
	cmd.Env = append(os.Environ(), cliChildEnv+"=1")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", "", "", nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", "", "", nil, nil, fmt.Errorf("simulator: %w", err)
	}
	stop = func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	rd := bufio.NewReader(stdout)
	line, err := rd.ReadString('\n')
	// "feedkeeper sim listening on 127.0.0.1:PORT (…)"
	f := strings.Fields(line)
	if err != nil || len(f) < 5 || f[2] != "listening" {
		go io.Copy(io.Discard, stdout)
		stop()
		return "", "", "", nil, nil, fmt.Errorf("simulator did not start: %q %v", line, err)
	}
	// then each further front-end: "  <venue>", "    WebSocket  wss://…", "    REST  https://…",
	// up to the CA line
	frontEnds = map[string][2]string{}
	var current string
	for {
		line, err := rd.ReadString('\n')
		if err != nil || strings.HasPrefix(line, "  CA") {
			break
		}
		fs := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") && len(fs) == 1:
			current = fs[0]
		case current != "" && len(fs) >= 2 && (fs[0] == "WebSocket" || fs[0] == "REST"):
			u, perr := url.Parse(fs[1])
			if perr != nil {
				continue
			}
			ep := frontEnds[current]
			if fs[0] == "WebSocket" {
				ep[0] = u.Scheme + "://" + u.Host
			} else {
				ep[1] = u.Scheme + "://" + u.Host
			}
			frontEnds[current] = ep
		}
	}
	go io.Copy(io.Discard, stdout)
	return "wss://" + f[4], "https://" + f[4], caFile, frontEnds, stop, nil
}

// runRestarts is the soak with restarts: the gateway runs as `feedkeeper
// run` child processes, killed and started again every restartEvery, and
// the outputs of all runs are checked against the simulator's trades.
func (s *soakCmd) runRestarts(ctx context.Context, out, ws, rest, caFile string, frontEnds map[string][2]string, faults []string, every time.Duration, log *slog.Logger, tty bool) error {
	stdout, stderr := s.stdout, s.stderr
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	gwLog, err := os.Create(filepath.Join(out, "gateway.log"))
	if err != nil {
		return err
	}
	defer gwLog.Close()
	args := append([]string{"run"}, s.streams...)
	truthURLs := map[string]string{}
	if len(s.venues) == 1 && s.venues[0] == sim.VenueBinance {
		args = append(args, "--ws-endpoint", ws, "--rest-endpoint", rest)
	} else {
		// every venue at once, each against its own front-end
		var wsEP, restEP []string
		for _, name := range s.venues {
			w, r := ws, rest
			if name != sim.VenueBinance {
				ep, ok := frontEnds[name]
				if !ok || ep[0] == "" || ep[1] == "" {
					return fmt.Errorf("--venues %s: the simulator serves no front-end of %s (it serves %v)", strings.Join(s.venues, ","), name, frontEnds)
				}
				w, r = ep[0], ep[1]
				truthURLs[name] = r
			}
			wsEP, restEP = append(wsEP, name+"="+w), append(restEP, name+"="+r)
		}
		args = append(args, "--venue", strings.Join(s.venues, ","), "--ws-endpoint", strings.Join(wsEP, ","), "--rest-endpoint", strings.Join(restEP, ","))
	}
	args = append(args, "--ca", caFile, "--http", "",
		"--lifetime", s.lifetime.String(), "--ping-interval", "2s", "--stale-timeout", "5s", "--log-level", s.logLevel)
	fmt.Fprintf(stdout, "soak: the gateway runs as a child process, stopped every %v (SIGKILL, the third time SIGTERM), its outputs in %s/run-*, its log in %s\n",
		every, out, gwLog.Name())
	if s.httpAddr != "" {
		fmt.Fprintln(stdout, "soak: no dashboard with restarts: each run's gateway is its own process")
	}
	rep, err := soak.RunRestarts(ctx, soak.RestartConfig{
		Exe: exe, Args: args, Env: append(os.Environ(), cliChildEnv+"=1"), Dir: out,
		RESTURL: rest, TruthURLs: truthURLs, CAFile: caFile, Duration: s.duration, Interval: s.interval,
		Every: every, Downtime: s.restartDowntime, Stderr: gwLog, Logger: log,
	}, func(sm soak.Sample) {
		line := fmt.Sprintf("soak %5.0fs  gateway rss %7.2f MiB  fds %4d  up %d  restarts %3d", sm.T, float64(sm.RSS)/(1<<20), sm.FDs, sm.Connected, sm.Restarts)
		switch {
		case tty:
			fmt.Fprint(stderr, "\r"+line)
		case int(sm.T)%10 == 0:
			fmt.Fprintln(stderr, line)
		}
	})
	if tty {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		return err
	}
	rep.Streams, rep.Faults = s.streams, faults
	if err := writeFile(filepath.Join(out, "report.json"), rep.WriteJSON); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(out, "report.html"), rep.WriteHTML); err != nil {
		return err
	}
	for _, r := range rep.Restarts {
		fmt.Fprintf(stdout, "soak: restart %d at %.1fs: %s (%s), %.1fs without a gateway, %d trades re-delivered\n",
			r.N, r.At, r.Signal, r.Exit, r.Downtime, r.Redelivered)
	}
	a := rep.Audit
	if a.Venues() > 1 {
		for _, sa := range a.Symbols {
			fmt.Fprintf(stdout, "soak: %s %d..%d: %d of %d trades delivered, %d missing%s, %d re-delivered after a kill, %d twice otherwise, %d unknown, %d unlike the truth\n",
				sa.Label(true), sa.From, sa.To, sa.Delivered, sa.Expected, sa.Missing, atEnd(sa.AnnouncedAtEnd), sa.Redelivered, sa.Duplicates, sa.Unknown, sa.Differ)
		}
	}
	fmt.Fprintf(stdout, "soak: %d runs, %d files (%d cut short); %d of %d trades delivered (%d recovered over REST), %d missing%s, %d re-delivered after a kill, %d twice otherwise, %d unknown, %d unlike the truth\n",
		len(a.Runs), a.Files, a.Partial, a.Delivered, a.Expected, rep.Recovered, a.Missing, atEnd(a.AnnouncedAtEnd), a.Redelivered, a.Duplicates, a.Unknown, a.Differ)
	if !rep.Pass {
		for _, f := range rep.Failures {
			fmt.Fprintln(stdout, "soak: FAIL:", f)
		}
		return errors.New("soak failed")
	}
	fmt.Fprintln(stdout, "soak: PASS")
	return nil
}

// atEnd is ", N announced at the end (…)" when n > 0, else "".
func atEnd(n int64) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (and %d announced at the end: a recovery the soak's end cut short)", n)
}
