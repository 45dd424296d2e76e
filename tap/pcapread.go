package tap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/gopacket"
)

// pcapFrames reads the frames of a classic pcap file after its 24-byte
// header, which pcapgo.NewReader has checked. It does what pcapgo.Reader's
// ZeroCopyReadPacketData does, with the same errors for the same bytes
// (FuzzPcapFrames holds the two side by side), but it hands out each
// frame where it lies in the one read buffer instead of copying it twice
// through a second buffered reader and a frame buffer: a replay reads
// every byte of the file, and those copies and the calls between them
// were a third of the reading goroutine's time.
//
// A frame returned stays valid until the next call of next, as with
// pcapgo.
type pcapFrames struct {
	r     *bufio.Reader // at least maxFrame+16 bytes: a whole frame and its header fit
	order binary.ByteOrder
	// nanoFactor turns the header's fraction into nanoseconds: 1000 for
	// microsecond files, 1 for nanosecond ones.
	nanoFactor uint32
	snaplen    uint32
	pending    int // bytes of the frame returned last, discarded on the next call
}

// pcapBuffer is the read buffer of a pcapFrames: a frame of maxFrame
// bytes with its header fits, and reads from the file are large.
const pcapBuffer = 1 << 20

func newPcapFrames(r *bufio.Reader, hdr []byte, snaplen uint32) *pcapFrames {
	p := &pcapFrames{r: r, order: binary.LittleEndian, nanoFactor: 1000, snaplen: snaplen}
	switch binary.LittleEndian.Uint32(hdr) {
	case 0xd4c3b2a1, 0x4d3cb2a1: // written big endian
		p.order = binary.BigEndian
	}
	if p.order.Uint32(hdr) == 0xa1b23c4d {
		p.nanoFactor = 1
	}
	return p
}

// ZeroCopyReadPacketData returns the next frame and its capture info; at
// the end of the file, io.EOF, and io.ErrUnexpectedEOF for a frame or
// header cut short.
func (p *pcapFrames) ZeroCopyReadPacketData() (data []byte, ci gopacket.CaptureInfo, err error) {
	if p.pending > 0 {
		if _, err := p.r.Discard(p.pending); err != nil {
			return nil, ci, err
		}
		p.pending = 0
	}
	h, err := p.r.Peek(16)
	if len(h) < 16 {
		if len(h) > 0 && errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, ci, err
	}
	// As pcapgo: the fraction times the factor in 32 bits, and UTC.
	ci.Timestamp = time.Unix(int64(p.order.Uint32(h[0:4])), int64(p.order.Uint32(h[4:8])*p.nanoFactor)).UTC()
	ci.CaptureLength = int(p.order.Uint32(h[8:12]))
	ci.Length = int(p.order.Uint32(h[12:16]))
	if ci.CaptureLength > int(p.snaplen) {
		p.pending = 16 // pcapgo has read the header
		return nil, ci, fmt.Errorf("capture length exceeds snap length: %d > %d", ci.CaptureLength, p.snaplen)
	}
	if ci.CaptureLength > ci.Length {
		p.pending = 16
		return nil, ci, fmt.Errorf("capture length exceeds original packet length: %d > %d", ci.CaptureLength, ci.Length)
	}
	n := 16 + ci.CaptureLength
	b, err := p.r.Peek(n)
	if len(b) < n {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, ci, err
	}
	p.pending = n
	return b[16:n:n], ci, nil
}
