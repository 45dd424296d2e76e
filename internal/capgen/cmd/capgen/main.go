// Command capgen writes the synthetic captures of the benchmarks (see
// package capgen and docs/performance.md):
//
//	capgen -kind mixed -scale 10 -o mixed10.pcap
//	capgen -kind control -sessions 500 -commands 2000 -o control.pcap
//	capgen -kind idle -sessions 30000 -o idle30k.pcap
//	capgen -kind idle-data -sessions 30000 -o idledata30k.pcap
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/ftptap/ftptap/internal/capgen"
)

func main() {
	kind := flag.String("kind", "mixed", "mixed, control, idle or idle-data")
	scale := flag.Int("scale", 1, "mixed: copies of the mixed capture")
	sessions := flag.Int("sessions", 1000, "control, idle: sessions")
	commands := flag.Int("commands", 2000, "control: commands per session")
	out := flag.String("o", "", "output file (required)")
	flag.Parse()
	if err := run(*kind, *out, *scale, *sessions, *commands); err != nil {
		fmt.Fprintln(os.Stderr, "capgen:", err)
		os.Exit(1)
	}
}

func run(kind, out string, scale, sessions, commands int) error {
	if out == "" {
		return fmt.Errorf("-o is required")
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	var w *capgen.Writer
	switch kind {
	case "mixed":
		w, err = capgen.Mixed(f, scale)
	case "control":
		w, err = capgen.Control(f, sessions, commands)
	case "idle":
		w, err = capgen.Idle(f, sessions, false)
	case "idle-data":
		w, err = capgen.Idle(f, sessions, true)
	default:
		err = fmt.Errorf("unknown kind %q", kind)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out)
		return err
	}
	fmt.Printf("%s: %d frames, %d bytes\n", out, w.Frames, w.Bytes)
	return nil
}
