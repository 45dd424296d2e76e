package tap

import (
	"encoding/binary"
	"fmt"
	"io"
)

// pcapng block types whose lengths pcapgo's reader allocates from.
const (
	ngSectionHeader = 0x0a0d0d0a
	ngInterface     = 0x00000001
	ngSimplePacket  = 0x00000003
	ngEnhanced      = 0x00000006
	// maxNgBlock bounds a block: a frame of maxFrame bytes plus room for
	// options.
	maxNgBlock = maxFrame + 1<<16
)

// ngGuard sits between a pcapng stream and pcapgo's NgReader, which sizes
// buffers from lengths in the file (an interface's snap length, a packet's
// captured length) without a bound. It walks the block framing as the bytes
// pass, refuses a block longer than maxNgBlock or a packet longer than
// maxFrame with one error, and lowers an interface's snap length above
// maxFrame to maxFrame (tcpdump's own limit), so a hostile file costs at
// most a few hundred KiB.
type ngGuard struct {
	r       io.Reader
	order   binary.ByteOrder
	hdr     [24]byte
	pending []byte // the rest of a block's header, checked, to hand out
	left    int64  // bytes of the current block after its header
	err     error
}

func (g *ngGuard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if len(g.pending) == 0 && g.left == 0 {
		if err := g.nextBlock(); err != nil {
			g.err = err
			if len(g.pending) == 0 {
				return 0, err
			}
		}
	}
	if len(g.pending) > 0 {
		n := copy(p, g.pending)
		g.pending = g.pending[n:]
		return n, nil
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	n, err := g.r.Read(p)
	g.left -= int64(n)
	return n, err
}

// nextBlock reads and checks the header of the next block.
func (g *ngGuard) nextBlock() error {
	h := g.hdr[:]
	n, err := io.ReadFull(g.r, h[:8])
	if err != nil {
		g.pending = h[:n] // pcapgo reports the short read as it sees it
		return err
	}
	typ := binary.LittleEndian.Uint32(h[:4]) // the section header type reads the same either way
	if typ == ngSectionHeader {
		if n, err := io.ReadFull(g.r, h[8:12]); err != nil {
			g.pending = h[:8+n]
			return err
		}
		switch binary.LittleEndian.Uint32(h[8:12]) {
		case 0x1a2b3c4d:
			g.order = binary.LittleEndian
		case 0x4d3c2b1a:
			g.order = binary.BigEndian
		default:
			return fmt.Errorf("pcapng: bad byte-order magic %x", h[8:12])
		}
		return g.checkLength(h, 12)
	}
	if g.order == nil {
		return fmt.Errorf("pcapng: block %#x before the section header", typ)
	}
	typ = g.order.Uint32(h[:4])
	hl := 8
	switch typ {
	case ngInterface:
		hl = 16 // link type, reserved, snap length
	case ngSimplePacket:
		hl = 12 // original length
	case ngEnhanced:
		hl = 24 // interface, timestamp, captured length (original length follows)
	}
	if blen := g.order.Uint32(h[4:8]); int64(blen) < int64(hl)+4 {
		return fmt.Errorf("pcapng: block %#x of %d bytes is too short", typ, blen)
	}
	if n, err := io.ReadFull(g.r, h[8:hl]); err != nil {
		g.pending = h[:8+n]
		return err
	}
	switch typ {
	case ngInterface:
		if g.order.Uint32(h[12:16]) > maxFrame {
			g.order.PutUint32(h[12:16], maxFrame)
		}
	case ngSimplePacket:
		if l := g.order.Uint32(h[8:12]); l > maxFrame {
			return fmt.Errorf("pcapng: packet of %d bytes (at most %d)", l, maxFrame)
		}
	case ngEnhanced:
		if l := g.order.Uint32(h[20:24]); l > maxFrame {
			return fmt.Errorf("pcapng: packet of %d bytes (at most %d)", l, maxFrame)
		}
	}
	return g.checkLength(h, hl)
}

func (g *ngGuard) checkLength(h []byte, hl int) error {
	blen := int64(g.order.Uint32(h[4:8]))
	if blen < int64(hl)+4 || blen > maxNgBlock {
		return fmt.Errorf("pcapng: block of %d bytes", blen)
	}
	g.pending = h[:hl]
	g.left = blen - int64(hl)
	return nil
}
