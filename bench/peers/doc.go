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
//   - The same end to end, each client a process of its own
//     (BenchmarkRunJSONL, BenchmarkVenueJSONL): the feedkeeper binary's
//     `run` with its JSON Lines to a pipe, beside each venue's peer
//     printing the same events as JSON lines: gobinancejson (go-binance,
//     spot and USD-M futures), bybitjson (hirokisan/bybit) and
//     okxccxt/trades.js (ccxt, for OKX, Kraken and Coinbase).
//   - Compatibility checks of the simulator (package sim) against
//     third-party clients: an unmodified client written for the real Binance
//     is pointed at the simulator's URLs and must connect, parse every
//     message and see exactly the market the simulator's ground truth
//     records. A client that cannot tell the simulator from Binance is the
//     evidence that the simulator speaks real Binance.
//
// For Binance USD-M futures the client is go-binance's own futures package
// (github.com/adshao/go-binance/v2/futures), the same module as the spot
// client: the most used Go client of the venue, written by others from
// Binance's documentation and never from the simulator's code. It parses
// every field of the diff depth events (U, u, pu, T) and of the REST depth
// snapshot, so it checks the front-end's wire format; the test keeps the
// book by the USD-M procedure itself (go-binance leaves that to its users)
// and compares it, and the aggregate trades, with the ground truth.
//
// For Bybit the client is github.com/hirokisan/bybit/v2 (v2.36.0, of
// 2024-11-27): a community Go client of Bybit's v5 API, not Bybit's own,
// written from Bybit's documentation and against the real service (its
// ping sends the JSON {"op":"ping"} beside a ping frame since users of the
// real service reported disconnects, hirokisan/bybit#126 and #127). It is
// configured only with WithBaseURL. It parses orderbook and publicTrade
// messages into its own types (u as an int, trade IDs as strings, "L",
// "BT"), so it checks the front-end's wire format; the test keeps the book
// by Bybit's rules from what it parsed and compares it at every u, and the
// trades, with the ground truth, and reads the REST order book and recent
// trades with its market client. Bybit's own
// github.com/bybit-exchange/bybit.go.api was not tried: one client written
// by others is what the check needs, and hirokisan's public WebSocket API
// (one connection per category, a callback per topic) reaches every
// topic the test reads.
//
// For OKX the client is ccxt's (npm package ccxt, pinned in okxccxt/, run
// with the machine's Node.js): no Go client of OKX is served by the Go
// module proxy this project builds from, and of the OKX clients on npm
// ccxt is the most used one that keeps an order book itself (okx-api
// leaves that to its users). Its watchOrderBook loads the instruments of
// every instType over REST, subscribes to books, chains the updates by
// prevSeqId (InvalidNonce on a gap, then a new subscription) and keeps
// 400 levels; okxccxt/book.js only points its urls at the simulator and
// prints the books it resolves, which the tests compare with the ground
// truth at the seqId ccxt reports. Node.js trusts the simulator's CA
// through NODE_EXTRA_CA_CERTS, certificate verification on. The same ccxt
// keeps Kraken's books (okxccxt/kraken_book.js, WebSocket v2) and
// Coinbase's (okxccxt/coinbase_book.js, Advanced Trade level2; compared
// with the truth after the l2_data message of the timestamp ccxt reports);
// for Coinbase the one setting changed is has.fetchCurrencies off, the
// currencies coming from the Coinbase App API rather than Advanced Trade's.
//
// The tests trust the simulator's certificate authority the way any program
// would trust a private CA: through the SSL_CERT_FILE environment variable,
// set in TestMain before the process first loads its system roots. The
// clients under test get no TLS configuration of their own, and certificate
// verification stays on.
package peers
