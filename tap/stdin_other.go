//go:build !unix

package tap

import "os"

// interruptibleStdin returns standard input: elsewhere than Unix a pending
// read of it is not ended early.
func interruptibleStdin() *os.File { return os.Stdin }
