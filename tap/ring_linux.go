package tap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ftptap/ftptap/event"
	"github.com/google/gopacket"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Offsets into the kernel's TPACKET_V3 structures (linux/if_packet.h).
// Every field read here is 32 bits or less and naturally aligned: blocks
// start on a page and packets on TPACKET_ALIGNMENT (16), so the reads are
// safe on 32-bit ARM, where 64-bit atomics need an alignment that mmap'd
// structures do not promise.
const (
	// struct tpacket_block_desc: version, offset_to_priv, then
	// struct tpacket_hdr_v1.
	blkStatus   = 8  // block_status
	blkNumPkts  = 12 // num_pkts
	blkFirstPkt = 16 // offset_to_first_pkt

	// struct tpacket3_hdr.
	pktNext    = 0  // tp_next_offset
	pktSec     = 4  // tp_sec
	pktNsec    = 8  // tp_nsec
	pktSnaplen = 12 // tp_snaplen
	pktLen     = 16 // tp_len
	pktStatus  = 20 // tp_status
	pktMac     = 24 // tp_mac
	pktVLANTCI = 32 // hv1.tp_vlan_tci
	pktVLANPID = 36 // hv1.tp_vlan_tpid
)

// ring is one port: an AF_PACKET socket with a TPACKET_V3 receive ring.
type ring struct {
	name    string
	ifindex int
	side    event.Side
	fd      int
	mem     []byte
	bsize   int // block size
	nblocks int

	// Read state, owned by the reader.
	cur       int       // block the reader is in, or waits for
	inBlock   bool      // cur is ours (TP_STATUS_USER) and has packets left
	left      uint32    // packets left in cur
	off       int       // offset of the next packet in cur
	blockSeen time.Time // when cur became ours (monotonic)
	buf       []byte    // the pending frame's bytes
	data      []byte    // the pending frame (aliases buf)
	ci        gopacket.CaptureInfo
	seen      time.Time // blockSeen of the pending frame
	pending   bool

	// Totals of the kernel's counters, which reading resets; guarded by
	// liveSource.statsMu.
	stats PortStats
}

func (r *ring) opError(op string, err error) error {
	return &OpError{Op: op, Iface: r.name, Err: err}
}

// openRing opens port name for capture. The order matters: the socket is
// made with protocol 0, so that it receives nothing until bind, after the
// filter is attached: no unfiltered frame ever lands in the ring.
func openRing(name string, side event.Side, o LiveOptions, filter []unix.SockFilter) (_ *ring, err error) {
	r := &ring{name: name, side: side, fd: -1}
	link, lerr := netlink.LinkByName(name)
	if lerr != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(lerr, &nf) {
			return nil, &OpError{Op: "open", Iface: name, Err: ErrNoInterface}
		}
		return nil, r.opError("open", lerr)
	}
	attrs := link.Attrs()
	if attrs.EncapType != "ether" {
		return nil, &OpError{Op: "open", Iface: name, Err: fmt.Errorf("not an Ethernet interface (%s)", attrs.EncapType)}
	}
	if attrs.Flags&net.FlagUp == 0 {
		return nil, &OpError{Op: "open", Iface: name, Err: ErrInterfaceDown}
	}
	r.ifindex = attrs.Index

	defer func() {
		if err != nil {
			r.free()
		}
	}()
	r.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		r.fd = -1
		return nil, r.opError("socket", err)
	}
	if err := unix.SetsockoptInt(r.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return nil, r.opError("ring", err)
	}
	// Ingress only: on a bridge port every forwarded frame also goes out.
	// Kernels before 4.20 lack the option; the filter drops outgoing
	// frames anyway.
	_ = unix.SetsockoptInt(r.fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.SetsockoptSockFprog(r.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		return nil, r.opError("filter", err)
	}

	page := os.Getpagesize()
	r.bsize = (o.BlockSize + page - 1) / page * page
	r.nblocks = max((o.RingSize+r.bsize-1)/r.bsize, 2)
	const frameSize = 2048 // only checked by the kernel in TPACKET_V3
	req := unix.TpacketReq3{
		Block_size:     uint32(r.bsize),
		Block_nr:       uint32(r.nblocks),
		Frame_size:     frameSize,
		Frame_nr:       uint32(r.bsize / frameSize * r.nblocks),
		Retire_blk_tov: uint32(max(o.BlockTimeout/time.Millisecond, 1)),
	}
	if err := unix.SetsockoptTpacketReq3(r.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, r.opError("ring", fmt.Errorf("%d blocks of %d bytes: %w", r.nblocks, r.bsize, err))
	}
	r.mem, err = unix.Mmap(r.fd, 0, r.bsize*r.nblocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		r.mem = nil
		return nil, r.opError("ring", fmt.Errorf("mmap: %w", err))
	}
	mreq := unix.PacketMreq{Ifindex: int32(r.ifindex), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(r.fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		return nil, r.opError("promisc", err)
	}
	sa := unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: r.ifindex}
	if err := unix.Bind(r.fd, &sa); err != nil {
		return nil, r.opError("bind", err)
	}
	r.buf = make([]byte, 0, 2048)
	return r, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// status returns the word that hands block i back and forth between the
// kernel and us. Loads and stores of it are atomic: the kernel writes the
// block, then (with a barrier) its status; the atomic load orders our reads
// of the block after it, and the atomic store that returns the block orders
// them before it.
func (r *ring) status(i int) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.mem[i*r.bsize+blkStatus]))
}

// next makes the ring's next frame pending, copying it out of the ring, and
// reports whether there was one. A block goes back to the kernel as soon as
// its last frame is copied.
func (r *ring) next(now func() time.Time) bool {
	if r.pending {
		return true
	}
	if !r.inBlock {
		if atomic.LoadUint32(r.status(r.cur))&unix.TP_STATUS_USER == 0 {
			return false
		}
		blk := r.mem[r.cur*r.bsize : (r.cur+1)*r.bsize]
		r.left = binary.NativeEndian.Uint32(blk[blkNumPkts:])
		r.off = int(binary.NativeEndian.Uint32(blk[blkFirstPkt:]))
		r.blockSeen = now()
		r.inBlock = true
		if r.left == 0 {
			r.release()
			return false
		}
	}
	blk := r.mem[r.cur*r.bsize : (r.cur+1)*r.bsize]
	h := blk[r.off:]
	ne := binary.NativeEndian
	next := int(ne.Uint32(h[pktNext:]))
	snap := int(ne.Uint32(h[pktSnaplen:]))
	mac := int(ne.Uint16(h[pktMac:]))
	status := ne.Uint32(h[pktStatus:])
	if r.off+mac+snap > len(blk) {
		// Never seen; a kernel bug must not become a panic.
		snap = max(len(blk)-r.off-mac, 0)
	}
	frame := h[mac : mac+snap]
	r.ci = gopacket.CaptureInfo{
		Timestamp:      time.Unix(int64(ne.Uint32(h[pktSec:])), int64(ne.Uint32(h[pktNsec:]))),
		CaptureLength:  snap,
		Length:         int(ne.Uint32(h[pktLen:])),
		InterfaceIndex: r.ifindex,
	}
	if status&unix.TP_STATUS_VLAN_VALID != 0 && len(frame) >= 12 {
		// The kernel moved the outermost VLAN tag into metadata; put it
		// back so the frame is what was on the wire.
		tpid := uint16(0x8100)
		if status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
			tpid = ne.Uint16(h[pktVLANPID:])
		}
		tci := uint16(ne.Uint32(h[pktVLANTCI:]))
		r.buf = append(r.buf[:0], frame[:12]...)
		r.buf = binary.BigEndian.AppendUint16(r.buf, tpid)
		r.buf = binary.BigEndian.AppendUint16(r.buf, tci)
		r.buf = append(r.buf, frame[12:]...)
		r.ci.CaptureLength += 4
		r.ci.Length += 4
	} else {
		r.buf = append(r.buf[:0], frame...)
	}
	r.data = r.buf
	r.seen = r.blockSeen
	r.pending = true
	r.left--
	r.off += next
	if r.left == 0 || next == 0 {
		r.release()
	}
	return true
}

// release hands the current block back to the kernel.
func (r *ring) release() {
	atomic.StoreUint32(r.status(r.cur), unix.TP_STATUS_KERNEL)
	r.inBlock = false
	r.cur = (r.cur + 1) % r.nblocks
}

// readStatsLocked adds the kernel's counters (which the read resets) to the
// totals. The caller holds liveSource.statsMu.
func (r *ring) readStatsLocked() error {
	if r.fd < 0 {
		return nil
	}
	st, err := unix.GetsockoptTpacketStatsV3(r.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return r.opError("stats", err)
	}
	r.stats.Packets += uint64(st.Packets)
	r.stats.Drops += uint64(st.Drops)
	r.stats.FreezeQueue += uint64(st.Freeze_q_cnt)
	return nil
}

// sockErr reads and clears the socket's pending error (set when the
// interface goes down or away), and reports whether the interface is gone:
// the kernel unbinds the socket (ifindex -1) when its device is
// unregistered, and re-arms it by itself when a device that went down comes
// up again.
func (r *ring) sockErr() (err error, gone bool) {
	if v, e := unix.GetsockoptInt(r.fd, unix.SOL_SOCKET, unix.SO_ERROR); e == nil && v != 0 {
		err = unix.Errno(v)
	}
	sa, e := unix.Getsockname(r.fd)
	if ll, ok := sa.(*unix.SockaddrLinklayer); e == nil && ok && ll.Ifindex != r.ifindex {
		gone = true
	}
	return err, gone
}

// free unmaps the ring and closes the socket (leaving promiscuous mode).
func (r *ring) free() {
	if r.mem != nil {
		unix.Munmap(r.mem)
		r.mem = nil
	}
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
}
