//go:build race

package main

// raceEnabled: the race detector slows the pipeline tenfold; benchmarks
// that make test runs once shrink their input.
const raceEnabled = true
