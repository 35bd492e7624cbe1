package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/feedkeeper/feedkeeper/httpx"
	natssink "github.com/feedkeeper/feedkeeper/sink/nats"
)

// natsTargets reports whether the outputs ask for the embedded server and
// for external servers.
func (c *runConfig) natsTargets() (embedded, external bool) {
	for _, o := range c.Out {
		switch kind, arg, _ := strings.Cut(o, ":"); {
		case o == "nats":
			embedded = true
		case kind == "nats" && arg != "":
			external = true
		}
	}
	switch c.NATS {
	case "":
	case "embedded":
		embedded = true
	default:
		external = true
	}
	return embedded, external
}

var natsStreamName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
var natsSubjectPrefix = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// validateNATS checks the --nats-* flags of the stream, the credentials
// and TLS. Secrets are never repeated in its messages.
func (c *runConfig) validateNATS(k *checks) {
	embedded, external := c.natsTargets()
	if !natsStreamName.MatchString(c.NATSStream) {
		k.add("nats-stream", c.NATSStream, "want 1 to 64 letters, digits, _ or - (JetStream stream names hold no spaces, dots, wildcards or slashes)")
	}
	if !natsSubjectPrefix.MatchString(c.NATSSubjectPrefix) {
		k.add("nats-subject-prefix", c.NATSSubjectPrefix, "want dot-separated tokens of letters, digits, _ or -, e.g. md or prod.md (no wildcards)")
	}
	k.intRange("nats-replicas", int64(c.NATSReplicas), 1, maxNATSReplicas)
	k.positive("nats-duplicates", c.NATSDuplicates)
	if c.NATSMaxAge > 0 && c.NATSDuplicates > c.NATSMaxAge {
		k.add("nats-duplicates", c.NATSDuplicates.String(), fmt.Sprintf("must not exceed --nats-max-age %v", c.NATSMaxAge))
	}
	k.oneOf("nats-storage", c.NATSStorage, "file", "memory")

	// Credentials: one kind at most.
	var kinds []string
	for _, f := range []struct{ flag, v string }{{"nats-creds", c.NATSCreds}, {"nats-nkey", c.NATSNkey}, {"nats-token", c.NATSToken}, {"nats-user", c.NATSUser}} {
		if f.v != "" {
			kinds = append(kinds, "--"+f.flag)
		}
	}
	if len(kinds) > 1 {
		k.add(strings.TrimPrefix(kinds[1], "--"), "(given)", "give one kind of NATS credentials, not "+strings.Join(kinds, " and "))
	}
	for _, f := range []struct{ flag, path string }{{"nats-creds", c.NATSCreds}, {"nats-nkey", c.NATSNkey}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			k.add(f.flag, f.path, "cannot read it: "+pathErr(err).Error())
		} else if !external {
			k.add(f.flag, f.path, "applies to an external server: add --nats=nats://host:port (the embedded server takes --nats-token or --nats-user)")
		}
	}
	if c.NATSToken != "" {
		if _, err := readSecret(c.NATSToken); err != nil {
			k.add("nats-token", secretShown(c.NATSToken), err.Error())
		}
	}
	switch {
	case c.NATSUser != "" && c.NATSPassword == "":
		k.add("nats-user", c.NATSUser, "needs --nats-password file:PATH or env:NAME")
	case c.NATSUser == "" && c.NATSPassword != "":
		k.add("nats-password", secretShown(c.NATSPassword), "needs --nats-user")
	case c.NATSPassword != "":
		if _, err := readSecret(c.NATSPassword); err != nil {
			k.add("nats-password", secretShown(c.NATSPassword), err.Error())
		}
	}

	// TLS files.
	if c.NATSCA != "" {
		if _, err := httpx.TLSConfig(c.NATSCA); err != nil {
			k.add("nats-ca", c.NATSCA, "cannot use it: "+pathErr(err).Error())
		}
	}
	switch {
	case (c.NATSCert == "") != (c.NATSKey == ""):
		k.add("nats-cert", c.NATSCert, "--nats-cert and --nats-key go together")
	case c.NATSCert != "":
		if _, err := loadKeyPair(c.NATSCert, c.NATSKey); err != nil {
			k.add("nats-cert", c.NATSCert, err.Error())
		}
	}
	if embedded && c.NATSCA != "" && c.NATSCert == "" && !external {
		k.add("nats-ca", c.NATSCA, "with the embedded server it makes clients present certificates, which needs TLS: add --nats-cert and --nats-key (the server's certificate)")
	}

	// Where the embedded server listens.
	host, port, err := net.SplitHostPort(c.NATSListen)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
		k.add("nats-listen", c.NATSListen, "want host:port, e.g. 127.0.0.1:4222 (port 0: any free port)")
	} else if embedded && !isLoopback(host) && c.NATSToken == "" && c.NATSUser == "" {
		k.add("nats-listen", c.NATSListen, "an embedded server beyond loopback needs --nats-token or --nats-user and --nats-password")
	}
}

// secretShown is what an error shows of a secret flag's value: the source
// when it is one, never a value typed in its place.
func secretShown(v string) string {
	if strings.HasPrefix(v, "file:") || strings.HasPrefix(v, "env:") {
		return v
	}
	return "(hidden)"
}

// readSecret reads a secret from file:PATH (trailing white space dropped)
// or env:NAME. Its errors never contain the secret.
func readSecret(src string) (string, error) {
	kind, arg, _ := strings.Cut(src, ":")
	switch {
	case kind == "file" && arg != "":
		b, err := os.ReadFile(arg)
		if err != nil {
			return "", fmt.Errorf("cannot read %s: %w", arg, pathErr(err))
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("%s is empty", arg)
		}
		return v, nil
	case kind == "env" && arg != "":
		v := os.Getenv(arg)
		if v == "" {
			return "", fmt.Errorf("the environment variable %s is not set or empty", arg)
		}
		return v, nil
	}
	return "", errors.New("want file:PATH or env:NAME: a secret given on the command line is seen by every user of the machine (ps)")
}

// loadKeyPair loads a PEM certificate and its key and refuses a
// certificate that is expired or not valid yet.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return pair, fmt.Errorf("cannot use it with --nats-key %s: %w", keyFile, pathErr(err))
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return pair, fmt.Errorf("cannot parse it: %w", err)
	}
	now := time.Now()
	switch {
	case now.After(leaf.NotAfter):
		return pair, fmt.Errorf("the certificate expired at %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return pair, fmt.Errorf("the certificate is not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return pair, nil
}

// natsClient is how the gateway connects to external NATS servers.
type natsClient struct {
	opts []natsgo.Option
	auth string // for logs and errors, without secrets: "creds FILE", "token", …
	tls  string // "", or "tls" with what it trusts and presents
	cert bool   // a client certificate is presented
}

// natsClientOptions builds the connection options of the --nats-* flags
// (validated) for external servers.
func (c *runConfig) natsClientOptions(urls []string) (*natsClient, error) {
	nc := &natsClient{auth: "none"}
	switch {
	case c.NATSCreds != "":
		nc.opts = append(nc.opts, natsgo.UserCredentials(c.NATSCreds))
		nc.auth = "--nats-creds " + c.NATSCreds
	case c.NATSNkey != "":
		opt, err := natsgo.NkeyOptionFromSeed(c.NATSNkey)
		if err != nil {
			return nil, usageErrorf("--nats-nkey %s: %w", c.NATSNkey, err)
		}
		nc.opts = append(nc.opts, opt)
		nc.auth = "--nats-nkey " + c.NATSNkey
	case c.NATSToken != "":
		tok, err := readSecret(c.NATSToken)
		if err != nil {
			return nil, usageErrorf("--nats-token %s: %w", secretShown(c.NATSToken), err)
		}
		nc.opts = append(nc.opts, natsgo.Token(tok))
		nc.auth = "--nats-token " + secretShown(c.NATSToken)
	case c.NATSUser != "":
		pw, err := readSecret(c.NATSPassword)
		if err != nil {
			return nil, usageErrorf("--nats-password %s: %w", secretShown(c.NATSPassword), err)
		}
		nc.opts = append(nc.opts, natsgo.UserInfo(c.NATSUser, pw))
		nc.auth = "--nats-user " + c.NATSUser
	}
	secure := c.NATSCA != "" || c.NATSCert != ""
	for _, u := range urls {
		secure = secure || strings.HasPrefix(u, "tls://")
	}
	if !secure {
		return nc, nil
	}
	cfg, err := httpx.TLSConfig(c.NATSCA)
	if err != nil {
		return nil, usageErrorf("--nats-ca %s: %w", c.NATSCA, pathErr(err))
	}
	nc.tls = "tls, trusting the system's CAs"
	if c.NATSCA != "" {
		nc.tls += " and --nats-ca " + c.NATSCA
	}
	if c.NATSCert != "" {
		pair, err := loadKeyPair(c.NATSCert, c.NATSKey)
		if err != nil {
			return nil, usageErrorf("--nats-cert %s: %w", c.NATSCert, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
		nc.tls += ", client certificate --nats-cert " + c.NATSCert
		nc.cert = true
	}
	nc.opts = append(nc.opts, natsgo.Secure(cfg))
	return nc, nil
}

// natsServerConfig is the embedded server of the --nats-* flags
// (validated).
func (c *runConfig) natsServerConfig() (natssink.ServerConfig, error) {
	host, port, _ := net.SplitHostPort(c.NATSListen)
	n, _ := strconv.Atoi(port)
	sc := natssink.ServerConfig{Host: host, Port: n, StoreDir: c.NATSStore}
	switch {
	case c.NATSToken != "":
		tok, err := readSecret(c.NATSToken)
		if err != nil {
			return sc, usageErrorf("--nats-token %s: %w", secretShown(c.NATSToken), err)
		}
		sc.Token = tok
	case c.NATSUser != "":
		pw, err := readSecret(c.NATSPassword)
		if err != nil {
			return sc, usageErrorf("--nats-password %s: %w", secretShown(c.NATSPassword), err)
		}
		sc.User, sc.Password = c.NATSUser, pw
	}
	if c.NATSCert != "" {
		pair, err := loadKeyPair(c.NATSCert, c.NATSKey)
		if err != nil {
			return sc, usageErrorf("--nats-cert %s: %w", c.NATSCert, err)
		}
		sc.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
		if c.NATSCA != "" {
			pem, err := os.ReadFile(c.NATSCA)
			if err != nil {
				return sc, usageErrorf("--nats-ca %s: %w", c.NATSCA, pathErr(err))
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return sc, usageErrorf("--nats-ca %s: no PEM certificate in it", c.NATSCA)
			}
			sc.TLS.ClientCAs, sc.TLS.ClientAuth = pool, tls.RequireAndVerifyClientCert
		}
	}
	return sc, nil
}

// natsStreamSettings copies the stream flags into cfg.
func (c *runConfig) natsStreamSettings(cfg *natssink.Config) {
	cfg.Stream, cfg.SubjectPrefix = c.NATSStream, c.NATSSubjectPrefix
	cfg.Replicas, cfg.Duplicates = c.NATSReplicas, c.NATSDuplicates
	cfg.MaxAge, cfg.MaxBytes = noLimit(c.NATSMaxAge), int64(noLimit(time.Duration(c.NATSMaxBytes)))
	cfg.Storage = jetstream.FileStorage
	if c.NATSStorage == "memory" {
		cfg.Storage = jetstream.MemoryStorage
	}
	cfg.UpdateStream = c.NATSUpdateStream
}

// redactNATSURLs hides the credentials of URLs in a comma-separated list.
func redactNATSURLs(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		if u, err := url.Parse(p); err == nil && u.User != nil {
			u.User = url.User("xxxxx")
			parts[i] = strings.Replace(u.String(), "xxxxx@", "xxxxx:xxxxx@", 1)
		}
	}
	return strings.Join(parts, ",")
}

// natsHint says which flags a connection error is about.
func natsHint(err error, client *natsClient) string {
	switch {
	case errors.Is(err, natssink.ErrAuth):
		return " (credentials sent: " + client.auth + ")"
	case errors.Is(err, natssink.ErrTLS) && client.tls == "":
		return " (no TLS settings given: for a server that requires TLS use tls:// URLs, --nats-ca and, if it asks for one, --nats-cert and --nats-key)"
	case errors.Is(err, natssink.ErrTLS) && !client.cert:
		return " (" + client.tls + "; no client certificate: --nats-cert and --nats-key give one)"
	case errors.Is(err, natssink.ErrTLS):
		return " (" + client.tls + ")"
	}
	return ""
}

// checkJetStream connects once to external NATS servers with the run's
// credentials and TLS and asks whether JetStream answers, so that wrong
// credentials, an untrusted certificate or a server without JetStream fail
// the start at once with a clear message, instead of after the sink's
// setup timeout. Other answers (a cluster still electing its leaders) are
// left to the sink.
func checkJetStream(ctx context.Context, label string, urls []string, client *natsClient) error {
	opts := append([]natsgo.Option{natsgo.Timeout(5 * time.Second), natsgo.NoReconnect()}, client.opts...)
	nc, err := natsgo.Connect(strings.Join(urls, ","), opts...)
	if err != nil {
		err = natssink.ExplainConnectError(err)
		return &unavailableError{err: fmt.Errorf("%s: cannot connect: %w%s", label, err, natsHint(err, client))}
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) ||
		errors.Is(err, natsgo.ErrNoResponders) {
		return &unavailableError{err: fmt.Errorf("%s: the server at %s does not run JetStream (start it with nats-server -js, or enable JetStream for the account): %w",
			label, nc.ConnectedUrlRedacted(), err)}
	}
	return nil
}
