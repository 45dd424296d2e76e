package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/ftptap/ftptap/event"
)

// tftpEvent collects a TFTP event: transfers for their table, alerts with
// the others (named t<N>, as TFTP session ids are).
func (s *summary) tftpEvent(ev *event.Event) {
	switch ev.Type {
	case event.TypeTFTPEnd:
		s.tftp = append(s.tftp, *ev)
	case event.TypeAlert:
		s.alerts = append(s.alerts, fmt.Sprintf("t%d %s: %s", ev.Session, ev.Kind, ev.Detail))
	}
}

// writeTFTP writes the table of TFTP transfers, if there were any.
func (s *summary) writeTFTP(w io.Writer) {
	if len(s.tftp) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "TFTP\tCLIENT\tSERVER\tOP\tFILE\tMODE\tBYTES\tBLKSIZE\tCOMPLETE\tEND\tERROR\tMS\n")
	for _, t := range s.tftp {
		tf := t.TFTP
		if tf == nil {
			continue
		}
		errs := "-"
		if tf.ErrorCode >= 0 {
			errs = strconv.Itoa(tf.ErrorCode) + " " + tf.Error
		}
		fmt.Fprintf(tw, "t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%v\t%s\t%s\t%d\n", t.Session, t.Client, t.Server, tf.Op, dash(t.File), tf.Mode,
			t.Bytes, tf.BlkSize, t.Complete, t.Reason, errs, t.DurationMS)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d TFTP transfers\n", len(s.tftp))
}
