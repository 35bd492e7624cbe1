package simtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/sim"
)

// childEnv carries the JSON of the sim.Config a child process serves.
const childEnv = "FEEDKEEPER_SIM_CHILD"

// ServeChildIfAsked runs the simulator and exits when this process is a
// child started by StartChild; otherwise it returns at once. Call it first
// in TestMain.
func ServeChildIfAsked() {
	spec := os.Getenv(childEnv)
	if spec == "" {
		return
	}
	var cfg sim.Config
	if err := json.Unmarshal([]byte(spec), &cfg); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	s, err := sim.Start(cfg)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	ca, _ := os.CreateTemp("", "feedkeeper-sim-ca-*.pem")
	ca.Write(s.CAPEM())
	ca.Close()
	line, _ := json.Marshal(childLine{CAFile: ca.Name(), Endpoints: s.Endpoints()})
	fmt.Println(string(line))
	bufio.NewReader(os.Stdin).ReadString('\n') // until the parent goes
	os.Remove(ca.Name())
	s.Close()
	os.Exit(0)
}

// childLine is what a child prints once it serves: its CA and the
// endpoints of every front-end.
type childLine struct {
	CAFile    string         `json:"ca"`
	Endpoints []sim.Endpoint `json:"endpoints"`
}

// Child is a simulator in a process of its own, so that a benchmark
// measures the client's CPU and memory apart from the server's.
type Child struct {
	WS, REST, CAFile string // Binance spot's endpoints and the CA (PEM)
	// Endpoints are those of every front-end served, by venue
	Endpoints map[string]sim.Endpoint
	Pid       int
	// Stop ends the child and waits for it; also called when the test ends
	Stop func()
}

// StartChild starts the test binary again as a simulator serving cfg and
// stops it when the test ends. The test binary's TestMain must call
// ServeChildIfAsked.
func StartChild(tb testing.TB, cfg sim.Config) Child {
	tb.Helper()
	spec, err := json.Marshal(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			stdin.Close()
			cmd.Wait()
		})
	}
	tb.Cleanup(stop)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	var got childLine
	if err != nil || json.Unmarshal([]byte(line), &got) != nil || len(got.Endpoints) == 0 {
		tb.Fatalf("simulator: %q %v", line, err)
	}
	c := Child{CAFile: got.CAFile, Endpoints: map[string]sim.Endpoint{}, Pid: cmd.Process.Pid, Stop: stop}
	for _, ep := range got.Endpoints {
		c.Endpoints[ep.Venue] = ep
	}
	c.WS, c.REST = got.Endpoints[0].WSURL, got.Endpoints[0].RESTURL // Binance spot first
	return c
}

// CPUTime is this process's user and system CPU time so far.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ProcStatus reads one size field of /proc/<pid>/status ("VmRSS",
// "VmHWM") in bytes; 0 when unknown.
func ProcStatus(pid int, field string) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field+":" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
