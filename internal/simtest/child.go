package simtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
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
	fmt.Println(s.WSURL(), s.RESTURL(), ca.Name())
	bufio.NewReader(os.Stdin).ReadString('\n') // until the parent goes
	os.Remove(ca.Name())
	s.Close()
	os.Exit(0)
}

// Child is a simulator in a process of its own, so that a benchmark
// measures the client's CPU and memory apart from the server's.
type Child struct {
	WS, REST, CAFile string
	Pid              int
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
	tb.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) != 3 {
		tb.Fatalf("simulator: %q %v", line, err)
	}
	return Child{WS: f[0], REST: f[1], CAFile: f[2], Pid: cmd.Process.Pid}
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
