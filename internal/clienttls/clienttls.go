// Package clienttls builds the TLS client configuration shared by every
// connection of the process, WebSocket and REST.
package clienttls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
)

// sessionCache is the number of TLS sessions kept for resumption.
const sessionCache = 1024

// New builds a TLS configuration: the system roots, plus the CA in caFile
// when given, TLS 1.2 or newer, and its own client session cache so every
// reconnect can resume its session. Certificate verification is always on.
func New(caFile string) (*tls.Config, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: %w", caFile, errNoCert)
		}
	}
	return &tls.Config{
		RootCAs:            pool,
		MinVersion:         tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(sessionCache),
	}, nil
}

var errNoCert = errors.New("no PEM certificate in it")

// Default is the process-wide configuration, New(""), built once: callers
// must not modify it (Clone it for a variant; a clone shares the session
// cache).
var Default = sync.OnceValue(func() *tls.Config {
	cfg, err := New("")
	if err != nil { // unreachable: only a CA file fails
		panic(err)
	}
	return cfg
})
