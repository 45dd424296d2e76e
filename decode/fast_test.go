package decode

import (
	"testing"
	"unsafe"

	"github.com/google/gopacket/layers"

	"github.com/ftptap/ftptap/event"
)

// checkFast decodes data with fastTCP and, where it takes the frame, with
// gopacket's layers (decodeLayers), and fails unless both give the same
// packet, the payload at the same place in the frame.
func checkFast(t *testing.T, d *Decoder, data []byte) bool {
	t.Helper()
	var p, q event.Packet
	if !fastTCP(data, &p) {
		return false
	}
	if !d.decodeLayers(data, &q) {
		t.Fatalf("fastTCP decoded %+v; gopacket's layers find no TCP in % x", p, data)
	}
	if !samePacket(&p, &q) || p.Transport != q.Transport || p.Code != q.Code || p.Length != q.Length ||
		len(p.Payload) != len(q.Payload) || len(p.Payload) > 0 && unsafe.SliceData(p.Payload) != unsafe.SliceData(q.Payload) {
		t.Fatalf("fastTCP %+v, gopacket's layers %+v (frame % x)", p, q, data)
	}
	return true
}

// TestFastTCP: on every frame of the lab captures, and on variants that
// take it to the edges of what it accepts (options, the IP length, the
// data offset, fragments, padding), fastTCP agrees with gopacket's
// layers, and takes the plain frames.
func TestFastTCP(t *testing.T) {
	d, err := New(layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	taken, all := 0, 0
	for _, fr := range labFrames(t) {
		all++
		if checkFast(t, d, fr) {
			taken++
		}
		for _, v := range fastVariants(fr) {
			checkFast(t, d, v)
		}
	}
	// The lab's frames are Ethernet, IPv4 and IPv6; most are TCP over IPv4.
	if taken < all/2 {
		t.Errorf("fastTCP took %d of %d lab frames", taken, all)
	}
	t.Logf("fastTCP took %d of %d lab frames", taken, all)
}

// fastVariants returns copies of an Ethernet/IPv4/TCP frame with one field
// changed each.
func fastVariants(fr []byte) [][]byte {
	if len(fr) < 54 || fr[12] != 0x08 || fr[13] != 0 || fr[23] != 6 {
		return nil
	}
	var out [][]byte
	mod := func(f func(b []byte) []byte) {
		b := append([]byte(nil), fr...)
		if b = f(b); b != nil {
			out = append(out, b)
		}
	}
	for _, n := range []int{0, 19, 20, 39, 40, 41, len(fr) - 14 - 1, len(fr) - 14 + 1, 65535} {
		mod(func(b []byte) []byte { b[16], b[17] = byte(n>>8), byte(n); return b }) // IP total length
	}
	for _, off := range []byte{0, 4, 5, 6, 15} {
		mod(func(b []byte) []byte { b[46] = off<<4 | b[46]&0x0f; return b }) // TCP data offset
	}
	for _, ff := range []uint16{0x2000, 0x0001, 0x4000, 0x8000} {
		mod(func(b []byte) []byte { b[20], b[21] = byte(ff>>8), byte(ff); return b }) // flags, fragment offset
	}
	mod(func(b []byte) []byte { b[14] = 0x46; return b })             // IP options
	mod(func(b []byte) []byte { return append(b, 0, 0, 0, 0, 0, 0) }) // Ethernet padding
	mod(func(b []byte) []byte { return b[:len(b)-1] })                // cut short
	if fr[46]>>4 > 5 {                                                // options present: break them
		mod(func(b []byte) []byte { b[54] = 2; b[55] = 1; return b })   // a length below 2
		mod(func(b []byte) []byte { b[54] = 2; b[55] = 200; return b }) // a length past the header
		mod(func(b []byte) []byte { b[54] = 0; return b })              // end of list first
	}
	return out
}

// FuzzFastTCP: wherever fastTCP takes a frame, gopacket's layers decode it
// to the same packet.
func FuzzFastTCP(f *testing.F) {
	for i, fr := range labFrames(f) {
		if i%7 == 0 {
			f.Add(fr)
			for _, v := range fastVariants(fr) {
				f.Add(v)
			}
		}
	}
	d, err := New(layers.LinkTypeEthernet)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFast(t, d, data)
	})
}
