package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// checkJetStream asks external NATS servers whether JetStream answers, so
// that a server without it fails the start at once with a clear message
// instead of after the sink's setup timeout. Other answers (a cluster
// still electing its leaders) are left to the sink.
func checkJetStream(ctx context.Context, label string, urls []string) error {
	nc, err := natsgo.Connect(strings.Join(urls, ","), natsgo.Timeout(5*time.Second), natsgo.NoReconnect())
	if err != nil {
		return &unavailableError{err: fmt.Errorf("%s: cannot connect: %w", label, err)}
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) ||
		errors.Is(err, natsgo.ErrNoResponders) {
		return &unavailableError{err: fmt.Errorf("%s: the server at %s does not run JetStream (start it with nats-server -js, or enable JetStream for the account): %w",
			label, nc.ConnectedUrlRedacted(), err)}
	}
	return nil
}
