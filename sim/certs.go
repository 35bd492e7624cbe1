package sim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// certs holds the simulator's CA and the certificates it serves: the real
// one for localhost, and the two wrong ones the TLS faults present.
type certs struct {
	caPEM     []byte
	pool      *x509.CertPool
	server    tls.Certificate // localhost, 127.0.0.1, ::1, signed by the CA
	wrongHost tls.Certificate // signed by the CA, for another host name
	unknownCA tls.Certificate // localhost, signed by a CA nobody trusts
}

// loadCerts loads the CA from dir (ca.pem, ca-key.pem), creating and saving
// it when absent; an empty dir means a fresh CA in memory. Leaf certificates
// are always made fresh.
func loadCerts(dir string) (*certs, error) {
	ca, caKey, caPEM, err := loadOrCreateCA(dir)
	if err != nil {
		return nil, err
	}
	c := &certs{caPEM: caPEM, pool: x509.NewCertPool()}
	c.pool.AddCert(ca)
	local := []string{"localhost"}
	localIPs := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if c.server, err = leaf(ca, caKey, local, localIPs); err != nil {
		return nil, err
	}
	if c.wrongHost, err = leaf(ca, caKey, []string{"wrong-host.invalid"}, nil); err != nil {
		return nil, err
	}
	other, otherKey, err := newCA("feedkeeper sim unknown CA")
	if err != nil {
		return nil, err
	}
	if c.unknownCA, err = leaf(other, otherKey, local, localIPs); err != nil {
		return nil, err
	}
	return c, nil
}

func loadOrCreateCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, []byte, error) {
	if dir != "" {
		certPEM, err1 := os.ReadFile(filepath.Join(dir, "ca.pem"))
		keyPEM, err2 := os.ReadFile(filepath.Join(dir, "ca-key.pem"))
		switch {
		case err1 == nil && err2 == nil:
			pair, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("sim: CA in %s: %w", dir, err)
			}
			key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
			if !ok {
				return nil, nil, nil, fmt.Errorf("sim: CA key in %s is not ECDSA", dir)
			}
			ca, err := x509.ParseCertificate(pair.Certificate[0])
			if err != nil {
				return nil, nil, nil, fmt.Errorf("sim: CA in %s: %w", dir, err)
			}
			if !ca.IsCA {
				return nil, nil, nil, fmt.Errorf("sim: %s/ca.pem is not a CA certificate", dir)
			}
			return ca, key, certPEM, nil
		case !errors.Is(err1, fs.ErrNotExist) && err1 != nil:
			return nil, nil, nil, fmt.Errorf("sim: %w", err1)
		case !errors.Is(err2, fs.ErrNotExist) && err2 != nil:
			return nil, nil, nil, fmt.Errorf("sim: %w", err2)
		}
	}
	ca, key, err := newCA("feedkeeper sim CA")
	if err != nil {
		return nil, nil, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	if dir != "" {
		der, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("sim: CA key: %w", err)
		}
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, nil, nil, fmt.Errorf("sim: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "ca-key.pem"), keyPEM, 0o600); err != nil {
			return nil, nil, nil, fmt.Errorf("sim: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "ca.pem"), certPEM, 0o644); err != nil {
			return nil, nil, nil, fmt.Errorf("sim: %w", err)
		}
	}
	return ca, key, certPEM, nil
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
}

func newCA(name string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("sim: CA key: %w", err)
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, fmt.Errorf("sim: serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"feedkeeper"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("sim: CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("sim: CA certificate: %w", err)
	}
	return ca, key, nil
}

func leaf(ca *x509.Certificate, caKey *ecdsa.PrivateKey, names []string, ips []net.IP) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("sim: server key: %w", err)
	}
	sn, err := serial()
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("sim: serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: names[0], Organization: []string{"feedkeeper sim"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("sim: server certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.Raw}, PrivateKey: key}, nil
}
