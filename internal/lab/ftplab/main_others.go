//go:build !linux

// Command ftplab needs Linux network namespaces.
package main

import (
	"fmt"
	"os"
	"runtime"
)

func main() {
	fmt.Fprintf(os.Stderr, "ftplab: the lab needs Linux network namespaces, not %s\n", runtime.GOOS)
	os.Exit(1)
}
