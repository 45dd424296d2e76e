package tap

import (
	"encoding/binary"
	"io"
)

// ngFraming follows the block framing of a pcapng stream as the bytes pass
// to pcapgo's reader, which cannot tell a file cut inside a block from one
// that ends after a whole block (it returns io.EOF for both), and which
// keeps only the low byte of each interface's link type. At the end of the
// stream, cut reports a partial block; links holds the full link type of
// each interface of each section, in file order.
type ngFraming struct {
	r     io.Reader
	hdr   [12]byte // the block header being read
	hn    int      // bytes of hdr read
	left  uint64   // bytes of the current block still to come, after hdr
	order binary.ByteOrder
	lost  bool       // the framing made no sense: stop following it
	idb   bool       // the current block is an interface description
	links [][]uint16 // per section, the link type of each interface
	total int64      // bytes read
}

const (
	ngSHB = 0x0A0D0D0A
	ngIDB = 0x00000001
)

func newNgFraming(r io.Reader) *ngFraming { return &ngFraming{r: r, order: binary.LittleEndian} }

func (g *ngFraming) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	g.total += int64(n)
	if !g.lost {
		g.follow(p[:n])
	}
	return n, err
}

func (g *ngFraming) follow(b []byte) {
	for len(b) > 0 && !g.lost {
		if g.left > 0 {
			k := uint64(len(b))
			if k > g.left {
				k = g.left
			}
			g.left -= k
			b = b[k:]
			continue
		}
		// A block header: type, total length, and for a section header
		// the byte-order magic; for an interface description, its link
		// type follows the length.
		need := 8
		if g.hn >= 4 && g.order.Uint32(g.hdr[:4]) == ngSHB || g.hn >= 4 && g.order.Uint32(g.hdr[:4]) == ngIDB {
			need = 12
		}
		for g.hn < need && len(b) > 0 {
			g.hdr[g.hn] = b[0]
			g.hn++
			b = b[1:]
			if g.hn == 4 && (g.order.Uint32(g.hdr[:4]) == ngSHB || g.order.Uint32(g.hdr[:4]) == ngIDB) {
				need = 12
			}
		}
		if g.hn < need {
			return
		}
		typ := g.order.Uint32(g.hdr[:4])
		if typ == ngSHB {
			switch binary.LittleEndian.Uint32(g.hdr[8:12]) {
			case 0x1A2B3C4D:
				g.order = binary.LittleEndian
			case 0x4D3C2B1A:
				g.order = binary.BigEndian
			default:
				g.lost = true
				return
			}
			g.links = append(g.links, nil)
		}
		if typ == ngIDB && len(g.links) > 0 {
			s := len(g.links) - 1
			g.links[s] = append(g.links[s], g.order.Uint16(g.hdr[8:10]))
		}
		length := uint64(g.order.Uint32(g.hdr[4:8]))
		if length < 12 || length%4 != 0 || length < uint64(g.hn) {
			g.lost = true
			return
		}
		g.left = length - uint64(g.hn)
		g.hn = 0
	}
}

// cut reports whether the stream ended inside a block.
func (g *ngFraming) cut() bool { return !g.lost && (g.hn > 0 || g.left > 0) }

// link returns the full link type of interface i, given the low byte pcapgo
// kept: from the newest section with such an interface (pcapgo reads
// sections in order, and the framing may be a little ahead of it).
func (g *ngFraming) link(i int, low uint8) (uint16, bool) {
	for s := len(g.links) - 1; s >= 0; s-- {
		if i < len(g.links[s]) && uint8(g.links[s][i]) == low {
			return g.links[s][i], true
		}
	}
	return 0, false
}
