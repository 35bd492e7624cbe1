package httpx

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLSConfig builds the process-wide TLS configuration: the system roots,
// plus the CA in caFile when given (the simulator's), TLS 1.2 or newer, and
// one client session cache so every reconnect can resume its session.
// Certificate verification is always on. Build it once and share it.
func TLSConfig(caFile string) (*tls.Config, error) {
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
		ClientSessionCache: tls.NewLRUClientSessionCache(1024),
	}, nil
}

var errNoCert = errors.New("no PEM certificate in it")
