package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ftptap/ftptap/event"
)

// sumTFTP is what the summary keeps of TFTP: a row per transfer is written
// when it ends (TFTP transfers are their own sessions, t<N>), and alerts
// are counted by kind for a closing section of their own.
type sumTFTP struct {
	transfers int
	alerts    map[string]*sumGroup
}

func (s *summary) tftpEvent(ev *event.Event) {
	switch ev.Type {
	case event.TypeTFTPEnd:
		s.writeTFTPRow(ev)
	case event.TypeAlert:
		if s.tftp.alerts == nil {
			s.tftp.alerts = map[string]*sumGroup{}
		}
		s.count(s.tftp.alerts, ev.Kind, ev.Session, ev.Detail)
	}
}

// writeTFTPRow writes a transfer under the sessions' header: its start,
// id, client and server in their columns, then what it moved and how it
// ended.
func (s *summary) writeTFTPRow(ev *event.Event) {
	tf := ev.TFTP
	if tf == nil {
		return
	}
	if !s.header {
		fmt.Fprintln(s.w, sessionHeader)
		s.header = true
	}
	s.tftp.transfers++
	state := "complete"
	if !ev.Complete {
		state = "incomplete"
	}
	end := ev.Reason
	if tf.ErrorCode >= 0 {
		end = fmt.Sprintf("error %d %s: %s", tf.ErrorCode, tf.Error, clean(ev.Text, 80))
	}
	start := ev.Time.Add(-time.Duration(ev.DurationMS) * time.Millisecond)
	row := fmt.Sprintf("%-23s  %-7s  %-21s  %-21s  TFTP %-5s  %-8s  %10s  %-10s  %7s  %s  %s",
		start.UTC().Format("2006-01-02 15:04:05.000"), "t"+strconv.FormatUint(ev.Session, 10), ev.Client, ev.Server,
		tf.Op, clean(tf.Mode, 8), humanBytes(ev.Bytes), state, (time.Duration(ev.DurationMS) * time.Millisecond).String(),
		dash(clean(ev.File, widthFile)), end)
	fmt.Fprintln(s.w, strings.TrimRight(row, " "))
}

// writeTFTP writes the TFTP alerts, grouped by kind.
func (s *summary) writeTFTP(w io.Writer) {
	writeGroups(w, "TFTP ALERTS", "t", s.tftp.alerts)
}

// tftpTotal is the TFTP part of the closing line, empty without TFTP.
func (s *summary) tftpTotal() string {
	if s.tftp.transfers == 0 {
		return ""
	}
	return ", " + plural(s.tftp.transfers, "TFTP transfer")
}
