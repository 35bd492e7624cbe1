// Keeps Kraken order books with ccxt's watchOrderBook (WebSocket v2),
// unmodified, pointed at the URLs given, and prints one JSON line per book
// state it resolves: {"symbol","datetime","bids","asks"} (datetime: the
// timestamp of the book message the state is at; absent after a
// snapshot).
//
// usage: node kraken_book.js WS_BASE REST_BASE STATES DEPTH SYMBOL...
const ccxt = require('ccxt');

const [ws, rest, states, depth, ...symbols] = process.argv.slice(2);
const ex = new ccxt.pro.kraken({});
ex.urls.api.public = rest;
ex.urls.api.ws.publicV2 = ws + '/v2';

(async () => {
  let n = 0;
  await Promise.all(symbols.map(async (symbol) => {
    while (n < Number(states)) {
      try {
        const ob = await ex.watchOrderBook(symbol, Number(depth));
        n++;
        process.stdout.write(JSON.stringify({ symbol, datetime: ob.datetime, bids: ob.bids, asks: ob.asks }) + '\n');
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
