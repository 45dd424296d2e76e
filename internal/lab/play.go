//go:build linux

package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ftptap/ftptap/internal/truth"
)

// Played is a scenario that ran while both tap ports were recorded.
type Played struct {
	Runs  []*Run
	Sums  map[string]string
	Truth *truth.Truth
	Dir   string // porta.pcap, portb.pcap, truth.json
}

// Play runs sc while recording both tap ports into dir, then writes its
// truth to dir/truth.json. started, if not nil, runs once the recording
// captures and before the scenario (ftptap starts there); stopping, once
// the scenario is over and before the recording stops. The tap ports
// must be bridged by the time the scenario runs (Options.Bridge, or
// ftptap in started).
func (l *Lab) Play(ctx context.Context, sc Scenario, dir string, started, stopping func() error) (*Played, error) {
	if sc.Setup != nil {
		if err := sc.Setup(l); err != nil {
			return nil, fmt.Errorf("lab: %s: %w", sc.Name, err)
		}
	}
	rec, err := l.Record(dir)
	if err != nil {
		return nil, err
	}
	defer rec.Stop()
	if started != nil {
		if err := started(); err != nil {
			return nil, err
		}
	}
	runs, sums, runErr := sc.Run(l, ctx)
	p := &Played{Runs: runs, Sums: sums, Dir: dir}
	if runErr != nil {
		for _, r := range runs {
			l.logf("%s %v: %s", r.Tool, r.Err, lastLines(r.Log, 20))
		}
		return p, fmt.Errorf("lab: %s: %w", sc.Name, runErr)
	}
	if stopping != nil {
		if err := stopping(); err != nil {
			return p, err
		}
	}
	rec.Stop()
	conns, err := Conns(rec.Files()...)
	if err != nil {
		return p, err
	}
	if p.Truth, err = Truth(sc.Name, runs, conns, sums); err != nil {
		return p, err
	}
	b, err := json.MarshalIndent(p.Truth, "", " ")
	if err != nil {
		return p, err
	}
	if err := os.WriteFile(filepath.Join(dir, "truth.json"), append(b, '\n'), 0o644); err != nil {
		return p, fmt.Errorf("lab: %w", err)
	}
	return p, nil
}
