package main

import (
	"fmt"
	"sort"
	"strings"
)

// watchTFTP holds the fields of TFTP events that watch shows.
type watchTFTP struct {
	Op          string            `json:"op"`
	Options     map[string]string `json:"options"`
	Blocks      int64             `json:"blocks"`
	BlkSize     int               `json:"blksize"`
	ErrorCode   *int              `json:"error_code"`
	Error       string            `json:"error"`
	Transfer    string            `json:"transfer"`
	Retransmits int64             `json:"retransmits"`
}

// tftpDetail is the row of a tftp.request or tftp.end.
func (e *watchEvent) tftpDetail() string {
	if e.Type == "tftp.request" {
		s := fmt.Sprintf("%s -> %s %s %s %s", e.Client, e.Server, e.Op, e.File, e.Mode)
		keys := make([]string, 0, len(e.Options))
		for k := range e.Options {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			s += " " + k + "=" + e.Options[k]
		}
		return s
	}
	state := "complete"
	if !e.Complete {
		state = "INCOMPLETE"
	}
	s := fmt.Sprintf("%s %s %s %d B in %d blocks of %d, %s, %s", e.Op, e.File, e.Mode, e.Bytes, e.Blocks, e.BlkSize, state, e.Reason)
	if e.ErrorCode != nil {
		s += fmt.Sprintf(", error %d %s: %s", *e.ErrorCode, e.Error, strings.TrimSpace(e.Text))
	}
	if e.Transfer != "" {
		s += " via " + e.Transfer
	}
	if e.Retransmits > 0 {
		s += fmt.Sprintf(", %d retransmits", e.Retransmits)
	}
	return s + fmt.Sprintf(" %d ms", e.DurationMS)
}
