package ftpstate

import (
	"strings"
	"testing"

	"github.com/ftptap/ftptap/event"
)

// TestFINAheadOfData: the server's FIN on a passive download comes after
// its 226 but ahead of the last two segments before it (reordered, as the
// lab's veths did once: a carved file then lacked 3,272 bytes). Every
// byte still reaches OnData before the transfer ends, the data channel
// closes with the last segment, and the bytes are counted once. With
// DataFiltered (a live tap whose kernel filter keeps data bytes out) the
// FIN ends the connection's bytes at once, as no bytes are coming.
func TestFINAheadOfData(t *testing.T) {
	for _, filtered := range []bool{false, true} {
		name := "whole"
		if filtered {
			name = "filtered"
		}
		t.Run(name, func(t *testing.T) {
			var log []string // OnData's segments and the events, in order
			cfg := &Config{DataFiltered: filtered, OnData: func(s *DataSegment) {
				log = append(log, "data "+string(s.Payload))
			}}
			tr, r, clock, k := loggedIn(cfg)
			tr.emit = func(e *event.Event) {
				log = append(log, e.Type.String())
				r.emit(e)
			}
			pasv(k)
			d := pasvData(tr, clock)
			k.send(true, "RETR f\r\n")
			k.send(false, "150 Opening BINARY mode data connection.\r\n")
			first := d.sseq
			d.feed(false, first, event.FlagACK, "aaaa")
			k.send(false, "226 Transfer complete.\r\n")
			d.feed(false, first+12, event.FlagFIN|event.FlagACK, "") // ahead of bbbb and cccc
			d.feed(false, first+4, event.FlagACK, "bbbb")
			d.feed(false, first+8, event.FlagACK|event.FlagPSH, "cccc")
			d.feed(true, d.cseq, event.FlagFIN|event.FlagACK, "")
			quit(k)

			got := strings.Join(log, ", ")
			last, end := strings.Index(got, "data cccc"), strings.Index(got, "transfer.end")
			if filtered {
				// The bytes count from the sequence numbers all the
				// same; the segments behind the FIN are not the
				// transfer's any more.
				if !strings.Contains(got, "data aaaa") || last >= 0 || end < 0 {
					t.Fatalf("segments and events: %s\nwant aaaa alone before transfer.end", got)
				}
			} else {
				if !strings.Contains(got, "data aaaa") || !strings.Contains(got, "data bbbb") || last < 0 || end < last {
					t.Fatalf("segments and events: %s\nwant all three segments before transfer.end", got)
				}
				if c := strings.Index(got, "data.close"); c < last {
					t.Errorf("data.close before the last segment: %s", got)
				}
			}
			ends := r.of(event.TypeTransferEnd)
			if len(ends) != 1 || ends[0].Bytes != 12 || !ends[0].Complete {
				t.Fatalf("transfer.end %+v, want one complete transfer of 12 bytes", ends)
			}
			if closes := r.of(event.TypeDataClose); len(closes) != 1 || closes[0].Bytes != 12 {
				t.Errorf("data.close %+v, want one of 12 bytes", closes)
			}
		})
	}
}
