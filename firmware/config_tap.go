package main

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ftptap/ftptap/tap"
)

// DefaultBridgeName is the bridge ftptap creates when the config names none.
const DefaultBridgeName = "ftptap0"

// CaptureConfig is the capture: section of the config file.
type CaptureConfig struct {
	// Filter is the kernel filter: "ftp" (default: command channels whole,
	// SYN/FIN/RST of everything else), "tcp" (all TCP) or "all".
	Filter string `yaml:"filter"`
	// RingMiB is the size of each port's capture ring in MiB. Default: 16
	// (tap.DefaultRingSize).
	RingMiB int `yaml:"ring_mib"`
	// Save keeps the FTP traffic as pcapng files (see SaveConfig).
	Save SaveConfig `yaml:"save"`
}

// BridgeConfig is the bridge: key of the config: either true or false, or a
// section with enabled and force.
type BridgeConfig struct {
	// Enabled: nil is the default, on.
	Enabled *bool `yaml:"enabled"`
	// Force bridges a port even if it carries a global address or the
	// default route (see tap.CheckPort), which cuts this machine off that
	// network. Default: false.
	Force bool `yaml:"force"`
}

// UnmarshalYAML takes "bridge: false" as well as a section.
func (b *BridgeConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var on bool
		if err := n.Decode(&on); err != nil {
			return fmt.Errorf("bad value %s: want true or false, or a section with enabled and force", describe(n))
		}
		b.Enabled = &on
		return nil
	}
	type plain BridgeConfig // without this method
	return decodeValue(n, reflect.ValueOf((*plain)(b)).Elem(), "bridge")
}

// BridgeOn reports whether ftptap sets up the bridge (the default).
func (c *Config) BridgeOn() bool { return c.Bridge.Enabled == nil || *c.Bridge.Enabled }

// BridgeIfName returns the bridge's name, or the default.
func (c *Config) BridgeIfName() string {
	if c.BridgeName != "" {
		return c.BridgeName
	}
	return DefaultBridgeName
}

// LiveOptions maps the config onto the live source's options.
func (c *Config) LiveOptions() *tap.LiveOptions {
	f, _ := tap.ParseFilter(c.Capture.Filter) // checked by Validate
	return &tap.LiveOptions{
		Filter:       f,
		ControlPorts: c.ControlPorts,
		RingSize:     c.Capture.RingMiB << 20,
	}
}

// validateTap checks the tap's ports, bridge and capture keys.
func (c *Config) validateTap() error {
	for _, p := range []struct{ key, name string }{{"port_a", c.PortA}, {"port_b", c.PortB}, {"bridge_name", c.BridgeName}} {
		if err := checkIfName(p.name); err != nil {
			return c.badKey(p.key, "%q: %v", p.name, err)
		}
	}
	if c.BridgeName != "" && (c.BridgeName == c.PortA || c.BridgeName == c.PortB) {
		return c.badKey("bridge_name", "%q is also a port: the bridge is a third interface over the two ports", c.BridgeName)
	}
	if _, err := tap.ParseFilter(c.Capture.Filter); err != nil {
		return c.badKey("capture.filter", "%q: want ftp, tcp or all", c.Capture.Filter)
	}
	if c.Capture.RingMiB < 0 || c.Capture.RingMiB > 1024 || c.Capture.RingMiB == 0 && c.inFile("capture.ring_mib") {
		return c.badKey("capture.ring_mib", "%d: want 1 to 1024 (leave it out for the default, %d)", c.Capture.RingMiB, defaultRingMiB)
	}
	if n := len(c.ControlPorts); n > 100 {
		return c.badKey("control_ports", "%d ports: at most 100", n)
	}
	return nil
}

// checkIfName checks a Linux interface name (empty is allowed: unset).
func checkIfName(s string) error {
	switch {
	case s == "":
		return nil
	case len(s) > 15:
		return fmt.Errorf("longer than 15 bytes, the kernel's limit for interface names")
	case s == "." || s == "..":
		return fmt.Errorf("not an interface name")
	case strings.ContainsAny(s, "/: \t\n"):
		return fmt.Errorf("an interface name has no '/', ':' or spaces")
	}
	return nil
}
