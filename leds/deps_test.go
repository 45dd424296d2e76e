package leds

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the package on periph.io's interfaces: opening real pins
// (periph.io/x/host) is firmware's job, and a sink imports no packet source.
func TestDeps(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not on PATH: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	bad := []string{"periph.io/x/host/", "github.com/ftptap/ftptap/tap", "github.com/ftptap/ftptap/pipeline", "os/exec", "net/http"}
	for _, dep := range strings.Fields(string(out)) {
		for _, b := range bad {
			if dep == b || strings.HasPrefix(dep, b) {
				t.Errorf("leds depends on %s", dep)
			}
		}
	}
	if !strings.Contains(string(out), "periph.io/x/conn/v3/gpio\n") {
		t.Errorf("go list -deps gave no periph.io/x/conn/v3/gpio: %s", out)
	}
}
