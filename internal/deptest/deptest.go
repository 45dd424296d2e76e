// Package deptest checks, from a package's own tests, what the package
// depends on (the model is tailscale's tstest/deptest): a pure tracker
// imports no I/O and reads no clock, a sink imports no packet source.
package deptest

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Rules are what a package may not depend on.
type Rules struct {
	// BadImports may not be imported directly (import paths).
	BadImports []string
	// BadDeps may not be among the package's dependencies, however deep:
	// an import path, or a prefix when it ends in "/".
	BadDeps []string
	// NeedDeps must be among them: proof that the list is the real one.
	NeedDeps []string
	// Pure: the package's own files read no wall clock, sleep on no
	// timer and start no goroutine; time comes only from packets.
	Pure bool
}

// Check runs go list on the package in the current folder (a test's) and
// reports every rule it breaks.
func Check(t testing.TB, r Rules) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go not on PATH (%v): the dependencies need go list", err)
	}
	list := func(args ...string) []string {
		out, err := exec.Command(goBin, append([]string{"list"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.Fields(string(out))
	}
	pkg := list(".")[0]
	imports := list("-f", `{{join .Imports " "}}`, ".")
	for _, bad := range r.BadImports {
		if slices.Contains(imports, bad) {
			t.Errorf("%s imports %s", pkg, bad)
		}
	}
	deps := list("-deps", ".")
	if len(deps) < 2 {
		t.Fatalf("go list -deps gave %v", deps)
	}
	for _, dep := range deps {
		for _, bad := range r.BadDeps {
			if dep == bad || strings.HasSuffix(bad, "/") && strings.HasPrefix(dep, bad) {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
	for _, need := range r.NeedDeps {
		if !slices.Contains(deps, need) {
			t.Errorf("%s: go list -deps has no %s: %v", pkg, need, deps)
		}
	}
	if r.Pure {
		files, _ := filepath.Glob("*.go")
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, bad := range []string{"time.Now(", "time.Since(", "time.Until(", "time.Sleep(", "time.After(", "time.Tick(", "time.NewTimer(", "time.NewTicker(", "go func"} {
				if strings.Contains(string(b), bad) {
					t.Errorf("%s uses %s: time comes only from packets", f, bad)
				}
			}
		}
	}
}
