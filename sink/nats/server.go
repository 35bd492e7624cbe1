package nats

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"golang.org/x/crypto/bcrypt"
)

// ServerConfig configures an embedded NATS server with JetStream. The zero
// value listens on 127.0.0.1 at a random free port and keeps its store in a
// temporary directory that Close removes.
type ServerConfig struct {
	// Host and Port are where NATS clients connect: "" is 127.0.0.1, 0 a
	// random free port. A Host beyond loopback requires Token or User and
	// Password.
	Host string
	Port int
	// Token, or User and Password, are the credentials every client must
	// give (the sink's own connection gives them itself). Not both.
	Token          string
	User, Password string
	// TLS, when not nil, makes clients connect with TLS: it holds the
	// server's certificate, and, with ClientAuth set to
	// tls.RequireAndVerifyClientCert and ClientCAs, requires clients to
	// present a certificate those CAs signed. The sink's own connection is
	// in-process and needs neither.
	TLS *tls.Config
	// DontListen serves in-process clients only (the sink's own).
	DontListen bool
	// StoreDir keeps the JetStream streams across restarts; "" is a
	// temporary directory removed by Close.
	StoreDir string
	// MaxStore caps the bytes JetStream may keep in StoreDir; 0 leaves it
	// to the server (a share of the free disk).
	MaxStore int64
	// Name names the server; it must be unique in a cluster. "" lets the
	// server use its generated ID.
	Name string

	// Cluster names the JetStream cluster this server joins; "" runs it
	// alone. ClusterHost and ClusterPort are where the other members
	// connect ("" is 127.0.0.1, 0 a random free port), and Routes are
	// their cluster URLs (ClusterURL), enough of them to reach one member.
	Cluster     string
	ClusterHost string
	ClusterPort int
	Routes      []string

	// ReadyTimeout bounds the wait for the server to accept clients;
	// 0 is 10s.
	ReadyTimeout time.Duration
	// Logger receives the server's log: its notices at Debug level,
	// warnings and errors at theirs. Nil is slog.Default().
	Logger *slog.Logger
}

// Server is a running embedded NATS server with JetStream.
type Server struct {
	srv       *server.Server
	tmp       string
	tls       bool
	closeOnce sync.Once
}

// StartServer starts a server as cfg says and waits until it accepts
// clients.
func StartServer(cfg ServerConfig) (*Server, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("nats server: "+format, a...)
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, bad("Port %d: want 0 to 65535", cfg.Port)
	}
	if cfg.ClusterPort < 0 || cfg.ClusterPort > 65535 {
		return nil, bad("ClusterPort %d: want 0 to 65535", cfg.ClusterPort)
	}
	if cfg.Cluster == "" && (len(cfg.Routes) > 0 || cfg.ClusterPort != 0) {
		return nil, bad("Routes and ClusterPort need Cluster")
	}
	if cfg.Token != "" && (cfg.User != "" || cfg.Password != "") {
		return nil, bad("Token and User/Password: give one of them")
	}
	if (cfg.User == "") != (cfg.Password == "") {
		return nil, bad("User and Password go together")
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if !cfg.DontListen && !isLoopback(cfg.Host) && !cfg.HasAuth() {
		return nil, fmt.Errorf("%w: Host %s is beyond loopback", ErrNoAuth, cfg.Host)
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	opts := &server.Options{
		ServerName:        cfg.Name,
		Host:              cfg.Host,
		Port:              randomIfZero(cfg.Port),
		DontListen:        cfg.DontListen,
		JetStream:         true,
		StoreDir:          cfg.StoreDir,
		JetStreamMaxStore: cfg.MaxStore,
		NoSigs:            true,
		Authorization:     hashSecret(cfg.Token),
		Username:          cfg.User,
		Password:          hashSecret(cfg.Password),
	}
	if cfg.TLS != nil {
		opts.TLS, opts.TLSConfig = true, cfg.TLS
		opts.TLSVerify = cfg.TLS.ClientAuth == tls.RequireAndVerifyClientCert
		opts.TLSTimeout = 2
	}
	if cfg.Cluster != "" {
		if cfg.ClusterHost == "" {
			cfg.ClusterHost = "127.0.0.1"
		}
		opts.Cluster = server.ClusterOpts{Name: cfg.Cluster, Host: cfg.ClusterHost, Port: randomIfZero(cfg.ClusterPort)}
		for _, r := range cfg.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return nil, bad("route %q: %w", r, err)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	s := &Server{tls: cfg.TLS != nil}
	if opts.StoreDir == "" {
		dir, err := os.MkdirTemp("", "feedkeeper-nats-")
		if err != nil {
			return nil, bad("store: %w", err)
		}
		s.tmp, opts.StoreDir = dir, dir
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		s.removeTemp()
		return nil, bad("%w", err)
	}
	srv.SetLoggerV2(serverLog{cfg.Logger.With("nats_server", cfg.Name)}, false, false, false)
	s.srv = srv
	srv.Start()
	if !srv.ReadyForConnections(cfg.ReadyTimeout) {
		s.Close()
		return nil, bad("not ready after %v", cfg.ReadyTimeout)
	}
	return s, nil
}

// ErrNoAuth is StartServer's refusal to listen beyond loopback without
// authentication.
var ErrNoAuth = errors.New("nats server: listening beyond loopback needs a token or a user and password")

// HasAuth reports whether clients must authenticate.
func (c ServerConfig) HasAuth() bool { return c.Token != "" || c.User != "" }

// AuthString describes the authentication clients need, without the
// secret: "none", "token" or "user NAME"; with ", tls" or ", tls with
// client certificates" after it.
func (c ServerConfig) AuthString() string {
	s := "none"
	switch {
	case c.Token != "":
		s = "token"
	case c.User != "":
		s = "user " + c.User
	}
	switch {
	case c.TLS != nil && c.TLS.ClientAuth == tls.RequireAndVerifyClientCert:
		s += ", tls with client certificates"
	case c.TLS != nil:
		s += ", tls"
	}
	return s
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hashSecret returns the bcrypt hash of a token or password, which the
// server compares with what clients send, so that its options hold no
// secret in clear. The cost is bcrypt's least: the hash never leaves the
// process, which holds the secret anyway, and every client's connection
// pays it. A secret bcrypt cannot take (beyond 72 bytes) stays as it is.
func hashSecret(s string) string {
	if s == "" {
		return ""
	}
	h, err := bcrypt.GenerateFromPassword([]byte(s), bcrypt.MinCost)
	if err != nil {
		return s
	}
	return string(h)
}

func randomIfZero(port int) int {
	if port == 0 {
		return server.RANDOM_PORT
	}
	return port
}

// ClientURL returns the URL NATS clients connect to, "nats://127.0.0.1:PORT"
// ("tls://…" with TLS); "" when the server does not listen.
func (s *Server) ClientURL() string {
	if s.srv.Addr() == nil {
		return ""
	}
	u := s.srv.ClientURL()
	if s.tls && strings.HasPrefix(u, "nats://") {
		u = "tls://" + strings.TrimPrefix(u, "nats://")
	}
	return u
}

// ClusterURL returns the URL other cluster members route to,
// "nats-route://127.0.0.1:PORT"; "" outside a cluster.
func (s *Server) ClusterURL() string {
	a := s.srv.ClusterAddr()
	if a == nil {
		return ""
	}
	return "nats-route://" + net.JoinHostPort(a.IP.String(), strconv.Itoa(a.Port))
}

// Name returns the server's name.
func (s *Server) Name() string { return s.srv.Name() }

// NATS returns the underlying server, for what Server does not offer.
func (s *Server) NATS() *server.Server { return s.srv }

// Close shuts the server down, waits until it has stopped and removes its
// temporary store. Safe to call more than once.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
		err = s.removeTemp()
	})
	return err
}

func (s *Server) removeTemp() error {
	if s.tmp == "" {
		return nil
	}
	if err := os.RemoveAll(s.tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("nats server: store: %w", err)
	}
	return nil
}

// serverLog passes the server's log lines to slog.
type serverLog struct{ log *slog.Logger }

func (l serverLog) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l serverLog) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l serverLog) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l serverLog) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l serverLog) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l serverLog) Tracef(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
