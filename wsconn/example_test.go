package wsconn_test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/feedkeeper/feedkeeper/sim"
	"github.com/feedkeeper/feedkeeper/wsconn"
)

// A session on one Binance stream (here the simulator's): it connects,
// reconnects on failure, and hands every frame to the handler in order.
func ExampleOpen() {
	srv, err := sim.Start(sim.Config{Symbols: []string{"BTCUSDT"}, Rate: 200})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	events := make(chan string, 1)
	sess, err := wsconn.Open(wsconn.Config{
		URL: srv.WSURL() + "/ws/btcusdt@aggTrade",
		// nil would be DefaultTLS(): system roots; the simulator has its own CA
		TLS:    &tls.Config{RootCAs: srv.CertPool()},
		Logger: slog.New(slog.DiscardHandler),
	}, func(f *wsconn.Frame) {
		if f.Kind != wsconn.Data {
			return // Connected, Disconnected and Gap frames
		}
		// f.Data is reused once the handler returns: decode or copy it here
		var ev struct {
			Type   string `json:"e"`
			Time   int64  `json:"E"` // encoding/json matches keys regardless of case: "E" needs its own field
			Symbol string `json:"s"`
		}
		if json.Unmarshal(f.Data, &ev) == nil {
			select {
			case events <- ev.Type + " " + ev.Symbol:
			default:
			}
		}
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Close ends the connection, hands over the frames already queued and
	// returns once every goroutine of the session has ended.
	defer sess.Close()

	select {
	case ev := <-events:
		fmt.Println(ev)
	case <-time.After(10 * time.Second):
		fmt.Println("no trade")
	}
	// Output: aggTrade BTCUSDT
}
