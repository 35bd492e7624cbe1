// Package httpx is the process's HTTPS client for venue REST APIs: one
// transport with a keep-alive pool and the shared TLS configuration,
// context deadlines on every call, bodies always drained and closed, and
// the venue's error bodies turned into typed errors.
package httpx

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Config describes a client for one venue's REST API.
type Config struct {
	// BaseURL of the API, e.g. https://api.binance.com.
	BaseURL string
	// TLS is the process-wide TLS configuration (see TLSConfig). Nil: system roots.
	TLS *tls.Config
	// Timeout bounds one request, body included. Default 10s.
	Timeout time.Duration
	// MaxConns bounds the connections kept to the host. Default 8.
	MaxConns int
	// MaxBody bounds a response body. Default 64 MiB.
	MaxBody int64
}

// Client is safe for concurrent use. Create one per venue and share it.
type Client struct {
	cfg  Config
	base *url.URL
	http *http.Client
	tr   *http.Transport
}

// New validates cfg and builds the client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("httpx: BaseURL %q is not an http(s) URL", cfg.BaseURL)
	}
	if cfg.TLS != nil && cfg.TLS.InsecureSkipVerify {
		return nil, errors.New("httpx: TLS: InsecureSkipVerify is refused; pass the server's CA instead")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 8
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = 64 << 20
	}
	var tlsCfg *tls.Config
	if cfg.TLS != nil {
		// the transport adds "h2" to NextProtos of the config it is given:
		// give it a clone, which shares the session cache
		tlsCfg = cfg.TLS.Clone()
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tlsCfg,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: cfg.MaxConns,
		MaxConnsPerHost:     cfg.MaxConns,
		IdleConnTimeout:     90 * time.Second,
	}
	return &Client{cfg: cfg, base: u, tr: tr, http: &http.Client{Transport: tr}}, nil
}

// Close releases the idle connections.
func (c *Client) Close() { c.tr.CloseIdleConnections() }

// APIError is an error answer of the venue: HTTP status plus the venue's
// code and message when the body has them.
type APIError struct {
	Status     int
	Code       int
	Msg        string
	RetryAfter time.Duration // from Retry-After, when given
}

func (e *APIError) Error() string {
	if e.Msg != "" {
		return fmt.Sprintf("HTTP %d: code %d: %s", e.Status, e.Code, e.Msg)
	}
	return fmt.Sprintf("HTTP %d", e.Status)
}

// Get fetches path with query and decodes a JSON answer into v. A non-2xx
// answer is an *APIError.
func (c *Client) Get(ctx context.Context, path string, query url.Values, v any) (http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
	}()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxBody+1))
	if err != nil {
		return resp.Header, fmt.Errorf("GET %s: body: %w", path, err)
	}
	if int64(len(body)) > c.cfg.MaxBody {
		return resp.Header, fmt.Errorf("GET %s: body larger than %d bytes", path, c.cfg.MaxBody)
	}
	if resp.StatusCode/100 != 2 {
		e := &APIError{Status: resp.StatusCode}
		var b struct {
			Code int    `json:"code"`
			Msg  string `json:"msg"`
		}
		if json.Unmarshal(body, &b) == nil {
			e.Code, e.Msg = b.Code, b.Msg
		}
		if s := resp.Header.Get("Retry-After"); s != "" {
			var secs int
			if _, err := fmt.Sscan(s, &secs); err == nil {
				e.RetryAfter = time.Duration(secs) * time.Second
			}
		}
		return resp.Header, fmt.Errorf("GET %s: %w", path, e)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return resp.Header, fmt.Errorf("GET %s: decode: %w", path, err)
	}
	return resp.Header, nil
}
