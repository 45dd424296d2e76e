package leds

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A sysfs LED directory in a temporary folder: the trigger file lists the
// triggers on offer with the selected one in brackets, as the kernel does.
func fakeSysfsLED(t *testing.T, trigger string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ACT")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "trigger"), []byte(trigger), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func readTrigger(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "trigger"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestClaimTrigger(t *testing.T) {
	dir := fakeSysfsLED(t, "none rc-feedback kbd-scrolllock timer oneshot heartbeat [mmc0] default-on\n")
	restore, err := ClaimTrigger(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := readTrigger(t, dir); got != "none" {
		t.Errorf("trigger after claim = %q, want none", got)
	}
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	if got := readTrigger(t, dir); got != "mmc0" {
		t.Errorf("trigger after restore = %q, want mmc0", got)
	}
}

func TestClaimTriggerErrors(t *testing.T) {
	if _, err := ClaimTrigger(filepath.Join(t.TempDir(), "nope")); err == nil || !strings.HasPrefix(err.Error(), "leds: ") {
		t.Errorf("missing LED: %v", err)
	}
	dir := fakeSysfsLED(t, "none timer\n")
	if _, err := ClaimTrigger(dir); err == nil || !strings.Contains(err.Error(), "no trigger selected") {
		t.Errorf("no selected trigger: %v", err)
	}
	if os.Geteuid() == 0 {
		return // root writes read-only files
	}
	dir = fakeSysfsLED(t, "none [mmc0]\n")
	os.Chmod(filepath.Join(dir, "trigger"), 0o444)
	if _, err := ClaimTrigger(dir); err == nil || !os.IsPermission(unwrapAll(err)) {
		t.Errorf("read-only trigger: %v, want a permission error", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}
