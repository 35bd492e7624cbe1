package bybit

import (
	"testing"

	"github.com/feedkeeper/feedkeeper/feed"
)

// TestDepth1Repeats: Bybit's depth 1 snapshot pushed again with the same u
// and levels is left out; one with the same u and other levels, or any
// after a subscribe reply, is delivered; deeper books are never left out.
func TestDepth1Repeats(t *testing.T) {
	d := NewDecoder(testSymbols(t), Spot)
	snap := func(u, bid string) string {
		return `{"topic":"orderbook.1.BTCUSDT","ts":1672304484978,"type":"snapshot","data":{"s":"BTCUSDT","b":[["` + bid +
			`","0.5"]],"a":[["16611.00","0.029"]],"u":` + u + `,"seq":7961638724},"cts":1672304484976}`
	}
	deep := `{"topic":"orderbook.50.BTCUSDT","ts":1672304484978,"type":"snapshot","data":{"s":"BTCUSDT","b":[["16493.50","0.5"]],"a":[["16611.00","0.029"]],"u":9,"seq":7961638724},"cts":1672304484976}`
	var ev feed.Event
	for i, c := range []struct {
		frame string
		want  feed.Decoded
	}{
		{snap("5", "16493.50"), feed.DecodedEvent},
		{snap("5", "16493.50"), feed.DecodedReply}, // the 3 s repeat
		{snap("5", "16493.50"), feed.DecodedReply},
		{snap("5", "16493.40"), feed.DecodedEvent}, // same u, other book: it replaces the book
		{snap("6", "16493.40"), feed.DecodedEvent},
		{`{"success":true,"ret_msg":"subscribe","conn_id":"c","req_id":"7","op":"subscribe"}`, feed.DecodedReply},
		{snap("6", "16493.40"), feed.DecodedEvent}, // first after a subscribe: a new connection needs it
		{`{"success":true,"ret_msg":"pong","conn_id":"c","op":"ping"}`, feed.DecodedReply},
		{snap("6", "16493.40"), feed.DecodedReply},
		{deep, feed.DecodedEvent},
		{deep, feed.DecodedEvent},
	} {
		got, err := d.Decode([]byte(c.frame), &ev)
		if err != nil || got != c.want {
			t.Fatalf("frame %d: %v, %v; want %v", i, got, err, c.want)
		}
		if got == feed.DecodedEvent && (ev.Type != feed.TypeBookSnapshot || !ev.Base) {
			t.Fatalf("frame %d: %+v", i, ev)
		}
		if rep, err := d.ParseReply([]byte(c.frame)); got == feed.DecodedReply && c.frame[2] == 't' && (err != nil || rep.ID != 0 || rep.IsErr) {
			t.Fatalf("frame %d: left out, read as the reply %+v, %v", i, rep, err)
		}
	}
	if d.Repeats() != 3 {
		t.Fatalf("%d repeats counted, want 3", d.Repeats())
	}
}
