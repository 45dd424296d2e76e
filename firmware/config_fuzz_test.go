package main

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// FuzzConfig loads any bytes as a config file. Seeds: config.yaml with
// every key uncommented, and the documents of the config tests.
// Invariants: no panic (a YAML alias loop, a huge number, a key of the
// wrong kind are all errors); loading is deterministic; an error is one
// line that says where (a line number or a config key).
func FuzzConfig(f *testing.F) {
	b, err := os.ReadFile("config.yaml")
	if err != nil {
		f.Fatal(err)
	}
	// Uncomment the keys (not the prose) of config.yaml.
	key := regexp.MustCompile(`^#( *)([a-z_]+:.*)$`)
	var full []string
	for _, l := range strings.Split(string(b), "\n") {
		full = append(full, key.ReplaceAllString(l, "$1$2"))
	}
	f.Add([]byte(string(b)))
	f.Add([]byte(strings.Join(full, "\n")))
	for _, s := range []string{
		"tap: lab1\nport_a: eth0\nport_b: eth1\n",
		"nats: {server: {listen: 127.0.0.1:4222, admin: {user: ops, password: pw}, anonymous: none}}\n",
		"nats: {stream: {max_bytes: 512MiB}, spool: {max_bytes: 2GiB}}\n",
		"leds: {mode: gpio, active: {pin: GPIO17, active_low: true}, heartbeat: {led: ACT}}\n",
		"a: &a [*a]\n",
		"nats: &n {urls: *n}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		load := func() (*Config, error) {
			cfg := &Config{}
			if err := decodeConfig(data, cfg); err != nil {
				return cfg, err
			}
			return cfg, cfg.Validate()
		}
		c1, err1 := load()
		c2, err2 := load()
		if (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
			t.Fatalf("two loads differ: %v, %v", err1, err2)
		}
		if err1 == nil && !reflect.DeepEqual(c1, c2) {
			t.Fatalf("two loads give different configs")
		}
		if err1 != nil {
			msg := err1.Error()
			if msg == "" {
				t.Fatal("empty error")
			}
			if !strings.HasPrefix(msg, "config: ") && !strings.Contains(msg, "line ") {
				t.Fatalf("error %q says neither the key nor the line", msg)
			}
		}
	})
}
