package nats

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestExistingStreamNotChanged: a stream that exists with other settings
// is refused with the differences named, left as it was, and changed only
// with UpdateStream; its storage never.
func TestExistingStreamNotChanged(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	stream, prefix := uniqueStream()
	first := openSink(t, Config{URLs: []string{srv.ClientURL()}, Stream: stream, SubjectPrefix: prefix, MaxAge: time.Hour, MaxBytes: 1 << 20})
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	_, js := connect(t, srv.ClientURL())
	info := func() jetstream.StreamConfig {
		st, err := js.Stream(context.Background(), stream)
		if err != nil {
			t.Fatal(err)
		}
		return st.CachedInfo().Config
	}

	// The same settings: accepted as they are.
	same := openSink(t, Config{URLs: []string{srv.ClientURL()}, Stream: stream, SubjectPrefix: prefix, MaxAge: time.Hour, MaxBytes: 1 << 20})
	same.Close()

	other := Config{URLs: []string{srv.ClientURL()}, Stream: stream, SubjectPrefix: prefix, MaxAge: 2 * time.Hour, MaxBytes: 1 << 20,
		Duplicates: 10 * time.Second, Logger: quiet}
	_, err := Open(other)
	var mm *StreamMismatchError
	if !errors.As(err, &mm) || !errors.Is(err, ErrStreamMismatch) {
		t.Fatalf("Open with other settings: %v, want a StreamMismatchError", err)
	}
	for _, want := range []string{"max_age 1h0m0s, want 2h0m0s", "duplicates 30s, want 10s", "allow the update"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v does not say %q", err, want)
		}
	}
	if len(mm.Diffs) != 2 {
		t.Errorf("diffs %+v, want max_age and duplicates", mm.Diffs)
	}
	if got := info(); got.MaxAge != time.Hour || got.Duplicates != 30*time.Second {
		t.Fatalf("the refused Open changed the stream: max_age %v, duplicates %v", got.MaxAge, got.Duplicates)
	}

	other.UpdateStream = true
	s := openSink(t, other)
	s.Close()
	if got := info(); got.MaxAge != 2*time.Hour || got.Duplicates != 10*time.Second {
		t.Fatalf("UpdateStream did not update: max_age %v, duplicates %v", got.MaxAge, got.Duplicates)
	}

	other.Storage = jetstream.MemoryStorage
	if _, err = Open(other); !errors.As(err, &mm) || !mm.Fixed || !strings.Contains(err.Error(), "storage file, want memory") {
		t.Fatalf("a storage change with UpdateStream: %v, want it refused", err)
	}
}

// TestMemoryStorage: a new stream takes the storage asked for.
func TestMemoryStorage(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	stream, prefix := uniqueStream()
	s := openSink(t, Config{URLs: []string{srv.ClientURL()}, Stream: stream, SubjectPrefix: prefix, Storage: jetstream.MemoryStorage})
	s.Close()
	_, js := connect(t, srv.ClientURL())
	st, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().Config.Storage; got != jetstream.MemoryStorage {
		t.Fatalf("storage %v, want memory", got)
	}
}

// TestEmbeddedServerAuth: beyond loopback the embedded server needs
// credentials; with a token a client without it is refused with ErrAuth,
// while the sink's own connection gets in.
func TestEmbeddedServerAuth(t *testing.T) {
	if _, err := StartServer(ServerConfig{Host: "0.0.0.0", Logger: quiet}); !errors.Is(err, ErrNoAuth) {
		t.Fatalf("0.0.0.0 without credentials: %v, want ErrNoAuth", err)
	}
	if _, err := StartServer(ServerConfig{User: "alice", Logger: quiet}); err == nil {
		t.Fatal("User without Password accepted")
	}
	const token = "s3cret-token-value"
	s := openSink(t, Config{Server: ServerConfig{Token: token}})
	if got := s.Server().NATS(); got == nil {
		t.Fatal("no embedded server")
	}
	if got := (ServerConfig{Token: token}).AuthString(); got != "token" || strings.Contains(got, token) {
		t.Fatalf("AuthString %q", got)
	}
	_, err := natsgo.Connect(s.ClientURL(), natsgo.NoReconnect())
	if err = ExplainConnectError(err); !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "authorization violation") {
		t.Fatalf("without the token: %v, want ErrAuth", err)
	}
	nc, err := natsgo.Connect(s.ClientURL(), natsgo.Token(token))
	if err != nil {
		t.Fatalf("with the token: %v", err)
	}
	nc.Close()
}

// TestStreamCreatedByTwoAtOnce: gateways starting together against a new
// stream all open, whichever creates it.
func TestStreamCreatedByTwoAtOnce(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	stream, prefix := uniqueStream()
	errs := make(chan error, 4)
	sinks := make(chan *Sink, 4)
	for range 4 {
		go func() {
			s, err := Open(Config{URLs: []string{srv.ClientURL()}, Stream: stream, SubjectPrefix: prefix, Logger: quiet})
			errs <- err
			sinks <- s
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
		if s := <-sinks; s != nil {
			s.Close()
		}
	}
}
