package carve_test

import (
	"strings"
	"syscall"
	"testing"

	"github.com/ftptap/ftptap/carve"
	"github.com/ftptap/ftptap/internal/disktest"
)

// TestFullDisk carves onto a 1 MiB tmpfs until it is full: carving stops
// with one alert, what was carved stays, nothing panics.
func TestFullDisk(t *testing.T) {
	dir := disktest.Tmpfs(t, 1<<20)
	h := newHarness(t, carve.Config{Dir: dir, MinFreeBytes: -1})
	h.seg(1, 0, "first")
	first := h.end(1, "RETR", "first.bin", 5, true)
	chunk := strings.Repeat("z", 64<<10)
	for i := int64(0); i < 40; i++ { // 2.5 MiB into 1 MiB
		h.seg(2, i*int64(len(chunk)), chunk)
	}
	ev := h.end(2, "RETR", "huge.bin", 40*int64(len(chunk)), true)
	if h.c.Stats().Stopped.Load() != 1 {
		t.Fatal("carving did not stop on a full disk")
	}
	if len(h.alerts) != 1 || h.alerts[0].Kind != "carve_stopped" || !strings.Contains(h.alerts[0].Detail, "disk is full") {
		t.Errorf("alerts %+v", h.alerts)
	}
	if h.read(first) != "first" {
		t.Error("the file carved before the disk filled is gone")
	}
	if ev.Carved != "" && !strings.HasSuffix(ev.Carved, ".partial") {
		t.Errorf("a file cut by the full disk carved as %q", ev.Carved)
	}
	h.seg(3, 0, "after")
	if ev := h.end(3, "RETR", "after.bin", 5, true); ev.Carved != "" {
		t.Errorf("carved after the stop: %s", ev.Carved)
	}
}

// TestMinFree stops carving before the disk is full.
func TestMinFree(t *testing.T) {
	dir := disktest.Tmpfs(t, 8<<20)
	h := newHarness(t, carve.Config{Dir: dir, MinFreeBytes: 6 << 20})
	chunk := strings.Repeat("m", 64<<10)
	for i := int64(0); i < 100; i++ { // 6.4 MiB, checked every 4 MiB
		h.seg(1, i*int64(len(chunk)), chunk)
	}
	h.end(1, "RETR", "big.bin", 100*int64(len(chunk)), true)
	if len(h.alerts) != 1 || !strings.Contains(h.alerts[0].Detail, "free on the disk") {
		t.Errorf("alerts %+v", h.alerts)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if free := int64(st.Bavail) * int64(st.Bsize); free < 1<<20 {
		t.Errorf("only %d bytes left free", free)
	}
}
