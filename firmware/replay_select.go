package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/pipeline"
)

// selection picks the events replay prints (on stdout, or in --summary):
// by type, and by host, port or session. NATS and the other sinks see every
// event: the selection is for the person reading.
type selection struct {
	types   map[event.Type]bool // nil: all
	host    netip.Addr          // zero: any
	port    uint16              // 0: any
	session uint64              // 0: any
}

// parseTypes parses --types: event type names, comma-separated.
func parseTypes(s string) (map[event.Type]bool, error) {
	if s == "" {
		return nil, nil
	}
	m := map[event.Type]bool{}
	for _, n := range strings.Split(s, ",") {
		n = strings.TrimSpace(n)
		t := event.ParseType(n)
		if t == event.TypeUnknown {
			var known []string
			for t := event.TypeUnknown + 1; t.String() != "unknown"; t++ {
				known = append(known, t.String())
			}
			return nil, fmt.Errorf("%w: --types: unknown event type %q (known: %s)", errUsage, n, strings.Join(known, ", "))
		}
		m[t] = true
	}
	return m, nil
}

func parseSelection(types, host, port, session string) (*selection, error) {
	var sel selection
	var err error
	if sel.types, err = parseTypes(types); err != nil {
		return nil, err
	}
	if host != "" {
		if sel.host, err = netip.ParseAddr(host); err != nil {
			return nil, fmt.Errorf("%w: --host %q: want an IP address such as 10.0.0.1 or fd00::1", errUsage, host)
		}
	}
	if port != "" {
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil || p == 0 {
			return nil, fmt.Errorf("%w: --port %q: want a TCP port, 1 to 65535", errUsage, port)
		}
		sel.port = uint16(p)
	}
	if session != "" {
		n, err := strconv.ParseUint(strings.TrimPrefix(session, "s"), 10, 64)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("%w: --session %q: want a session number as events and the summary show it (7 or s7)", errUsage, session)
		}
		sel.session = n
	}
	if sel.types == nil && !sel.host.IsValid() && sel.port == 0 && sel.session == 0 {
		return nil, nil
	}
	return &sel, nil
}

// match reports whether ev is selected. Host and port match either end of
// the command channel, or of the data connection the event is about.
func (s *selection) match(ev *event.Event) bool {
	if s.types != nil && !s.types[ev.Type] {
		return false
	}
	if s.session != 0 && ev.Session != s.session {
		return false
	}
	if s.host.IsValid() || s.port != 0 {
		ends := []netip.AddrPort{ev.Client, ev.Server, ev.Endpoint, ev.From, ev.To}
		hit := false
		for _, e := range ends {
			if !e.IsValid() {
				continue
			}
			if (!s.host.IsValid() || e.Addr().Unmap() == s.host.Unmap()) && (s.port == 0 || e.Port() == s.port) {
				hit = true
				break
			}
		}
		if !hit {
			return false
		}
	}
	return true
}

// filtered passes the selected events on to sink; a nil selection passes
// all.
func filtered(sel *selection, sink pipeline.Sink) pipeline.Sink {
	if sel == nil {
		return sink
	}
	if !pipeline.NeedsJSON(sink) {
		return pipeline.EventFunc(func(ev *event.Event) {
			if sel.match(ev) {
				sink.Event(ev, nil)
			}
		})
	}
	return pipeline.SinkFunc(func(ev *event.Event, js []byte) {
		if sel.match(ev) {
			sink.Event(ev, js)
		}
	})
}
