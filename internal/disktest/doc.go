// Package disktest gives tests a small file system of their own to fill:
// Tmpfs mounts a tmpfs of a given size, so that a test can watch what its
// code does when the disk under it is full, without filling the machine's.
// It needs root or CAP_SYS_ADMIN (Linux only); without them Tmpfs skips
// the test.
package disktest
