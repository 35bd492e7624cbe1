package sim

import (
	"strconv"
	"time"
)

// BybitStatus is the category name of the front-end's system status stream,
// wss://…/v5/public/misc/status, whose one topic is system.status
// (docs/v5/websocket/system/system-status.mdx).
const BybitStatus = "misc/status"

// bybitStatusTopic is the status stream's topic, and bybitStatusKey its
// hub key.
const (
	bybitStatusTopic = "system.status"
	bybitStatusKey   = BybitStatus + "/" + bybitStatusTopic
)

// FaultBybitMaintenance: a planned maintenance of the market data service.
// Every connection subscribed to system.status on /v5/public/misc/status
// gets the notice Bybit publishes there
// (docs/v5/websocket/system/system-status.mdx):
//
//	{"topic":"system.status","ts":…,"data":[{"id":"…","title":"…","state":"scheduled",
//	 "begin":"<ms>","end":"<ms>","href":"","serviceTypes":[5],"product":[1,2],
//	 "uidSuffix":[],"maintainType":1,"env":1}]}
//
// with begin Duration after the notice (default 60s) and end 5 s after
// begin ("serviceTypes" 5 is the market data service, "product" 1 and 2
// futures and spot, "maintainType" 1 a planned maintenance, "env" 1
// production: docs/v5/enum.mdx). At begin the notice comes again with
// state "ongoing", and every spot and linear connection opened before the
// first notice is closed (1001 "maintenance"): the simulator's model of a
// maintenance that moves the service, so that a client that replaced its
// connections after the notice keeps them. At end the notice comes with
// state "completed". Decided once per BookTick (Prob is per tick); one
// maintenance at a time: a fault while one is under way is spent on
// nothing. Bybit does not say which connections a maintenance closes, nor
// how long before begin it publishes the notice.
const FaultBybitMaintenance FaultKind = "bybit-maintenance"

// bybitMaintenanceLength is how long a simulated maintenance lasts.
const bybitMaintenanceLength = 5 * time.Second

func init() { faultClasses[FaultBybitMaintenance] = classMessage }

// bybitMaint is the maintenance under way, the feed goroutine's own.
type bybitMaint struct {
	id                  string
	noticed, begin, end time.Time
	state               string // the last state published
}

// statusStep publishes the system.status notices due at now and closes the
// connections a maintenance ends. Called by step with pendMu held.
func (f *bybitFeed) statusStep(now time.Time) {
	f.join(bybitStatusKey, nil) // subscribers get the notices from now on
	if f.maint == nil {
		fl, hit := f.fs.hit(classMessage, f.rng, now, func(k FaultKind) bool { return k == FaultBybitMaintenance })
		if !hit {
			return
		}
		d := fl.Duration
		if d <= 0 {
			d = time.Minute
		}
		f.maintSeq++
		f.maint = &bybitMaint{id: uuidOf(f.maintSeq, 0x6d61696e), // "main"
			noticed: now, begin: now.Add(d), end: now.Add(d + bybitMaintenanceLength), state: "scheduled"}
		f.hub.publish(bybitStatusMessage(f.maint, now))
		return
	}
	m := f.maint
	switch {
	case m.state == "scheduled" && !now.Before(m.begin):
		m.state = "ongoing"
		f.hub.publish(bybitStatusMessage(m, now))
		for _, c := range f.hub.snapshot() {
			if c.by != nil && c.by.category != BybitStatus && c.opened.Before(m.noticed) {
				c.end(1001, "maintenance", "bybit maintenance began")
			}
		}
	case m.state == "ongoing" && !now.Before(m.end):
		m.state = "completed"
		f.hub.publish(bybitStatusMessage(m, now))
		f.maint = nil
	}
}

// bybitStatusMessage encodes the system.status push of m.
func bybitStatusMessage(m *bybitMaint, now time.Time) *Message {
	b := make([]byte, 0, 320)
	b = append(b, `{"topic":"system.status","ts":`...)
	b = strconv.AppendInt(b, now.UnixMilli(), 10)
	b = append(b, `,"data":[{"id":"`...)
	b = append(b, m.id...)
	b = append(b, `","title":"Market data service maintenance","state":"`...)
	b = append(b, m.state...)
	b = append(b, `","begin":"`...)
	b = strconv.AppendInt(b, m.begin.UnixMilli(), 10)
	b = append(b, `","end":"`...)
	b = strconv.AppendInt(b, m.end.UnixMilli(), 10)
	b = append(b, `","href":"","serviceTypes":[5],"product":[1,2],"uidSuffix":[],"maintainType":1,"env":1}]}`...)
	return &Message{Stream: bybitStatusKey, Kind: KindControl, Ms: b}
}
