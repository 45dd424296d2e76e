package ladder

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the package pure: events in, SVG out, no network, no
// processes, no tracker (os comes with fmt).
func TestDeps(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not on PATH: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	bad := []string{"net", "os/exec", "net/http", "github.com/ftptap/ftptap/tap", "github.com/ftptap/ftptap/pipeline", "github.com/ftptap/ftptap/ftpstate"}
	for _, dep := range strings.Fields(string(out)) {
		for _, b := range bad {
			if dep == b {
				t.Errorf("ladder depends on %s", dep)
			}
		}
	}
}
