// Keeps Coinbase Advanced Trade order books with ccxt's watchOrderBook
// (level2 channel), unmodified, pointed at the URLs given, and prints one
// JSON line per book state it resolves: {"symbol","nonce","datetime","bids","asks"}.
//
// usage: node coinbase_book.js WS_URL REST_BASE STATES SYMBOL...
const ccxt = require('ccxt');

const [ws, rest, states, ...symbols] = process.argv.slice(2);
const ex = new ccxt.pro.coinbase({});
ex.urls.api.rest = rest;
ex.urls.api.ws = ws;
ex.has.fetchCurrencies = false; // the Coinbase App API (/v2/currencies) is not Advanced Trade's

(async () => {
  let n = 0;
  await Promise.all(symbols.map(async (symbol) => {
    while (n < Number(states)) {
      try {
        const ob = await ex.watchOrderBook(symbol);
        n++;
        process.stdout.write(JSON.stringify({ symbol, nonce: ob.nonce, datetime: ob.datetime, bids: ob.bids.slice(0, 20), asks: ob.asks.slice(0, 20) }) + '\n');
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
