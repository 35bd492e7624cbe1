package clienttls

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultIsSharedAndVerifies(t *testing.T) {
	a, b := Default(), Default()
	if a != b {
		t.Fatal("Default built twice")
	}
	if a.InsecureSkipVerify || a.MinVersion != tls.VersionTLS12 || a.ClientSessionCache == nil || a.RootCAs == nil {
		t.Errorf("Default: InsecureSkipVerify %v MinVersion %x session cache %v roots %v", a.InsecureSkipVerify, a.MinVersion, a.ClientSessionCache != nil, a.RootCAs != nil)
	}
}

func TestNewCAFileErrorsNameTheFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.pem")
	if _, err := New(missing); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("New(%q): %v, want a not-exist error", missing, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("New(%q): %v, want an error naming the file", bad, err)
	}
}
