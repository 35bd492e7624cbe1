package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// flagError is a flag whose value is out of range or malformed. It names
// the flag and the value as typed.
type flagError struct {
	Flag  string // without the dashes
	Value string // as typed (or as read from the config file)
	Want  string // what would be accepted
	// Source, when not empty, says where the value came from when it was
	// not the command line ("key depth_limit of feedkeeper.yaml").
	Source string
}

func (e *flagError) Error() string {
	s := fmt.Sprintf("--%s %s: %s", e.Flag, quoteIfEmpty(e.Value), e.Want)
	if e.Source != "" {
		s += " (" + e.Source + ")"
	}
	return s
}

func quoteIfEmpty(s string) string {
	if s == "" || strings.ContainsAny(s, " \t") {
		return strconv.Quote(s)
	}
	return s
}

// checks collects flag errors; err returns them as one usage error.
type checks struct{ errs []error }

func (c *checks) add(flag, value, want string) {
	c.errs = append(c.errs, &flagError{Flag: flag, Value: value, Want: want})
}

func (c *checks) intRange(flag string, v, lo, hi int64) {
	if v < lo || v > hi {
		c.add(flag, strconv.FormatInt(v, 10), fmt.Sprintf("out of range %d..%d", lo, hi))
	}
}

func (c *checks) atLeast(flag string, v, lo int64) {
	if v < lo {
		c.add(flag, strconv.FormatInt(v, 10), fmt.Sprintf("must be at least %d", lo))
	}
}

func (c *checks) positive(flag string, v time.Duration) {
	if v <= 0 {
		c.add(flag, v.String(), "must be positive")
	}
}

func (c *checks) notNegative(flag string, v time.Duration) {
	if v < 0 {
		c.add(flag, v.String(), "must not be negative (0 turns it off)")
	}
}

func (c *checks) oneOf(flag, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	c.add(flag, v, "want "+strings.Join(allowed, ", "))
}

func (c *checks) logLevel(flag, v string) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		c.add(flag, v, "want debug, info, warn or error")
	}
}

// httpAddr checks a --http listen address: empty (off) or host:port, and a
// host beyond loopback only with a token.
func (c *checks) httpAddr(flag, addr, token string) {
	if addr == "" {
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		c.add(flag, addr, "want host:port, e.g. 127.0.0.1:9464 (port 0: any free port; empty: off)")
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		c.add(flag, addr, "the port must be a number 0..65535")
		return
	}
	if !isLoopback(host) && token == "" {
		c.add(flag, addr, "binding beyond loopback needs --http-token")
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// endpoint checks a URL flag: the scheme must be one of schemes and a host
// given.
func (c *checks) endpoint(flag, v string, schemes ...string) {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		c.add(flag, v, "want a URL such as "+schemes[0]+"://host:port")
		return
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return
		}
	}
	c.add(flag, v, "feedkeeper speaks TLS only: the scheme must be "+strings.Join(schemes, " or ")+" (verification is always on; --ca adds a CA)")
}

func (c *checks) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	return &usageError{err: errors.Join(c.errs...)}
}

// checkListen fails with a usage error when addr cannot be listened on (a
// second instance on the same port): checked before anything starts.
func checkListen(flag, addr string) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		hint := ""
		if errors.Is(err, syscall.EADDRINUSE) {
			hint = " (another feedkeeper?)"
		}
		return usageErrorf("--%s %s: cannot listen: %v%s; choose another address with --%s 127.0.0.1:0 (any free port) or turn it off with --%s ''",
			flag, addr, err, hint, flag, flag)
	}
	ln.Close()
	return nil
}

// joinNATSArg turns "--nats nats://a,nats://b" into "--nats=nats://a,nats://b":
// --nats alone is a flag without a value (the embedded server).
func joinNATSArg(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		if a == "--nats" && i+1 < len(args) && strings.HasPrefix(args[i+1], "nats://") {
			out = append(out, a+"="+args[i+1])
			i++
			continue
		}
		out = append(out, a)
	}
	return out
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, &flagError{Flag: "log-level", Value: level, Want: "want debug, info, warn or error"}
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// withDuration bounds ctx by d when d > 0.
func withDuration(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}

// wait returns when ctx ends or, when d > 0, after d.
func wait(ctx context.Context, d time.Duration) {
	ctx, cancel := withDuration(ctx, d)
	defer cancel()
	<-ctx.Done()
}
