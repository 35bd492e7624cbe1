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
// Flags may come before or after the arguments, as --flag=value or --flag
// value. Run "feedkeeper <command> --help" for the arguments, flags (with
// their ranges) and an example of each command.
//
// Exit codes:
//
//	0    done: stopped by --duration or an interrupt after delivering data
//	1    failed while running (a sink error, a failed soak, …)
//	2    bad usage: a flag, argument, config key or value was wrong; nothing was started
//	3    the venue could not be used: unreachable, a certificate not trusted, or no data delivered
//	130  interrupted twice: stopped at once, without a clean shutdown
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit codes of the command; see the package documentation.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitUnavailable = 3
	exitInterrupted = 130
)

const exitCodesHelp = `Exit codes:
  0    done: stopped by --duration or an interrupt after delivering data
  1    failed while running (a sink error, a failed soak, …)
  2    bad usage: a flag, argument, config key or value was wrong; nothing was started
  3    the venue could not be used: unreachable, a certificate not trusted, or no data delivered
  130  interrupted twice: stopped at once, without a clean shutdown`

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "feedkeeper: shutting down (interrupt again to stop at once)")
		cancel()
		<-sigs
		os.Exit(exitInterrupted)
	}()
	os.Exit(exitCode(run(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}

// run executes the command line args (without the program name), writing
// events to stdout and logs, help and errors to stderr (help asked for with
// --help goes to stdout).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(joinNATSArg(args))
	return root.ExecuteContext(ctx)
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "feedkeeper",
		Short: "a resilient market-data gateway and the exchange simulator it is tested against",
		Long: `feedkeeper keeps market-data streams from exchanges open, fills their gaps, and hands
normalized events to stdout, JSON Lines files and NATS JetStream.

Flags may come before or after the arguments, as --flag=value or --flag value.

` + exitCodesHelp,
		Example: `  feedkeeper demo
  feedkeeper run btcusdt@aggTrade btcusdt@depth@100ms --out file:/var/lib/feedkeeper
  feedkeeper sim --ca-out /tmp/sim-ca.pem --fault drop:every=30s`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SetOut(stderr)
			_ = cmd.Usage()
			return usageErrorf("no command given")
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &usageError{err: fmt.Errorf("%w%s (see %s --help)", err, suggestFlag(cmd, err), cmd.CommandPath())}
	})
	root.AddCommand(newDemoCmd(stdout, stderr), newRunCmd(stdout, stderr), newTapCmd(stdout, stderr),
		newReplayCmd(stdout, stderr), newSimCmd(stdout, stderr), newSoakCmd(stdout, stderr))
	root.AddCommand(newCatCmd(stdout, stderr))
	// Unknown commands and stray arguments are usage errors too.
	for _, c := range root.Commands() {
		if c.Args == nil {
			c.Args = cobra.NoArgs
		}
		wrapArgs(c)
	}
	wrapArgs(root)
	return root
}

// wrapArgs makes argument-count errors usage errors that say how to get
// help.
func wrapArgs(c *cobra.Command) {
	check := c.Args
	c.Args = func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &usageError{err: fmt.Errorf("%s: %w (see %s --help)", cmd.CommandPath(), err, cmd.CommandPath())}
		}
		return nil
	}
}

var unknownFlag = regexp.MustCompile(`^unknown flag: --(\S+)`)

// suggestFlag returns ": did you mean --x?" for an unknown flag close to
// one of cmd's.
func suggestFlag(cmd *cobra.Command, err error) string {
	m := unknownFlag.FindStringSubmatch(err.Error())
	if m == nil {
		return ""
	}
	var names []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			names = append(names, f.Name)
		}
	})
	if near := nearest(strings.ToLower(m[1]), names); near != "" {
		return ": did you mean --" + near + "?"
	}
	return ""
}

// usageError is bad input on the command line or in a config file: exit 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error {
	return &usageError{err: fmt.Errorf(format, a...)}
}

// unavailableError is a venue that could not be used: unreachable, a
// certificate not trusted, or nothing delivered: exit 3.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// errNoData ends a run that never delivered an event.
var errNoData = errors.New("no market data was delivered: the connections never carried an event (see the log above for why)")

// exitCode maps an error to the process exit status (see the package
// documentation) and prints it.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintln(stderr, "feedkeeper:", line)
	}
	var ue *usageError
	var ve *unavailableError
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &ve), errors.Is(err, errNoData):
		return exitUnavailable
	case isUnknownCommand(err):
		return exitUsage
	default:
		return exitFailure
	}
}

// isUnknownCommand reports cobra's "unknown command" error, which it
// returns as a plain error.
func isUnknownCommand(err error) bool {
	return strings.HasPrefix(err.Error(), "unknown command ")
}
