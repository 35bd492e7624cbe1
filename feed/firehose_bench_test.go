package feed_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

// simChildEnv makes the test binary run a simulator instead of tests, so a
// benchmark can measure the client's CPU apart from the server's.
const simChildEnv = "FEEDKEEPER_BENCH_SIM_RATE"

// runSimChild serves a firehose until stdin closes: it prints the
// simulator's address and writes its CA to the path in the second line.
func runSimChild() {
	rate, _ := strconv.Atoi(os.Getenv(simChildEnv))
	s, err := sim.Start(sim.Config{Rate: rate, TradeShare: 1, Levels: 200, History: 1000,
		Symbols: []string{"BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT"}, PingInterval: time.Hour})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	ca, _ := os.CreateTemp("", "feedkeeper-bench-ca-*.pem")
	ca.Write(s.CAPEM())
	ca.Close()
	fmt.Println(s.WSURL(), s.RESTURL(), ca.Name())
	bufio.NewReader(os.Stdin).ReadString('\n') // until the parent goes
	os.Remove(ca.Name())
	s.Close()
	os.Exit(0)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGatewayFirehose measures the client's CPU per message end to
// end: TLS, WebSocket frames, decoding, sequencing and a discarding
// handler, with the simulator in another process sending every aggTrade
// and trade stream of 4 symbols. Reported: cpu-ns/msg (user + system CPU
// of this process per message) and msgs/s.
func BenchmarkGatewayFirehose(b *testing.B) {
	for _, rate := range []int{25000, 50000} {
		b.Run(fmt.Sprintf("updates=%dk/s", rate/1000), func(b *testing.B) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), simChildEnv+"="+strconv.Itoa(rate))
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			defer func() {
				stdin.Close()
				cmd.Wait()
			}()
			line, err := bufio.NewReader(stdout).ReadString('\n')
			f := strings.Fields(line)
			if err != nil || len(f) != 3 {
				b.Fatalf("simulator: %q %v", line, err)
			}
			ws, rest, caFile := f[0], f[1], f[2]

			var msgs atomic.Int64
			var streams []string
			for _, s := range []string{"btcusdt", "ethusdt", "bnbusdt", "solusdt"} {
				streams = append(streams, s+"@aggTrade", s+"@trade")
			}
			g := openGatewayAt(b, ws, rest, caFile, streams, wsconn.Config{}, func(ev *feed.Event) {
				if ev.Type == feed.TypeTrade {
					msgs.Add(1)
				}
			})
			defer g.Close()
			waitFor(b, 10*time.Second, "the firehose", func() bool { return msgs.Load() > 10000 })
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m0, c0, t0 := msgs.Load(), cpuTime(), time.Now()
				time.Sleep(2 * time.Second)
				m1, c1, t1 := msgs.Load(), cpuTime(), time.Now()
				n := float64(m1 - m0)
				b.ReportMetric(float64(c1-c0)/n, "cpu-ns/msg")
				b.ReportMetric(n/t1.Sub(t0).Seconds(), "msgs/s")
			}
			b.StopTimer()
			if st := g.Stats(); st.Gaps != 0 || st.Sessions[0].Dropped != 0 {
				b.Fatalf("the client fell behind: %d gaps, %d frames dropped", st.Gaps, st.Sessions[0].Dropped)
			}
		})
	}
}
