//go:build linux

package lab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// SameEvents compares the events of a live run with those of a replay of
// tcpdump's capture of the same traffic. The same frames give the same
// events, with every field equal, and each session's events in the same
// order, except:
//   - seq: numbered per run, and shifted by the status events below;
//   - status events: periodic counters of a running tap, live only;
//   - ts, by a few microseconds: ftptap's ring and tcpdump's each stamp
//     a frame when their own socket receives it (the skb crossed a
//     namespace, which clears its timestamp), so the two clocks readings
//     differ slightly. Up to tsSlack is the same time;
//   - duration_ms, by as much as two such readings can differ;
//   - so the interleaving of concurrent sessions, whose frames lie a few
//     microseconds apart, and with it the session ids given in order of
//     start: sessions are compared by their endpoints, each in order.
//
// It returns "" when they agree, else the first differences.
func SameEvents(live, replayed []byte) string {
	return SameEventsWithin(live, replayed, tsSlack)
}

// SameEventsWithin is SameEvents with timestamps allowed to differ by
// slack (and durations by twice that). Under emulation (make test-vm) the
// two sockets' readings of one frame lie further apart than on real CPUs:
// the guest's virtual CPU can be descheduled between them.
func SameEventsWithin(live, replayed []byte, slack time.Duration) string {
	a, b := comparable(live), comparable(replayed)
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var out []string
	for _, k := range sorted {
		x, y := a[k], b[k]
		n := max(len(x), len(y))
		for i := 0; i < n && len(out) < 10; i++ {
			var p, q cmpEvent
			if i < len(x) {
				p = x[i]
			}
			if i < len(y) {
				q = y[i]
			}
			d := p.ts.Sub(q.ts)
			dd := p.durMS - q.durMS
			if p.rest != q.rest || d > slack || d < -slack || dd > 2*slack.Milliseconds() || dd < -2*slack.Milliseconds() {
				out = append(out, fmt.Sprintf("session %s, event %d:\n  live:   %s %s\n  replay: %s %s", k, i+1, p.ts.Format(time.StampMicro), p.rest, q.ts.Format(time.StampMicro), q.rest))
			}
		}
		if len(x) != len(y) {
			out = append(out, fmt.Sprintf("session %s: %d live events, %d replayed", k, len(x), len(y)))
		}
	}
	return strings.Join(out, "\n")
}

// tsSlack is how far live and replayed timestamps of one event may differ.
const tsSlack = time.Millisecond

type cmpEvent struct {
	ts    time.Time
	durMS int64  // duration_ms, compared with the slack of two timestamps
	rest  string // the event without seq, ts, duration_ms and session id, keys sorted
}

// comparable groups events by their session's endpoints, in order.
func comparable(events []byte) map[string][]cmpEvent {
	out := map[string][]cmpEvent{}
	for _, line := range bytes.Split(events, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e map[string]any
		if err := json.Unmarshal(line, &e); err != nil {
			out["?"] = append(out["?"], cmpEvent{rest: "not JSON: " + string(line)})
			continue
		}
		if e["type"] == "status" {
			continue
		}
		ts, _ := e["ts"].(string)
		t, _ := time.Parse(time.RFC3339Nano, ts)
		key := fmt.Sprint(e["client"], " ", e["server"])
		delete(e, "seq")
		delete(e, "ts")
		delete(e, "session")
		dur, _ := e["duration_ms"].(float64)
		delete(e, "duration_ms")
		b, _ := json.Marshal(e) // map keys come out sorted
		out[key] = append(out[key], cmpEvent{t, int64(dur), string(b)})
	}
	return out
}
