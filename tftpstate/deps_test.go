package tftpstate_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDeps keeps tftpstate pure (the model is tailscale's tstest/deptest):
// it imports no I/O, starts no goroutines, reads no clock, and depends on
// no source or sink.
func TestDeps(t *testing.T) {
	list := func(format string) []string {
		out, err := exec.Command("go", "list", "-f", format, ".").Output()
		if err != nil {
			t.Skipf("go list: %v", err)
		}
		return strings.Fields(strings.Trim(strings.TrimSpace(string(out)), "[]"))
	}
	imports := list("{{.Imports}}")
	if len(imports) < 3 {
		t.Fatalf("go list gave imports %v", imports)
	}
	for _, bad := range []string{"os", "os/exec", "net", "net/http", "syscall", "log", "log/slog", "io/ioutil", "unsafe"} {
		if slices.Contains(imports, bad) {
			t.Errorf("tftpstate imports %s", bad)
		}
	}
	for _, dep := range list("{{.Deps}}") {
		for _, bad := range []string{"github.com/nats-io/", "periph.io/", "github.com/google/gopacket",
			"github.com/ftptap/ftptap/tap", "github.com/ftptap/ftptap/ftpstate", "github.com/ftptap/ftptap/leds", "github.com/ftptap/ftptap/pipeline", "github.com/ftptap/ftptap/natsbus"} {
			if strings.HasPrefix(dep, bad) {
				t.Errorf("tftpstate depends on %s", dep)
			}
		}
	}
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"time.Now(", "time.Since(", "time.Sleep(", "time.After(", "time.NewTimer(", "go func"} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s uses %s: time comes only from packets", f, bad)
			}
		}
	}
}
