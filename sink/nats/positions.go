package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/feedkeeper/feedkeeper/feed"
)

// Positions returns, for each symbol of venue, the last trade of each kind
// the stream holds (its last message per subject): how far the stream was
// delivered, by this gateway or any other publishing into it. A gateway
// that starts again resumes from there (feed.GatewayConfig.Resume), so it
// recovers what it missed without publishing again what another gateway
// already stored, whatever the duplicate window. Subjects without a message
// are left out.
func (s *Sink) Positions(ctx context.Context, venue string, symbols []string) ([]feed.Position, error) {
	js, err := jetstream.New(s.nc)
	if err != nil {
		return nil, err
	}
	st, err := js.Stream(ctx, s.cfg.Stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", s.cfg.Stream, err)
	}
	var out []feed.Position
	for _, sym := range symbols {
		for _, agg := range []bool{true, false} {
			ev := feed.Event{Type: feed.TypeTrade, Venue: venue, Symbol: sym, Aggregated: agg}
			subject := string(AppendSubject(nil, s.cfg.SubjectPrefix, &ev))
			msg, err := st.GetLastMsgForSubject(ctx, subject)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("last message of %s: %w", subject, err)
			}
			var v struct {
				ID        int64 `json:"id"`
				ReceiveTS int64 `json:"receive_ts"`
			}
			if err := json.Unmarshal(msg.Data, &v); err != nil {
				return nil, fmt.Errorf("last message of %s: %w", subject, err)
			}
			out = append(out, feed.Position{Venue: venue, Symbol: sym, Agg: agg, ID: v.ID, Time: v.ReceiveTS})
		}
	}
	return out, nil
}
