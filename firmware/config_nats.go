package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ftptap/ftptap/natsbus"
)

// NATSConfig is the nats: section of the config file. With no urls,
// ftptap run starts the embedded server (server:); with urls it connects to
// them as a client. Every key is documented in config.yaml.
type NATSConfig struct {
	// Enabled turns publishing off with false. Default: on for run; replay
	// publishes only with --nats.
	Enabled *bool `yaml:"enabled"`
	// URLs of an external server or cluster; empty: the embedded server.
	URLs     []string      `yaml:"urls"`
	Token    string        `yaml:"token"`
	User     string        `yaml:"user"`
	Password string        `yaml:"password"`
	NKey     string        `yaml:"nkey"`  // file with an NKey seed
	Creds    string        `yaml:"creds"` // a .creds file
	TLS      NATSTLSConfig `yaml:"tls"`
	// JetStream: false publishes with core NATS (no stream, no acks).
	JetStream *bool            `yaml:"jetstream"`
	Stream    NATSStreamConfig `yaml:"stream"`
	Spool     NATSSpoolConfig  `yaml:"spool"`
	Server    NATSServerConfig `yaml:"server"`
	// Sync is how often stored events are fsynced: a duration, or
	// "always". Default 30s.
	Sync string `yaml:"sync"`
	// StatusInterval is the period of status events. Default 5s.
	StatusInterval time.Duration `yaml:"status_interval"`
	// Drain bounds the delivery of pending events at shutdown. Default 10s.
	Drain time.Duration `yaml:"drain"`
}

// NATSTLSConfig names PEM files.
type NATSTLSConfig struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

func (t NATSTLSConfig) files() natsbus.TLSFiles {
	return natsbus.TLSFiles{CA: t.CA, Cert: t.Cert, Key: t.Key}
}

// NATSStreamConfig is the JetStream stream of the tap's events.
type NATSStreamConfig struct {
	Name       string        `yaml:"name"`       // default FTPTAP_<tap>
	MaxBytes   byteSize      `yaml:"max_bytes"`  // default 256MiB
	MaxAge     time.Duration `yaml:"max_age"`    // default 0: until max_bytes
	Duplicates time.Duration `yaml:"duplicates"` // default 2m
	Replicas   int           `yaml:"replicas"`   // default 1
	// Create the stream on an external server when none stores the tap's
	// subjects. Default true.
	Create *bool `yaml:"create"`
}

// NATSSpoolConfig is where events wait while an external server is out of
// reach.
type NATSSpoolConfig struct {
	Dir      string   `yaml:"dir"`       // default $STATE_DIRECTORY/spool for run, memory for replay
	MaxBytes byteSize `yaml:"max_bytes"` // default 64MiB
	Queue    int      `yaml:"queue"`     // events in memory before the spool; default 16384
}

// NATSServerConfig is the embedded server. By default a client without
// credentials may read (subscribe to ftptap.>, read the stream) and do
// nothing else; admin credentials give the rest.
type NATSServerConfig struct {
	Listen string `yaml:"listen"` // default 0.0.0.0:4222
	// Token, when set, is required from every client, and gives full
	// rights: no one reads without it.
	Token string `yaml:"token"`
	// Admin are credentials with full rights (publish, purge, stream edits).
	Admin NATSAdminConfig `yaml:"admin"`
	// Anonymous is what a client without credentials may do: read
	// (default) or none.
	Anonymous string `yaml:"anonymous"`
	// TLS of the listener: cert and key; with ca, clients must present a
	// certificate it signed.
	TLS      NATSTLSConfig  `yaml:"tls"`
	StoreDir string         `yaml:"store_dir"` // default $STATE_DIRECTORY/nats
	Domain   string         `yaml:"domain"`    // default: the tap id
	Leaf     NATSLeafConfig `yaml:"leaf"`
}

// NATSAdminConfig are the admin credentials of the embedded server; any of
// user and password, token, nkey (a user's public NKey, U...).
type NATSAdminConfig struct {
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	Token    string `yaml:"token"`
	NKey     string `yaml:"nkey"`
}

func (a NATSAdminConfig) auth() natsbus.AdminAuth {
	return natsbus.AdminAuth{User: a.User, Password: a.Password, Token: a.Token, NKey: a.NKey}
}

// NATSLeafConfig makes the embedded server a leaf node of a hub.
type NATSLeafConfig struct {
	Remotes []string      `yaml:"remotes"`
	Creds   string        `yaml:"creds"`
	TLS     NATSTLSConfig `yaml:"tls"`
}

// Defaults of the nats: section.
const (
	defaultNATSListen   = "0.0.0.0:4222"
	defaultStateDir     = "/var/lib/ftptap"
	defaultNATSSync     = 30 * time.Second
	defaultNATSStatus   = 5 * time.Second
	defaultNATSDrain    = 10 * time.Second
	defaultStreamBytes  = 256 << 20
	defaultSpoolBytes   = 64 << 20
	minStreamBytes      = 1 << 20
	minSpoolBytes       = 64 << 10
	defaultWatchServer  = "nats://127.0.0.1:4222"
	natsOverflowAlert   = "nats_overflow"
	natsStoreHeadroom   = 64 << 20
	maxStreamReplicas   = 5
	minNATSStatusPeriod = time.Second
)

// byteSize is a size in bytes; YAML takes a number or a string with a unit:
// 512KiB, 64MiB, 1GiB (also KB, MB, GB, as powers of 1000).
type byteSize int64

func (b *byteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = byteSize(v)
	return nil
}

func parseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > (1<<50)/mult {
		return 0, fmt.Errorf("bad size %q: want a number of bytes, or one with KiB, MiB or GiB", s)
	}
	return v * mult, nil
}

// stateDir is where ftptap keeps state: systemd's $STATE_DIRECTORY (the
// service's StateDirectory=), else /var/lib/ftptap.
func stateDir() string {
	if d, _, _ := strings.Cut(os.Getenv("STATE_DIRECTORY"), ":"); d != "" {
		return d
	}
	return defaultStateDir
}

// storeDir is the embedded server's JetStream store.
func (c *NATSConfig) storeDir() string {
	if c.Server.StoreDir != "" {
		return c.Server.StoreDir
	}
	return filepath.Join(stateDir(), "nats")
}

// spoolDir is the disk spool of ftptap run with an external server.
func (c *NATSConfig) spoolDir() string {
	if c.Spool.Dir != "" {
		return c.Spool.Dir
	}
	return filepath.Join(stateDir(), "spool")
}

func (c *NATSConfig) validate() error {
	for i, u := range c.URLs {
		if err := checkNATSURL(u, "nats", "tls", "ws", "wss"); err != nil {
			return fmt.Errorf("config: nats.urls[%d] %q: %w", i, u, err)
		}
	}
	auth := 0
	for _, s := range []string{c.Token, c.User, c.NKey, c.Creds} {
		if s != "" {
			auth++
		}
	}
	if auth > 1 {
		return fmt.Errorf("config: nats: token, user, nkey and creds are alternatives: set one")
	}
	if c.Password != "" && c.User == "" {
		return fmt.Errorf("config: nats.password is set without nats.user")
	}
	if err := c.TLS.validate("nats.tls"); err != nil {
		return err
	}
	if s := c.Stream; s.Name != "" && strings.ContainsAny(s.Name, " \t.*>/\\") {
		return fmt.Errorf("config: nats.stream.name %q: no spaces, '.', '*', '>' or slashes in a stream name", s.Name)
	}
	if b := c.Stream.MaxBytes; b != 0 && b < minStreamBytes {
		return fmt.Errorf("config: nats.stream.max_bytes %d: at least 1MiB", b)
	}
	if c.Stream.MaxAge < 0 || c.Stream.Duplicates < 0 {
		return fmt.Errorf("config: nats.stream: max_age and duplicates cannot be negative")
	}
	if r := c.Stream.Replicas; r < 0 || r > maxStreamReplicas {
		return fmt.Errorf("config: nats.stream.replicas %d: want 1 to %d", r, maxStreamReplicas)
	}
	if b := c.Spool.MaxBytes; b != 0 && b < minSpoolBytes {
		return fmt.Errorf("config: nats.spool.max_bytes %d: at least 64KiB", b)
	}
	if c.Spool.Queue < 0 {
		return fmt.Errorf("config: nats.spool.queue %d: cannot be negative", c.Spool.Queue)
	}
	if _, err := c.syncInterval(); err != nil {
		return err
	}
	if d := c.StatusInterval; d != 0 && d < minNATSStatusPeriod {
		return fmt.Errorf("config: nats.status_interval %v: at least 1s", d)
	}
	if c.Drain < 0 {
		return fmt.Errorf("config: nats.drain %v: cannot be negative", c.Drain)
	}
	s := &c.Server
	if s.Listen != "" {
		if _, _, err := splitListen(s.Listen); err != nil {
			return fmt.Errorf("config: nats.server.listen %q: %w", s.Listen, err)
		}
	}
	if a := s.Admin; (a.User == "") != (a.Password == "") {
		return fmt.Errorf("config: nats.server.admin: user and password go together")
	}
	if k := s.Admin.NKey; k != "" && (len(k) != 56 || k[0] != 'U') {
		return fmt.Errorf("config: nats.server.admin.nkey %q: want a user's public NKey (56 characters, starting with U), not a seed", k)
	}
	if s.Token != "" && s.Admin.Token != "" && s.Token != s.Admin.Token {
		return fmt.Errorf("config: nats.server.token and nats.server.admin.token: set one")
	}
	switch s.Anonymous {
	case "", "read", "none":
	default:
		return fmt.Errorf("config: nats.server.anonymous %q: want read or none", s.Anonymous)
	}
	if t := s.TLS; t.Cert == "" && (t.Key != "" || t.CA != "") {
		return fmt.Errorf("config: nats.server.tls: the listener needs cert and key")
	}
	if err := s.TLS.validate("nats.server.tls"); err != nil {
		return err
	}
	if s.Domain != "" && !natsbus.ValidToken(s.Domain) {
		return fmt.Errorf("config: nats.server.domain %q: must be letters, digits, '-' or '_'", s.Domain)
	}
	for i, u := range s.Leaf.Remotes {
		if err := checkNATSURL(u, "nats-leaf", "nats", "tls", "ws", "wss"); err != nil {
			return fmt.Errorf("config: nats.server.leaf.remotes[%d] %q: %w", i, u, err)
		}
	}
	if err := s.Leaf.TLS.validate("nats.server.leaf.tls"); err != nil {
		return err
	}
	if len(c.URLs) > 0 && len(s.Leaf.Remotes) > 0 {
		return fmt.Errorf("config: nats.urls and nats.server.leaf.remotes exclude each other: a client of a cluster, or a leaf node of it")
	}
	return nil
}

func (t NATSTLSConfig) validate(key string) error {
	if (t.Cert == "") != (t.Key == "") {
		return fmt.Errorf("config: %s: cert and key go together (cert %q, key %q)", key, t.Cert, t.Key)
	}
	return nil
}

func checkNATSURL(s string, schemes ...string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	ok := false
	for _, sc := range schemes {
		ok = ok || u.Scheme == sc
	}
	if !ok {
		return fmt.Errorf("scheme %q: want %s://", u.Scheme, strings.Join(schemes, ":// or "))
	}
	if u.Host == "" {
		return fmt.Errorf("no host")
	}
	return nil
}

// splitListen splits a host:port listen address; the port may be 0.
func splitListen(s string) (string, int, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", 0, fmt.Errorf("bad port %q", port)
	}
	if host != "" {
		if ip := net.ParseIP(host); ip == nil {
			return "", 0, fmt.Errorf("host %q: want an IP address (the management address)", host)
		}
	}
	return host, p, nil
}

// syncInterval is the fsync period of stored events; negative: always.
func (c *NATSConfig) syncInterval() (time.Duration, error) {
	switch c.Sync {
	case "":
		return defaultNATSSync, nil
	case "always":
		return -1, nil
	}
	d, err := time.ParseDuration(c.Sync)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("config: nats.sync %q: want a duration such as 30s, or always", c.Sync)
	}
	return d, nil
}

func (c *NATSConfig) statusInterval() time.Duration {
	if c.StatusInterval > 0 {
		return c.StatusInterval
	}
	return defaultNATSStatus
}

func (c *NATSConfig) drain() time.Duration {
	if c.Drain > 0 {
		return c.Drain
	}
	return defaultNATSDrain
}

func (c *NATSConfig) streamOptions(tap string, own bool) natsbus.StreamOptions {
	return natsbus.StreamOptions{
		Tap:        tap,
		Name:       c.Stream.Name,
		MaxBytes:   int64(c.Stream.MaxBytes),
		MaxAge:     c.Stream.MaxAge,
		Duplicates: c.Stream.Duplicates,
		Replicas:   c.Stream.Replicas,
		Own:        own,
	}
}

func (c *NATSConfig) clientOptions(urls []string, tap string) natsbus.ClientOptions {
	return natsbus.ClientOptions{
		URLs:     urls,
		Name:     "ftptap " + tap,
		Token:    c.Token,
		User:     c.User,
		Password: c.Password,
		NKeyFile: c.NKey,
		Creds:    c.Creds,
		TLS:      c.TLS.files(),
	}
}
