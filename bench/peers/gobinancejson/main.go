// Command gobinancejson is the program a user of
// github.com/adshao/go-binance/v2 writes to print a venue's aggregate
// trades as JSON Lines: go-binance unmodified (its combined aggTrade
// stream, spot or USD-M futures) and encoding/json, one line per event on
// stdout. The peers benchmarks run it beside `feedkeeper run` to compare
// the CPU each spends per message end to end.
//
// It runs until SIGINT or SIGTERM, then stops the stream, flushes and
// exits 0. The WebSocket base URL is the simulator's (-ws); the process
// trusts the simulator's CA through SSL_CERT_FILE.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	binance "github.com/adshao/go-binance/v2"
	"github.com/adshao/go-binance/v2/futures"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gobinancejson:", err)
		os.Exit(1)
	}
}

func run() error {
	ws := flag.String("ws", "", "WebSocket base, wss://host:port (required)")
	symbols := flag.String("symbols", "BTCUSDT", "comma-separated symbols")
	usdm := flag.Bool("usdm", false, "USD-M futures (go-binance's futures package) instead of spot")
	buffered := flag.Bool("buffered", false, "write through a 64 KiB buffer flushed every 100 ms instead of one write per line")
	flag.Parse()
	if *ws == "" || !strings.HasPrefix(*ws, "wss://") {
		return fmt.Errorf("-ws %q: want wss://host:port", *ws)
	}
	syms := strings.Split(*symbols, ",")

	out := newLineWriter(os.Stdout, *buffered)
	defer out.Close()
	var (
		done, stop chan struct{}
		err        error
	)
	if *usdm {
		futures.WebsocketKeepalive = false
		futures.BaseCombinedMainURL = *ws + "/market/stream?streams="
		done, stop, err = futures.WsCombinedAggTradeServe(syms, func(ev *futures.WsAggTradeEvent) { out.encode(ev) }, func(error) {})
	} else {
		binance.WebsocketKeepalive = false
		binance.BaseCombinedMainURL = *ws + "/stream?streams="
		done, stop, err = binance.WsCombinedAggTradeServe(syms, func(ev *binance.WsAggTradeEvent) { out.encode(ev) }, func(error) {})
	}
	if err != nil {
		return fmt.Errorf("connect to %s: %w", *ws, err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-sig:
		close(stop)
		<-done
	case <-done:
		return fmt.Errorf("the stream from %s ended", *ws)
	}
	return nil
}

// lineWriter encodes each event as one JSON line, either straight to the
// file (one write a line, as json.NewEncoder(os.Stdout) does) or through a
// buffer flushed every 100 ms.
type lineWriter struct {
	mu   sync.Mutex
	enc  *json.Encoder
	buf  *bufio.Writer
	quit chan struct{}
	wg   sync.WaitGroup
}

func newLineWriter(f io.Writer, buffered bool) *lineWriter {
	w := &lineWriter{quit: make(chan struct{})}
	if !buffered {
		w.enc = json.NewEncoder(f)
		return w
	}
	w.buf = bufio.NewWriterSize(f, 64<<10)
	w.enc = json.NewEncoder(w.buf)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				w.mu.Lock()
				w.buf.Flush()
				w.mu.Unlock()
			case <-w.quit:
				return
			}
		}
	}()
	return w
}

func (w *lineWriter) encode(v any) {
	w.mu.Lock()
	w.enc.Encode(v)
	w.mu.Unlock()
}

// Close stops the flusher and writes what is buffered.
func (w *lineWriter) Close() {
	close(w.quit)
	w.wg.Wait()
	if w.buf != nil {
		w.buf.Flush()
	}
}
