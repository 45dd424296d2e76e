package web

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps: the page is a sink. It imports no packet source, no tracker and
// no hardware; everything it serves is embedded.
func TestDeps(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not on PATH: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	bad := []string{"github.com/ftptap/ftptap/tap", "github.com/ftptap/ftptap/pipeline", "github.com/ftptap/ftptap/ftpstate", "periph.io/x/host/", "os/exec", "github.com/chromedp/"}
	for _, dep := range strings.Fields(string(out)) {
		for _, b := range bad {
			if dep == b || strings.HasSuffix(b, "/") && strings.HasPrefix(dep, b) {
				t.Errorf("web depends on %s", dep)
			}
		}
	}
}
