package sim

import (
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

type bybitNotice struct {
	ID           string `json:"id"`
	State        string `json:"state"`
	Begin        string `json:"begin"`
	End          string `json:"end"`
	ServiceTypes []int  `json:"serviceTypes"`
	Product      []int  `json:"product"`
	MaintainType int    `json:"maintainType"`
	Env          int    `json:"env"`
}

func bybitReadNotice(t *testing.T, c *websocket.Conn) bybitNotice {
	t.Helper()
	var m bybitMsg
	for deadline := time.Now().Add(15 * time.Second); m.Topic != "system.status"; {
		if time.Now().After(deadline) {
			t.Fatal("no system.status notice")
		}
		m = bybitRead(t, c, 10*time.Second) // "completed" comes 5 s after "ongoing"
	}
	var data []bybitNotice
	if err := json.Unmarshal(m.Data, &data); err != nil || len(data) != 1 || m.TS == 0 {
		t.Fatalf("system.status %s: %v", m.raw, err)
	}
	return data[0]
}

// TestBybitMaintenance: the system.status topic is served on
// /v5/public/misc/status only; bybit-maintenance publishes the scheduled
// notice, then "ongoing" at begin, when the data connections opened before
// the notice are closed (1001) and those opened after it kept, then
// "completed".
func TestBybitMaintenance(t *testing.T) {
	s, _ := startWithBybit(t, Config{Rate: -1})
	st := bybitDial(t, s, BybitStatus)
	bybitSend(t, st, `{"op":"subscribe","args":["system.status"],"req_id":"1"}`)
	if m := bybitRead(t, st, 5*time.Second); m.Success == nil || !*m.Success || m.Op != "subscribe" {
		t.Fatalf("subscribe: %s", m.raw)
	}
	spot := bybitDial(t, s, BybitSpot)
	bybitSend(t, spot, `{"op":"subscribe","args":["system.status"]}`)
	if m := bybitRead(t, spot, 5*time.Second); m.Success == nil || *m.Success || m.RetMsg != "error:handler not found,topic:system.status" {
		t.Fatalf("system.status on spot: %s", m.raw)
	}
	bybitSend(t, st, `{"op":"subscribe","args":["publicTrade.BTCUSDT"]}`)
	if m := bybitRead(t, st, 5*time.Second); m.Success == nil || *m.Success {
		t.Fatalf("publicTrade on misc/status: %s", m.raw)
	}
	bybitSend(t, spot, `{"op":"subscribe","args":["publicTrade.BTCUSDT"]}`)
	bybitRead(t, spot, 5*time.Second)

	start := time.Now()
	if err := s.Fire(Fault{Kind: FaultBybitMaintenance, Duration: 700 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	n := bybitReadNotice(t, st)
	begin, _ := strconv.ParseInt(n.Begin, 10, 64)
	end, _ := strconv.ParseInt(n.End, 10, 64)
	if n.State != "scheduled" || n.ID == "" || begin < start.Add(650*time.Millisecond).UnixMilli() || end <= begin ||
		len(n.ServiceTypes) != 1 || n.ServiceTypes[0] != 5 || len(n.Product) != 2 || n.MaintainType != 1 || n.Env != 1 {
		t.Fatalf("notice %+v (fired at %d)", n, start.UnixMilli())
	}
	later := bybitDial(t, s, BybitLinear) // opened after the notice: kept
	bybitSend(t, later, `{"op":"subscribe","args":["publicTrade.BTCUSDT"]}`)
	bybitRead(t, later, 5*time.Second)

	var ce *websocket.CloseError
	if err := readUntilError(spot, 5*time.Second); !errors.As(err, &ce) || ce.Code != 1001 {
		t.Fatalf("spot connection opened before the notice: %v, want close 1001", err)
	}
	if time.Now().UnixMilli() < begin-50 {
		t.Fatalf("closed before begin %d", begin)
	}
	if n2 := bybitReadNotice(t, st); n2.State != "ongoing" || n2.ID != n.ID {
		t.Fatalf("at begin: %+v", n2)
	}
	if n3 := bybitReadNotice(t, st); n3.State != "completed" || n3.ID != n.ID {
		t.Fatalf("at end: %+v", n3)
	}
	// the connection opened after the notice still serves
	later.SetReadDeadline(time.Now().Add(5 * time.Second))
	bybitSend(t, later, `{"op":"ping"}`)
	for {
		m := bybitRead(t, later, 5*time.Second)
		if m.RetMsg == "pong" {
			break
		}
	}
}
