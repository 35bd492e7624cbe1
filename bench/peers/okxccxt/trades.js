// Prints every trade ccxt's watchTrades delivers, unmodified ccxt pointed
// at the URLs given (its urls only), as one JSON line each
// (JSON.stringify of ccxt's unified trade), until SIGINT or SIGTERM: what
// a user of ccxt writes to turn a venue's trades into JSON Lines. The
// peers benchmarks run it beside `feedkeeper run`.
//
// usage: node trades.js EXCHANGE WS_BASE REST_BASE SYMBOL...
// EXCHANGE: okx, kraken or coinbase (its currencies, read from the Coinbase
// App API rather than Advanced Trade's, not fetched).
const ccxt = require('ccxt');

const [id, ws, rest, ...symbols] = process.argv.slice(2);
const ex = new ccxt.pro[id]({});
switch (id) {
  case 'okx':
    ex.urls.api.rest = rest;
    ex.urls.api.ws = ws + '/ws/v5';
    break;
  case 'kraken':
    ex.urls.api.public = rest;
    ex.urls.api.ws.publicV2 = ws + '/v2';
    break;
  case 'coinbase':
    ex.urls.api.rest = rest;
    ex.urls.api.ws = ws;
    ex.has.fetchCurrencies = false;
    break;
  default:
    console.error('unknown exchange ' + id);
    process.exit(2);
}

let stopping = false;
const stop = () => { stopping = true; ex.close().finally(() => process.exit(0)); };
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

(async () => {
  await Promise.all(symbols.map(async (symbol) => {
    while (!stopping) {
      try {
        const trades = await ex.watchTrades(symbol);
        let out = '';
        for (const t of trades) {
          out += JSON.stringify(t) + '\n';
        }
        process.stdout.write(out);
      } catch (e) {
        if (!stopping) {
          console.error(symbol + ': ' + e.constructor.name + ': ' + e.message);
        }
      }
    }
  }));
})().catch((e) => {
  console.error(String((e && e.stack) || e));
  process.exit(1);
});
