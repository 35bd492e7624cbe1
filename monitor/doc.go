// Package monitor shows whether a feed is healthy: Prometheus metrics,
// /healthz and /readyz, and a live dashboard, on one HTTP listener; and a
// live status line for a terminal.
//
// The gateway's counters are read as snapshots (feed.Gateway.Stats) when
// they are needed: at scrape time, and once a second for the dashboard.
// Only latency needs a look at every event: the gateway's handler calls
// Monitor.Observe, which costs a few tens of nanoseconds and does not
// allocate once a symbol has been seen.
//
// A Monitor owns its listener and goroutines; Close stops them all.
//
// # Health
//
// /healthz answers 200 "ok" while the process serves. /readyz answers 200
// when ready and 503 when not, with a JSON Readiness:
//
//	{"ready": false,
//	 "not_ready": [{"check": "connection", "venue": "okx", "conn": "okx#1", "detail": "connecting"}],
//	 "venues": [{"venue": "binance", "ready": true}, {"venue": "okx", "ready": false, "problems": 1}]}
//
// "venue" and "venues" are there in a process that runs several venues
// (Config.Venues): each venue is checked from its own counters (its
// connections up, not lagging, its books in sync) and every problem of a
// venue names it; the sinks and Config.Checks are shared and name none.
// /readyz?venue=okx answers for that venue alone (its problems, not the
// shared ones), 200 or 503, for a probe per venue; a name that is not one of
// the process's venues gets 404 with the names it runs. For alerts,
// /metrics has feedkeeper_venue_ready{venue="okx"}, 1 or 0, as the
// dashboard last found it (every SampleInterval).
//
// # The dashboard's snapshot
//
// The dashboard reads one JSON snapshot every Config.SampleInterval, from
// /events (server-sent events: an "init" event with the charts' history and
// the last snapshot, then one snapshot per message) or /api/snapshot (the
// last one). Its fields: "t" and "started" (unix ms), "venue" (Config.Venue),
// "ready" and "not_ready" (as /readyz), "clock" (the venue's clock offset),
// "totals" (counters since start, summed over the venues: events, frames,
// bytes, gaps, missing, reconnects, books_in_sync, conns_up, conns…), "rates"
// (per second over the last interval), "latency" (p50 and p99 in ms over the
// last interval; null without events), "process", "conns" (one per
// connection, named venue#n), "quotes" and "books" (per venue and symbol),
// "sinks", "notices" (each with the "venue" of its event) and "point" (the
// charts' sample; with Config.Venues its "vev" is each venue's events per
// second, in their order, also in /api/history).
//
// With Config.Venues the snapshot also has "venues", one object per venue in
// the order of Config.Venues, each from that venue's own counters:
//
//	name, ready, not_ready    its readiness and its problems (as /readyz)
//	conns_up, conns           its connections up (connected or rotating) and in all
//	connects, reconnects, stale, rotations
//	events                    events delivered since start
//	events_rate, frames_rate, bytes_rate
//	                          per second over the last interval
//	skipped                   frames malformed, unknown, binary or dropped
//	exch_p50, exch_p99        exchange → receive latency, ms, over the last
//	                          interval (its events only); null without events
//	lag_s, lagging            the most any of its connections lags behind the
//	                          venue (the gateway's lag watch; 0 when off) and
//	                          how many lag past the gateway's bound
//	gaps, missing             sequence gaps found and IDs missing in them
//	backfilled, unfilled      trades recovered over REST; gaps that could not be
//	books, books_in_sync, resyncs
//	                          its order books (VenueMetrics.BookSymbols, or else
//	                          those loaded so far), those in sync now, and books
//	                          thrown away and synced again
//	rest                      its REST client (absent without one): requests,
//	                          retries, failures, rate_limited (429), bans (418),
//	                          forbidden (403), server_errors, net_errors,
//	                          weight_used, weight_limit, banned
//	dials                     its connection-attempt budget (absent without one):
//	                          used, limit, window_s, waiting, attempts, waits
//
// A process that runs one venue has no "venues", and its dashboard shows no
// venue rows.
package monitor
