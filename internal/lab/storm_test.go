//go:build linux

package lab

import (
	"testing"
	"time"
)

// TestStormLoss: the storm's check tells apart the sessions of one client
// port (used again and again in a long storm) by time, and counts what
// ftptap missed of each.
func TestStormLoss(t *testing.T) {
	at := func(ms int) time.Time { return time.Unix(1700000000, 0).Add(time.Duration(ms) * time.Millisecond) }
	const c = "10.77.0.2:40000"
	clients := []stormSession{
		{client: c, sent: 3, read: 4, began: at(0), ended: at(100)},
		{client: c, sent: 0, read: 0, began: at(20000), ended: at(30000)}, // no greeting in 10 s
		// Began (its goroutine) before the second, in a burst, but got
		// the port only once the second had closed.
		{client: c, sent: 3, read: 4, began: at(19990), ended: at(30600)},
		{client: "10.77.0.2:40001", sent: 1, read: 2, began: at(0), ended: at(50)},
	}
	var evs []stormEvent
	add := func(ms int, id string, typ ...string) {
		for _, ty := range typ {
			evs = append(evs, stormEvent{typ: ty, client: c, session: id, ts: at(ms)})
		}
	}
	add(1, "s1", "session.start", "response", "request", "response", "request", "response", "request", "response")
	add(20001, "s2", "session.start")
	// The third session has a reply and a command short.
	add(30001, "s3", "session.start")
	add(30501, "s3", "response", "request", "response", "request", "response")
	add(30520, "s1", "response") // a late reply of s1 is not s3's
	// 10.77.0.2:40001: nothing at all.
	s, e, w := stormLoss(clients, evs)
	if s != 1 || e != 2+4 || w != 8+1+8+4 {
		t.Errorf("stormLoss = %d sessions, %d of %d events lost; want 1, 6 of 21", s, e, w)
	}
}
