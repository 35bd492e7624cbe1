package soak

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

func tradeLine(sym string, id int64, recovered bool) string {
	r := ""
	if recovered {
		r = `,"recovered":true`
	}
	return fmt.Sprintf(`{"v":1,"type":"trade","venue":"binance","symbol":%q,"id":%d,"agg":true,"first_trade_id":%d,"last_trade_id":%d,"price":"100.50","qty":"0.100","side":"buy"%s}`+"\n",
		sym, id, id*2, id*2+1, r)
}

func truthOf(from, to int64) []TruthTrade {
	var ts []TruthTrade
	for id := from; id <= to; id++ {
		ts = append(ts, TruthTrade{ID: id, Price: "100.5", Qty: "0.1", FirstTradeID: id * 2, LastTradeID: id*2 + 1})
	}
	return ts
}

// TestReadOutputsCutShort: a plain file ending in a partial line and a
// compressed one whose frame was never finished (a kill) are read up to
// their last complete line; other events and individual trades are left
// out.
func TestReadOutputsCutShort(t *testing.T) {
	dir := t.TempDir()
	run1, run2 := filepath.Join(dir, "run-001"), filepath.Join(dir, "run-002")
	for _, d := range []string{run1, run2} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	plain := tradeLine("BTCUSDT", 1, false) + `{"v":1,"type":"book_delta","venue":"binance","symbol":"BTCUSDT","id":7}` + "\n" +
		`{"v":1,"type":"gap","venue":"binance","symbol":"BTCUSDT","missing":"trade","agg":true,"first_id":5,"id":8,"receive_ts":2000000000}` + "\n" +
		`{"v":1,"type":"trade","venue":"binance","symbol":"BTCUSDT","id":9,"agg":false}` + "\n" +
		tradeLine("BTCUSDT", 2, false) + tradeLine("BTCUSDT", 3, false)[:40]
	if err := os.WriteFile(filepath.Join(run1, "events-20260102T150405.123Z-000001.jsonl"), []byte(plain), 0o644); err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	enc, err := zstd.NewWriter(&z)
	if err != nil {
		t.Fatal(err)
	}
	enc.Write([]byte(tradeLine("BTCUSDT", 3, true) + tradeLine("ethusdt", 10, true) + tradeLine("BTCUSDT", 4, false)[:30]))
	enc.Flush() // a block, no end of frame: the kill came before Close
	enc.Close()
	if err := os.WriteFile(filepath.Join(run2, "events-20260102T150410.000Z-000001.jsonl.zst"), z.Bytes()[:z.Len()-3], 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := ReadOutputs([]string{run1, run2})
	if err != nil {
		t.Fatal(err)
	}
	if out.Files != 2 || out.Partial != 2 || out.Lines != 7 {
		t.Fatalf("files %d, partial %d, lines %d; want 2, 2, 7", out.Files, out.Partial, out.Lines)
	}
	if g := out.Gaps; len(g) != 1 || g[0] != (Gap{Run: 0, Seq: Seq{"binance", "BTCUSDT", true}, From: 5, To: 8, At: time.Unix(2, 0)}) {
		t.Fatalf("gaps %+v", g)
	}
	btc, eth, ind := out.Trades[Seq{"binance", "BTCUSDT", true}], out.Trades[Seq{"binance", "ETHUSDT", true}], out.Trades[Seq{"binance", "BTCUSDT", false}]
	if len(btc) != 3 || btc[3] == nil || btc[3].Runs[0] != 1 || btc[1].Runs[0] != 0 || len(eth) != 1 || eth[10] == nil || len(ind) != 1 || ind[9] == nil {
		t.Fatalf("trades %v %v %v", btc, eth, ind)
	}
	if r := out.Runs; len(r) != 2 || r[0].Trades != 3 || r[1].Trades != 2 || r[1].Recovered != 2 || !r[0].CutShort || !r[1].CutShort {
		t.Fatalf("runs %+v", r)
	}

	// a complete line that is not JSON is an error naming the file
	bad := filepath.Join(dir, "run-003")
	os.Mkdir(bad, 0o755)
	os.WriteFile(filepath.Join(bad, "events-20260102T150420.000Z-000001.jsonl"), []byte("{\"type\":\n"), 0o644)
	if _, err := ReadOutputs([]string{bad}); err == nil || !strings.Contains(err.Error(), "events-20260102T150420.000Z-000001.jsonl line 1") {
		t.Fatalf("bad line: %v", err)
	}
}

// TestCheck: what counts as missing, re-delivered after a kill (not a
// failure), delivered twice (a failure), unknown and unlike the truth.
func TestCheck(t *testing.T) {
	btc := Seq{"binance", "BTCUSDT", true}
	out := func(runs map[int64][]int) *Output {
		o := &Output{Trades: map[Seq]map[int64]*OutTrade{btc: {}}}
		for id, r := range runs {
			o.Trades[btc][id] = &OutTrade{Price: "100.50", Qty: "0.100", FirstTradeID: id * 2, LastTradeID: id*2 + 1, Runs: r}
		}
		return o
	}
	truth := map[Seq][]TruthTrade{btc: truthOf(1, 10)}
	all := func(extra map[int64][]int) map[int64][]int {
		m := map[int64][]int{}
		for id := int64(1); id <= 10; id++ {
			m[id] = []int{min(int(id-1)/4, 2)}
		}
		for id, r := range extra {
			if r == nil {
				delete(m, id)
			} else {
				m[id] = r
			}
		}
		return m
	}
	killed := []bool{true, false, false} // run 1 killed, run 2 stopped cleanly
	cases := []struct {
		name                               string
		o                                  *Output
		missing, redelivered, dup, unknown int64
		differ                             int64
		failure                            string
		perRun0                            int64
	}{
		{"complete", out(all(nil)), 0, 0, 0, 0, 0, "", 0},
		{"across a kill", out(all(map[int64][]int{4: {0, 1}, 5: {0, 1}})), 0, 2, 0, 0, 0, "", 2},
		{"across a clean stop", out(all(map[int64][]int{8: {1, 2}})), 0, 0, 1, 0, 0, "delivered twice", 0},
		{"twice in one run", out(all(map[int64][]int{2: {0, 0}})), 0, 0, 1, 0, 0, "delivered twice", 0},
		{"missing", out(all(map[int64][]int{6: nil, 7: nil})), 2, 0, 0, 0, 0, "BTCUSDT aggTrade: 2 of 10 trades 1..10 in no output (first: [6 7])", 0},
		{"unknown", out(all(map[int64][]int{11: {2}})), 0, 0, 0, 1, 0, "never made", 0},
	}
	for _, tc := range cases {
		a, perRun := Check(tc.o, truth, killed)
		if a.Missing != tc.missing || a.Redelivered != tc.redelivered || a.Duplicates != tc.dup || a.Unknown != tc.unknown || a.Differ != tc.differ || perRun[0] != tc.perRun0 {
			t.Errorf("%s: %+v, per run %v", tc.name, a, perRun)
		}
		f := strings.Join(a.failures(), "; ")
		if (tc.failure == "") != (f == "") || !strings.Contains(f, tc.failure) {
			t.Errorf("%s: failures %q, want %q", tc.name, f, tc.failure)
		}
	}
	// a trade unlike the simulator's
	o := out(all(nil))
	o.Trades[btc][3].Price = "100.51"
	o.Trades[btc][4].LastTradeID = 99
	if a, _ := Check(o, truth, killed); a.Differ != 2 || !strings.Contains(strings.Join(a.failures(), ";"), "2 trades unlike") {
		t.Errorf("differ: %+v", a)
	}
	// missing IDs of a gap the last run announced once stopped: said, not
	// lost; the same gap announced before the stop, or by an earlier run,
	// is missing
	stop := time.Unix(100, 0)
	for _, tc := range []struct {
		run            int
		at             time.Time
		missing, atEnd int64
	}{{2, stop, 0, 2}, {2, stop.Add(-time.Millisecond), 2, 0}, {1, stop, 2, 0}} {
		o := out(all(map[int64][]int{6: nil, 7: nil}))
		o.Runs, o.StoppedAt = make([]RunOutput, 3), stop
		o.Gaps = []Gap{{Run: tc.run, Seq: btc, From: 5, To: 7, At: tc.at}, {Run: 2, Seq: Seq{"okx", "BTCUSDT", true}, From: 1, To: 12, At: stop}}
		a, _ := Check(o, truth, killed)
		if a.Missing != tc.missing || a.AnnouncedAtEnd != tc.atEnd || a.Symbols[0].AnnouncedAtEnd != tc.atEnd || (len(a.failures()) == 0) != (tc.missing == 0) {
			t.Errorf("gap of run %d at %v: missing %d, at the end %d, failures %q", tc.run, tc.at, a.Missing, a.AnnouncedAtEnd, a.failures())
		}
	}
	// nothing delivered fails
	// an individual trade's first and last trade IDs are not compared
	ind := Seq{"binance", "BTCUSDT", false}
	o = &Output{Trades: map[Seq]map[int64]*OutTrade{ind: {5: {Price: "1.0", Qty: "2", FirstTradeID: 5, LastTradeID: 5, Runs: []int{0}}}}}
	if a, _ := Check(o, map[Seq][]TruthTrade{ind: {{ID: 5, Price: "1", Qty: "2.00"}}}, killed); a.Differ != 0 || a.Delivered != 1 || a.Symbols[0].Kind != "trade" {
		t.Errorf("individual trade: %+v", a)
	}
	if a, _ := Check(&Output{Trades: map[Seq]map[int64]*OutTrade{}}, truth, nil); len(a.failures()) != 1 {
		t.Errorf("empty: %v", a.failures())
	}
}

// TestReportHTMLRestarts: the page of a soak with restarts has the
// restarts and the audit, and no leak figures of an in-process run.
func TestReportHTMLRestarts(t *testing.T) {
	a, perRun := Check(&Output{Trades: map[Seq]map[int64]*OutTrade{{"binance", "BTCUSDT", true}: {1: {Price: "100.5", Qty: "0.1", FirstTradeID: 2, LastTradeID: 3, Runs: []int{0, 1}}}},
		Runs: []RunOutput{{Files: 1, CutShort: true, Trades: 1}, {Files: 1, Trades: 1, Recovered: 1}}}, map[Seq][]TruthTrade{{"binance", "BTCUSDT", true}: truthOf(1, 1)}, []bool{true, false})
	r := &Report{Audit: a, Pass: true, Samples: []Sample{{T: 0, RSS: 1 << 20, FDs: 5, Connected: 1}, {T: 1, RSS: 2 << 20, FDs: 9, Connected: 1, Restarts: 1}, {T: 2}},
		Restarts: []Restart{{N: 1, At: 0.5, Signal: "SIGKILL", Exit: "killed", Redelivered: perRun[0]}}}
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{"re-delivered after a kill", "<td>SIGKILL</td><td>killed</td>", "<td>BTCUSDT</td><td>aggTrade</td><td>1..1</td>", "cut short", "Gateway running"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page, "live heap growth") {
		t.Error("the page of a restarts soak has the in-process leak figures")
	}
}
