// Package peers holds what feedkeeper is measured and checked against, in a
// Go module of its own so that none of it ever becomes a dependency of
// feedkeeper itself.
//
// It serves two purposes:
//
//   - Peers measured side by side with feedkeeper: other Binance clients
//     (github.com/adshao/go-binance/v2, and a plain gorilla/websocket +
//     encoding/json reader) consume the same simulated firehose, so that CPU
//     per message, allocations and memory can be compared on equal terms.
//   - Compatibility checks of the simulator (package sim) against
//     third-party clients: an unmodified client written for the real Binance
//     is pointed at the simulator's URLs and must connect, parse every
//     message and see exactly the market the simulator's ground truth
//     records. A client that cannot tell the simulator from Binance is the
//     evidence that the simulator speaks real Binance.
//
// The tests trust the simulator's certificate authority the way any program
// would trust a private CA: through the SSL_CERT_FILE environment variable,
// set in TestMain before the process first loads its system roots. The
// clients under test get no TLS configuration of their own, and certificate
// verification stays on.
package peers
