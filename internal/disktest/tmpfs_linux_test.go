package disktest_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/ftptap/ftptap/internal/disktest"
)

// TestTmpfs fills a 64 KiB tmpfs: a write of 1 MiB fails with ENOSPC, and
// the file system is unmounted again when the test ends.
func TestTmpfs(t *testing.T) {
	dir := disktest.Tmpfs(t, 64<<10)
	err := os.WriteFile(filepath.Join(dir, "big"), make([]byte, 1<<20), 0o644)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("writing 1 MiB to a 64 KiB tmpfs: %v, want ENOSPC", err)
	}
}
