package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestParseFaultVenue(t *testing.T) {
	good := map[string]Fault{
		"drop:every=10s,venue=okx":               {Kind: FaultDrop, Every: 10 * time.Second, Venue: "okx"},
		"drop:every=10s,venue=okx+bybit":         {Kind: FaultDrop, Every: 10 * time.Second, Venue: "bybit+okx"},
		"drop:times=1,venue=coinbase,venue=okx":  {Kind: FaultDrop, Times: 1, Venue: "okx+coinbase"},
		"rest-5xx:p=0.1,venue=binance":           {Kind: FaultREST5xx, Prob: 0.1, Venue: "binance"},
		"okx-seq-break:p=0.1,venue=okx":          {Kind: FaultOKXSeqBreak, Prob: 0.1, Venue: "okx"},
		"pu-break:p=0.1,venue=binance-usdm":      {Kind: FaultPUBreak, Prob: 0.1, Venue: "binance-usdm"},
		"refuse:times=1,venue=kraken+binance":    {Kind: FaultRefuse, Times: 1, Venue: "binance+kraken"},
		"okx-seq-break:p=0.1":                    {Kind: FaultOKXSeqBreak, Prob: 0.1},
		"tls-reset:times=2,venue=coinbase+bybit": {Kind: FaultTLSReset, Times: 2, Venue: "bybit+coinbase"},
	}
	for s, want := range good {
		got, err := ParseFault(s)
		if err != nil || got != want {
			t.Errorf("ParseFault(%q) = %+v, %v; want %+v", s, got, err, want)
			continue
		}
		back, err := ParseFault(got.String())
		if err != nil || back != got {
			t.Errorf("round trip of %q through %q: %+v, %v", s, got.String(), back, err)
		}
		j, _ := json.Marshal(got)
		var fromJSON Fault
		if err := json.Unmarshal(j, &fromJSON); err != nil || fromJSON != got {
			t.Errorf("JSON round trip of %s: %+v, %v", j, fromJSON, err)
		}
	}
	// each error names what was typed and why
	bad := map[string][]string{
		"drop:every=10s,venue=okex":         {`venue="okex"`, `"okex" is not a venue`, "known: binance, binance-usdm, bybit, okx, kraken, coinbase"},
		"drop:every=10s,venue=OKX":          {`"OKX" is not a venue`},
		"drop:every=10s,venue=okx+okx":      {`venue="okx+okx" names okx twice`},
		"drop:every=10s,venue=okx+":         {`venue="okx+" has an empty name`},
		"drop:every=10s,venue=okx,bybit":    {`"bybit" is not key=value`},
		"okx-seq-break:p=0.1,venue=bybit":   {`venue="bybit"`, "okx-seq-break is a fault of okx alone", "cannot be aimed at bybit"},
		"okx-seq-break:p=0.1,venue=okx+bin": {`"bin" is not a venue`},
		"pu-break:p=0.1,venue=binance":      {"pu-break is a fault of binance-usdm alone"},
		"bybit-u-gap:p=0.1,venue=okx":       {"bybit-u-gap is a fault of bybit alone"},
		"kraken-trade-gap:p=0.1,venue=okx":  {"kraken-trade-gap is a fault of kraken alone"},
		"coinbase-seq-jump:p=0.1,venue=okx": {"coinbase-seq-jump is a fault of coinbase alone"},
		"burst:times=1,venue=okx":           {`venue="okx"`, "burst changes the market every venue shares"},
		"halt:times=1,venue=bybit":          {"halt changes the market every venue shares"},
	}
	for s, want := range bad {
		_, err := ParseFault(s)
		if err == nil {
			t.Errorf("ParseFault(%q) accepted", s)
			continue
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParseFault(%q): %q does not say %q", s, err, w)
			}
		}
	}
	var f Fault
	if err := json.Unmarshal([]byte(`{"kind":"drop","p":0.1,"venue":"okex"}`), &f); err == nil || !strings.Contains(err.Error(), `"okex" is not a venue`) {
		t.Errorf("JSON with venue okex: %v", err)
	}
}

func TestKindVenue(t *testing.T) {
	for _, k := range FaultKinds() {
		want := ""
		switch {
		case k == FaultPUBreak:
			want = VenueBinanceUSDM
		case strings.HasPrefix(string(k), "okx-"):
			want = VenueOKX
		case strings.HasPrefix(string(k), "bybit-"):
			want = VenueBybit
		case strings.HasPrefix(string(k), "kraken-"):
			want = VenueKraken
		case strings.HasPrefix(string(k), "coinbase-"):
			want = VenueCoinbase
		}
		if got := KindVenue(k); got != want {
			t.Errorf("KindVenue(%s) = %q, want %q", k, got, want)
		}
		f := Fault{Kind: k, Times: 1}
		if want != "" && !slices.Equal(f.Venues(), []string{want}) {
			t.Errorf("%s: Venues() = %v, want [%s]", k, f.Venues(), want)
		}
		if want == "" && f.Venues() != nil {
			t.Errorf("%s: Venues() = %v, want nil (every venue)", k, f.Venues())
		}
	}
}

// threeVenues starts spot, OKX and Bybit, and opens one connection on each:
// spot streams aggTrades, OKX and Bybit answer pings.
func threeVenues(t *testing.T) (s *Server, spot, okx, bybit *websocket.Conn) {
	t.Helper()
	s = startSim(t, Config{Venues: []string{VenueOKX, VenueBybit}})
	spot = dial(t, s, "/ws/btcusdt@aggTrade")
	okx = dialWS(t, s, s.OKX().WSURL()+"/ws/v5/public")
	bybit = dialWS(t, s, s.Bybit().WSURL()+"/v5/public/spot")
	waitFor(t, 3*time.Second, func() bool {
		return len(s.Conns()) == 1 && len(s.OKX().Conns()) == 1 && len(s.Bybit().Conns()) == 1
	})
	return s, spot, okx, bybit
}

// alive checks that the spot, OKX (when given) and Bybit connections still
// answer.
func alive(t *testing.T, spot, okx, bybit *websocket.Conn) {
	t.Helper()
	spot.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, _, err := spot.ReadMessage(); err != nil {
		t.Fatalf("spot connection: %v", err)
	}
	for name, c := range map[string]*websocket.Conn{"okx": okx, "bybit": bybit} {
		if c == nil {
			continue
		}
		ping := `{"op":"ping"}`
		if name == "okx" {
			ping = "ping"
		}
		sendText(t, c, ping)
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, msg, err := c.ReadMessage()
		if err != nil || !strings.Contains(string(msg), "pong") {
			t.Fatalf("%s connection: %q, %v; want a pong", name, msg, err)
		}
	}
}

// abrupt fails unless c ends without a close frame.
func abrupt(t *testing.T, c *websocket.Conn) {
	t.Helper()
	err := readUntilError(c, 5*time.Second)
	var ce *websocket.CloseError
	if isTimeout(err) || (errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure) {
		t.Fatalf("want an abrupt close (no close frame), got %v", err)
	}
}

// TestFaultAimedAtOKX: a drop aimed at okx, fired and scheduled, drops the
// OKX connections and leaves Binance's and Bybit's.
func TestFaultAimedAtOKX(t *testing.T) {
	s, spot, okx, bybit := threeVenues(t)
	if err := s.Fire(Fault{Kind: FaultDrop, Venue: VenueOKX}); err != nil {
		t.Fatal(err)
	}
	abrupt(t, okx)
	alive(t, spot, nil, bybit)
	if n := len(s.Conns()) + len(s.Bybit().Conns()); n != 2 {
		t.Fatalf("%d spot and Bybit connections, want 2", n)
	}

	// a schedule, measured from each connection's start
	if err := s.SetFaults(Fault{Kind: FaultDrop, Every: 200 * time.Millisecond, Venue: VenueOKX}); err != nil {
		t.Fatal(err)
	}
	okx = dialWS(t, s, s.OKX().WSURL()+"/ws/v5/public")
	abrupt(t, okx)
	time.Sleep(300 * time.Millisecond) // past the schedule of the older connections too
	alive(t, spot, nil, bybit)

	by := s.FaultCountsByVenue()
	if by[VenueOKX][FaultDrop] < 2 || by[VenueBinance] != nil || by[VenueBybit] != nil {
		t.Fatalf("fired by venue: %v; want drops at okx alone", by)
	}
	if n := s.FaultCounts()[FaultDrop]; n != by[VenueOKX][FaultDrop] {
		t.Fatalf("%d drops in all, %d at okx", n, by[VenueOKX][FaultDrop])
	}

	// aimed at two venues: OKX is left alone
	if err := s.SetFaults(); err != nil {
		t.Fatal(err)
	}
	okx = dialWS(t, s, s.OKX().WSURL()+"/ws/v5/public")
	waitFor(t, 3*time.Second, func() bool { return len(s.OKX().Conns()) == 1 })
	if err := s.Fire(Fault{Kind: FaultDrop, Venue: "binance+bybit"}); err != nil {
		t.Fatal(err)
	}
	abrupt(t, spot)
	abrupt(t, bybit)
	alive(t, dial(t, s, "/ws/btcusdt@aggTrade"), okx, dialWS(t, s, s.Bybit().WSURL()+"/v5/public/spot"))
}

// TestFaultAimedAtVenueREST: a REST fault spends its chances on the
// requests of the venues it is aimed at only; TLS and refuse faults act
// on those venues' listeners only.
func TestFaultAimedAtVenueREST(t *testing.T) {
	s := startSim(t, Config{Venues: []string{VenueOKX, VenueBybit}})
	spotTime := s.RESTURL() + "/api/v3/time"
	okxTime := s.OKX().RESTURL() + "/api/v5/public/time"
	for _, tc := range []struct {
		venue       string
		first, then string // the first request goes where the rule does not apply
	}{{VenueOKX, spotTime, okxTime}, {VenueBinance, okxTime, spotTime}} {
		if err := s.SetFaults(Fault{Kind: FaultREST5xx, Times: 1, Venue: tc.venue}); err != nil {
			t.Fatal(err)
		}
		if code, _, body := getURL(t, s, tc.first); code != http.StatusOK {
			t.Fatalf("rest-5xx aimed at %s: %s answered %d %s", tc.venue, tc.first, code, body)
		}
		if len(s.Faults()) != 1 {
			t.Fatalf("rest-5xx aimed at %s spent by %s", tc.venue, tc.first)
		}
		if code, _, body := getURL(t, s, tc.then); code != http.StatusServiceUnavailable {
			t.Fatalf("rest-5xx aimed at %s: %s answered %d %s", tc.venue, tc.then, code, body)
		}
		if len(s.Faults()) != 0 {
			t.Fatalf("rest-5xx times=1 not spent: %v", s.Faults())
		}
	}
	if by := s.FaultCountsByVenue(); by[VenueOKX][FaultREST5xx] != 1 || by[VenueBinance][FaultREST5xx] != 1 {
		t.Fatalf("fired by venue: %v", by)
	}

	// tls-reset aimed at bybit: spot's handshake is untouched
	if err := s.SetFaults(Fault{Kind: FaultTLSReset, Times: 1, Venue: VenueBybit}); err != nil {
		t.Fatal(err)
	}
	dial(t, s, "/ws/btcusdt@aggTrade")
	if c, _, err := dialer(s).Dial(s.Bybit().WSURL()+"/v5/public/spot", nil); err == nil {
		c.Close()
		t.Fatal("Bybit handshake succeeded under tls-reset aimed at bybit")
	}
	dialWS(t, s, s.Bybit().WSURL()+"/v5/public/spot") // spent

	// refuse aimed at okx: OKX's listener alone
	if err := s.Fire(Fault{Kind: FaultRefuse, Duration: time.Second, Venue: VenueOKX}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := dialer(s).Dial(s.OKX().WSURL()+"/ws/v5/public", nil); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("OKX under refuse: %v, want connection refused", err)
	}
	dial(t, s, "/ws/btcusdt@aggTrade")
	dialWS(t, s, s.Bybit().WSURL()+"/v5/public/spot")
	if by := s.FaultCountsByVenue(); by[VenueOKX][FaultRefuse] != 1 || by[VenueBybit][FaultTLSReset] != 1 || by[VenueBinance][FaultRefuse] != 0 {
		t.Fatalf("fired by venue: %v", by)
	}
}

// TestFaultAimedAtVenueMessages: a stream fault aimed at okx leaves the
// spot streams whole; aimed at binance it applies to them.
func TestFaultAimedAtVenueMessages(t *testing.T) {
	s := startSim(t, Config{Venues: []string{VenueOKX}, Faults: []Fault{{Kind: FaultTradeGap, Prob: 1, Venue: VenueOKX}}})
	c := dial(t, s, "/ws/btcusdt@aggTrade")
	var prev int64
	for range 20 {
		var tr struct {
			A int64 `json:"a"`
		}
		readJSON(t, c, 5*time.Second, &tr)
		if prev != 0 && tr.A != prev+1 {
			t.Fatalf("aggTrade %d after %d under trade-gap aimed at okx", tr.A, prev)
		}
		prev = tr.A
	}
	if st := s.Conns(); len(st) != 1 || st[0].FaultSkipped != 0 {
		t.Fatalf("spot connection: %+v", st)
	}
	if err := s.SetFaults(Fault{Kind: FaultTradeGap, Prob: 1, Venue: VenueBinance}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool { st := s.Conns(); return len(st) == 1 && st[0].FaultSkipped > 0 })
	if by := s.FaultCountsByVenue(); by[VenueBinance][FaultTradeGap] == 0 || by[VenueOKX] != nil {
		t.Fatalf("fired by venue: %v", by)
	}
}

// TestFaultVenueAdmin: the admin endpoints take venue, list each rule's
// venues and refuse bad names with the name given.
func TestFaultVenueAdmin(t *testing.T) {
	s := startSim(t, Config{Venues: []string{VenueOKX}})
	client := httpsClient(s)
	defer client.CloseIdleConnections()
	do := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, s.RESTURL()+path, strings.NewReader(body))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: %s: %v", method, path, b, err)
		}
		return resp.StatusCode, m
	}
	if code, m := do("PUT", "/sim/faults", `[{"kind":"drop","every":"1h","venue":"okx"},{"kind":"depth-drop","p":0.5},{"kind":"okx-seq-break","p":0.1}]`); code != 200 {
		t.Fatalf("PUT: %d %v", code, m)
	}
	code, m := do("GET", "/sim/faults", "")
	if code != 200 {
		t.Fatalf("GET: %d %v", code, m)
	}
	got := fmt.Sprint(m["faults"])
	for _, want := range []string{"venue:okx venues:[okx]", "kind:depth-drop p:0.5 venues:[binance okx]", "kind:okx-seq-break p:0.1 venues:[okx]"} {
		if !strings.Contains(got, want) {
			t.Errorf("GET /sim/faults: %s lacks %s", got, want)
		}
	}
	if _, ok := m["firedByVenue"]; !ok {
		t.Errorf("GET /sim/faults: no firedByVenue: %v", m)
	}
	for body, want := range map[string]string{
		`{"kind":"drop","p":0.1,"venue":"okex"}`:           `"okex" is not a venue`,
		`{"kind":"drop","p":0.1,"venue":"bybit"}`:          "bybit is not served (serving: binance, okx",
		`{"kind":"okx-seq-break","p":0.1,"venue":"bybit"}`: "okx-seq-break is a fault of okx alone",
		`{"kind":"burst","times":1,"venue":"okx"}`:         "burst changes the market every venue shares",
	} {
		for _, path := range []string{"/sim/faults", "/sim/fire"} {
			if code, m := do("POST", path, body); code != 400 || !strings.Contains(fmt.Sprint(m["error"]), want) {
				t.Errorf("POST %s %s: %d %v; want 400 saying %s", path, body, code, m, want)
			}
		}
	}
	c := dialWS(t, s, s.OKX().WSURL()+"/ws/v5/public")
	spot := dial(t, s, "/ws/btcusdt@aggTrade")
	waitFor(t, 3*time.Second, func() bool { return len(s.OKX().Conns()) == 1 && len(s.Conns()) == 1 })
	if code, m := do("POST", "/sim/fire", `{"kind":"drop","venue":"okx"}`); code != 200 || m["fired"] != "drop:times=1,venue=okx" {
		t.Fatalf("POST /sim/fire: %d %v", code, m)
	}
	abrupt(t, c)
	alive(t, spot, nil, nil)
	code, m = do("GET", "/sim/faults", "")
	var by map[string]map[string]float64
	if b, err := json.Marshal(m["firedByVenue"]); code != 200 || err != nil || json.Unmarshal(b, &by) != nil || by["okx"]["drop"] != 1 || by["binance"]["drop"] != 0 {
		t.Fatalf("GET /sim/faults after the drop: %d %v", code, m["firedByVenue"])
	}
}

// TestFaultVenueNotServed: a rule aimed at a venue the server does not
// serve is refused, from Config.Faults as from SetFaults.
func TestFaultVenueNotServed(t *testing.T) {
	_, err := Start(Config{Faults: []Fault{{Kind: FaultDrop, Every: time.Second, Venue: VenueKraken}}})
	if err == nil || !strings.Contains(err.Error(), "Faults[0]") || !strings.Contains(err.Error(), "kraken is not served (serving: binance;") {
		t.Fatalf("Start with a fault aimed at kraken, unserved: %v", err)
	}
	s := startSim(t, Config{})
	err = s.SetFaults(Fault{Kind: FaultDrop, Every: time.Second}, Fault{Kind: FaultDrop, Every: time.Second, Venue: "binance+okx"})
	if err == nil || !strings.Contains(err.Error(), "fault 1") || !strings.Contains(err.Error(), `venue="binance+okx": okx is not served`) {
		t.Fatalf("SetFaults aimed at okx, unserved: %v", err)
	}
	if err := s.Fire(Fault{Kind: FaultDrop, Venue: VenueBinanceUSDM}); err == nil {
		t.Fatal("Fire aimed at binance-usdm, unserved: accepted")
	}
	// a venue's own kind without venue= is let through, as before
	if err := s.SetFaults(Fault{Kind: FaultOKXSeqBreak, Prob: 0.1}, Fault{Kind: FaultDrop, Every: time.Second, Venue: VenueBinance}); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkFaultHitAtVenue: one message opportunity of spot with three
// stream rules active, two of them aimed at other venues.
func BenchmarkFaultHitAtVenue(b *testing.B) {
	fs := newFaults(1)
	fs.set([]Fault{{Kind: FaultDepthDrop, Prob: 1e-12, Venue: "okx+bybit"}, {Kind: FaultDepthDup, Prob: 1e-12, Venue: VenueCoinbase}, {Kind: FaultTradeGap, Prob: 1e-12}})
	rng := fs.rng(7)
	now := time.Now()
	accept := func(k FaultKind) bool { return k == FaultDepthDrop || k == FaultDepthDup || k == FaultTradeGap }
	for b.Loop() {
		fs.hitAt(VenueBinance, classMessage, rng, now, accept)
	}
}
