//go:build unix

package tap

import (
	"os"
	"sync"
	"syscall"
	"time"
)

var (
	stdinOnce sync.Once
	// stdinPoll is standard input made pollable, held here for the life of
	// the process: a second *os.File for the same descriptor, which must
	// never be closed (nor collected, which would close it).
	stdinPoll *os.File
)

// interruptibleStdin returns standard input as a file whose pending read a
// deadline can end, so that Ctrl-C stops a replay whose writer is silent
// (nc -l | ftptap replay -). A pipe or socket the runtime does not poll
// yet is put in non-blocking mode, which only this process reads; anything
// else (a terminal, a regular file) is os.Stdin as it is.
func interruptibleStdin() *os.File {
	in := os.Stdin
	if in.SetReadDeadline(time.Time{}) == nil {
		return in // already polled (os.Pipe)
	}
	st, err := in.Stat()
	if err != nil || st.Mode()&(os.ModeNamedPipe|os.ModeSocket) == 0 {
		return in
	}
	stdinOnce.Do(func() {
		rc, err := in.SyscallConn()
		if err != nil {
			return
		}
		var fd uintptr
		var nbErr error
		if err := rc.Control(func(d uintptr) { fd, nbErr = d, syscall.SetNonblock(int(d), true) }); err != nil || nbErr != nil {
			return
		}
		stdinPoll = os.NewFile(fd, "stdin")
	})
	if stdinPoll != nil {
		return stdinPoll
	}
	return in
}
