package main

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ftptap/ftptap/ftpstate"
)

// configSource is where a config came from: the file, and the line of each
// key in it, so that Validate can name the line of a value it refuses.
type configSource struct {
	path  string
	lines map[string]int // "timeouts.idle" → its line
}

// keyLines maps the dotted path of every key of a YAML document to its line.
func keyLines(b []byte) map[string]int {
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) != nil || len(doc.Content) == 0 {
		return nil
	}
	m := map[string]int{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := joinPath(path, n.Content[i].Value)
			m[p] = n.Content[i].Line
			walk(n.Content[i+1], p)
		}
	}
	walk(doc.Content[0], "")
	return m
}

// inFile reports whether key was set in the config file.
func (c *Config) inFile(key string) bool {
	if c.src == nil {
		return false
	}
	_, ok := c.src.lines[key]
	return ok
}

// setByFlag records that a flag overrides key: its errors no longer name
// the file's line.
func (c *Config) setByFlag(key string) {
	if c.src != nil {
		delete(c.src.lines, key)
	}
}

// badKey returns the error about key's value: "config: FILE: line N: key
// ..." when the key is in the file, else "config: key ...".
func (c *Config) badKey(key, format string, args ...any) error {
	msg := key + " " + fmt.Sprintf(format, args...)
	if c.src != nil {
		if line, ok := c.src.lines[key]; ok {
			return fmt.Errorf("config: %s: line %d: %s", c.src.path, line, msg)
		}
	}
	return fmt.Errorf("config: %s", msg)
}

// validateTracker checks the timeouts and limits. Zero or an absent key is
// the default; a key written with a value that is not positive, or one so
// small or large that tracking could not work, is an error.
func (c *Config) validateTracker() error {
	def := ftpstate.Defaults()
	for _, d := range []struct {
		key      string
		v        time.Duration
		min, max time.Duration
		def      string
	}{
		{"timeouts.idle", c.Timeouts.Idle, time.Second, 7 * 24 * time.Hour, "15m"},
		{"timeouts.data", c.Timeouts.Data, 100 * time.Millisecond, 24 * time.Hour, "30s"},
		{"timeouts.handshake", c.Timeouts.Handshake, time.Second, time.Hour, fmtDuration(def.HandshakeTimeout)},
		{"timeouts.linger", c.Timeouts.Linger, 10 * time.Millisecond, time.Hour, "5s"},
		{"timeouts.syn_hold", c.Timeouts.SYNHold, 10 * time.Millisecond, time.Minute, "2s"},
		{"timeouts.tftp", c.Timeouts.TFTP, time.Second, time.Hour, "30s"},
	} {
		if d.v == 0 && !c.inFile(d.key) {
			continue
		}
		if d.v < d.min || d.v > d.max {
			return c.badKey(d.key, "%s: want %s to %s (leave it out for the default, %s)", d.v, d.min, fmtDuration(d.max), d.def)
		}
	}
	for _, l := range []struct {
		key      string
		v        int
		min, max int
		def      int
	}{
		{"limits.sessions", c.Limits.Sessions, 1, 1 << 24, def.MaxSessions},
		{"limits.expected", c.Limits.Expected, 1, 1 << 16, 64},
		{"limits.pending", c.Limits.Pending, 1, 1 << 16, 64},
		{"limits.line", c.Limits.Line, 128, 1 << 24, 4096},
		{"limits.reorder", c.Limits.Reorder, 1500, 1 << 30, 65536},
		{"limits.held_syns", c.Limits.HeldSYNs, 1, 1 << 20, 256},
		{"limits.data_conns", c.Limits.DataConns, 1, 1 << 24, def.MaxDataConns},
		// At most 1 GiB: the bytes fit an int on a 32-bit Pi.
		{"limits.memory_mib", c.Limits.MemoryMiB, ftpstate.MinMaxBytes >> 20, 1024, def.MaxBytes >> 20},
		{"limits.tftp", c.Limits.TFTP, 1, 1 << 20, 4096},
	} {
		if l.v == 0 && !c.inFile(l.key) {
			continue
		}
		if l.v < l.min || l.v > l.max {
			return c.badKey(l.key, "%d: want %d to %d (leave it out for the default, %d)", l.v, l.min, l.max, l.def)
		}
	}
	return nil
}

// fmtDuration prints whole days and hours as people write them.
func fmtDuration(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
