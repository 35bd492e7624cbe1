package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	natsserver "github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/feedkeeper/feedkeeper/sim"
	natssink "github.com/feedkeeper/feedkeeper/sink/nats"
)

var quietLog = slog.New(slog.DiscardHandler)

// startNATS starts a NATS server with JetStream on a random loopback port,
// with opts' authentication and TLS.
func startNATS(t *testing.T, opts *natsserver.Options) *natsserver.Server {
	t.Helper()
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", -1, true, true
	opts.JetStream, opts.StoreDir = true, t.TempDir()
	srv, err := natsserver.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	return srv
}

// hostPort is a server's client address without a scheme.
func hostPort(srv *natsserver.Server) string {
	_, hp, _ := strings.Cut(srv.ClientURL(), "://")
	return hp
}

// cliRun runs the command line as typed, returning stdout, stderr (with
// the final error) and the exit code.
func cliRun(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code = exitCode(run(ctx, args, &out, &errOut), &errOut)
	return out.String(), errOut.String(), code
}

// secrets fails the test when any of them appears in any of texts.
func noSecrets(t *testing.T, what string, texts []string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		for _, text := range texts {
			if strings.Contains(text, s) {
				t.Errorf("%s: the secret %.12q… appears in the output", what, s)
			}
		}
	}
}

func writeTestFile(t *testing.T, dir, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// simArgs starts a simulator and returns the start of a run command line
// streaming from it for a short while.
func simArgs(t *testing.T) []string {
	t.Helper()
	s, ca := startSim(t, sim.Config{})
	return []string{"run", "btcusdt@aggTrade", "--ws-endpoint", s.WSURL(), "--rest-endpoint", s.RESTURL(), "--ca", ca,
		"--http", "", "--duration", "1500ms", "--out", "file:" + t.TempDir()}
}

// streamMsgs returns how many messages the stream holds.
func streamMsgs(t *testing.T, url, stream string, opts ...natsgo.Option) uint64 {
	t.Helper()
	nc, err := natsgo.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	return st.CachedInfo().State.Msgs
}

// operatorServer makes an operator, a system account and an account with
// JetStream, starts a server trusting them, and writes the .creds file of
// a user of the account.
func operatorServer(t *testing.T, dir string) (srv *natsserver.Server, creds string, secrets []string) {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Helper()
			t.Fatal(err)
		}
	}
	okp, err := nkeys.CreateOperator()
	must(err)
	opub, _ := okp.PublicKey()
	resolver := &natsserver.MemAccResolver{}
	account := func(name string, js bool) (nkeys.KeyPair, string) {
		kp, err := nkeys.CreateAccount()
		must(err)
		pub, _ := kp.PublicKey()
		ac := jwt.NewAccountClaims(pub)
		ac.Name = name
		if js {
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		tok, err := ac.Encode(okp)
		must(err)
		must(resolver.Store(pub, tok))
		return kp, pub
	}
	_, sysPub := account("SYS", false)
	akp, _ := account("MARKET", true)
	oc := jwt.NewOperatorClaims(opub)
	oc.SystemAccount = sysPub
	otok, err := oc.Encode(okp)
	must(err)
	oc, err = jwt.DecodeOperatorClaims(otok)
	must(err)
	srv = startNATS(t, &natsserver.Options{TrustedOperators: []*jwt.OperatorClaims{oc}, AccountResolver: resolver, SystemAccount: sysPub})
	creds, secrets = userCreds(t, akp, filepath.Join(dir, "gateway.creds"))
	return srv, creds, secrets
}

// userCreds writes the .creds file of a new user signed by account and
// returns its path and its secrets (the seed and the JWT).
func userCreds(t *testing.T, account nkeys.KeyPair, path string) (string, []string) {
	t.Helper()
	ukp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	upub, _ := ukp.PublicKey()
	uc := jwt.NewUserClaims(upub)
	utok, err := uc.Encode(account)
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := ukp.Seed()
	b, err := jwt.FormatUserConfig(utok, seed)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, []string{string(seed), utok}
}

// TestNATSCredsFile: a server that trusts an operator takes the gateway's
// .creds file; a user of an account it does not know fails the start at
// once with a message naming the refusal and the flag.
func TestNATSCredsFile(t *testing.T) {
	dir := t.TempDir()
	srv, creds, secrets := operatorServer(t, dir)
	url := "nats://" + hostPort(srv)
	base := simArgs(t)

	stdout, stderr, code := cliRun(t, append(base, "--nats="+url, "--nats-creds", creds)...)
	if code != exitOK {
		t.Fatalf("with the creds file: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "auth=\"--nats-creds "+creds+"\"") {
		t.Errorf("the log does not say which credentials were used:\n%s", stderr)
	}
	noSecrets(t, "creds run", []string{stdout, stderr}, secrets...)
	if n := streamMsgs(t, url, natssink.DefaultStream, natsgo.UserCredentials(creds)); n == 0 {
		t.Fatal("nothing stored in the stream")
	}

	// A user of another operator's account.
	akp, _ := nkeys.CreateAccount()
	wrong, wrongSecrets := userCreds(t, akp, filepath.Join(dir, "stranger.creds"))
	start := time.Now()
	stdout, stderr, code = cliRun(t, append(base, "--nats="+url, "--nats-creds", wrong)...)
	if code != exitUnavailable {
		t.Fatalf("wrong creds: exit %d, want %d\n%s", code, exitUnavailable, stderr)
	}
	for _, want := range []string{"--nats=" + url, "authorization violation", "--nats-creds " + wrong} {
		if !strings.Contains(stderr, want) {
			t.Errorf("wrong creds: the error does not say %q:\n%s", want, stderr)
		}
	}
	if strings.Count(stderr, "authorization violation") != 1 {
		t.Errorf("wrong creds: said more than once:\n%s", stderr)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("wrong creds: took %v to fail", took)
	}
	noSecrets(t, "wrong creds run", []string{stdout, stderr}, append(secrets, wrongSecrets...)...)

	// No credentials at all.
	_, stderr, code = cliRun(t, append(base, "--nats="+url)...)
	if code != exitUnavailable || !strings.Contains(stderr, "credentials sent: none") {
		t.Errorf("no creds: exit %d\n%s", code, stderr)
	}
}

// testCA is a CA made for a test, and the files of certificates it signs.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // PEM
}

func newTestCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	file := writeTestFile(t, dir, name+"-ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	return &testCA{cert: cert, key: key, file: file}
}

// issue signs a certificate for 127.0.0.1 (server) or a client, valid
// until notAfter, and writes it and its key; it returns their paths and
// the pair.
func (ca *testCA) issue(t *testing.T, dir, name string, client bool, notAfter time.Time) (certFile, keyFile string, pair tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	certFile = writeTestFile(t, dir, name+".pem", certPEM, 0o644)
	keyFile = writeTestFile(t, dir, name+"-key.pem", keyPEM, 0o600)
	pair, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pair
}

// TestNATSClientCertificate: a server that requires TLS with a client
// certificate takes the gateway's; a wrong CA, a missing client
// certificate, an expired server certificate and an expired client
// certificate each fail the start with a message that names the problem.
func TestNATSClientCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir, "nats")
	_, _, serverPair := ca.issue(t, dir, "server", false, time.Now().Add(time.Hour))
	clientCert, clientKey, _ := ca.issue(t, dir, "gateway", true, time.Now().Add(time.Hour))
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	tlsOpts := func(pair tls.Certificate) *natsserver.Options {
		return &natsserver.Options{TLS: true, TLSVerify: true, TLSTimeout: 2, TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}}
	}
	srv := startNATS(t, tlsOpts(serverPair))
	url := "tls://" + hostPort(srv)
	base := simArgs(t)

	_, stderr, code := cliRun(t, append(base, "--nats="+url, "--nats-ca", ca.file, "--nats-cert", clientCert, "--nats-key", clientKey)...)
	if code != exitOK {
		t.Fatalf("with the client certificate: exit %d\n%s", code, stderr)
	}
	clientPair, _ := tls.LoadX509KeyPair(clientCert, clientKey)
	if n := streamMsgs(t, url, natssink.DefaultStream, natsgo.Secure(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientPair}})); n == 0 {
		t.Fatal("nothing stored in the stream")
	}

	other := newTestCA(t, dir, "other")
	_, _, expiredServer := ca.issue(t, dir, "expired-server", false, time.Now().Add(-time.Hour))
	expiredSrv := startNATS(t, tlsOpts(expiredServer))
	expiredCert, expiredKey, _ := ca.issue(t, dir, "expired-gateway", true, time.Now().Add(-time.Hour))
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"wrong CA", []string{"--nats=" + url, "--nats-ca", other.file, "--nats-cert", clientCert, "--nats-key", clientKey}, exitUnavailable,
			[]string{"--nats=" + url, "unknown authority", "--nats-ca " + other.file}},
		{"no client certificate", []string{"--nats=" + url, "--nats-ca", ca.file}, exitUnavailable,
			[]string{"--nats=" + url, "client certificate"}},
		{"no TLS settings", []string{"--nats=nats://" + hostPort(srv)}, exitUnavailable,
			[]string{"tls://", "--nats-ca"}},
		{"expired server certificate", []string{"--nats=tls://" + hostPort(expiredSrv), "--nats-ca", ca.file, "--nats-cert", clientCert, "--nats-key", clientKey}, exitUnavailable,
			[]string{"certificate has expired"}},
		{"expired client certificate", []string{"--nats=" + url, "--nats-ca", ca.file, "--nats-cert", expiredCert, "--nats-key", expiredKey}, exitUsage,
			[]string{"--nats-cert " + expiredCert, "expired at"}},
	}
	for _, tc := range cases {
		start := time.Now()
		_, stderr, code := cliRun(t, append(base, tc.args...)...)
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d\n%s", tc.name, code, tc.code, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: the error does not say %q:\n%s", tc.name, w, stderr)
			}
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("%s: took %v to fail", tc.name, took)
		}
		t.Logf("%s: %s", tc.name, lastLine(stderr))
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// TestNATSTokenNeverShown: a server that requires a token takes it from an
// environment variable or a file; a wrong one fails at start; one typed on
// the command line is refused without being repeated; and no token appears
// in a log line, an event, a metric or --help.
func TestNATSTokenNeverShown(t *testing.T) {
	const token = "tok-4f9a1c7e2b"
	const wrongToken = "tok-wrong-77d1e0"
	dir := t.TempDir()
	srv := startNATS(t, &natsserver.Options{Authorization: token})
	url := "nats://" + hostPort(srv)
	base := simArgs(t)
	t.Setenv("FK_TEST_NATS_TOKEN", token)
	var texts []string

	stdout, stderr, code := cliRun(t, append(base, "--nats="+url, "--nats-token", "env:FK_TEST_NATS_TOKEN", "--out", "stdout")...)
	if code != exitOK {
		t.Fatalf("token from env: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout, `"type":"status"`) {
		t.Errorf("no status events on stdout to check")
	}
	texts = append(texts, stdout, stderr)
	if n := streamMsgs(t, url, natssink.DefaultStream, natsgo.Token(token)); n == 0 {
		t.Fatal("nothing stored in the stream")
	}

	wrongFile := writeTestFile(t, dir, "wrong-token", []byte(wrongToken+"\n"), 0o600)
	stdout, stderr, code = cliRun(t, append(base, "--nats="+url, "--nats-token", "file:"+wrongFile)...)
	if code != exitUnavailable || !strings.Contains(stderr, "authorization violation") || !strings.Contains(stderr, "--nats-token file:"+wrongFile) {
		t.Errorf("wrong token: exit %d\n%s", code, stderr)
	}
	texts = append(texts, stdout, stderr)

	stdout, stderr, code = cliRun(t, append(base, "--nats="+url, "--nats-token", token)...)
	if code != exitUsage || !strings.Contains(stderr, "--nats-token (hidden): want file:PATH or env:NAME") {
		t.Errorf("token typed on the command line: exit %d\n%s", code, stderr)
	}
	texts = append(texts, stdout, stderr)

	stdout, stderr, code = cliRun(t, append(base, "--nats=nats://gw:"+token+"@"+hostPort(srv))...)
	if code != exitUsage || !strings.Contains(stderr, "credentials in a URL") {
		t.Errorf("token in the URL: exit %d\n%s", code, stderr)
	}
	texts = append(texts, stdout, stderr)

	stdout, stderr, _ = cliRun(t, "run", "--help")
	texts = append(texts, stdout, stderr)
	noSecrets(t, "token runs", texts, token, wrongToken)
}

// TestEmbeddedNATSNeedsAuthBeyondLoopback: the embedded server listens
// beyond loopback only with a token (or user and password), which its
// clients then need; the settings it prints and the metrics hold no
// secret.
func TestEmbeddedNATSNeedsAuthBeyondLoopback(t *testing.T) {
	const password = "pw-93be0d1a55"
	base := simArgs(t)
	_, stderr, code := cliRun(t, append(base, "--nats", "--nats-listen", "0.0.0.0:0")...)
	if code != exitUsage || !strings.Contains(stderr, "--nats-listen 0.0.0.0:0: an embedded server beyond loopback needs --nats-token or --nats-user") {
		t.Fatalf("beyond loopback without auth: exit %d\n%s", code, stderr)
	}

	t.Setenv("FK_TEST_NATS_PASSWORD", password)
	r := startRun(t, append(base, "--nats", "--nats-listen", "0.0.0.0:0", "--nats-user", "feeder", "--nats-password", "env:FK_TEST_NATS_PASSWORD",
		"--http", "127.0.0.1:0", "--duration", "20s"))
	errOut, out := r.stderr, r.stdout
	m := []string{"", r.natsURL}
	d := []string{"", r.dashboard}
	if !strings.Contains(errOut.String(), `auth="user feeder"`) {
		t.Errorf("the embedded server's settings do not say it needs user feeder:\n%s", errOut.String())
	}
	port := m[1][strings.LastIndex(m[1], ":")+1:]
	local := "nats://127.0.0.1:" + port
	if _, err := natsgo.Connect(local, natsgo.NoReconnect()); !errors.Is(natssink.ExplainConnectError(err), natssink.ErrAuth) {
		t.Errorf("a client without credentials: %v, want an authorization violation", err)
	}
	nc, err := natsgo.Connect(local, natsgo.UserInfo("feeder", password))
	if err != nil {
		t.Errorf("a client with the user and password: %v", err)
	} else {
		nc.Close()
	}
	var metrics string
	if resp, err := http.Get(strings.TrimSuffix(d[1], "/") + "/metrics"); err != nil {
		t.Errorf("metrics: %v", err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		metrics = string(b)
	}
	if !strings.Contains(metrics, "nats") {
		t.Errorf("the metrics do not mention the nats sink:\n%.2000s", metrics)
	}
	if err := r.stop(); err != nil {
		t.Errorf("run: %v", err)
	}
	noSecrets(t, "embedded with a password", []string{out.String(), errOut.String(), metrics}, password)
}

// backgroundRun is a run started by startRun.
type backgroundRun struct {
	stdout, stderr     *syncBuffer
	natsURL, dashboard string // as printed
	cancel             context.CancelFunc
	done               chan error
	stopOnce           sync.Once
	err                error
}

// stop interrupts the run and returns its error; safe to call twice.
func (r *backgroundRun) stop() error {
	r.stopOnce.Do(func() {
		r.cancel()
		r.err = <-r.done
	})
	return r.err
}

// startRun starts the command line args in the background and waits until
// it has printed the embedded NATS server's URL and the dashboard's.
func startRun(t *testing.T, args []string) *backgroundRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &backgroundRun{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- run(ctx, args, r.stdout, r.stderr) }()
	natsURL := regexp.MustCompile(`embedded NATS JetStream server" url=(\S+)`)
	dashboard := regexp.MustCompile(`dashboard: (http://[^\s"]+)`)
	var m, d []string
	for deadline := time.Now().Add(15 * time.Second); (m == nil || d == nil) && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		m, d = natsURL.FindStringSubmatch(r.stderr.String()), dashboard.FindStringSubmatch(r.stderr.String())
	}
	if m == nil || d == nil {
		err := r.stop()
		t.Fatalf("no NATS URL or dashboard in the log (%v):\n%s", err, r.stderr.String())
	}
	r.natsURL, r.dashboard = m[1], d[1]
	return r
}

// TestEmbeddedNATSWithTLS: the embedded server, given a certificate and a
// CA, requires TLS and client certificates that CA signed, and says so.
func TestEmbeddedNATSWithTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir, "clients")
	serverCert, serverKey, _ := ca.issue(t, dir, "embedded", false, time.Now().Add(time.Hour))
	_, _, clientPair := ca.issue(t, dir, "reader", true, time.Now().Add(time.Hour))
	tokenFile := writeTestFile(t, dir, "token", []byte("tok-e3b0c442\n"), 0o600)
	r := startRun(t, append(simArgs(t), "--nats", "--nats-listen", "0.0.0.0:0", "--nats-token", "file:"+tokenFile,
		"--nats-cert", serverCert, "--nats-key", serverKey, "--nats-ca", ca.file, "--http", "127.0.0.1:0", "--duration", "20s"))
	defer r.stop()
	if !strings.HasPrefix(r.natsURL, "tls://") || !strings.Contains(r.stderr.String(), `auth="token, tls with client certificates"`) {
		t.Errorf("the embedded server's settings do not say TLS with client certificates:\n%s", r.stderr.String())
	}
	local := "tls://127.0.0.1:" + r.natsURL[strings.LastIndex(r.natsURL, ":")+1:]
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	_, err := natsgo.Connect(local, natsgo.Secure(&tls.Config{RootCAs: pool}), natsgo.Token("tok-e3b0c442"), natsgo.NoReconnect())
	if err = natssink.ExplainConnectError(err); !errors.Is(err, natssink.ErrTLS) {
		t.Errorf("a client without a certificate: %v, want ErrTLS", err)
	}
	nc, err := natsgo.Connect(local, natsgo.Secure(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientPair}}), natsgo.Token("tok-e3b0c442"))
	if err != nil {
		t.Fatalf("a client with a certificate and the token: %v", err)
	}
	nc.Close()
	if err := r.stop(); err != nil {
		t.Errorf("run: %v", err)
	}
	noSecrets(t, "embedded with TLS", []string{r.stdout.String(), r.stderr.String()}, "tok-e3b0c442")
}

// TestNATSConfigFile: the NATS settings of a production YAML file are read
// as the flags; a secret written in it instead of its source is refused,
// naming the key and not the secret.
func TestNATSConfigFile(t *testing.T) {
	dir := t.TempDir()
	good := writeTestFile(t, dir, "good.yaml", []byte(`streams: [btcusdt@aggTrade]
nats: tls://nats-1.internal:4222,tls://nats-2.internal:4222
nats_creds: /etc/feedkeeper/gateway.creds
nats_ca: /etc/feedkeeper/nats-ca.pem
nats_stream: PROD_MD
nats_subject_prefix: prod.md
nats_replicas: 3
nats_max_age: 72h
nats_duplicates: 1m
nats_storage: memory
nats_update_stream: true
`), 0o644)
	c, err := parseRun(t, []string{"--config", good})
	if err != nil {
		t.Fatal(err)
	}
	var cfg natssink.Config
	c.natsStreamSettings(&cfg)
	if c.NATS != "tls://nats-1.internal:4222,tls://nats-2.internal:4222" || c.NATSCreds != "/etc/feedkeeper/gateway.creds" ||
		cfg.Stream != "PROD_MD" || cfg.SubjectPrefix != "prod.md" || cfg.Replicas != 3 || cfg.MaxAge != 72*time.Hour ||
		cfg.Duplicates != time.Minute || cfg.Storage != jetstream.MemoryStorage || !cfg.UpdateStream {
		t.Fatalf("config %+v, stream settings %+v", c, cfg)
	}

	const secret = "literal-secret-8d2f"
	bad := writeTestFile(t, dir, "bad.yaml", []byte("streams: [btcusdt@aggTrade]\nnats: nats://127.0.0.1:4222\nnats_user: feeder\nnats_password: "+secret+
		"\nnats_replicas: 7\nnats_stream: md.prod\n"), 0o644)
	c, err = parseRun(t, []string{"--config", bad})
	if err != nil {
		t.Fatal(err)
	}
	err = c.validate()
	if err == nil {
		t.Fatal("a secret in the config file accepted")
	}
	for _, want := range []string{"--nats-password (hidden): want file:PATH or env:NAME", "key nats_password of " + bad,
		"--nats-replicas 7: out of range 1..5", "--nats-stream md.prod"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v does not say %q", err, want)
		}
	}
	noSecrets(t, "config errors", []string{err.Error()}, secret)
}

// TestNATSStreamSettingsOnACluster: on a three-node cluster the stream is
// created with the replicas, limits, duplicate window and storage given;
// a later run with other settings is refused with the differences named,
// and applies them with --nats-update-stream.
func TestNATSStreamSettingsOnACluster(t *testing.T) {
	var routes []string
	ports := make([]int, 3)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
		routes = append(routes, "nats-route://127.0.0.1:"+strconv.Itoa(ports[i]))
	}
	var urls []string
	for i, p := range ports {
		srv, err := natssink.StartServer(natssink.ServerConfig{Name: "n" + strconv.Itoa(i+1), Cluster: "fk", ClusterPort: p, Routes: routes,
			Logger: quietLog})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		urls = append(urls, srv.ClientURL())
	}
	base := simArgs(t)
	list := strings.Join(urls, ",")
	stream := []string{"--nats=" + list, "--nats-stream", "PROD_MD", "--nats-subject-prefix", "prod.md", "--nats-replicas", "3",
		"--nats-max-age", "2h", "--nats-max-bytes", "50000000", "--nats-duplicates", "20s", "--nats-storage", "memory",
		"--duration", "15s"} // the cluster elects the stream's leader first: seconds on a loaded machine
	_, stderr, code := cliRun(t, append(base, stream...)...)
	if code != exitOK {
		t.Fatalf("R3 stream: exit %d\n%s", code, stderr)
	}
	nc, err := natsgo.Connect(list)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	info := func() *jetstream.StreamInfo {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := js.Stream(ctx, "PROD_MD")
		if err != nil {
			t.Fatal(err)
		}
		return st.CachedInfo()
	}
	got := info()
	sc := got.Config
	if sc.Replicas != 3 || sc.MaxAge != 2*time.Hour || sc.MaxBytes != 50000000 || sc.Duplicates != 20*time.Second ||
		sc.Storage != jetstream.MemoryStorage || len(sc.Subjects) != 1 || sc.Subjects[0] != "prod.md.>" {
		t.Fatalf("stream config %+v", sc)
	}
	if got.Cluster == nil || len(got.Cluster.Replicas) != 2 || got.State.Msgs == 0 {
		t.Fatalf("stream %+v, cluster %+v: want a leader, 2 replicas and messages", got.State, got.Cluster)
	}

	changed := append(append([]string{}, stream...), "--nats-max-age", "3h", "--nats-replicas", "1")
	_, stderr, code = cliRun(t, append(base, changed...)...)
	if code != exitUnavailable {
		t.Fatalf("other settings: exit %d, want %d\n%s", code, exitUnavailable, stderr)
	}
	for _, want := range []string{"replicas 3, want 1", "max_age 2h0m0s, want 3h0m0s", "--nats-update-stream"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("other settings: the error does not say %q:\n%s", want, stderr)
		}
	}
	if sc := info().Config; sc.MaxAge != 2*time.Hour || sc.Replicas != 3 {
		t.Fatalf("the refused run changed the stream: %+v", sc)
	}

	_, stderr, code = cliRun(t, append(base, append(changed, "--nats-update-stream")...)...)
	if code != exitOK {
		t.Fatalf("--nats-update-stream: exit %d\n%s", code, stderr)
	}
	if sc := info().Config; sc.MaxAge != 3*time.Hour || sc.Replicas != 1 {
		t.Fatalf("--nats-update-stream did not apply: %+v", sc)
	}
}

// TestNATSNkeyAndPassword: a server with an nkey user and a password user
// takes --nats-nkey and --nats-user with --nats-password from a file; a
// wrong password fails at start; neither secret is shown.
func TestNATSNkeyAndPassword(t *testing.T) {
	const password = "pw-1c0ffee5"
	dir := t.TempDir()
	ukp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	upub, _ := ukp.PublicKey()
	seed, _ := ukp.Seed()
	seedFile := writeTestFile(t, dir, "gateway.nk", seed, 0o600)
	srv := startNATS(t, &natsserver.Options{Nkeys: []*natsserver.NkeyUser{{Nkey: upub}},
		Users: []*natsserver.User{{Username: "feeder", Password: password}}})
	url := "nats://" + hostPort(srv)
	base := simArgs(t)
	pwFile := writeTestFile(t, dir, "password", []byte(password+"\n"), 0o600)
	wrongFile := writeTestFile(t, dir, "wrong", []byte("not-it\n"), 0o600)
	var texts []string
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"nkey", []string{"--nats-nkey", seedFile}, exitOK, `auth="--nats-nkey ` + seedFile + `"`},
		{"password", []string{"--nats-user", "feeder", "--nats-password", "file:" + pwFile}, exitOK, `auth="--nats-user feeder"`},
		{"wrong password", []string{"--nats-user", "feeder", "--nats-password", "file:" + wrongFile}, exitUnavailable, "authorization violation"},
		{"password without user", []string{"--nats-password", "file:" + pwFile}, exitUsage, "--nats-password file:" + pwFile + ": needs --nats-user"},
		{"two kinds", []string{"--nats-nkey", seedFile, "--nats-user", "feeder", "--nats-password", "file:" + pwFile}, exitUsage, "give one kind of NATS credentials"},
	} {
		stdout, stderr, code := cliRun(t, append(base, append([]string{"--nats=" + url}, tc.args...)...)...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d (want %d), output without %q:\n%s", tc.name, code, tc.code, tc.want, stderr)
		}
		texts = append(texts, stdout, stderr)
	}
	noSecrets(t, "nkey and password runs", texts, password, string(seed))
}

// TestRedundantGatewaysRestartOneAfterTheOther: two gateways publish the
// same feed into one JetStream stream; one stops, trades go on, it starts
// again with its own state while the other still runs. It resumes from how
// far the stream was delivered, not from its own older position, so even
// with a duplicate window shorter than its downtime every trade is in the
// stream once.
func TestRedundantGatewaysRestartOneAfterTheOther(t *testing.T) {
	srv := startNATS(t, &natsserver.Options{})
	s, ca := startSim(t, sim.Config{Rate: 300, TradeShare: 0.5})
	dir := t.TempDir()
	args := func(name string, d time.Duration) []string {
		return []string{"run", "btcusdt@aggTrade", "--ws-endpoint", s.WSURL(), "--rest-endpoint", s.RESTURL(), "--ca", ca,
			"--http", "", "--duration", d.String(), "--out", "file:" + filepath.Join(dir, name+"-"+d.String()),
			"--nats=" + srv.ClientURL(), "--nats-duplicates", "500ms", "--state", filepath.Join(dir, name+".json")}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // b runs through a's stop and restart
		defer wg.Done()
		if _, stderr, code := cliRun(t, args("b", 6*time.Second)...); code != 0 {
			t.Errorf("b: exit %d\n%s", code, stderr)
		}
	}()
	if _, stderr, code := cliRun(t, args("a", 1500*time.Millisecond)...); code != 0 {
		t.Fatalf("a: exit %d\n%s", code, stderr)
	}
	time.Sleep(1500 * time.Millisecond) // a is down, longer than the duplicate window
	if _, stderr, code := cliRun(t, args("a", 2*time.Second)...); code != 0 {
		t.Fatalf("a again: exit %d\n%s", code, stderr)
	}
	wg.Wait()

	nc, err := natsgo.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, "MD", jetstream.OrderedConsumerConfig{FilterSubjects: []string{"md.binance.btcusdt.agg_trade"}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := int(info.NumPending)
	seen := map[int64]int{}
	var lo, hi int64
	for i := 0; i < n; i++ {
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("message %d of %d: %v", i, n, err)
		}
		var v struct{ ID int64 }
		if err := json.Unmarshal(msg.Data(), &v); err != nil {
			t.Fatal(err)
		}
		seen[v.ID]++
		if lo == 0 || v.ID < lo {
			lo = v.ID
		}
		hi = max(hi, v.ID)
	}
	for id := lo; id <= hi; id++ {
		if seen[id] != 1 {
			t.Fatalf("trade %d stored %d times (stream holds %d..%d, %d messages)", id, seen[id], lo, hi, n)
		}
	}
	if n < 500 {
		t.Fatalf("only %d trades stored", n)
	}
}
