package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ftptap/ftptap/tap"
)

// TestConfigFileLoads loads the config file the package installs.
func TestConfigFileLoads(t *testing.T) {
	cfg, err := LoadConfig("config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestConfigFileDocumentsEveryKey checks that every key of Config, in every
// section, appears in config.yaml (set or commented out).
func TestConfigFileDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile("config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	var walk func(rt reflect.Type, path string)
	walk = func(rt reflect.Type, path string) {
		for rt.Kind() == reflect.Pointer || rt.Kind() == reflect.Slice {
			rt = rt.Elem()
		}
		if rt.Kind() != reflect.Struct || rt == reflect.TypeFor[time.Time]() {
			return
		}
		for i := range rt.NumField() {
			sf := rt.Field(i)
			name, opts, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			if !sf.IsExported() || name == "-" {
				continue
			}
			if strings.Contains(opts, "inline") {
				walk(sf.Type, path)
				continue
			}
			if name == "" {
				name = strings.ToLower(sf.Name)
			}
			re := regexp.MustCompile(`(?m)(^|[\s#{,])` + regexp.QuoteMeta(name) + `:`)
			if !re.MatchString(text) {
				t.Errorf("config.yaml does not document %s", joinPath(path, name))
			}
			if reflect.PointerTo(sf.Type).Implements(unmarshalerType) {
				continue
			}
			walk(sf.Type, joinPath(path, name))
		}
	}
	walk(reflect.TypeFor[Config](), "")
}

func TestConfigDecode(t *testing.T) {
	yes := false
	const text = `
tap: lab-1
port_a: eth1
port_b: eth2
bridge: false
bridge_name: br-tap
capture:
  filter: tcp
  ring_mib: 16
control_ports: [21, 2121]
show_passwords: true
timeouts:
  idle: 10m
  syn_hold: 1500ms
limits:
  sessions: 100
events: "-"
`
	var got Config
	if err := decodeConfig([]byte(text), &got); err != nil {
		t.Fatal(err)
	}
	want := Config{
		Tap: "lab-1", PortA: "eth1", PortB: "eth2", Bridge: BridgeConfig{Enabled: &yes}, BridgeName: "br-tap",
		Capture:      CaptureConfig{Filter: "tcp", RingMiB: 16},
		ControlPorts: []uint16{21, 2121}, ShowPasswords: true,
		Timeouts: TimeoutConfig{Idle: 10 * time.Minute, SYNHold: 1500 * time.Millisecond},
		Limits:   LimitConfig{Sessions: 100},
		Events:   "-",
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Config{})); diff != "" {
		t.Errorf("decode (-want +got):\n%s", diff)
	}
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
	if got.BridgeOn() || got.BridgeIfName() != "br-tap" {
		t.Errorf("BridgeOn %v, BridgeIfName %q", got.BridgeOn(), got.BridgeIfName())
	}
	lo := got.LiveOptions()
	if lo.Filter != tap.FilterTCP || lo.RingSize != 16<<20 || !reflect.DeepEqual(lo.ControlPorts, []uint16{21, 2121}) {
		t.Errorf("LiveOptions = %+v", lo)
	}

	var def Config
	if err := decodeConfig([]byte("# nothing but a comment\n"), &def); err != nil {
		t.Fatal(err)
	}
	if !def.BridgeOn() || def.BridgeIfName() != DefaultBridgeName || def.LiveOptions().Filter != tap.FilterFTP {
		t.Errorf("defaults: bridge %v %q, filter %v", def.BridgeOn(), def.BridgeIfName(), def.LiveOptions().Filter)
	}
}

// TestConfigErrors checks that a bad file gives one line that names the
// line and the key, and a bad value one that names the key and value.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string // in the error of decode, else of Validate
	}{
		{"unknown key", "tap: x\nport_c: eth3\n", `line 2: unknown key "port_c" in the top level`},
		{"unknown key in section", "timeouts:\n  idle: 1m\n  idel: 2m\n", `line 3: unknown key "idel" in timeouts (known: data, handshake, idle, linger, syn_hold, tftp)`},
		{"unknown key in capture", "capture:\n  snaplen: 100\n", `line 2: unknown key "snaplen" in capture`},
		{"bad duration", "timeouts:\n  idle: soon\n", `line 2: timeouts.idle: bad value "soon": want a duration such as 30s`},
		{"bad bool", "bridge: maybe\n", `line 1: bridge: bad value "maybe": want true or false`},
		{"bad port", "control_ports: [21, 70000]\n", `line 1: control_ports: bad value a list: want a list of port numbers`},
		{"bad int", "limits:\n  line: long\n", `line 2: limits.line: bad value "long": want a whole number`},
		{"section is scalar", "timeouts: 5m\n", `line 1: timeouts: want a section of keys, got "5m"`},
		{"not a mapping", "- a\n- b\n", `line 1: want keys (key: value), got a list`},
		{"syntax", "tap: x\n  port_a: y\n", `line 2`},
		{"duplicate key", "tap: x\ntap: y\n", `line 2`},
		{"bad filter", "capture:\n  filter: udp\n", `capture.filter "udp": want ftp, tcp or all`},
		{"bad ring", "capture:\n  ring_mib: 5000\n", `capture.ring_mib 5000`},
		{"same port twice", "port_a: eth1\nport_b: eth1\n", `port_a and port_b are both "eth1"`},
		{"long name", "port_a: a-very-long-interface\n", `port_a "a-very-long-interface": longer than 15 bytes`},
		{"slash in name", "bridge_name: br/0\n", `bridge_name "br/0": an interface name has no`},
		{"bridge is a port", "port_a: eth1\nport_b: eth2\nbridge_name: eth2\n", `bridge_name "eth2" is also a port`},
		{"bad tap", "tap: lab.1\n", `tap "lab.1": must be letters`},
		{"port 0", "control_ports: [0]\n", `control port 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(path, []byte(tt.text), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadConfig(path)
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q\nwant it to contain %q", msg, tt.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			if !strings.HasPrefix(msg, "config: ") {
				t.Errorf("error %q lacks the config: prefix", msg)
			}
		})
	}
}

func TestLoadConfigMissing(t *testing.T) {
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "nope.yaml")); err == nil {
		t.Error("a missing named config file gives no error")
	}
	if _, err := os.Stat(DefaultConfigPath); err == nil {
		t.Skipf("%s exists on this machine", DefaultConfigPath)
	}
	cfg, err := LoadConfig(DefaultConfigPath)
	if err != nil || cfg == nil {
		t.Errorf("missing default config: %v, want defaults", err)
	}
}

// TestConfigFileExamples uncomments every setting in config.yaml (lines
// "#key: value", indented under their section) and checks that the result
// loads and validates: the documented examples are valid values.
func TestConfigFileExamples(t *testing.T) {
	b, err := os.ReadFile("config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^#( *[a-z_]+:( |$))`)
	text := re.ReplaceAllString(string(b), "$1")
	cfg := &Config{}
	if err := decodeConfig([]byte(text), cfg); err != nil {
		t.Fatalf("config.yaml with every setting uncommented: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config.yaml with every setting uncommented: %v", err)
	}
	if cfg.PortA == "" || cfg.Capture.Filter != "ftp" || cfg.Capture.RingMiB != defaultRingMiB || cfg.BridgeIfName() != DefaultBridgeName {
		t.Errorf("uncommented config: port_a %q, capture %+v, bridge %q", cfg.PortA, cfg.Capture, cfg.BridgeIfName())
	}
}

// TestConfigErrorLines checks that a value Validate refuses is reported with
// the file and the line it is on, and that non-positive durations and
// absurd limits are refused (they used to be taken, or reported with no
// line).
func TestConfigErrorLines(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"idle 0s", "tap: x\ntimeouts:\n  idle: 0s\n", "line 3: timeouts.idle 0s: want 1s to 7d"},
		{"negative data", "timeouts:\n  data: -5s\n", "line 2: timeouts.data -5s: want"},
		{"line 1", "limits:\n  sessions: 10\n  line: 1\n", "line 3: limits.line 1: want 128 to 16777216"},
		{"sessions 0", "limits:\n  sessions: 0\n", "line 2: limits.sessions 0: want 1 to"},
		{"reorder huge", "limits:\n  reorder: 2000000000\n", "line 2: limits.reorder 2000000000: want 1500 to"},
		{"ring_mib", "capture:\n  ring_mib: 4096\n", "line 2: capture.ring_mib 4096: want 1 to 1024"},
		{"ring_mib 0", "capture:\n  ring_mib: 0\n", "line 2: capture.ring_mib 0: want 1 to 1024"},
		{"filter", "\ncapture:\n  filter: udp\n", `line 3: capture.filter "udp": want ftp, tcp or all`},
		{"leds.mode", "leds:\n  mode: disco\n", `line 2: leds.mode "disco": want gpio, term, log or off`},
		{"tap", "tap: a.b\n", `line 1: tap "a.b": must be letters`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(tt.text), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadConfig(path)
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), path+": "+tt.want) {
				t.Errorf("error %v\nwant it to contain %q", err, path+": "+tt.want)
			}
		})
	}
	// Durations and limits left at zero in code (not written) are defaults.
	if err := (&Config{}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
