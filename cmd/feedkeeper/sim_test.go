package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/feedkeeper/feedkeeper/sim"
)

// TestSimFaultVenue: --fault takes venue=, refuses a name that is not a
// venue or that the kind cannot take, quoting what was typed, and a venue
// --venues does not serve.
func TestSimFaultVenue(t *testing.T) {
	for typed, want := range map[string]string{
		"drop:every=10s,venue=okex":       `"okex" is not a venue (known: binance, binance-usdm, bybit, okx, kraken, coinbase)`,
		"okx-seq-break:p=0.1,venue=bybit": "okx-seq-break is a fault of okx alone, it cannot be aimed at bybit",
		"burst:times=1,venue=okx":         "burst changes the market every venue shares",
	} {
		var l faultList
		err := l.Set(typed)
		if err == nil || !strings.Contains(err.Error(), `"`+typed+`"`) || !strings.Contains(err.Error(), want) {
			t.Errorf("--fault %s: %v; want it quoted and %q", typed, err, want)
		} else if strings.Contains(err.Error(), "kinds:") {
			t.Errorf("--fault %s: %v lists the kinds though the kind is known", typed, err)
		}
	}
	var l faultList
	if err := l.Set("nope:p=1"); err == nil || !strings.Contains(err.Error(), "kinds: ") {
		t.Errorf("--fault nope:p=1: %v; want the kinds listed", err)
	}

	for _, tc := range []struct {
		args []string
		want string // "" for no error
	}{
		{[]string{"--fault", "drop:every=10s,venue=okx+bybit"}, ""},
		{[]string{"--venues", "binance,bybit", "--fault", "drop:every=10s,venue=okx"}, "--fault drop:every=10s,venue=okx: okx is not served: add it to --venues (now binance,bybit)"},
		{[]string{"--venues", "binance", "--fault", "rest-5xx:p=0.1,venue=binance"}, ""},
		{[]string{"--venues", "binance", "--fault", "okx-seq-break:p=0.1"}, ""},
	} {
		var sf simFlags
		fs := pflag.NewFlagSet("sim", pflag.ContinueOnError)
		sf.bind(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		var k checks
		sf.validate(&k)
		err := k.err()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%q: %v; want %q", tc.args, err, tc.want)
		}
	}
	var sf simFlags
	fs := pflag.NewFlagSet("sim", pflag.ContinueOnError)
	sf.bind(fs)
	if err := fs.Parse([]string{"--fault", "drop:every=10s,venue=okx+bybit", "--fault", "trade-gap:p=0.1,venue=coinbase,venue=binance"}); err != nil {
		t.Fatal(err)
	}
	if len(sf.faults) != 2 || sf.faults[0].Venue != "bybit+okx" || sf.faults[1].Venue != "binance+coinbase" || sf.faults[1].Kind != sim.FaultTradeGap {
		t.Fatalf("parsed %+v", sf.faults)
	}
}
