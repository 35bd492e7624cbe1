module github.com/feedkeeper/feedkeeper/bench/peers

go 1.26.8

replace github.com/feedkeeper/feedkeeper => ../..

require (
	github.com/adshao/go-binance/v2 v2.8.7
	github.com/feedkeeper/feedkeeper v0.0.0-00010101000000-000000000000
	github.com/gorilla/websocket v1.5.3
	github.com/hirokisan/bybit/v2 v2.36.0
	go.uber.org/goleak v1.3.0
	golang.org/x/time v0.16.0
)

require (
	github.com/bitly/go-simplejson v0.5.0 // indirect
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/gobwas/ws v1.5.0 // indirect
	github.com/google/go-querystring v1.1.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/jpillora/backoff v1.0.0 // indirect
	github.com/kr/text v0.2.0 // indirect
	github.com/shopspring/decimal v1.4.0 // indirect
	github.com/spf13/pflag v1.1.0 // indirect
)
