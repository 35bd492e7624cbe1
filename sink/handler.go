package sink

import (
	"errors"
	"log/slog"
	"time"

	"github.com/feedkeeper/feedkeeper/feed"
)

// handlerLogEvery is how often Handler logs refused events at most.
const handlerLogEvery = 10 * time.Second

// Handler adapts s to feed.GatewayConfig.Handler: it writes each event to s
// and, when Write fails, logs at most one line every 10 seconds with the
// number of events refused since the previous line. The returned function
// must be called by one goroutine at a time, as the gateway does.
func Handler(s Sink, log *slog.Logger) func(*feed.Event) {
	if log == nil {
		log = slog.Default()
	}
	var refused int64
	var last time.Time
	return func(ev *feed.Event) {
		err := s.Write(ev)
		if err == nil {
			return
		}
		refused++
		if errors.Is(err, ErrClosed) {
			return
		}
		if now := time.Now(); now.Sub(last) >= handlerLogEvery {
			log.Warn("sink refused events", "events", refused, "reason", err.Error())
			refused, last = 0, now
		}
	}
}
