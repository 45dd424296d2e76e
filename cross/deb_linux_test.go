package cross

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// need skips the test unless every command is on PATH.
func need(t *testing.T, cmds ...string) {
	t.Helper()
	for _, c := range cmds {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("%s not found (cross/setup.sh installs it): %v", c, err)
		}
	}
}

// run runs a command and returns its combined output; a failure fails the
// test with that output.
func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runErr(env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func runErr(env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var b bytes.Buffer
	cmd.Stdout = &b
	cmd.Stderr = &b
	err := cmd.Run()
	return b.String(), err
}

// buildPackage runs package.sh for amd64 with bin as the binary and returns
// the .deb's path.
func buildPackage(t *testing.T, bin, version string) string {
	t.Helper()
	out := t.TempDir()
	got := run(t, []string{"OUT=" + out, "FTPTAP_BIN=" + bin, "VERSION=" + version}, "./package.sh", "amd64")
	deb := strings.TrimSpace(got)
	if i := strings.LastIndexByte(deb, '\n'); i >= 0 {
		deb = deb[i+1:]
	}
	if !strings.HasPrefix(deb, out+"/") || !strings.HasSuffix(deb, "_amd64.deb") {
		t.Fatalf("package.sh printed %q, want a .deb in %s", got, out)
	}
	return deb
}

// Package versions come from git describe and must sort as releases do:
// dpkg upgrades only to a greater version.
func TestDebVersion(t *testing.T) {
	need(t, "go", "dpkg", "dpkg-deb", "git")
	fake := filepath.Join(t.TempDir(), "ftptap")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ describe, want string }{
		{"v1.2.3", "1.2.3"},
		{"1.2.3", "1.2.3"},
		{"v1.2.3-4-g0123abc", "1.2.3+git4.g0123abc"},
		{"v1.2.3-4-g0123abc-dirty", "1.2.3+git4.g0123abc+dirty"},
		{"v1.2.4", "1.2.4"},
		{"dev", "0.0.0~dev"},
	}
	var versions []string
	for _, tt := range tests {
		t.Run(tt.describe, func(t *testing.T) {
			deb := buildPackage(t, fake, tt.describe)
			got := strings.TrimSpace(run(t, nil, "dpkg-deb", "-f", deb, "Version"))
			if got != tt.want {
				t.Errorf("VERSION=%s: package version %q, want %q", tt.describe, got, tt.want)
			}
			versions = append(versions, got)
		})
	}
	// An untagged tree: 0.0.0~git<commit time>.<hash>, before any release.
	deb := buildPackage(t, fake, "0123abcd")
	untagged := strings.TrimSpace(run(t, nil, "dpkg-deb", "-f", deb, "Version"))
	if !regexp.MustCompile(`^0\.0\.0~git[0-9]{14}\.0123abcd$`).MatchString(untagged) {
		t.Errorf("untagged version %q, want 0.0.0~git<YYYYmmddHHMMSS>.0123abcd", untagged)
	}
	order := []string{"0.0.0~dev", untagged, "1.2.3", "1.2.3+git4.g0123abc", "1.2.3+git4.g0123abc+dirty", "1.2.4"}
	for i := 1; i < len(order); i++ {
		if _, err := runErr(nil, "dpkg", "--compare-versions", order[i-1], "lt", order[i]); err != nil {
			t.Errorf("dpkg does not sort %s before %s", order[i-1], order[i])
		}
	}
}

// TestDebInstall builds the amd64 package, installs it on this machine with
// dpkg, checks what it put where, verifies the unit with systemd-analyze,
// upgrades over itself keeping a local config change, then removes and
// purges it. This machine has no systemd as PID 1, so the unit is verified,
// not started.
func TestDebInstall(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("installs the amd64 package; this is %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	if os.Geteuid() != 0 {
		t.Skip("installing a package needs root")
	}
	need(t, "go", "dpkg", "dpkg-deb", "systemd-analyze", "systemd-sysusers", "getent", "id")
	if out, err := runErr(nil, "dpkg-query", "-W", "-f", "${db:Status-Status}", "ftptap"); err == nil && strings.TrimSpace(out) != "not-installed" {
		t.Skipf("an ftptap package is already on this machine (%s); not touching it", strings.TrimSpace(out))
	}

	const version = "1.2.3"
	dir := t.TempDir()
	bin := filepath.Join(dir, "ftptap")
	run(t, []string{"CGO_ENABLED=0"}, "go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", bin, "../firmware")
	deb := buildPackage(t, bin, "v"+version)

	// What is in it, before it goes anywhere.
	fields := run(t, nil, "dpkg-deb", "-f", deb, "Package", "Version", "Architecture", "Depends")
	for _, want := range []string{"Package: ftptap", "Version: " + version, "Architecture: amd64", "Depends: systemd"} {
		if !strings.Contains(fields, want) {
			t.Errorf("control fields lack %q:\n%s", want, fields)
		}
	}
	if got := strings.TrimSpace(run(t, nil, "dpkg-deb", "--info", deb, "conffiles")); got != "/etc/ftptap/config.yaml" {
		t.Errorf("conffiles = %q, want /etc/ftptap/config.yaml", got)
	}
	listing := run(t, nil, "dpkg-deb", "-c", deb)
	for path, mode := range map[string]string{
		"./usr/bin/ftptap":                    "-rwxr-xr-x",
		"./etc/ftptap/config.yaml":            "-rw-r-----",
		"./lib/systemd/system/ftptap.service": "-rw-r--r--",
		"./usr/lib/sysusers.d/ftptap.conf":    "-rw-r--r--",
		"./var/lib/ftptap/":                   "drwxr-x---",
		"./usr/share/doc/ftptap/INSTALL.md":   "-rw-r--r--",
	} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(mode) + ` root/root .* ` + regexp.QuoteMeta(path) + `$`).MatchString(listing) {
			t.Errorf("package lacks %s %s root/root:\n%s", mode, path, listing)
		}
	}

	purge := func() { runErr(nil, "dpkg", "--purge", "ftptap") }
	t.Cleanup(purge)
	run(t, nil, "dpkg", "-i", deb)

	// The commit follows the version when the build saw the repository
	// (go build -buildvcs, on by default in a git checkout).
	if got := run(t, nil, "/usr/bin/ftptap", "version"); !regexp.MustCompile(`^ftptap ` + regexp.QuoteMeta(version) + `( [0-9a-f]{12})? linux/amd64 go`).MatchString(got) {
		t.Errorf("ftptap version = %q, want ftptap %s [commit] linux/amd64 go...", got, version)
	}
	// The user the unit runs as, in group gpio for the LEDs.
	pw := strings.Split(strings.TrimSpace(run(t, nil, "getent", "passwd", "ftptap")), ":")
	if len(pw) != 7 || pw[5] != "/var/lib/ftptap" || pw[6] != "/usr/sbin/nologin" {
		t.Errorf("ftptap user = %q, want home /var/lib/ftptap and shell /usr/sbin/nologin", pw)
	}
	if uid, _ := strconv.Atoi(pw[2]); uid == 0 || uid >= 1000 {
		t.Errorf("ftptap uid %d, want a system uid", uid)
	}
	if groups := strings.Fields(run(t, nil, "id", "-nG", "ftptap")); !slices.Contains(groups, "gpio") {
		t.Errorf("ftptap is in groups %v, want gpio among them", groups)
	}
	checkOwner(t, "/var/lib/ftptap", "ftptap", "ftptap", 0o750|os.ModeDir)
	checkOwner(t, "/etc/ftptap/config.yaml", "root", "ftptap", 0o640)

	// The unit: systemd's own checks, with any warning a failure.
	unit := "/lib/systemd/system/ftptap.service"
	if out := run(t, nil, "systemd-analyze", "verify", unit); strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify %s warns:\n%s", unit, out)
	}
	// Hardening that stays: systemd rates exposure from 0 (locked down) to
	// 10; the unit as shipped scores 2.4.
	sec := run(t, nil, "systemd-analyze", "security", "--offline=yes", unit)
	m := regexp.MustCompile(`Overall exposure level for ftptap\.service: ([0-9.]+)`).FindStringSubmatch(sec)
	if m == nil {
		t.Fatalf("no exposure level in systemd-analyze security:\n%s", sec)
	}
	if level, _ := strconv.ParseFloat(m[1], 64); level > 3.0 {
		t.Errorf("unit exposure level %v, want at most 3.0:\n%s", level, sec)
	}

	// The shipped config loads: replay validates it as run does.
	pcap := filepath.Join(dir, "empty.pcap")
	// A pcap file header and no packets: magic, v2.4, zone 0, sigfigs 0,
	// snaplen 262144, LINKTYPE_ETHERNET.
	hdr := []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0}
	if err := os.WriteFile(pcap, hdr, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, nil, "/usr/bin/ftptap", "replay", "--config", "/etc/ftptap/config.yaml", "--tap", "pkgtest", pcap)

	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Log("systemd runs here, but the unit needs two real ports to start; verified only")
	}

	// Upgrade over itself: a local config change survives (noreplace), the
	// maintainer scripts run their upgrade paths.
	local := "\n# local change\n"
	appendFile(t, "/etc/ftptap/config.yaml", local)
	appendFile(t, "/var/lib/ftptap/store.dat", "jetstream")
	run(t, nil, "dpkg", "-i", deb)
	if b, _ := os.ReadFile("/etc/ftptap/config.yaml"); !bytes.HasSuffix(b, []byte(local)) {
		t.Errorf("reinstall replaced the changed config")
	}

	// Remove: the program and unit go, config and data stay.
	run(t, nil, "dpkg", "-r", "ftptap")
	for _, gone := range []string{"/usr/bin/ftptap", unit, "/usr/lib/sysusers.d/ftptap.conf"} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Errorf("after dpkg -r, %s: %v, want it gone", gone, err)
		}
	}
	for _, kept := range []string{"/etc/ftptap/config.yaml", "/var/lib/ftptap/store.dat"} {
		if _, err := os.Stat(kept); err != nil {
			t.Errorf("after dpkg -r, %s should stay: %v", kept, err)
		}
	}
	if st := run(t, nil, "dpkg-query", "-W", "-f", "${db:Status-Abbrev}", "ftptap"); strings.TrimSpace(st) != "rc" {
		t.Errorf("after dpkg -r, status %q, want rc (removed, config files left)", st)
	}

	// Purge: nothing of ftptap's is left but its system user.
	run(t, nil, "dpkg", "--purge", "ftptap")
	for _, gone := range []string{"/etc/ftptap", "/var/lib/ftptap", "/var/log/ftptap"} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Errorf("after dpkg --purge, %s: %v, want it gone", gone, err)
		}
	}
	if out, err := runErr(nil, "dpkg-query", "-W", "-f", "${db:Status-Status}", "ftptap"); err == nil && strings.TrimSpace(out) != "not-installed" {
		t.Errorf("after dpkg --purge, dpkg still knows ftptap: %s", out)
	}
}

func checkOwner(t *testing.T, path, user, group string, mode os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Error(err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	gotUser := strings.SplitN(strings.TrimSpace(run(t, nil, "getent", "passwd", fmt.Sprint(st.Uid))), ":", 2)[0]
	gotGroup := strings.SplitN(strings.TrimSpace(run(t, nil, "getent", "group", fmt.Sprint(st.Gid))), ":", 2)[0]
	if gotUser != user || gotGroup != group || fi.Mode() != mode {
		t.Errorf("%s: %s %s:%s, want %s %s:%s", path, fi.Mode(), gotUser, gotGroup, mode, user, group)
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}
