package cross

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The ARM tests are only as strict as the emulated CPU. go_linux_arm_exec
// runs an ARM1176 (Pi Zero and 1): a GOARM=6 program runs there, and a
// GOARM=7 one must die on its first ARMv7 instruction, as on the board, or
// make test-arm would pass code that a Pi Zero cannot run.
// go_linux_arm64_exec runs arm64 programs on a Cortex-A72.
func TestEmulatedCPUs(t *testing.T) {
	need(t, "go")
	for _, q := range []string{"qemu-arm", "qemu-aarch64"} {
		if _, err := exec.LookPath(q + "-static"); err != nil {
			need(t, q)
		}
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	prog := "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n\t\"runtime\"\n)\n\n" +
		"func main() { fmt.Println(runtime.GOARCH, os.Getenv(\"FTPTAP_EMULATED\")) }\n"
	if err := os.WriteFile(src, []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	path := cwd + string(os.PathListSeparator) + os.Getenv("PATH")
	tests := []struct {
		name, goarch, goarm string
		want                string // output; "" means killed by SIGILL
	}{
		{"arm64", "arm64", "", "arm64 qemu-aarch64\n"},
		{"armv6 on ARM1176", "arm", "6", "arm qemu-arm\n"},
		{"armv7 on ARM1176", "arm", "7", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := []string{"PATH=" + path, "CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + tt.goarch, "QEMU_CPU="}
			if tt.goarm != "" {
				env = append(env, "GOARM="+tt.goarm)
			}
			bin := filepath.Join(dir, "prog-"+tt.goarch+tt.goarm)
			run(t, env, "go", "build", "-o", bin, src)
			out, err := runErr(env, "./go_linux_"+tt.goarch+"_exec", bin)
			if tt.want != "" {
				if err != nil || out != tt.want {
					t.Errorf("output %q, err %v; want %q", out, err, tt.want)
				}
				return
			}
			// qemu reports the guest's SIGILL, then dies of it.
			if err == nil || !strings.Contains(out, "uncaught target signal 4 (Illegal instruction)") {
				t.Errorf("a GOARM=7 program on the ARM1176: output %q, err %v; want it killed by SIGILL", out, err)
			}
		})
	}
}
