package carve

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/tftpstate"
)

// tftpInfo is what the carver keeps of a TFTP transfer, from its
// tftp.request.
type tftpInfo struct {
	client, server netip.AddrPort
	op, file, mode string
}

// annotateTFTP follows TFTP transfers and finishes a transfer's file at
// its tftp.end, filling in SHA256, Carved and Gaps.
func (c *Carver) annotateTFTP(ev *event.Event) {
	switch ev.Type {
	case event.TypeTFTPRequest:
		x := &tftpInfo{client: ev.Client, server: ev.Server, file: ev.File}
		if ev.TFTP != nil {
			x.op, x.mode = ev.TFTP.Op, ev.TFTP.Mode
		}
		c.tftps[ev.Session] = x
	case event.TypeTFTPEnd:
		c.tftpEnd(ev)
	}
}

// TFTPData writes a DATA block of a TFTP transfer at its offset in the
// file (the block number times the block size in force). As for FTP, the
// first copy of a block wins: a retransmission that disagrees with it is
// ignored. In netascii mode the bytes are those on the wire (CR LF line
// ends, CR NUL for a lone CR), not converted back.
func (c *Carver) TFTPData(seg *tftpstate.DataSegment) {
	if len(seg.Payload) == 0 {
		return
	}
	f := c.tftpFiles[seg.Transfer]
	if f == nil {
		if f = c.openTFTP(seg.Transfer); f == nil {
			return
		}
	}
	c.put(f, seg.Offset, seg.Payload)
}

// openTFTP starts carving a TFTP transfer, or returns nil if it is not
// carved.
func (c *Carver) openTFTP(id uint64) *file {
	if c.stopped != "" {
		return nil
	}
	x := c.tftps[id]
	if x == nil {
		x = &tftpInfo{file: "t" + strconv.FormatUint(id, 10)}
	}
	if len(c.files)+len(c.tftpFiles) >= c.cfg.MaxOpen {
		c.stats.Skipped.Add(1)
		f := &file{transfer: id, session: id, tftp: x, cut: "too many transfers at once"}
		c.alertFile(f, "carve_skipped", "more than %d transfers carved at once: this one is not carved", c.cfg.MaxOpen)
		c.tftpFiles[id] = f
		return f
	}
	f, err := c.createTFTP(id, x)
	if err != nil {
		c.stop(fmt.Sprintf("cannot create a file: %v", err))
		return nil
	}
	c.tftpFiles[id] = f
	return f
}

func (c *Carver) createTFTP(id uint64, x *tftpInfo) (*file, error) {
	fh, err := os.CreateTemp(c.tmp, "t"+strconv.FormatUint(id, 10)+"-tftp-*")
	if err != nil {
		return nil, err
	}
	return &file{transfer: id, session: id, tftp: x, f: fh, tmp: fh.Name(), h: sha256.New()}, nil
}

// tftpEnd finishes the file of the TFTP transfer ev ends.
func (c *Carver) tftpEnd(ev *event.Event) {
	x := c.tftps[ev.Session]
	delete(c.tftps, ev.Session)
	f := c.tftpFiles[ev.Session]
	delete(c.tftpFiles, ev.Session)
	if f == nil {
		// No byte of it was carved. An empty file that moved whole (a
		// single empty DATA block, acknowledged) is an empty file;
		// anything else has nothing to show.
		if c.stopped != "" || !ev.Complete || ev.TFTP == nil || ev.TFTP.BytesSent != 0 {
			return
		}
		if x == nil {
			x = &tftpInfo{client: ev.Client, server: ev.Server, file: ev.File}
		}
		var err error
		if f, err = c.createTFTP(ev.Session, x); err != nil {
			c.stats.Errors.Add(1)
			c.logf("carve: %v", err)
			return
		}
	}
	if f.f == nil {
		return // not carved (too many at once)
	}
	c.finishTFTP(f, ev)
}

// finishTFTP keeps f under DIR/<date>/t<session>/ and writes its sidecar.
func (c *Carver) finishTFTP(f *file, ev *event.Event) {
	tf := ev.TFTP
	if tf == nil {
		tf = &event.TFTP{ErrorCode: -1}
	}
	sess := "t" + strconv.FormatUint(ev.Session, 10)
	name := ev.File
	if name == "" {
		name = f.tftp.file
	}
	k, ok := c.keep(f, ev, max(tf.BytesSent, f.end), sess, SafeName(name))
	if !ok {
		return
	}
	cmd, dir := "RRQ", event.DirDownload
	if tf.Op == "write" {
		cmd, dir = "WRQ", event.DirUpload
	}
	code := 0
	if tf.ErrorCode >= 0 {
		code = tf.ErrorCode
	}
	c.writeSidecar(k, sidecar{
		Proto: "tftp", Session: sess, Client: ev.Client.String(), Server: ev.Server.String(),
		Command: cmd, File: name, Direction: dir.String(), Mode: tf.Mode,
		End: ev.Time.UTC().Format(time.RFC3339Nano), Code: code, Complete: ev.Complete,
		Bytes: max(tf.BytesSent, f.end), Gaps: k.gaps, Cut: f.cut, SHA256: k.sum,
		Error: tf.Error, Reason: ev.Reason, Blocks: tf.Blocks, BlkSize: tf.BlkSize,
	})
}
