//go:build linux

package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// cpuGroups splits the CPU between two control groups as systemd does
// between two services: this process, and so every client and server
// the lab starts from then on, goes into one with the default weight,
// and tap (ftptap's PID, moved there by its method) into one with ten
// times that, as ftptap.service's CPUWeight=1000 beside another unit's
// 100. Within a group, nice still ranks the processes; between groups,
// only the weights count. It uses cgroup v1's cpu controller
// (cpu.shares) where it is mounted, else cgroup v2 (cpu.weight), and
// skips b where neither can be written. The groups go at cleanup.
type cpuGroups struct {
	root, traffic, tap string
	file               string // cpu.shares or cpu.weight
}

func newCPUGroups(b *testing.B) *cpuGroups {
	b.Helper()
	g := &cpuGroups{root: "/sys/fs/cgroup/cpu", file: "cpu.shares"}
	traffic, tap := "1024", "10240"
	if _, err := os.Stat(filepath.Join(g.root, "cpu.shares")); err != nil {
		g.root, g.file, traffic, tap = "/sys/fs/cgroup", "cpu.weight", "100", "1000"
		// cgroup v2: the controller must be on for the root's children.
		if err := os.WriteFile(filepath.Join(g.root, "cgroup.subtree_control"), []byte("+cpu"), 0); err != nil {
			b.Skipf("lab: no cpu control groups to split (%v)", err)
		}
	}
	name := fmt.Sprintf("ftplab-%d", os.Getpid())
	g.traffic, g.tap = filepath.Join(g.root, name+"-traffic"), filepath.Join(g.root, name+"-tap")
	for _, c := range []struct{ dir, weight string }{{g.traffic, traffic}, {g.tap, tap}} {
		if err := os.Mkdir(c.dir, 0o755); err != nil {
			b.Skipf("lab: no cpu control groups to split (%v)", err)
		}
		b.Cleanup(func() { os.Remove(c.dir) }) // after the processes in it have gone
		if err := os.WriteFile(filepath.Join(c.dir, g.file), []byte(c.weight), 0); err != nil {
			b.Fatal(err)
		}
	}
	if err := g.move(g.traffic, os.Getpid()); err != nil {
		b.Fatal(err)
	}
	// Back to the root group before the groups are removed (cleanups run
	// last registered first: this one before the Removes above).
	b.Cleanup(func() { g.move(g.root, os.Getpid()) })
	return g
}

// move puts process pid (all its threads) into the group dir.
func (g *cpuGroups) move(dir string, pid int) error {
	err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0)
	if err != nil {
		return fmt.Errorf("lab: move %d to %s: %w", pid, dir, err)
	}
	return nil
}

// tapProcess moves ftptap into the tap's group.
func (g *cpuGroups) tapProcess(b *testing.B, f *Ftptap) {
	b.Helper()
	if f.Cmd.Process == nil {
		b.Fatal("lab: ftptap has no process")
	}
	if err := g.move(g.tap, f.Cmd.Process.Pid); err != nil {
		b.Fatal(err)
	}
}
