//go:build unix

package natsbus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive lock on dir (a file "ftptap.lock" in it), so
// that two servers never share one JetStream store: nats-server does not
// check. The lock goes with the process; unlock releases it earlier.
func lockDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("natsbus: server: %w", err)
	}
	path := filepath.Join(dir, "ftptap.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("natsbus: server: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("natsbus: server: store %s is in use by another server (another ftptap?): set nats.server.store_dir, or run with --nats off or --nats URL", dir)
		}
		return nil, fmt.Errorf("natsbus: server: lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
