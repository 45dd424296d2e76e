// Package perf holds the benchmarks that compare ftptap replay with
// tcpdump and tshark on the same generated captures, in the same run, and
// the scaling table (replay time and peak RSS against capture size and
// open sessions). It has no code of its own: see perf_test.go and
// docs/performance.md.
package perf
