package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/ftpstate"
	"github.com/ftptap/ftptap/tftpstate"
)

// DefaultConfigPath is where the package installs the config file.
const DefaultConfigPath = "/etc/ftptap/config.yaml"

// Config is the whole of /etc/ftptap/config.yaml. Every key is documented in
// firmware/config.yaml, the file the package installs. Flags override it.
// Unknown keys are errors.
type Config struct {
	// Tap is the tap's id: in every event and in NATS subjects, so one
	// subject token (letters, digits, '-', '_'). Default: the host name.
	Tap string `yaml:"tap"`
	// PortA and PortB are the two interfaces the tap sits between.
	PortA string `yaml:"port_a"`
	PortB string `yaml:"port_b"`
	// Bridge makes ftptap create (or adopt) a Linux bridge over the two
	// ports, so the kernel forwards frames (fail-open). Default: on.
	Bridge BridgeConfig `yaml:"bridge"`
	// BridgeName names that bridge. Default: ftptap0.
	BridgeName string `yaml:"bridge_name"`
	// Capture tunes the packet capture on the two ports.
	Capture CaptureConfig `yaml:"capture"`

	// ControlPorts are the TCP ports of FTP command channels. Default: [21].
	ControlPorts []uint16 `yaml:"control_ports"`
	// Detect finds FTP on other ports by its content. Default: true.
	Detect *bool `yaml:"detect"`
	// ShowPasswords puts PASS arguments into events. Default: false.
	ShowPasswords bool `yaml:"show_passwords"`

	Timeouts TimeoutConfig `yaml:"timeouts"`
	Limits   LimitConfig   `yaml:"limits"`

	// Events is where the JSON lines go: a file, "-" for stdout, or empty.
	Events string `yaml:"events"`

	NATS    NATSConfig    `yaml:"nats"`
	LEDs    LEDConfig     `yaml:"leds"`
	Metrics MetricsConfig `yaml:"metrics"`
	Carve   CarveConfig   `yaml:"carve"`
	Web     WebConfig     `yaml:"web"`

	src *configSource // nil: not read from a file
}

// TimeoutConfig holds the tracker's timeouts, in packet time. Zero: default.
type TimeoutConfig struct {
	Idle time.Duration `yaml:"idle"` // session idle: 15m
	Data time.Duration `yaml:"data"` // unanswered data SYN, untaken announcement: 30s
	// Handshake: a command channel's SYN with no answer: 30s.
	Handshake time.Duration `yaml:"handshake"`
	Linger    time.Duration `yaml:"linger"`   // transfer end halves: 5s
	SYNHold   time.Duration `yaml:"syn_hold"` // unmatched SYNs held: 2s
	TFTP      time.Duration `yaml:"tftp"`     // TFTP transfer idle: 30s
}

// LimitConfig caps what peers can grow. Zero: default (see
// ftpstate.DefaultMaxSessions for how the defaults fit a Pi Zero).
type LimitConfig struct {
	Sessions  int `yaml:"sessions"`   // 32768: past it, the session idle longest is evicted
	Expected  int `yaml:"expected"`   // 64 per session
	Pending   int `yaml:"pending"`    // 64 per session
	Line      int `yaml:"line"`       // 4096 bytes
	Reorder   int `yaml:"reorder"`    // 65536 bytes per direction
	HeldSYNs  int `yaml:"held_syns"`  // 256
	DataConns int `yaml:"data_conns"` // 32768
	// MemoryMiB is the tracker's memory budget, in MiB: past it, the
	// sessions idle longest are evicted. Default: 48.
	MemoryMiB int `yaml:"memory_mib"`
	TFTP      int `yaml:"tftp"` // 4096 TFTP transfers at once
}

// MetricsConfig is the Prometheus endpoint.
type MetricsConfig struct {
	// Listen is the management address of /metrics, e.g. "127.0.0.1:9121";
	// empty: no endpoint.
	Listen string `yaml:"listen"`
}

// LoadConfig reads a config file. A missing file at the default path is no
// error (defaults apply); any other problem is, naming the line.
func LoadConfig(path string) (*Config, error) {
	cfg := &Config{}
	if path == "" {
		return cfg, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && path == DefaultConfigPath {
			return cfg, nil
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := decodeConfig(b, cfg); err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	cfg.src = &configSource{path: path, lines: keyLines(b)}
	return cfg, nil
}

func decodeConfig(b []byte, cfg *Config) error {
	return decodeStrict(b, cfg)
}

// Validate checks the config once, before capture starts, and names the
// field and value at fault, and its line when it comes from the file.
func (c *Config) Validate() error {
	if c.Tap != "" && !event.ValidToken(c.Tap) {
		return c.badKey("tap", "%q: must be letters, digits, '-' or '_' (it is a NATS subject token)", c.Tap)
	}
	if c.PortA != "" && c.PortA == c.PortB {
		return fmt.Errorf("config: port_a and port_b are both %q: a tap needs two different interfaces", c.PortA)
	}
	if err := c.validateTap(); err != nil {
		return err
	}
	if err := c.validateTracker(); err != nil {
		return err
	}
	if err := c.TrackerConfig().Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if c.LEDs.Mode != "" && !validMode(c.LEDs.Mode) {
		return c.badKey("leds.mode", "%q: want gpio, term, log or off", c.LEDs.Mode)
	}
	if err := c.NATS.validate(); err != nil {
		return err
	}
	if err := c.LEDs.validate(); err != nil {
		return err
	}
	if err := c.Carve.validate(); err != nil {
		return err
	}
	if err := c.Capture.Save.validate(); err != nil {
		return err
	}
	if err := c.validateWeb(); err != nil {
		return err
	}
	return nil
}

// TapID returns the configured tap id, or the host name made into a token.
func (c *Config) TapID() string {
	if c.Tap != "" {
		return c.Tap
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "ftptap"
	}
	return event.Token(h)
}

// TFTPConfig maps the config onto the TFTP tracker's.
func (c *Config) TFTPConfig() *tftpstate.Config {
	return &tftpstate.Config{Timeout: c.Timeouts.TFTP, MaxTransfers: c.Limits.TFTP}
}

// TrackerConfig maps the config onto the tracker's.
func (c *Config) TrackerConfig() *ftpstate.Config {
	return &ftpstate.Config{
		ControlPorts:     c.ControlPorts,
		IdleTimeout:      c.Timeouts.Idle,
		DataTimeout:      c.Timeouts.Data,
		HandshakeTimeout: c.Timeouts.Handshake,
		Linger:           c.Timeouts.Linger,
		SYNHold:          c.Timeouts.SYNHold,
		MaxSessions:      c.Limits.Sessions,
		MaxExpected:      c.Limits.Expected,
		MaxPending:       c.Limits.Pending,
		MaxLine:          c.Limits.Line,
		MaxReorder:       c.Limits.Reorder,
		MaxHeldSYNs:      c.Limits.HeldSYNs,
		MaxDataConns:     c.Limits.DataConns,
		MaxBytes:         c.Limits.MemoryMiB << 20,
		ShowPasswords:    c.ShowPasswords,
		NoDetect:         c.Detect != nil && !*c.Detect,
	}
}
