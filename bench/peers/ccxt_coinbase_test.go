package peers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/sim"
)

// ccxt's Coinbase client (the same pinned ccxt, okxccxt/coinbase_book.js)
// keeps books on the simulator's Coinbase Advanced Trade front-end (its
// markets from the public products list, per product_type; level2 over
// the WebSocket), and every state it resolves is compared with the ground
// truth after the l2_data message of that timestamp. Its currencies come
// from the Coinbase App API (/v2/currencies), not Advanced Trade's: the
// script turns that fetch off (has.fetchCurrencies), the one setting it
// changes.
func TestCCXTKeepsCoinbaseBook(t *testing.T) {
	ccxtReady(t)
	s, err := sim.Start(sim.Config{Symbols: []string{btc, eth}, Rate: 2000, Levels: 100, CertDir: certDir, Venues: []string{sim.VenueCoinbase}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cb := s.Coinbase()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "coinbase_book.js", cb.WSURL(), cb.RESTURL(), "200", "BTC/USDT", "ETH/USDT")
	cmd.Dir = ccxtDir
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+filepath.Join(certDir, "ca.pem"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	checked, seen := map[string]int{}, map[string]int{}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		var st ccxtKrakenState // the same shape: symbol, datetime, bids, asks
		if err := json.Unmarshal(sc.Bytes(), &st); err != nil {
			t.Fatalf("coinbase_book.js printed %.200q: %v", sc.Text(), err)
		}
		if st.Error != "" {
			t.Fatalf("%s: ccxt rejected the book: %s", st.Symbol, st.Error)
		}
		ts, err := time.Parse(time.RFC3339Nano, st.Datetime)
		if err != nil {
			t.Fatalf("datetime %q: %v", st.Datetime, err)
		}
		product := st.Symbol[:3] + "-USDT"
		truth, err := cb.BookSentAt(product, ts)
		if err != nil {
			if seen[st.Symbol] == 0 && errors.Is(err, sim.ErrNoSuchSequence) {
				seen[st.Symbol]++
				continue // the subscription's snapshot: not an l2_data update the front-end remembers
			}
			t.Fatal(err)
		}
		seen[st.Symbol]++
		if err := sameKrakenBook(st, sim.BookState{Bids: truth.Bids, Asks: truth.Asks}, 20); err != nil {
			t.Fatalf("%s at %s: %v", st.Symbol, st.Datetime, err)
		}
		checked[st.Symbol]++
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ccxt: %v\n%s", err, stderr.Bytes())
	}
	if checked["BTC/USDT"] < 20 || checked["ETH/USDT"] < 20 {
		t.Fatalf("book states checked: %v", checked)
	}
	t.Logf("book states equal to the truth: %v", checked)
}
