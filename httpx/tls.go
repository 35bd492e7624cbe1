package httpx

import (
	"crypto/tls"

	"github.com/feedkeeper/feedkeeper/internal/clienttls"
)

// TLSConfig builds the process-wide TLS configuration: the system roots,
// plus the CA in caFile when given (the simulator's), TLS 1.2 or newer, and
// one client session cache so every reconnect can resume its session.
// Certificate verification is always on. Build it once and share it. The
// configuration used when none is given (Config.TLS nil here, and
// wsconn.DefaultTLS) is the same with no CA file, built once per process.
func TLSConfig(caFile string) (*tls.Config, error) { return clienttls.New(caFile) }
