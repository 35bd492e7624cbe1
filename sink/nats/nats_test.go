package nats

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/feedkeeper/feedkeeper/feed"
	"github.com/feedkeeper/feedkeeper/sink"
	"github.com/feedkeeper/feedkeeper/sink/sinktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

func startServer(t testing.TB, cfg ServerConfig) *Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	srv, err := StartServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func openSink(t testing.TB, cfg Config) *Sink {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.CloseNow() })
	return s
}

func connect(t testing.TB, urls ...string) (*natsgo.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := natsgo.Connect(strings.Join(urls, ","), natsgo.MaxReconnects(-1), natsgo.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// readStream returns every message of the stream, in order.
func readStream(t testing.TB, stream string, urls ...string) []jetstream.Msg {
	t.Helper()
	nc, js := connect(t, urls...)
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := int(info.State.Msgs)
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	for len(out) < want && ctx.Err() == nil {
		batch, err := cons.Fetch(min(want-len(out), 1000), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			out = append(out, m)
		}
	}
	if len(out) != want {
		t.Fatalf("read %d of the stream's %d messages", len(out), want)
	}
	return out
}

func payloads(msgs []jetstream.Msg) [][]byte {
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		out[i] = m.Data()
	}
	return out
}

var streams atomic.Int64

// uniqueStream returns a stream name and subject prefix no other test uses.
func uniqueStream() (stream, prefix string) {
	n := streams.Add(1)
	return "T" + strconv.FormatInt(n, 10), "t" + strconv.FormatInt(n, 10)
}

func TestSuite(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	sinktest.Run(t, func(t *testing.T) sinktest.Target {
		stream, prefix := uniqueStream()
		s := openSink(t, Config{URLs: []string{srv.ClientURL()}, Stream: stream, SubjectPrefix: prefix})
		return sinktest.Target{Sink: s, Read: func(t testing.TB) [][]byte {
			return payloads(readStream(t, stream, srv.ClientURL()))
		}}
	})
}

// TestEmbeddedConsumer publishes through the sink's own embedded server
// while a JetStream consumer reads over TCP at the URL the sink reports.
func TestEmbeddedConsumer(t *testing.T) {
	s := openSink(t, Config{Server: ServerConfig{Logger: quiet}})
	if s.Server() == nil || !strings.HasPrefix(s.ClientURL(), "nats://127.0.0.1:") {
		t.Fatalf("embedded server at %q", s.ClientURL())
	}
	_, js := connect(t, s.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons, err := js.CreateOrUpdateConsumer(ctx, DefaultStream, jetstream.ConsumerConfig{Durable: "reader", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	want := append(sinktest.Events(), sinktest.Trades("BTCUSDT", 1, 1000)...)
	type got struct {
		subject, msgID string
		data           []byte
	}
	var mu sync.Mutex
	var msgs []got
	all := make(chan struct{})
	cc, err := cons.Consume(func(m jetstream.Msg) {
		mu.Lock()
		defer mu.Unlock()
		msgs = append(msgs, got{m.Subject(), m.Headers().Get(jetstream.MsgIDHeader), m.Data()})
		m.Ack()
		if len(msgs) == len(want) {
			close(all)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Stop()
	for i := range want {
		if err := s.Write(&want[i]); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-all:
	case <-ctx.Done():
		t.Fatalf("consumer got %d of %d", len(msgs), len(want))
	}
	cc.Stop()
	mu.Lock()
	defer mu.Unlock()
	for i, m := range msgs {
		ev := &want[i]
		if err := sinktest.Equal(m.data, ev.AppendJSON(nil)); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if subj := string(AppendSubject(nil, DefaultSubjectPrefix, ev)); m.subject != subj {
			t.Fatalf("message %d on %q, want %q", i, m.subject, subj)
		}
		id, ok := AppendMsgID(nil, ev)
		if !ok {
			id = nil
		}
		if m.msgID != string(id) {
			t.Fatalf("message %d: Nats-Msg-Id %q, want %q", i, m.msgID, id)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	sinktest.CheckStats(t, s.Stats(), int64(len(want)))
}

func TestSubjectAndMsgID(t *testing.T) {
	snap := feed.Event{Type: feed.TypeBookSnapshot, Venue: "binance", Symbol: "ETHUSDT", ID: 42,
		Bids: make([]feed.Level, 5), Asks: make([]feed.Level, 4)}
	for _, c := range []struct {
		ev             feed.Event
		subject, msgID string
	}{
		{feed.Event{Type: feed.TypeTrade, Aggregated: true, Venue: "binance", Symbol: "BTCUSDT", ID: 7}, "md.binance.btcusdt.agg_trade", "binance:BTCUSDT:agg_trade:7"},
		{feed.Event{Type: feed.TypeTrade, Venue: "binance", Symbol: "BTCUSDT", ID: 7}, "md.binance.btcusdt.trade", "binance:BTCUSDT:trade:7"},
		{snap, "md.binance.ethusdt.book_snapshot", "binance:ETHUSDT:book_snapshot:42:5:4"},
		{feed.Event{Type: feed.TypeBookDelta, Venue: "binance", Symbol: "ETHUSDT", ID: 9}, "md.binance.ethusdt.book_delta", ""},
		{feed.Event{Type: feed.TypeTopOfBook, Venue: "binance", Symbol: "ETHUSDT", ID: 9}, "md.binance.ethusdt.top_of_book", ""},
		{feed.Event{Type: feed.TypeGap, Venue: "binance", Symbol: "ETHUSDT", ID: 9}, "md.binance.ethusdt.gap", ""},
		{feed.Event{Type: feed.TypeStatus, Venue: "binance"}, "md.binance._.status", ""},
		{feed.Event{Type: feed.TypeTrade, Venue: "Bin.ance", Symbol: "A*B>C D:é", ID: 1}, "md.bin_ance.a_b_c_d___.trade", "Bin_ance:A_B_C_D___:trade:1"},
		// a trade without a numeric ID (Bybit): no message ID, else one for all
		{feed.Event{Type: feed.TypeTrade, Venue: "bybit", Symbol: "linear/BTCUSDT"}, "md.bybit.linear/btcusdt.trade", ""},
	} {
		if got := string(AppendSubject(nil, "md", &c.ev)); got != c.subject {
			t.Errorf("subject %q, want %q", got, c.subject)
		}
		id, ok := AppendMsgID(nil, &c.ev)
		if string(id) != c.msgID || ok != (c.msgID != "") {
			t.Errorf("msg id %q %v, want %q", id, ok, c.msgID)
		}
	}
}

// TestDuplicatesDropped: two sinks publish the same trades; the stream
// keeps each once.
func TestDuplicatesDropped(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	stream, prefix := uniqueStream()
	cfg := Config{URLs: []string{srv.ClientURL()}, Stream: stream, SubjectPrefix: prefix}
	a, b := openSink(t, cfg), openSink(t, cfg)
	evs := sinktest.Trades("BTCUSDT", 1, 1000)
	var wg sync.WaitGroup
	for _, s := range []*Sink{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range evs {
				if err := s.Write(&evs[i]); err != nil {
					t.Error(err)
					return
				}
			}
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	msgs := readStream(t, stream, srv.ClientURL())
	checkOnce(t, msgs, len(evs))
	if d := a.Stats().Duplicates + b.Stats().Duplicates; d != int64(len(evs)) {
		t.Fatalf("%d duplicates acknowledged, want %d", d, len(evs))
	}
}

// checkOnce checks that msgs hold trade IDs 1..n, each once.
func checkOnce(t testing.TB, msgs []jetstream.Msg, n int) {
	t.Helper()
	seen := make([]int, n+1)
	for _, m := range msgs {
		id := tradeID(t, m.Data())
		if id < 1 || id > int64(n) {
			t.Fatalf("unexpected trade %d", id)
		}
		seen[id]++
	}
	var missing, dup []int
	for id := 1; id <= n; id++ {
		switch {
		case seen[id] == 0:
			missing = append(missing, id)
		case seen[id] > 1:
			dup = append(dup, id)
		}
	}
	if len(missing) > 0 || len(dup) > 0 {
		t.Fatalf("%d messages: trades missing %v, duplicated %v", len(msgs), head(missing), head(dup))
	}
}

func head(ids []int) []int { return ids[:min(len(ids), 10)] }

func tradeID(t testing.TB, data []byte) int64 {
	const key = `"id":`
	i := strings.Index(string(data), key)
	if i < 0 {
		t.Fatalf("no id in %s", data)
	}
	rest := string(data[i+len(key):])
	id, err := strconv.ParseInt(rest[:strings.IndexByte(rest, ',')], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// gateway feeds a sink with trades in step with a shared clock, as two
// gateways connected to one venue would.
type gateway struct {
	cfg Config
	s   *Sink
}

// TestRedundancy: two gateways publish the same trades into one stream;
// one is killed mid-way (CloseNow: unacknowledged messages abandoned) and
// restarted; the consumer sees every trade exactly once.
func TestRedundancy(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	stream, prefix := uniqueStream()
	cfg := Config{URLs: []string{srv.ClientURL()}, Stream: stream, SubjectPrefix: prefix, Logger: quiet}
	const n = 3000
	evs := sinktest.Trades("BTCUSDT", 1, n)
	a, b := openSink(t, cfg), openSink(t, cfg)
	var killed sink.Stats
	for i := range evs {
		switch i {
		case n / 3:
			err := a.CloseNow()
			killed = a.Stats()
			if killed.Lost > 0 && !errors.Is(err, ErrUnacknowledged) {
				t.Fatalf("CloseNow with %d unacknowledged: %v", killed.Lost, err)
			}
		case n / 2:
			a = openSink(t, cfg)
		}
		if i < n/3 || i >= n/2 {
			if err := a.Write(&evs[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Write(&evs[i]); err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	for _, s := range []*Sink{a, b} {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("killed gateway: %+v", killed)
	if killed.Accepted != n/3 || killed.Pending != 0 || killed.Delivered+killed.Lost != killed.Accepted {
		t.Fatalf("killed gateway's stats %+v", killed)
	}
	checkOnce(t, readStream(t, stream, srv.ClientURL()), n)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestCluster: three embedded servers form a JetStream cluster over
// loopback; a stream replicated three ways loses its leader mid-stream and
// the consumer still sees every trade once.
func TestCluster(t *testing.T) {
	ports := []int{freePort(t), freePort(t), freePort(t)}
	var routes []string
	for _, p := range ports {
		routes = append(routes, "nats-route://127.0.0.1:"+strconv.Itoa(p))
	}
	var servers []*Server
	var urls []string
	for i, p := range ports {
		srv := startServer(t, ServerConfig{Name: "n" + strconv.Itoa(i+1), Cluster: "feedkeeper", ClusterPort: p, Routes: routes})
		servers = append(servers, srv)
		urls = append(urls, srv.ClientURL())
	}
	stream, prefix := uniqueStream()
	s := openSink(t, Config{URLs: urls, Stream: stream, SubjectPrefix: prefix, Replicas: 3,
		AckTimeout: time.Second, DrainTimeout: 30 * time.Second})
	_, js := connect(t, urls...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 2000
	evs := sinktest.Trades("BTCUSDT", 1, n)
	var stopped string
	for i := range evs {
		if i == n/2 {
			st, err := js.Stream(ctx, stream)
			if err != nil {
				t.Fatal(err)
			}
			info := st.CachedInfo()
			if info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
				t.Fatalf("stream cluster info %+v: want a leader and 2 replicas", info.Cluster)
			}
			stopped = info.Cluster.Leader
			for _, srv := range servers {
				if srv.Name() == stopped {
					srv.Close()
				}
			}
		}
		if err := s.Write(&evs[i]); err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped the stream leader %s; sink %+v", stopped, s.Stats())
	var alive []string
	for i, srv := range servers {
		if srv.Name() != stopped {
			alive = append(alive, urls[i])
		}
	}
	checkOnce(t, readStream(t, stream, alive...), n)
}

// TestOutage stops the server while the sink publishes and restarts it
// from its store: every accepted event is in the stream once, and what the
// buffer could not hold was refused and counted.
func TestOutage(t *testing.T) {
	store := t.TempDir()
	srv := startServer(t, ServerConfig{Name: "outage", StoreDir: store})
	url := srv.ClientURL()
	port, _ := strconv.Atoi(url[strings.LastIndexByte(url, ':')+1:])
	stream, prefix := uniqueStream()
	const bound, inFlight = 400, 100
	s := openSink(t, Config{URLs: []string{url}, Stream: stream, SubjectPrefix: prefix,
		MaxInFlight: inFlight, AckTimeout: time.Second, Buffer: sink.Buffer{Events: bound, Policy: sink.Drop}})
	const n = 3000
	evs := sinktest.Trades("BTCUSDT", 1, n)
	accepted := map[int64]bool{}
	refused := 0
	write := func(from, to int) {
		for i := from; i < to; i++ {
			err := s.Write(&evs[i])
			switch {
			case err == nil:
				accepted[evs[i].ID] = true
			case errors.Is(err, sink.ErrFull):
				refused++
			default:
				t.Fatal(err)
			}
		}
	}
	// paced writes the buffer always has room for
	paced := func(from, to int) {
		for i := from; i < to; i += bound / 2 {
			write(i, min(i+bound/2, to))
			waitFor(t, func() bool { return s.Stats().Pending == 0 })
		}
	}
	paced(0, 1000)
	if refused != 0 {
		t.Fatalf("%d refused while the server was up", refused)
	}
	write(1000, 1050) // in flight when the server stops
	srv.Close()
	write(1050, 2000)
	during := len(accepted) - 1000
	time.Sleep(300 * time.Millisecond)
	srv = startServer(t, ServerConfig{Name: "outage", StoreDir: store, Port: port})
	waitFor(t, func() bool { return s.Stats().Pending == 0 })
	paced(2000, n)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	st := s.Stats()
	t.Logf("outage: %d accepted, %d refused; %+v", during, refused, st)
	// Accepted and not acknowledged stays within the buffer and the window
	// of unacknowledged messages. The 50 events written just before
	// the stop may still be acknowledged after it (their acks were on the
	// way), which frees their slots for events written during the outage.
	if limit := bound + inFlight + 50; refused == 0 || during+refused != 1000 || during > limit {
		t.Fatalf("accepted %d and refused %d of 1000 events during the outage, with a bound of %d", during, refused, limit)
	}
	if st.Dropped != int64(refused) || st.Lost != 0 || st.Delivered != int64(len(accepted)) || st.Errors == 0 {
		t.Fatalf("stats %+v: want %d dropped, none lost, the disconnection counted", st, refused)
	}
	msgs := readStream(t, stream, srv.ClientURL())
	if len(msgs) != len(accepted) {
		t.Fatalf("stream holds %d messages, %d accepted", len(msgs), len(accepted))
	}
	for _, m := range msgs {
		id := tradeID(t, m.Data())
		if !accepted[id] {
			t.Fatalf("trade %d in the stream twice or never accepted", id)
		}
		delete(accepted, id)
	}
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRejected: messages the stream refuses are lost, counted and
// reported, not retried for ever.
func TestRejected(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	stream, prefix := uniqueStream()
	s := openSink(t, Config{URLs: []string{srv.ClientURL()}, Stream: stream, SubjectPrefix: prefix})
	_, js := connect(t, srv.ClientURL())
	sc := s.StreamConfig()
	sc.MaxMsgSize = 1000
	if _, err := js.UpdateStream(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	evs := sinktest.Events() // the last one, a deep snapshot, is over 1000 bytes
	for i := range evs {
		if err := s.Write(&evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	err := s.Close()
	var lost *sink.LostError
	if !errors.As(err, &lost) || lost.Events != 1 || !errors.Is(err, ErrRejected) {
		t.Fatalf("Close: %v, want 1 event lost, rejected", err)
	}
	if st := s.Stats(); st.Lost != 1 || st.Delivered != int64(len(evs)-1) {
		t.Fatalf("stats %+v", st)
	}
	t.Log(err)
}

// TestParseAck: JetStream's answers to a publish, as the sink reads them.
// A message whose ID is still being stored from an earlier publish (seen
// while a cluster changes leader) is published again, not lost.
func TestParseAck(t *testing.T) {
	for _, c := range []struct {
		body   string
		status string
		want   ackKind
	}{
		{`{"stream":"MD","seq":7}`, "", ackStored},
		{`{"stream":"MD","seq":7,"duplicate":true}`, "", ackDuplicate},
		{``, "503", ackRetry},
		{`{"error":{"code":503,"err_code":10008,"description":"JetStream system temporarily unavailable"}}`, "", ackRetry},
		{`{"error":{"code":409,"err_code":10158,"description":"duplicate message id is in process"}}`, "", ackRetry},
		{`{"error":{"code":400,"err_code":10054,"description":"message size exceeds maximum allowed"}}`, "", ackFailed},
		{`not json`, "", ackFailed},
	} {
		m := &natsgo.Msg{Data: []byte(c.body), Header: natsgo.Header{}}
		if c.status != "" {
			m.Header.Set(statusHdr, c.status)
		}
		if got, err := parseAck(m); got != c.want {
			t.Errorf("%s %q: %v (%v), want %v", c.status, c.body, got, err, c.want)
		}
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []Config{
		{MaxInFlight: -1},
		{Replicas: 7},
		{SubjectPrefix: "md.>"},
		{AckTimeout: -time.Second},
		{Buffer: sink.Buffer{Events: -1}},
	} {
		if _, err := Open(c); err == nil {
			t.Errorf("Open(%+v) accepted a bad config", c)
		}
	}
	if _, err := StartServer(ServerConfig{Routes: []string{"nats-route://127.0.0.1:1"}}); err == nil {
		t.Error("StartServer accepted routes without a cluster")
	}
	_, err := Open(Config{URLs: []string{"nats://127.0.0.1:1"}, Options: []natsgo.Option{natsgo.Timeout(100 * time.Millisecond)}})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("Open with nothing listening: %v", err)
	}
}

func benchmarkPublish(b *testing.B, embedded bool) {
	cfg := Config{Logger: quiet, Server: ServerConfig{Logger: quiet}}
	if !embedded {
		srv := startServer(b, ServerConfig{})
		cfg.URLs = []string{srv.ClientURL()}
	}
	s, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	evs := sinktest.Trades("BTCUSDT", 1, 1024)
	b.ReportAllocs()
	done := sinktest.Measure(b)
	for i := 0; b.Loop(); i++ {
		ev := &evs[i%len(evs)]
		ev.ID = int64(i + 1) // a new Msg-Id each time
		if err := s.Write(ev); err != nil {
			b.Fatalf("event %d: %v; %+v", i, err, s.Stats())
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	done()
	if st := s.Stats(); st.Delivered != int64(b.N) {
		b.Fatalf("stats %+v", st)
	}
}

// BenchmarkPublishEmbedded publishes to the sink's own server, until every
// message is acknowledged.
func BenchmarkPublishEmbedded(b *testing.B) { benchmarkPublish(b, true) }

// BenchmarkPublishExternal publishes to a server the sink did not start.
func BenchmarkPublishExternal(b *testing.B) { benchmarkPublish(b, false) }

// TestHealth: Health names a server that cannot be reached and a stream
// that stopped acknowledging, and is nil again once each recovers.
func TestHealth(t *testing.T) {
	store := t.TempDir()
	srv := startServer(t, ServerConfig{Name: "health", StoreDir: store})
	url := srv.ClientURL()
	port, _ := strconv.Atoi(url[strings.LastIndexByte(url, ':')+1:])
	stream, prefix := uniqueStream()
	s := openSink(t, Config{URLs: []string{url}, Stream: stream, SubjectPrefix: prefix, AckTimeout: 300 * time.Millisecond})
	evs := sinktest.Trades("BTCUSDT", 1, 100)
	for i := range 10 {
		if err := s.Write(&evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return s.Stats().Delivered == 10 })
	if err := s.Health(); err != nil {
		t.Fatalf("healthy sink: %v", err)
	}

	// the stream goes: JetStream answers "no responders" and stores nothing
	_, js := connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, stream); err != nil {
		t.Fatal(err)
	}
	for i := 10; i < 20; i++ {
		if err := s.Write(&evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return errors.Is(s.Health(), ErrNoAcks) })
	t.Logf("stream deleted: %v", s.Health())
	if _, err := js.CreateStream(ctx, s.StreamConfig()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return s.Health() == nil && s.Stats().Pending == 0 })

	// the server goes
	srv.Close()
	waitFor(t, func() bool { return errors.Is(s.Health(), ErrUnreachable) })
	err := s.Health()
	t.Logf("server stopped: %v", err)
	if !strings.Contains(err.Error(), "reconnecting") {
		t.Fatalf("Health %q does not say the sink is reconnecting", err)
	}
	srv = startServer(t, ServerConfig{Name: "health", StoreDir: store, Port: port})
	waitFor(t, func() bool { return s.Health() == nil })
	for i := 20; i < 30; i++ {
		if err := s.Write(&evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return s.Stats().Delivered == 30 })
	if err := s.Health(); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
}
