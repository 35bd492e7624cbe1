// Keeps OKX order books with ccxt's watchOrderBook, unmodified, pointed at
// the URLs given (ccxt is configured only through its urls), and prints
// one JSON line per book state it resolves: {"symbol","nonce","bids","asks"}
// (nonce: the seqId the book is at); a rejected watch (ccxt's InvalidNonce
// on a prevSeqId gap) prints {"symbol","error"} and the watch goes on,
// which resubscribes.
//
// usage: node book.js WS_BASE REST_BASE STATES SYMBOL...
const ccxt = require('ccxt');

const [ws, rest, states, ...symbols] = process.argv.slice(2);
const ex = new ccxt.pro.okx({});
ex.urls.api.rest = rest;
ex.urls.api.ws = ws + '/ws/v5';

(async () => {
  let n = 0;
  await Promise.all(symbols.map(async (symbol) => {
    while (n < Number(states)) {
      try {
        const ob = await ex.watchOrderBook(symbol);
        n++;
        process.stdout.write(JSON.stringify({ symbol, nonce: ob.nonce, bids: ob.bids, asks: ob.asks }) + '\n');
      } catch (e) {
        process.stdout.write(JSON.stringify({ symbol, error: e.constructor.name + ': ' + e.message }) + '\n');
      }
    }
  }));
  await ex.close();
})().catch((e) => {
  console.error(String((e && e.stack) || e));
  process.exit(1);
});
