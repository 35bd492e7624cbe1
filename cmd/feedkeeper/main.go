// Command feedkeeper is a resilient, leak-free, gap-free market-data
// gateway, and the exchange simulator it is tested against.
//
//	feedkeeper demo     the simulator and the gateway streaming from it, on this machine
//	feedkeeper run      stream a venue's market data as normalized JSON Lines
//	feedkeeper tap      any WebSocket API: raw frames out, with the same resilience
//	feedkeeper replay   frames recorded by run --record, through the same pipeline
//	feedkeeper sim      a Binance-compatible TLS exchange simulator with faults
//	feedkeeper soak     a long run with faults: memory, goroutines, files, data lost
//
// Run "feedkeeper <command> -h" for the flags of a command.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand: Run parses args and runs until ctx ends or the
// work is done.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"demo", "run the embedded simulator and stream from it, with a few faults on", runDemo},
	{"run", "stream a venue's market data as normalized JSON Lines", runRun},
	{"tap", "any WebSocket API: raw frames out, with the same resilience", runTap},
	{"replay", "feed frames recorded by run --record through the same pipeline", runReplay},
	{"sim", "run the Binance-compatible exchange simulator", runSim},
	{"soak", "run the gateway against the simulator with faults and report leaks and losses", runSoak},
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: feedkeeper <command> [flags]")
	fmt.Fprintln(w)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "feedkeeper <command> -h" for the flags of a command.`)
}

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "feedkeeper: shutting down (interrupt again to stop at once)")
		cancel()
		<-sigs
		os.Exit(130)
	}()
	os.Exit(exitCode(run(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return errUsage
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "help" {
		usage(stdout)
		return nil
	}
	for _, c := range commands {
		if c.name == name {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "feedkeeper: unknown command %q\n\n", name)
	usage(stderr)
	return errUsage
}

var errUsage = errors.New("usage")

// exitCode maps an error to the process exit status: 0 for none (and for
// -h), 2 for bad usage, 1 for anything else.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintln(stderr, "feedkeeper:", err)
		return 1
	}
}
