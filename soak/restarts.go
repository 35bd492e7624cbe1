package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/feedkeeper/feedkeeper/httpx"
)

// RestartConfig describes a soak that runs the gateway as a child process
// (`feedkeeper run` with a state file and a file output) and kills and
// restarts it on a schedule, then checks the outputs of every run
// together against the simulator's ground truth.
type RestartConfig struct {
	// Exe and Args start the gateway: Args are those of `feedkeeper run`
	// without --out and --state, which the soak adds (--out file:DIR/run-N,
	// --state DIR/state.json). Env is the child's environment (nil: this
	// process's).
	Exe  string
	Args []string
	Env  []string
	// Dir receives state.json and one output directory per run.
	Dir string
	// RESTURL and CAFile reach the simulator's ground truth (/sim/trades).
	RESTURL, CAFile string
	// TruthURLs are the REST URLs of the front-ends of the venues other
	// than Binance spot, by venue name (the outputs' "venue"): each
	// venue's trades are checked against its own front-end's truth. A
	// venue not in it uses RESTURL.
	TruthURLs map[string]string
	Duration  time.Duration // default 10m
	Interval  time.Duration // sampling interval, default 1s
	// Every is the time from a start of the gateway to its kill, > 0.
	Every time.Duration
	// Downtime is how long every second restart waits before starting the
	// gateway again (the others start it at once); default 2s.
	Downtime time.Duration
	// StopTimeout bounds the wait for a SIGTERM'd gateway before it is
	// killed; default 10s.
	StopTimeout time.Duration
	// Stderr receives the gateway's stderr (nil: discarded).
	Stderr io.Writer
	Logger *slog.Logger
}

// Restart is one stop and start of the gateway.
type Restart struct {
	N      int     `json:"n"`      // 1, 2, …
	At     float64 `json:"at_s"`   // seconds since the start of the soak
	Signal string  `json:"signal"` // SIGKILL, or SIGTERM (a deploy: a clean stop)
	// Exit is how the stopped run ended: "killed", "exit 0", …
	Exit string `json:"exit"`
	// Downtime is the time no gateway ran, seconds.
	Downtime float64 `json:"downtime_s"`
	// Redelivered counts the aggregate trades the stopped run wrote that
	// the next one delivered again (written after its last saved state).
	Redelivered int64 `json:"redelivered"`
}

func (c *RestartConfig) defaults() error {
	if c.Exe == "" || c.Dir == "" || c.RESTURL == "" {
		return errors.New("soak: Exe, Dir and RESTURL are required")
	}
	if c.Every <= 0 {
		return fmt.Errorf("soak: restart interval %v: want > 0", c.Every)
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Minute
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.Downtime == 0 {
		c.Downtime = 2 * time.Second
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// signalOf is the signal that ends the gateway at restart n: the third is
// a SIGTERM (a deploy), every other one a SIGKILL (a crash).
func signalOf(n int) syscall.Signal {
	if n == 3 {
		return syscall.SIGTERM
	}
	return syscall.SIGKILL
}

// downtimeOf is the wait before the gateway starts again after restart n:
// none after odd ones, d after even ones.
func downtimeOf(n int, d time.Duration) time.Duration {
	if n%2 == 0 {
		return d
	}
	return 0
}

// gatewayProc is one run of the gateway.
type gatewayProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func (p *gatewayProc) exit() string {
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			if ws.Signal() == syscall.SIGKILL {
				return "killed"
			}
			return "signal " + ws.Signal().String()
		}
		return "exit " + strconv.Itoa(ee.ExitCode())
	}
	if p.err != nil {
		return p.err.Error()
	}
	return "exit 0"
}

// RunRestarts soaks the gateway in child processes for cfg.Duration (or
// until ctx ends): it starts one, stops it every cfg.Every (SIGKILL, the
// third time SIGTERM), starts the next with the same state file, and at
// the end stops the last with SIGTERM and audits the outputs of all runs
// against the ground truth. The trades of gaps that last run announces
// once stopped (a recovery the soak's end cut short) are counted in
// AnnouncedAtClose, not as lost. sample, when not nil, sees each sample (the
// running gateway's resident memory and open files). The report's Trades,
// Lost and Duplicates are the audit's distinct, missing and unexplained
// repeated aggregate trades. When ctx ends first, it stops the gateway
// and returns an error, without an audit.
func RunRestarts(ctx context.Context, cfg RestartConfig, sample func(Sample)) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	rep := &Report{Started: time.Now()}
	var dirs []string
	var killed []bool
	var cur *gatewayProc
	start := func() error {
		n := len(dirs) + 1
		dir := filepath.Join(cfg.Dir, fmt.Sprintf("run-%03d", n))
		args := append(append([]string{}, cfg.Args...), "--out", "file:"+dir, "--state", filepath.Join(cfg.Dir, "state.json"))
		cmd := exec.Command(cfg.Exe, args...)
		cmd.Env = cfg.Env
		cmd.Stdout = io.Discard
		cmd.Stderr = cfg.Stderr
		if cfg.Stderr == nil {
			cmd.Stderr = io.Discard
		}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("soak: gateway run %d: %w", n, err)
		}
		p := &gatewayProc{cmd: cmd, done: make(chan struct{})}
		go func() { p.err = cmd.Wait(); close(p.done) }()
		dirs = append(dirs, dir)
		killed = append(killed, false)
		cur = p
		log.Info("gateway started", "run", n, "pid", cmd.Process.Pid)
		return nil
	}
	// stop ends the current run with sig and waits for it.
	stop := func(sig syscall.Signal) {
		p := cur
		cur = nil
		_ = p.cmd.Process.Signal(sig)
		select {
		case <-p.done:
		case <-time.After(cfg.StopTimeout):
			log.Warn("gateway did not stop, killing it", "pid", p.cmd.Process.Pid)
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		var ws syscall.WaitStatus
		if ee := (*exec.ExitError)(nil); errors.As(p.err, &ee) {
			ws, _ = ee.Sys().(syscall.WaitStatus)
		}
		killed[len(killed)-1] = ws.Signaled() && ws.Signal() == syscall.SIGKILL
	}
	defer func() {
		if cur != nil {
			_ = cur.cmd.Process.Kill()
			<-cur.done
		}
	}()
	if err := start(); err != nil {
		return nil, err
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	take := func() {
		s := Sample{T: time.Since(rep.Started).Seconds()}
		if cur != nil {
			pid := cur.cmd.Process.Pid
			s.RSS, s.FDs, s.Connected = procRSS(pid), procFDs(pid), 1
		}
		s.Restarts = len(rep.Restarts)
		rep.Samples = append(rep.Samples, s)
		if sample != nil {
			sample(s)
		}
	}
	take()
	next := time.NewTimer(cfg.Every)
	defer next.Stop()
	var failed error
	var pending *Restart // the gateway stopped, the next not started yet
	for ctx.Err() == nil && failed == nil {
		var exited <-chan struct{}
		if cur != nil {
			exited = cur.done
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
			take()
		case <-exited:
			failed = fmt.Errorf("soak: gateway run %d ended by itself (%s)", len(dirs), cur.exit())
			cur = nil
		case <-next.C:
			if pending == nil { // stop the gateway
				n := len(rep.Restarts) + 1
				sig := signalOf(n)
				p := cur
				pending = &Restart{N: n, At: time.Since(rep.Started).Seconds(), Signal: sigName(sig)}
				stop(sig)
				pending.Exit = p.exit()
				down := downtimeOf(n, cfg.Downtime)
				log.Info("gateway stopped", "run", len(dirs), "signal", pending.Signal, "exit", pending.Exit, "downtime", down)
				if down > 0 {
					next.Reset(down)
					break
				}
			}
			if err := start(); err != nil {
				failed = err
				break
			}
			pending.Downtime = time.Since(rep.Started).Seconds() - pending.At
			rep.Restarts = append(rep.Restarts, *pending)
			pending = nil
			next.Reset(cfg.Every)
		}
	}
	if pending != nil { // the soak ended while no gateway ran
		pending.Downtime = time.Since(rep.Started).Seconds() - pending.At
		rep.Restarts = append(rep.Restarts, *pending)
	}
	var stoppedAt time.Time
	if cur != nil {
		p := cur
		stoppedAt = time.Now()
		stop(syscall.SIGTERM)
		if p.exit() != "exit 0" {
			failed = errors.Join(failed, fmt.Errorf("soak: the last gateway run did not stop cleanly on SIGTERM (%s)", p.exit()))
		}
	}
	take()
	rep.Duration = time.Since(rep.Started).Seconds()
	if err := parent.Err(); err != nil {
		// an interrupt reaches the simulator too: no ground truth to check
		return nil, fmt.Errorf("soak: interrupted after %.0fs, %d runs (their outputs are in %s): %w", rep.Duration, len(dirs), cfg.Dir, err)
	}

	out, err := ReadOutputs(dirs)
	if err != nil {
		return nil, err
	}
	out.StoppedAt = stoppedAt
	truth, err := fetchAllTruth(context.Background(), cfg, out)
	if err != nil {
		return nil, err
	}
	audit, perRun := Check(out, truth, killed)
	for i := range rep.Restarts {
		if i < len(perRun) {
			rep.Restarts[i].Redelivered = perRun[i]
		}
	}
	rep.Audit = audit
	rep.Trades, rep.Lost, rep.Duplicates = audit.Delivered, audit.Missing, audit.Duplicates
	rep.AnnouncedAtClose = audit.AnnouncedAtEnd
	for _, r := range audit.Runs {
		rep.Recovered += r.Recovered
	}
	if failed != nil {
		rep.Failures = append(rep.Failures, failed.Error())
	}
	rep.Failures = append(rep.Failures, audit.failures()...)
	rep.Pass = len(rep.Failures) == 0
	return rep, nil
}

func sigName(s syscall.Signal) string {
	switch s {
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

// fetchAllTruth reads the ground truth of every sequence over the IDs the
// outputs hold, from its venue's front-end.
func fetchAllTruth(ctx context.Context, cfg RestartConfig, out *Output) (map[Seq][]TruthTrade, error) {
	tlsCfg, err := httpx.TLSConfig(cfg.CAFile)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{TLSClientConfig: tlsCfg}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	truth := map[Seq][]TruthTrade{}
	for seq, got := range out.Trades {
		restURL := cfg.RESTURL
		if u, ok := cfg.TruthURLs[seq.Venue]; ok {
			restURL = u
		}
		var lo, hi int64 = -1, -1
		for id := range got {
			if lo < 0 || id < lo {
				lo = id
			}
			hi = max(hi, id)
		}
		// in pieces, so no answer grows without bound
		const piece = 50000
		for from := lo; from <= hi; from += piece {
			ts, err := FetchTruth(ctx, client, restURL, seq, from, min(from+piece-1, hi))
			if err != nil {
				return nil, err
			}
			truth[seq] = append(truth[seq], ts...)
		}
	}
	return truth, nil
}

// procRSS is the resident memory of process pid, bytes (0 when unknown).
func procRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// procFDs is the number of open files of process pid (0 when unknown).
func procFDs(pid int) int {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0
	}
	return len(entries)
}
