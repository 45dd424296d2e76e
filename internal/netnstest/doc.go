// Package netnstest builds, for tests, the inline set-up of a tap out of
// network namespaces and veth pairs, and runs code inside them:
//
//	client ns (c0) — veth — tap ns (pa | pb) — veth — server ns (s0)
//
// Namespaces get random-suffix names and are deleted when the test ends.
// It needs root (Linux only); New skips the test otherwise.
package netnstest
