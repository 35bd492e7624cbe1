package wsconn

// WebSocket close codes (RFC 6455 section 7.4.1) that the gateway tells
// apart, as found in CloseError.Code and Stats.CloseCodes.
const (
	// CloseNormal (1000): the server ended the connection on purpose,
	// e.g. at the end of its lifetime.
	CloseNormal = 1000
	// CloseGoingAway (1001): the server is shutting down or restarting.
	CloseGoingAway = 1001
	// CloseAbnormal (1006): the connection dropped without a close frame;
	// never sent on the wire, so never a CloseError.
	CloseAbnormal = 1006
	// ClosePolicyViolation (1008): the server asks the client to slow
	// down (too many messages); the session waits at least
	// Config.PolicyBackoff before reconnecting.
	ClosePolicyViolation = 1008
	// CloseTooBig (1009): a message was larger than the receiver accepts.
	CloseTooBig = 1009
	// CloseInternalError (1011): the server failed.
	CloseInternalError = 1011
)
