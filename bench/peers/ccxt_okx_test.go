package peers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/feedkeeper/feedkeeper/sim"
)

// These tests drive ccxt's OKX client (npm package ccxt, okxccxt/), unmodified,
// against the simulator's OKX front-end: okxccxt/book.js keeps books with
// ccxt's watchOrderBook and prints every state it resolves; the test
// compares each with the ground truth at the seqId ccxt says the book is at.

// ccxtDir is the Node.js package of the ccxt client.
const ccxtDir = "okxccxt"

// ccxtReady installs the pinned ccxt (package-lock.json) when it is not
// there yet. Node.js and npm are part of the machine the project runs on.
func ccxtReady(t testing.TB) {
	t.Helper()
	if os.Getenv("FEEDKEEPER_SKIP_NODE") == "1" {
		t.Skip("FEEDKEEPER_SKIP_NODE=1: no Node.js to run ccxt")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is needed to run ccxt (test.sh installs it, or set FEEDKEEPER_SKIP_NODE=1): %v", err)
	}
	if _, err := os.Stat(filepath.Join(ccxtDir, "node_modules", "ccxt", "package.json")); err == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = ccxtDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", ccxtDir, err, out)
	}
}

// ccxtState is one line of book.js.
type ccxtState struct {
	Symbol string       `json:"symbol"`
	Nonce  int64        `json:"nonce"`
	Bids   [][2]float64 `json:"bids"`
	Asks   [][2]float64 `json:"asks"`
	Error  string       `json:"error"`
}

// ccxtBooks runs book.js against s's OKX front-end until it printed states
// book states, calling each with every line.
func ccxtBooks(t *testing.T, s *sim.Server, states int, each func(ccxtState), symbols ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := s.OKX()
	args := append([]string{"book.js", o.WSURL(), o.RESTURL(), strconv.Itoa(states)}, symbols...)
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = ccxtDir
	// Node.js trusts a private CA through NODE_EXTRA_CA_CERTS; verification stays on
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
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		var st ccxtState
		if err := json.Unmarshal(sc.Bytes(), &st); err != nil {
			t.Fatalf("book.js printed %.200q: %v", sc.Text(), err)
		}
		each(st)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ccxt: %v\n%s", err, stderr.Bytes())
	}
}

// ccxtInst maps ccxt's unified symbols to OKX instIds.
var ccxtInst = map[string]string{"BTC/USDT": "BTC-USDT", "BTC/USDT:USDT": "BTC-USDT-SWAP", "ETH/USDT:USDT": "ETH-USDT-SWAP"}

// sameCCXTBook compares ccxt's book (numbers) with the ground truth (OKX's
// strings; swap sizes in contracts, as ccxt keeps them for OKX books).
func sameCCXTBook(st ccxtState, truth sim.OKXBook) error {
	for _, x := range []struct {
		name string
		have [][2]float64
		want []sim.Level
	}{{"bids", st.Bids, truth.Bids}, {"asks", st.Asks, truth.Asks}} {
		if len(x.have) != len(x.want) {
			return fmt.Errorf("%s: ccxt has %d levels, truth %d", x.name, len(x.have), len(x.want))
		}
		for i, lv := range x.want {
			px, _ := strconv.ParseFloat(lv.Price, 64)
			sz, _ := strconv.ParseFloat(lv.Qty, 64)
			if x.have[i][0] != px || x.have[i][1] != sz {
				return fmt.Errorf("%s level %d: ccxt %v, truth %s %s", x.name, i, x.have[i], lv.Price, lv.Qty)
			}
		}
	}
	return nil
}

func startOKX(t *testing.T) *sim.Server {
	t.Helper()
	s, err := sim.Start(sim.Config{Symbols: []string{btc, eth}, Rate: 2000, Levels: 100, CertDir: certDir, Venues: []string{sim.VenueOKX}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestCCXTKeepsOKXBook: ccxt loads the markets from /api/v5/public/instruments
// (every instType it knows), subscribes to books for a spot and a swap
// instrument, chains the updates by prevSeqId, and holds at every state
// the book of the ground truth at that seqId.
func TestCCXTKeepsOKXBook(t *testing.T) {
	ccxtReady(t)
	s := startOKX(t)
	seen := map[string]int{}
	ccxtBooks(t, s, 200, func(st ccxtState) {
		if st.Error != "" {
			t.Fatalf("%s: ccxt rejected the book without a fault: %s", st.Symbol, st.Error)
		}
		truth, err := s.OKX().BookAt(ccxtInst[st.Symbol], st.Nonce)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameCCXTBook(st, truth); err != nil {
			t.Fatalf("%s at seqId %d: %v", st.Symbol, st.Nonce, err)
		}
		seen[st.Symbol]++
	}, "BTC/USDT", "BTC/USDT:USDT")
	if seen["BTC/USDT"] < 20 || seen["BTC/USDT:USDT"] < 20 {
		t.Fatalf("book states checked: %v", seen)
	}
}

// TestCCXTRecoversFromOKXSeqBreak: after okx-seq-break, ccxt sees the
// prevSeqId gap (InvalidNonce), subscribes again, and its new book matches
// the ground truth.
func TestCCXTRecoversFromOKXSeqBreak(t *testing.T) {
	ccxtReady(t)
	s := startOKX(t)
	states, errs, after := 0, 0, 0
	ccxtBooks(t, s, 150, func(st ccxtState) {
		if st.Error != "" {
			errs++
			return
		}
		states++
		if states == 30 {
			if err := s.SetFaults(sim.Fault{Kind: sim.FaultOKXSeqBreak, Times: 1}); err != nil {
				t.Fatal(err)
			}
		}
		truth, err := s.OKX().BookAt(ccxtInst[st.Symbol], st.Nonce)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameCCXTBook(st, truth); err != nil {
			t.Fatalf("%s at seqId %d: %v", st.Symbol, st.Nonce, err)
		}
		if errs > 0 {
			after++
		}
	}, "ETH/USDT:USDT")
	if errs != 1 || after < 50 {
		t.Fatalf("%d rejections (want 1), %d right books after it", errs, after)
	}
}
