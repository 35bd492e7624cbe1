package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSoakRestartsVenues runs restarts over two venues at once for 12 s:
// one gateway child process streams Binance spot and OKX (spot and swap)
// from their front-ends of one simulator, is killed twice (once after a
// 2 s downtime), and the outputs of its three runs hold every trade of
// each venue's sequences, checked against that venue's own ground truth.
func TestSoakRestartsVenues(t *testing.T) {
	dir := t.TempDir()
	var out, errOut syncBuffer
	err := run(context.Background(), []string{"soak", "--faults", "restarts", "--venues", "binance,okx",
		"--streams", "trades:BTC-USDT,trades:BTC-USDT-PERP", "--duration", "12s", "--restart-every", "4s",
		"--restart-downtime", "2s", "--rate", "300", "--http", "", "--out", dir}, &out, &errOut)
	if err != nil {
		gwLog, _ := os.ReadFile(filepath.Join(dir, "gateway.log"))
		t.Fatalf("soak: %v\n%s\n%s\n%s", err, out.String(), errOut.String(), gwLog)
	}
	for _, want := range []string{"soak: PASS", "soak: okx BTC-USDT-SWAP trade ", "soak: binance BTCUSDT aggTrade ", " 0 missing"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("no %q in:\n%s", want, out.String())
		}
	}
	var rep struct {
		Pass     bool              `json:"pass"`
		Restarts []json.RawMessage `json:"restarts"`
		Audit    struct {
			Runs []struct {
				Recovered int64 `json:"recovered"`
			} `json:"runs"`
			Symbols []struct {
				Venue, Symbol, Kind             string
				Expected, Delivered, Missing    int64
				Redelivered, Duplicates, Differ int64
			} `json:"symbols"`
		} `json:"audit"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil || json.Unmarshal(b, &rep) != nil {
		t.Fatalf("report.json: %v", err)
	}
	if !rep.Pass || len(rep.Restarts) != 2 || len(rep.Audit.Runs) != 3 {
		t.Fatalf("report: %s", b)
	}
	var got []string
	for _, s := range rep.Audit.Symbols {
		got = append(got, s.Venue+" "+s.Symbol+" "+s.Kind)
		if s.Delivered < 100 || s.Delivered != s.Expected || s.Missing != 0 || s.Duplicates != 0 || s.Differ != 0 {
			t.Errorf("%s %s: %+v", s.Venue, s.Symbol, s)
		}
	}
	if strings.Join(got, ", ") != "binance BTCUSDT aggTrade, okx BTC-USDT trade, okx BTC-USDT-SWAP trade" {
		t.Fatalf("sequences audited: %q", got)
	}
	// the run after the 2 s downtime recovered that downtime's trades
	if rep.Audit.Runs[2].Recovered < 20 {
		t.Fatalf("run 3 recovered %d trades", rep.Audit.Runs[2].Recovered)
	}
}

// TestSoakRestartsRefusesVenues: restarts refuse a venue whose trades
// cannot be audited by ID, saying why, before starting anything.
func TestSoakRestartsRefusesVenues(t *testing.T) {
	for _, args := range [][]string{
		{"--venues", "binance,bybit", "--restart-every", "5s"},
		{"--venues", "coinbase", "--faults", "restarts"},
	} {
		dir := t.TempDir()
		var out, errOut syncBuffer
		err := run(context.Background(), append([]string{"soak", "--streams", "trades:BTC-USDT", "--http", "", "--out", dir}, args...), &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "--venues "+args[1]) || !strings.Contains(err.Error(), "cannot be audited by ID") ||
			!strings.Contains(err.Error(), "do not follow one another") {
			t.Errorf("%q: %v", args, err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("%q: the soak started: %d files in its directory", args, len(entries))
		}
	}
}
