package nats

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"

	natsgo "github.com/nats-io/nats.go"
)

// Errors of connecting to NATS, wrapped by ExplainConnectError (and so by
// Open) so that callers can tell a refused credential from a TLS failure.
var (
	// ErrAuth: the server refused the credentials (or their absence).
	ErrAuth = errors.New("the nats server refused the credentials")
	// ErrTLS: the TLS handshake failed: the server's certificate is not
	// trusted, has expired or names another host, or the server wanted a
	// client certificate it did not get or did not accept.
	ErrTLS = errors.New("tls with the nats server failed")
)

// ExplainConnectError wraps an error of nats.Connect with ErrAuth or
// ErrTLS and a sentence naming the cause, when it is one of those; other
// errors are returned as they are.
func ExplainConnectError(err error) error {
	if err == nil {
		return nil
	}
	var unknownCA x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	var alert tls.AlertError
	var recErr tls.RecordHeaderError
	msg := err.Error()
	switch {
	case errors.Is(err, natsgo.ErrAuthorization), strings.Contains(strings.ToLower(msg), "authorization violation"):
		return fmt.Errorf("%w: authorization violation (wrong or missing credentials, or an account without access): %w", ErrAuth, err)
	case errors.Is(err, natsgo.ErrAuthExpired), errors.Is(err, natsgo.ErrAccountAuthExpired):
		return fmt.Errorf("%w: the credentials have expired: %w", ErrAuth, err)
	case errors.Is(err, natsgo.ErrAuthRevoked):
		return fmt.Errorf("%w: the credentials were revoked: %w", ErrAuth, err)
	case errors.As(err, &unknownCA):
		return fmt.Errorf("%w: the server's certificate is signed by an unknown authority (give the CA that signed it): %w", ErrTLS, err)
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return fmt.Errorf("%w: the server's certificate has expired or is not valid yet: %w", ErrTLS, err)
	case errors.As(err, &host):
		return fmt.Errorf("%w: the server's certificate is for another host: %w", ErrTLS, err)
	case errors.As(err, &alert), strings.Contains(msg, "remote error: tls:"):
		why := "the server refused the TLS handshake"
		switch {
		case strings.Contains(msg, "certificate required"):
			why = "the server requires a client certificate"
		case strings.Contains(msg, "expired"):
			why = "the server refused the client certificate as expired"
		case strings.Contains(msg, "unknown certificate authority"), strings.Contains(msg, "bad certificate"):
			why = "the server does not accept the client certificate"
		}
		return fmt.Errorf("%w: %s: %w", ErrTLS, why, err)
	case strings.Contains(msg, "closed by remote after TLS handshake"):
		// TLS 1.3: the server checks the client's certificate after the
		// client considers the handshake done, and just closes.
		return fmt.Errorf("%w: the server closed the connection after the TLS handshake: it requires a client certificate, or did not accept the one given: %w", ErrTLS, err)
	case errors.As(err, &recErr), errors.Is(err, natsgo.ErrSecureConnRequired):
		return fmt.Errorf("%w: the server requires TLS, or does not speak it: %w", ErrTLS, err)
	case errors.Is(err, natsgo.ErrSecureConnWanted):
		return fmt.Errorf("%w: TLS was asked for but the server does not offer it: %w", ErrTLS, err)
	}
	return err
}

// redactURLs replaces the password or token of each URL in a
// comma-separated list with "xxxxx".
func redactURLs(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		u, err := url.Parse(p)
		if err != nil || u.User == nil {
			continue
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		} else {
			u.User = url.User("xxxxx")
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}
