package nats

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
)

// testCert signs a certificate for 127.0.0.1 with parent (itself when
// nil, a CA) valid until notAfter.
func testCert(t *testing.T, name string, parent *tls.Certificate, client bool, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	signer, signerKey := tmpl, any(key)
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign|x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = nil // a CA's usages would bind every certificate it signs
	} else {
		signer, signerKey = parent.Leaf, parent.PrivateKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// TestEmbeddedServerTLS: an embedded server with TLS and client
// certificates takes the sink's own in-process connection, refuses a
// client without a certificate or trusting another CA, with ErrTLS and a
// sentence naming the cause, and takes one with a certificate its CA
// signed.
func TestEmbeddedServerTLS(t *testing.T) {
	ca := testCA(t)
	serverCert := testCert(t, "server", &ca, false, time.Now().Add(time.Hour))
	clientCert := testCert(t, "client", &ca, true, time.Now().Add(time.Hour))
	pool := x509.NewCertPool()
	pool.AddCert(ca.Leaf)
	cfg := ServerConfig{Host: "0.0.0.0", Token: "tls-token-1", TLS: &tls.Config{Certificates: []tls.Certificate{serverCert},
		ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}}
	s := openSink(t, Config{Server: cfg})
	if got := cfg.AuthString(); got != "token, tls with client certificates" {
		t.Errorf("AuthString %q", got)
	}
	url := s.ClientURL()
	if !strings.HasPrefix(url, "tls://") {
		t.Fatalf("ClientURL %q, want tls://", url)
	}
	local := "tls://127.0.0.1:" + url[strings.LastIndexByte(url, ':')+1:]

	other := testCA(t)
	otherPool := x509.NewCertPool()
	otherPool.AddCert(other.Leaf)
	cases := []struct {
		name string
		tls  *tls.Config
		want string
	}{
		{"no client certificate", &tls.Config{RootCAs: pool}, "requires a client certificate"},
		{"another CA trusted", &tls.Config{RootCAs: otherPool, Certificates: []tls.Certificate{clientCert}}, "unknown authority"},
	}
	for _, tc := range cases {
		_, err := natsgo.Connect(local, natsgo.Secure(tc.tls), natsgo.Token("tls-token-1"), natsgo.NoReconnect())
		err = ExplainConnectError(err)
		if !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrTLS saying %q", tc.name, err, tc.want)
		}
	}
	nc, err := natsgo.Connect(local, natsgo.Secure(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientCert}}), natsgo.Token("tls-token-1"))
	if err != nil {
		t.Fatalf("with the client certificate: %v", err)
	}
	nc.Close()
}

func testCA(t *testing.T) tls.Certificate {
	return testCert(t, "ca", nil, false, time.Now().Add(time.Hour))
}
