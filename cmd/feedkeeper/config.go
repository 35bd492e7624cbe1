package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/feedkeeper/feedkeeper/monitor"
	natssink "github.com/feedkeeper/feedkeeper/sink/nats"
	"github.com/feedkeeper/feedkeeper/venue"
)

// runConfig is what `feedkeeper run` needs. The YAML config file has the
// same fields, keyed as the flags with _ for - (ws_endpoint, streams, …).
type runConfig struct {
	Venue        venueNames    `yaml:"venue"`
	Streams      []string      `yaml:"streams"`
	WSEndpoint   string        `yaml:"ws_endpoint"`
	RESTEndpoint string        `yaml:"rest_endpoint"`
	CA           string        `yaml:"ca"`
	Duration     time.Duration `yaml:"duration"`
	PingInterval time.Duration `yaml:"ping_interval"`
	StaleTimeout time.Duration `yaml:"stale_timeout"`
	Lifetime     time.Duration `yaml:"lifetime"`
	ReadLimit    int64         `yaml:"read_limit"`
	Queue        int           `yaml:"queue"`
	SlowConsumer string        `yaml:"slow_consumer"`
	LogLevel     string        `yaml:"log_level"`

	Recovery    bool          `yaml:"recovery"`
	DepthLimit  int           `yaml:"depth_limit"`
	VerifyEvery time.Duration `yaml:"verify_every"`

	Out          []string      `yaml:"out"`
	NATS         string        `yaml:"nats"`
	NATSStore    string        `yaml:"nats_store"`
	NATSMaxAge   time.Duration `yaml:"nats_max_age"`
	NATSMaxBytes int64         `yaml:"nats_max_bytes"`

	NATSStream        string        `yaml:"nats_stream"`
	NATSSubjectPrefix string        `yaml:"nats_subject_prefix"`
	NATSReplicas      int           `yaml:"nats_replicas"`
	NATSDuplicates    time.Duration `yaml:"nats_duplicates"`
	NATSStorage       string        `yaml:"nats_storage"`
	NATSUpdateStream  bool          `yaml:"nats_update_stream"`

	NATSCreds    string `yaml:"nats_creds"`
	NATSNkey     string `yaml:"nats_nkey"`
	NATSToken    string `yaml:"nats_token"`
	NATSUser     string `yaml:"nats_user"`
	NATSPassword string `yaml:"nats_password"`
	NATSCA       string `yaml:"nats_ca"`
	NATSCert     string `yaml:"nats_cert"`
	NATSKey      string `yaml:"nats_key"`
	NATSListen   string `yaml:"nats_listen"`

	RotateSize  int64         `yaml:"rotate_size"`
	RotateEvery time.Duration `yaml:"rotate_every"`
	Compress    string        `yaml:"compress"`
	FlushEvery  time.Duration `yaml:"flush_every"`
	FileSync    bool          `yaml:"file_sync"`
	SinkPolicy  string        `yaml:"sink_policy"`
	SinkBuffer  int           `yaml:"sink_buffer"`

	HTTP      string `yaml:"http"`
	HTTPToken string `yaml:"http_token"`

	Record string `yaml:"record"`

	MaxLag time.Duration `yaml:"max_lag"`
	LagFor time.Duration `yaml:"lag_for"`

	State        string        `yaml:"state"`
	ResumeMaxAge time.Duration `yaml:"resume_max_age"`

	// Venues, when given (config file only), are the venues of the run,
	// each with its endpoints, streams and settings, instead of --venue
	// and the streams.
	Venues []venueEntry `yaml:"venues"`

	// Sections are the keys of the config file that no field holds: each
	// must be a venue's name, and holds that venue's settings.
	Sections map[string]yaml.Node `yaml:",inline"`

	// venueOpts are the settings of every registered venue, by name: the
	// section of the config file named after it, and its flags.
	venueOpts map[string]venue.Options

	// configPath is the config file read, for messages.
	configPath string

	// skipped says which streams of several venues some of them do not
	// list (venueRuns), for the run to log.
	skipped string

	// source says, by flag name, where a value came from when it was not
	// the command line (a config file's key), for error messages.
	source map[string]string
}

// Ranges of the flags, stated in --help and enforced by validate.
const (
	maxReadLimit    = 16 << 20 // the session's byte queue holds at least one frame
	maxQueue        = 1 << 20
	maxSinkBuffer   = 1 << 24
	maxDepthLimit   = 5000 // Binance cuts larger snapshots to 5000 levels
	maxNATSReplicas = 5    // JetStream's limit
)

// bindRun binds every flag of run to c, with its default.
func (c *runConfig) bindRun(fs *pflag.FlagSet) {
	fs.StringSliceVar((*[]string)(&c.Venue), "venue", []string{defaultVenue}, "the venue `name`, one of: "+strings.Join(venue.Names(), ", ")+
		"; repeatable (--venue binance --venue okx) or comma separated: several venues take the streams in the form every venue reads (trades:BTC-USDT, book:BTC-USDT-PERP), each venue those it lists")
	def := venueDefaults(defaultVenue)
	fs.StringVar(&c.WSEndpoint, "ws-endpoint", "", fmt.Sprintf("WebSocket endpoint base, wss://host[:port] (default: the venue's own, %s for %s); with several venues, VENUE=URL for each venue not to use its own (okx=wss://h:p,bybit=wss://h:p)", def.WSURL, defaultVenue))
	fs.StringVar(&c.RESTEndpoint, "rest-endpoint", "", fmt.Sprintf("REST endpoint base, https://host[:port] (default: the venue's own, %s for %s); with several venues, VENUE=URL for each venue not to use its own", def.RESTURL, defaultVenue))
	fs.StringVar(&c.CA, "ca", "", "PEM `file` of an extra CA to trust (the simulator's); verification is always on")
	fs.DurationVar(&c.Duration, "duration", 0, "stop after this long, ≥ 0 (0: run until interrupted)")
	fs.DurationVar(&c.PingInterval, "ping-interval", 15*time.Second, "how often we ping the server, > 0")
	fs.DurationVar(&c.StaleTimeout, "stale-timeout", 45*time.Second, "replace a connection silent for this long; more than --ping-interval")
	fs.DurationVar(&c.Lifetime, "lifetime", 0, "rotate connections before this age, ≥ 0 (0: the venue's limit, 24h on Binance)")
	fs.Int64Var(&c.ReadLimit, "read-limit", 1<<20, fmt.Sprintf("largest frame accepted, bytes, 1024..%d", maxReadLimit))
	fs.IntVar(&c.Queue, "queue", 4096, fmt.Sprintf("frames queued per connection for a slow consumer, 1..%d", maxQueue))
	fs.StringVar(&c.SlowConsumer, "slow-consumer", "block", "block (then reconnect and recover) or drop (with a gap marker)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	c.bindVenues(fs)

	fs.BoolVar(&c.Recovery, "recovery", true, "backfill trade gaps over REST and keep order books in sync (snapshot + diffs); --recovery=false turns it off")
	fs.IntVar(&c.DepthLimit, "depth-limit", 1000, fmt.Sprintf("levels of each REST book snapshot, 1..%d", maxDepthLimit))
	fs.DurationVar(&c.VerifyEvery, "verify-every", 0, "compare each book with a fresh REST snapshot this often, ≥ 0 (0: never)")

	fs.DurationVar(&c.MaxLag, "max-lag", 5*time.Second, "a connection whose events arrive later than this behind the venue's clock (corrected by the measured offset) for --lag-for is reported lagging and replaced, ≥ 0 (0: not watched)")
	fs.DurationVar(&c.LagFor, "lag-for", 10*time.Second, "how long the lag must stay over --max-lag (or back under it) to count, > 0")
	fs.StringVar(&c.State, "state", "", "keep how far each trade sequence was delivered in this `file` (written atomically, never ahead of the outputs); a run started with it recovers the trades of the downtime over REST; one file holds every venue's positions")
	fs.DurationVar(&c.ResumeMaxAge, "resume-max-age", time.Hour, "with --state: a downtime longer than this is announced by gap events instead of recovered, > 0")
	fs.StringVar(&c.Record, "record", "", "keep the raw frames with their receive times in this new `directory` (compressed), for feedkeeper replay; one recording holds every venue of the run")
	c.bindSinks(fs)
	c.bindHTTP(fs)
}

// bindHTTP binds --http and --http-token (run and demo).
func (c *runConfig) bindHTTP(fs *pflag.FlagSet) {
	fs.StringVar(&c.HTTP, "http", monitor.DefaultAddr, "serve /metrics, /healthz, /readyz and the dashboard on this host:port (port 0: any free port; '': off); beyond loopback needs --http-token")
	fs.StringVar(&c.HTTPToken, "http-token", "", "bearer token required on every path of --http")
}

// bindSinks binds the output flags (run, demo and replay).
func (c *runConfig) bindSinks(fs *pflag.FlagSet) {
	fs.StringArrayVar(&c.Out, "out", nil, "where events go (repeatable): stdout, file:DIR, nats (embedded server) or nats:URL,URL (default stdout)")
	fs.StringVar(&c.NATS, "nats", "", "publish to NATS JetStream: --nats alone starts an embedded server, --nats=nats://a,nats://b uses those (tls://host:port for TLS)")
	fs.Lookup("nats").NoOptDefVal = "embedded"
	fs.StringVar(&c.NATSStore, "nats-store", "", "JetStream store `directory` of the embedded server (default: a temporary one)")
	fs.DurationVar(&c.NATSMaxAge, "nats-max-age", 24*time.Hour, "JetStream stream: drop messages older than this, ≥ 0 (0: no limit)")
	fs.Int64Var(&c.NATSMaxBytes, "nats-max-bytes", 1<<30, "JetStream stream: drop the oldest messages beyond this many bytes, ≥ 0 (0: no limit)")
	fs.StringVar(&c.NATSStream, "nats-stream", natssink.DefaultStream, "JetStream stream `name` (created if missing; an existing one with other settings is refused, see --nats-update-stream)")
	fs.StringVar(&c.NATSSubjectPrefix, "nats-subject-prefix", natssink.DefaultSubjectPrefix, "first token(s) of every subject, `PREFIX`.venue.symbol.type; the stream captures PREFIX.>")
	fs.IntVar(&c.NATSReplicas, "nats-replicas", 1, fmt.Sprintf("JetStream stream: copies kept in a cluster, 1..%d", maxNATSReplicas))
	fs.DurationVar(&c.NATSDuplicates, "nats-duplicates", natssink.DefaultDuplicates, "JetStream stream: how long message IDs are remembered to drop duplicates, > 0 and at most --nats-max-age")
	fs.StringVar(&c.NATSStorage, "nats-storage", "file", "JetStream stream: storage `kind`, file or memory")
	fs.BoolVar(&c.NATSUpdateStream, "nats-update-stream", false, "change an existing stream whose settings differ from the --nats-* flags (without it the run refuses to start and names the differences)")
	fs.StringVar(&c.NATSCreds, "nats-creds", "", "external NATS: user credentials `file` (.creds: JWT and nkey seed)")
	fs.StringVar(&c.NATSNkey, "nats-nkey", "", "external NATS: nkey seed `file`")
	fs.StringVar(&c.NATSToken, "nats-token", "", "NATS token from `SOURCE`, file:PATH or env:NAME (never on the command line, where ps shows it); with the embedded server, the token its clients must give")
	fs.StringVar(&c.NATSUser, "nats-user", "", "NATS user `name`, with --nats-password; with the embedded server, the user its clients must be")
	fs.StringVar(&c.NATSPassword, "nats-password", "", "NATS password from `SOURCE`, file:PATH or env:NAME (never on the command line, where ps shows it)")
	fs.StringVar(&c.NATSCA, "nats-ca", "", "external NATS: PEM `file` of a CA to trust for the servers' certificates (besides the system's); embedded: clients must present a certificate this CA signed")
	fs.StringVar(&c.NATSCert, "nats-cert", "", "external NATS: PEM client certificate `file` (with --nats-key); embedded: the server's certificate, clients connect with TLS")
	fs.StringVar(&c.NATSKey, "nats-key", "", "PEM private key `file` of --nats-cert")
	fs.StringVar(&c.NATSListen, "nats-listen", "127.0.0.1:0", "embedded NATS: where clients connect, `host:port` (port 0: any free port); beyond loopback needs --nats-token or --nats-user")
	fs.Int64Var(&c.RotateSize, "rotate-size", 256<<20, "file sink: start a new file past this many bytes, ≥ 1024")
	fs.DurationVar(&c.RotateEvery, "rotate-every", time.Hour, "file sink: start a new file this often, ≥ 1s")
	fs.StringVar(&c.Compress, "compress", "zstd", "file sink: zstd or none")
	fs.DurationVar(&c.FlushEvery, "flush-every", time.Second, "file sink: write what it received to the file this often, ≥ 1ms and ≤ 1m; a crash of the process loses at most this much, a shorter one costs more writes (and smaller zstd blocks)")
	fs.BoolVar(&c.FileSync, "file-sync", false, "file sink: fsync every flush, so that a crash of the machine (not only of the process) loses no more than --flush-every; costs a disk sync each time")
	fs.StringVar(&c.SinkPolicy, "sink-policy", "", "a sink that cannot keep up: block (wait up to 1s) or drop (counted); default block with one sink, drop with several")
	fs.IntVar(&c.SinkBuffer, "sink-buffer", 32768, fmt.Sprintf("events buffered per sink, 1..%d", maxSinkBuffer))
}

// validate checks every field against the ranges the flags state, naming
// the flag and the value.
func (c *runConfig) validate() error {
	var k checks
	c.validateConn(&k)
	c.validateSinks(&k)
	k.httpAddr("http", c.HTTP, c.HTTPToken)
	k.notNegative("duration", c.Duration)
	c.annotate(k.errs)
	return k.err()
}

func (c *runConfig) validateConn(k *checks) {
	if len(c.Venue) != 1 {
		// several venues: venueRuns checked their endpoints, each its own
		for _, name := range c.Venue {
			f, err := venue.Lookup(name)
			if err != nil {
				k.add("venue", c.Venue.String(), fmt.Sprintf("%q: known venues are %s", name, strings.Join(venue.Names(), ", ")))
				return
			}
			if err := c.optionsOf(name, f).Validate(); err != nil {
				k.settings(err)
			}
		}
	} else {
		f, err := venue.Lookup(c.Venue[0])
		if err != nil {
			k.add("venue", c.Venue[0], "known venues are "+strings.Join(venue.Names(), ", "))
			return
		}
		def := f.Defaults()
		if c.WSEndpoint == "" {
			c.WSEndpoint = def.WSURL
		}
		if c.RESTEndpoint == "" {
			c.RESTEndpoint = def.RESTURL
		}
		if err := c.options(f).Validate(); err != nil {
			k.settings(err)
		}
		k.endpoint("ws-endpoint", c.WSEndpoint, "wss")
		k.endpoint("rest-endpoint", c.RESTEndpoint, "https")
	}
	if c.CA != "" {
		if _, err := os.Stat(c.CA); err != nil {
			k.add("ca", c.CA, "cannot read it: "+pathErr(err).Error())
		}
	}
	k.positive("ping-interval", c.PingInterval)
	if c.StaleTimeout <= c.PingInterval {
		k.add("stale-timeout", c.StaleTimeout.String(), fmt.Sprintf("must be more than --ping-interval %v (pongs keep a quiet connection alive)", c.PingInterval))
	}
	k.notNegative("lifetime", c.Lifetime)
	if c.Lifetime > 0 && c.Lifetime < time.Second {
		k.add("lifetime", c.Lifetime.String(), "must be at least 1s (or 0: the venue's limit)")
	}
	k.intRange("read-limit", c.ReadLimit, 1024, maxReadLimit)
	k.intRange("queue", int64(c.Queue), 1, maxQueue)
	k.oneOf("slow-consumer", c.SlowConsumer, "block", "drop")
	k.logLevel("log-level", c.LogLevel)
	k.positive("resume-max-age", c.ResumeMaxAge)
	k.notNegative("max-lag", c.MaxLag)
	k.positive("lag-for", c.LagFor)
	if c.State != "" {
		if st, err := os.Stat(filepath.Dir(c.State)); err != nil || !st.IsDir() {
			k.add("state", c.State, "its directory does not exist")
		}
	}
	k.intRange("depth-limit", int64(c.DepthLimit), 1, maxDepthLimit)
	k.notNegative("verify-every", c.VerifyEvery)
	if c.Record != "" {
		if _, err := os.Stat(filepath.Join(c.Record, "meta.json")); err == nil {
			k.add("record", c.Record, "already holds a recording, which is never overwritten: name a new directory")
		}
	}
}

func (c *runConfig) validateSinks(k *checks) {
	for _, o := range c.Out {
		kind, arg, _ := strings.Cut(o, ":")
		switch {
		case o == "stdout", o == "nats":
		case kind == "file" && arg != "":
		case kind == "nats" && arg != "":
			checkNATSURLs(k, "out", o, arg)
		default:
			k.add("out", o, "want stdout, file:DIR, nats or nats:URL,URL")
		}
	}
	if c.NATS != "" && c.NATS != "embedded" {
		checkNATSURLs(k, "nats", c.NATS, c.NATS)
	}
	k.notNegative("nats-max-age", c.NATSMaxAge)
	if c.NATSMaxBytes < 0 {
		k.add("nats-max-bytes", strconv.FormatInt(c.NATSMaxBytes, 10), "must not be negative (0: no limit)")
	}
	c.validateNATS(k)
	k.atLeast("rotate-size", c.RotateSize, 1024)
	if c.RotateEvery < time.Second {
		k.add("rotate-every", c.RotateEvery.String(), "must be at least 1s")
	}
	k.oneOf("compress", c.Compress, "zstd", "none")
	if c.FlushEvery < time.Millisecond || c.FlushEvery > time.Minute {
		k.add("flush-every", c.FlushEvery.String(), "want 1ms to 1m")
	}
	if c.SinkPolicy != "" {
		k.oneOf("sink-policy", c.SinkPolicy, "block", "drop")
	}
	k.intRange("sink-buffer", int64(c.SinkBuffer), 1, maxSinkBuffer)
}

func checkNATSURLs(k *checks, flag, typed, list string) {
	for _, u := range strings.Split(list, ",") {
		if !strings.HasPrefix(u, "nats://") && !strings.HasPrefix(u, "tls://") || len(u) <= len("nats://") {
			k.add(flag, redactNATSURLs(typed), fmt.Sprintf("%q is not a NATS URL: want nats://host:port or tls://host:port[,…]", redactNATSURLs(u)))
			return
		}
		if pu, err := url.Parse(u); err == nil && pu.User != nil {
			k.add(flag, redactNATSURLs(typed), "credentials in a URL are seen by every user of the machine (ps) and end up in logs: give them with --nats-creds, --nats-nkey, --nats-token or --nats-user and --nats-password")
			return
		}
	}
}

// annotate adds where a bad value came from when it was the config file.
func (c *runConfig) annotate(errs []error) {
	for _, err := range errs {
		var fe *flagError
		if errors.As(err, &fe) && c.source != nil {
			fe.Source = c.source[fe.Flag]
		}
	}
}

// yamlKey is the config file's key of a flag, within its section.
func yamlKey(flag string) string { return strings.ReplaceAll(flag, "-", "_") }

// structField returns the field of the struct v whose YAML key is key.
func structField(v reflect.Value, key string) (reflect.Value, bool) {
	if v.Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).Tag.Get("yaml") == key {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// structKeys returns the YAML keys of the struct type t.
func structKeys(t reflect.Type) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		if k := t.Field(i).Tag.Get("yaml"); k != "" && !strings.HasPrefix(k, ",") {
			keys = append(keys, k)
		}
	}
	return keys
}

// optionsValue is the struct a venue's options point to (invalid when
// they are not a pointer to a struct).
func optionsValue(o venue.Options) reflect.Value {
	v := reflect.ValueOf(o)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}
	}
	return v.Elem()
}

// configField returns the field of c whose YAML key is key: a key of the
// file's top level (ws_endpoint) or of a venue's section (binance.micros).
func configField(c *runConfig, key string) (reflect.Value, bool) {
	if name, sub, ok := strings.Cut(key, "."); ok {
		o, ok := c.venueOpts[name]
		if !ok {
			return reflect.Value{}, false
		}
		return structField(optionsValue(o), sub)
	}
	return structField(reflect.ValueOf(c).Elem(), key)
}

// flagKey returns the config file's key of a flag: its name with _ for -,
// under its venue's section for a venue's flag (binance.micros).
func (c *runConfig) flagKey(flag string) string {
	k := yamlKey(flag)
	if _, ok := structField(reflect.ValueOf(c).Elem(), k); ok {
		return k
	}
	for _, name := range venue.Names() {
		if _, ok := structField(optionsValue(c.venueOpts[name]), k); ok {
			return name + "." + k
		}
	}
	return k
}

func configKeys() []string {
	return append(structKeys(reflect.TypeOf(runConfig{})), venue.Names()...)
}

// applyConfigFile builds the configuration of a run from the flags'
// defaults, then the file at path, then the flags given on the command line
// (fs.Changed), each overriding the one before. parsed holds the values fs
// was parsed into; bind registers the same flags on a fresh FlagSet.
func applyConfigFile(path string, fs *pflag.FlagSet, parsed *runConfig, bind func(*runConfig, *pflag.FlagSet)) (*runConfig, error) {
	var c runConfig
	bind(&c, pflag.NewFlagSet("defaults", pflag.ContinueOnError)) // the defaults
	keys, err := loadConfigFile(path, &c)
	if err != nil {
		return nil, err
	}
	c.configPath = path
	c.source = map[string]string{}
	for key := range keys {
		_, sub, ok := strings.Cut(key, ".")
		if !ok {
			sub = key
		}
		c.source[strings.ReplaceAll(sub, "_", "-")] = fmt.Sprintf("key %s of %s", key, path)
	}
	fs.Visit(func(f *pflag.Flag) {
		key := c.flagKey(f.Name)
		dst, ok := configField(&c, key)
		if !ok {
			return // --config itself, --help
		}
		src, _ := configField(parsed, key)
		dst.Set(src)
		delete(c.source, f.Name)
	})
	return &c, nil
}

// pathErr drops the path from an *os.PathError (the message names it).
func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

var yamlUnknownField = regexp.MustCompile(`line (\d+): field (\S+) not found in type \S+`)
var yamlTypeName = regexp.MustCompile(` into (main\.)?\S+`)

// loadConfigFile reads a YAML config into c (bound: c.venueOpts holds
// every venue's options); unknown keys are errors that name the key, its
// line and the nearest known key. A key named after a venue is its section,
// read into its options. It returns the keys the file set, a section's as
// venue.key.
func loadConfigFile(path string, c *runConfig) (map[string]bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErrorf("--config %s: %w", path, pathErr(err))
	}
	var msgs []string
	typeErrors := func(err error) bool {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return false
		}
		for _, e := range te.Errors {
			if m := yamlUnknownField.FindStringSubmatch(e); m != nil {
				e = unknownKey(m[1], m[2], configKeys())
			} else {
				e = yamlTypeName.ReplaceAllString(e, "")
			}
			msgs = append(msgs, e)
		}
		return true
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) && !typeErrors(err) {
		return nil, usageErrorf("--config %s: %w", path, err)
	}
	keys := map[string]bool{}
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) == nil && len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
		top := doc.Content[0].Content
		for i := 0; i+1 < len(top); i += 2 {
			k, v := top[i], top[i+1]
			if _, section := c.Sections[k.Value]; !section {
				keys[k.Value] = true
				continue
			}
			opts, isVenue := c.venueOpts[k.Value]
			if !isVenue {
				msgs = append(msgs, unknownKey(strconv.Itoa(k.Line), k.Value, configKeys())+venueKeyHint(c, k.Value))
				continue
			}
			sub, err := loadSection(k.Value, v, opts)
			if err != nil && !typeErrors(err) {
				msgs = append(msgs, err.Error())
			}
			for _, s := range sub {
				keys[k.Value+"."+s] = true
			}
		}
	}
	if len(msgs) > 0 {
		return nil, usageErrorf("--config %s: %s", path, strings.Join(msgs, "; "))
	}
	return keys, nil
}

// loadSection reads the section of venue name into its options; it
// returns the keys it set.
func loadSection(name string, v *yaml.Node, opts venue.Options) ([]string, error) {
	ov := optionsValue(opts)
	if v.Kind != yaml.MappingNode || !ov.IsValid() {
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			return nil, nil // "binance:" alone
		}
		return nil, fmt.Errorf("line %d: key %s: want the venue's settings, as keys (%s)", v.Line, name, strings.Join(structKeys(ov.Type()), ", "))
	}
	known := structKeys(ov.Type())
	var bad []string
	var keys []string
	for i := 0; i+1 < len(v.Content); i += 2 {
		k := v.Content[i]
		if _, ok := structField(ov, k.Value); !ok {
			bad = append(bad, unknownKey(strconv.Itoa(k.Line), name+"."+k.Value, nil)+nearestHint(k.Value, known, name+"."))
			continue
		}
		keys = append(keys, k.Value)
	}
	if len(bad) > 0 {
		return nil, errors.New(strings.Join(bad, "; "))
	}
	return keys, v.Decode(opts)
}

// unknownKey says that key at line is not one the file may hold.
func unknownKey(line, key string, candidates []string) string {
	return fmt.Sprintf("line %s: unknown key %q", line, key) + nearestHint(key, candidates, "")
}

func nearestHint(key string, candidates []string, prefix string) string {
	if near := nearest(key, candidates); near != "" {
		return fmt.Sprintf(" (did you mean %q?)", prefix+near)
	}
	return ""
}

// venueKeyHint says where a key of a venue's section belongs when it was
// written at the top of the file.
func venueKeyHint(c *runConfig, key string) string {
	for _, name := range venue.Names() {
		if _, ok := structField(optionsValue(c.venueOpts[name]), key); ok {
			return fmt.Sprintf(" (a setting of the venue: write it in the section %s:, as %s.%s)", name, name, key)
		}
	}
	return ""
}

// nearest returns the candidate closest to s in edit distance, or "" when
// none is close.
func nearest(s string, candidates []string) string {
	best, bestD := "", len(s)/2+2
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// checkStreams validates stream names before any network call: each must
// be one the venue f decodes. Whether the symbol is listed is known only
// once the venue answers.
func checkStreams(f venue.Factory, streams []string) error {
	if len(streams) == 0 {
		return usageErrorf("no streams given: name at least one, e.g. btcusdt@aggTrade")
	}
	var k checks
	for _, st := range streams {
		switch {
		case strings.HasPrefix(st, "nats://"):
			k.errs = append(k.errs, fmt.Errorf("argument %q looks like a NATS URL: write --nats=%s", st, st))
		case strings.Contains(st, "://"):
			k.errs = append(k.errs, fmt.Errorf("argument %q is a URL, not a stream name: did you mean --ws-endpoint %s?", st, st))
		case strings.HasPrefix(st, "-"):
			k.errs = append(k.errs, fmt.Errorf("argument %q is not a stream name: flags are --name (see --help)", st))
		default:
			if err := f.CheckStream(st); err != nil {
				k.errs = append(k.errs, err)
			}
		}
	}
	return k.err()
}

// completeStreams completes "btcusdt@" to the stream types of the venue
// named by --venue.
func completeStreams(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	name := defaultVenue
	if fl := cmd.Flags().Lookup("venue"); fl != nil {
		if sv, ok := fl.Value.(pflag.SliceValue); ok && len(sv.GetSlice()) > 0 {
			name = sv.GetSlice()[len(sv.GetSlice())-1] // the venue named last
		}
	}
	f, err := venue.Lookup(name)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	out := f.CompleteStream(toComplete)
	if out == nil {
		return nil, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
