package sink

// Healther is implemented by a sink that can tell whether its destination
// takes events now, beyond what its Stats show: the NATS sink reports a
// server it cannot reach and acknowledgements that stopped coming.
// Readiness checks (monitor.Config.Sinks) call it; sinks without it are
// judged by their Stats alone.
type Healther interface {
	// Health returns nil while the sink delivers, or an error saying why
	// it does not. It is cheap and safe to call from any goroutine at any
	// time, also after Close.
	Health() error
}
