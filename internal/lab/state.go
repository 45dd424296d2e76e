//go:build linux

package lab

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// StateDir holds a file per lab that outlives the program that made it
// (lab.sh up), so that lab.sh down can remove it.
const StateDir = "/run/ftptap-lab"

type state struct {
	Name     string `json:"name"`
	ClientNS string `json:"client_ns"`
	TapNS    string `json:"tap_ns"`
	ServerNS string `json:"server_ns"`
	Dir      string `json:"dir"`
}

// Save records the lab in StateDir.
func (l *Lab) Save() error {
	if err := os.MkdirAll(StateDir, 0o755); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	l.saved = true
	b, _ := json.MarshalIndent(state{l.Name, l.ClientNS, l.TapNS, l.ServerNS, l.Dir}, "", "  ")
	return os.WriteFile(filepath.Join(StateDir, l.Name+".json"), b, 0o644)
}

// Load returns a lab saved in StateDir. Its Close stops what runs in its
// namespaces (by namespace), removes them and forgets the lab.
func Load(name string) (*Lab, error) {
	b, err := os.ReadFile(filepath.Join(StateDir, name+".json"))
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("lab: %s: %w", name, err)
	}
	if !strings.HasPrefix(s.ClientNS, "ftplab-") || !strings.HasPrefix(s.TapNS, "ftplab-") || !strings.HasPrefix(s.ServerNS, "ftplab-") {
		return nil, fmt.Errorf("lab: %s: not a lab's namespaces", name)
	}
	return &Lab{Name: s.Name, ClientNS: s.ClientNS, TapNS: s.TapNS, ServerNS: s.ServerNS, Dir: s.Dir, saved: true}, nil
}

// Saved lists the names of the labs in StateDir.
func Saved() []string {
	files, _ := filepath.Glob(filepath.Join(StateDir, "*.json"))
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".json"))
	}
	return names
}
