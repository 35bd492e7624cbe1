package sim

// Faults of the OKX front-end (Config.Venues lists VenueOKX). The common
// connection faults (drop, close, stall, nopong, malformed, oversize,
// throttle) apply to its connections as to the others; shutdown sends
// OKX's notice, as okx-maintenance does; depth-drop, depth-dup and
// depth-reorder apply per connection to the books channel's updates, and
// trade-gap to the trades and trades-all messages.
const (
	// FaultOKXSeqBreak: a books update is lost on the server's side: no
	// subscriber of its channel gets it, and the channel's next update
	// carries as prevSeqId the seqId of the lost one, so prevSeqId is not
	// the seqId of the update before it ("The prevSeqId in the new message
	// matches with seqId of the previous message"). Prob is per update;
	// decided once per update for every subscriber.
	FaultOKXSeqBreak FaultKind = "okx-seq-break"
	// FaultOKXSeqReset: the books channel's sequence restarts, as "due to
	// maintenance": the update carries a seqId smaller than its prevSeqId
	// (which is the previous seqId), and later updates continue from the
	// new value. Prob is per update; decided once per update.
	FaultOKXSeqReset FaultKind = "okx-seq-reset"
	// FaultOKXBadChecksum: a books update carries a wrong checksum (with
	// OKXConfig.LegacyChecksum; without it checksum is always 0 and the
	// fault does nothing). Prob is per update; decided once per update.
	FaultOKXBadChecksum FaultKind = "okx-bad-checksum"
	// FaultOKXMaintenance: a connection fault: a connection on
	// /ws/v5/public gets the notice OKX sends before a service upgrade,
	// {"event":"notice","code":"64008","msg":"The connection will soon be
	// closed for a service upgrade. Please reconnect.","connId":…}, and is
	// closed (1001) Duration later (default 60s: "60 seconds prior to the
	// service upgrade"). A connection on /ws/v5/business, which OKX does
	// not notify, is closed without a notice. Other front-ends ignore it.
	FaultOKXMaintenance FaultKind = "okx-maintenance"
)

func init() {
	for k, c := range map[FaultKind]faultClass{
		FaultOKXSeqBreak: classMessage, FaultOKXSeqReset: classMessage, FaultOKXBadChecksum: classMessage,
		FaultOKXMaintenance: classConn,
	} {
		faultClasses[k] = c
	}
}
