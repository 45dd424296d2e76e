package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReplayDiagram: replay --diagram writes one SVG per session, whose
// data arrows are drawn from the side that opened the connection.
func TestReplayDiagram(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "diagrams")
	for _, tt := range []struct {
		scenario string
		want     []string // data-mode/data-from of the data arrows, in order
	}{
		{"pasv-retr", []string{"passive/client"}},
		{"port-stor", []string{"active/server"}},
		{"multi", []string{"passive/client", "passive/client", "passive/client", "passive/client", "active/server"}},
	} {
		t.Run(tt.scenario, func(t *testing.T) {
			os.RemoveAll(dir)
			_, errs, code := runCmd(t, "replay", "--tap", "lab", "--diagram", dir,
				filepath.Join(labDir, tt.scenario, "porta.pcap"), filepath.Join(labDir, tt.scenario, "portb.pcap"))
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*.svg"))
			if len(files) != 1 || filepath.Base(files[0]) != "s1.svg" {
				t.Fatalf("diagrams %q, want s1.svg", files)
			}
			b, err := os.ReadFile(files[0])
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			dec := xml.NewDecoder(strings.NewReader(string(b)))
			for {
				tok, err := dec.Token()
				if err != nil {
					if err.Error() != "EOF" {
						t.Fatalf("%s is not well-formed: %v", files[0], err)
					}
					break
				}
				if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "g" {
					a := map[string]string{}
					for _, at := range se.Attr {
						a[at.Name.Local] = at.Value
					}
					if a["data-kind"] == "data" {
						got = append(got, a["data-mode"]+"/"+a["data-from"])
					}
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("data arrows %q, want %q", got, tt.want)
			}
		})
	}
	_, errs, code := runCmd(t, "replay", "--diagram", filepath.Join(labDir, "multi", "porta.pcap"), filepath.Join(labDir, "multi", "portb.pcap"))
	if code == 0 || !strings.Contains(errs, "diagram") {
		t.Errorf("--diagram onto a file: exit %d, %q; want an error naming the diagram", code, errs)
	}
}

func TestWebConfig(t *testing.T) {
	for _, tt := range []struct {
		yaml, err string
	}{
		{"web: {listen: 127.0.0.1:8080, user: u, password: p, token: t}", ""},
		{"web: {tls: {cert: a.pem}}", "web.tls cert \"a.pem\", key \"\": set both"},
		{"web: {password: p}", "web.password is set but web.user is not"},
		{"web: {sessions: -1}", "web.sessions -1: must not be negative"},
		{"web: {listen: x, colour: red}", "colour"},
	} {
		cfg := &Config{}
		err := decodeConfig([]byte(tt.yaml), cfg)
		if err == nil {
			err = cfg.Validate()
		}
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%s: error %v, want %q", tt.yaml, err, tt.err)
		}
	}
}
