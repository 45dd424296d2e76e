package tap

import (
	"fmt"
	"net/netip"
	"slices"

	"golang.org/x/net/bpf"
)

// snapLen is what the filter keeps of a frame that passes: all of it (a
// GRO-merged frame can reach 64 KiB).
const snapLen = 1 << 18

// maxControlPorts bounds the control ports the kernel filter compares, so
// that its conditional jumps (8 bits in classic BPF) stay in range.
const maxControlPorts = 100

// seqSampleMask selects, with FilterFTP, the segments whose sequence number
// lies in the first MiB of a GiB: (seq & mask) == 0.
const seqSampleMask = 0x3ff00000

// packetOutgoing is PACKET_OUTGOING, the packet type of a frame the host
// sends (on a bridge port: every frame the bridge forwards out of it).
const packetOutgoing = 4

// kernelFilter returns the classic BPF program attached to each port's
// socket: it drops every outgoing frame (so each bridged frame is taken
// once, on its ingress port, even on kernels without
// PACKET_IGNORE_OUTGOING), then applies filterProgram.
func kernelFilter(f Filter, ports []uint16) ([]bpf.RawInstruction, error) {
	return kernelFilterData(f, ports, nil)
}

// kernelFilterData is kernelFilter with data channels (see DataFilter).
func kernelFilterData(f Filter, ports []uint16, df *DataFilter) ([]bpf.RawInstruction, error) {
	prog, err := filterProgramData(f, ports, df)
	if err != nil {
		return nil, err
	}
	ins := append([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: packetOutgoing, SkipTrue: 1},
		bpf.RetConstant{Val: 0},
	}, prog...)
	raw, err := bpf.Assemble(ins)
	if err != nil {
		return nil, fmt.Errorf("tap: filter: %w", err)
	}
	return raw, nil
}

// filterProgram returns the BPF program of filter f over Ethernet frames,
// without the ingress check (so that x/net/bpf's VM, which knows no packet
// types, can run it in tests).
//
// The kernel hands a packet socket frames whose outermost VLAN tag has
// already been moved into metadata, but a second tag (QinQ), or a tag on a
// device that does not strip it, is still in the data: the program skips up
// to two tags of type 0x8100, 0x88a8 or 0x9100. It passes TCP over IPv4
// (first fragments only, any header length) and over IPv6 when TCP is the
// first next header; IPv6 extension headers are rare on TCP and the decoder
// does not follow them either.
func filterProgram(f Filter, ports []uint16) ([]bpf.Instruction, error) {
	return filterProgramData(f, ports, nil)
}

// filterProgramData is filterProgram with the data channels df names
// passed whole by FilterFTP (nil: none; see DataFilter).
func filterProgramData(f Filter, ports []uint16, df *DataFilter) ([]bpf.Instruction, error) {
	var eps []netip.AddrPort
	var pairs [][2]netip.Addr
	if df != nil && f == FilterFTP {
		eps, pairs = df.Endpoints, df.Pairs
		if len(eps) > MaxDataEndpoints || len(pairs) > MaxHostPairs {
			return nil, fmt.Errorf("tap: %d data endpoints and %d host pairs: at most %d and %d fit the kernel filter", len(eps), len(pairs), MaxDataEndpoints, MaxHostPairs)
		}
	}
	dynamic := len(eps)+len(pairs) > 0
	switch f {
	case FilterAll:
		return []bpf.Instruction{bpf.RetConstant{Val: snapLen}}, nil
	case FilterFTP, FilterTCP, filterControl:
	default:
		return nil, fmt.Errorf("tap: unknown filter %v", f)
	}
	ports = slices.Clone(ports)
	slices.Sort(ports)
	ports = slices.Compact(ports)
	if len(ports) > maxControlPorts {
		return nil, fmt.Errorf("tap: %d control ports: at most %d fit the kernel filter", len(ports), maxControlPorts)
	}
	if slices.Contains(ports, 0) {
		return nil, fmt.Errorf("tap: control port 0 is not a port")
	}

	var p asm
	if dynamic {
		// The kernel's checker (check_load_and_stores) wants every
		// scratch cell stored before any load on every path, as it
		// walks the program in order, returns included: store them all
		// first.
		p.add(bpf.LoadConstant{Dst: bpf.RegA, Val: 0})
		for _, n := range []int{scratchIP, scratchTCP, scratchFamily} {
			p.add(bpf.StoreScratch{Src: bpf.RegA, N: n})
		}
	}
	vlanTypes := []uint32{0x8100, 0x88a8, 0x9100}
	p.add(bpf.LoadAbsolute{Off: 12, Size: 2})
	for _, v := range vlanTypes {
		p.jeq(v, "vlan1", "")
	}
	p.add(bpf.LoadConstant{Dst: bpf.RegX, Val: 14})
	p.ja("l3")
	p.label("vlan1")
	p.add(bpf.LoadAbsolute{Off: 16, Size: 2})
	for _, v := range vlanTypes {
		p.jeq(v, "vlan2", "")
	}
	p.add(bpf.LoadConstant{Dst: bpf.RegX, Val: 18})
	p.ja("l3")
	p.label("vlan2")
	p.add(bpf.LoadAbsolute{Off: 20, Size: 2})
	p.add(bpf.LoadConstant{Dst: bpf.RegX, Val: 22})

	// A holds the EtherType, X the offset of the IP header.
	p.label("l3")
	p.jeq(0x0800, "ip4", "")
	p.jeq(0x86dd, "ip6", "drop")

	p.label("ip4")
	p.add(bpf.StoreScratch{Src: bpf.RegX, N: scratchIP})
	p.add(bpf.LoadConstant{Dst: bpf.RegA, Val: 4})
	p.add(bpf.StoreScratch{Src: bpf.RegA, N: scratchFamily})
	p.add(bpf.LoadIndirect{Off: 9, Size: 1}) // protocol
	p.jeq(6, "", "ip4other")
	p.add(bpf.LoadIndirect{Off: 6, Size: 2}) // flags and fragment offset
	p.jset(0x1fff, "drop", "")
	p.add(bpf.LoadIndirect{Off: 0, Size: 1}) // version and IHL
	p.add(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x0f})
	p.add(bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 2})
	p.add(bpf.ALUOpX{Op: bpf.ALUOpAdd})
	p.add(bpf.TAX{})
	p.ja("tcp")
	p.label("ip4other")
	p.ja("udp4") // TFTP (see tftpShapes), past the TCP part

	p.label("ip6")
	p.add(bpf.StoreScratch{Src: bpf.RegX, N: scratchIP})
	p.add(bpf.LoadConstant{Dst: bpf.RegA, Val: 6})
	p.add(bpf.StoreScratch{Src: bpf.RegA, N: scratchFamily})
	p.add(bpf.LoadIndirect{Off: 6, Size: 1}) // next header
	p.jeq(6, "", "ip6other")
	p.add(bpf.TXA{})
	p.add(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 40})
	p.add(bpf.TAX{})
	p.ja("tcp")
	p.label("ip6other")
	p.ja("udp6")

	// X is the offset of the TCP header.
	p.label("tcp")
	if f == filterControl {
		// The command channels only: what OpenControl reads.
		p.add(bpf.LoadIndirect{Off: 0, Size: 2}) // source port
		for _, port := range ports {
			p.jeq(uint32(port), "pass", "")
		}
		p.add(bpf.LoadIndirect{Off: 2, Size: 2}) // destination port
		for _, port := range ports {
			p.jeq(uint32(port), "pass", "")
		}
		p.label("drop")
		p.add(bpf.RetConstant{Val: 0})
		p.label("pass")
		p.add(bpf.RetConstant{Val: snapLen})
	} else if f == FilterFTP {
		p.add(bpf.LoadIndirect{Off: 13, Size: 1}) // flags
		p.jset(0x07, "pass", "")                  // FIN, SYN or RST
		// A sample of the rest: segments that start in the first MiB of
		// each GiB of sequence space. Every data connection then shows
		// a sequence number at least every GiB, so byte counts taken from
		// sequence numbers stay right past 2 and 4 GiB, where the 32-bit
		// numbers wrap. About one data segment in a thousand passes.
		p.add(bpf.LoadIndirect{Off: 4, Size: 4}) // sequence number
		p.jset(seqSampleMask, "", "pass")
		p.add(bpf.LoadIndirect{Off: 0, Size: 2}) // source port
		for _, port := range ports {
			p.jeq(uint32(port), "pass", "")
		}
		p.add(bpf.LoadIndirect{Off: 2, Size: 2}) // destination port
		for _, port := range ports {
			p.jeq(uint32(port), "pass", "")
		}
		if dynamic {
			p.ja("endpoints")
		}
		p.label("drop")
		p.add(bpf.RetConstant{Val: 0})
		p.label("pass")
		p.add(bpf.RetConstant{Val: snapLen})
		if dynamic {
			// After the returns, so that no jump above reaches past
			// the tables.
			p.label("endpoints")
			p.add(bpf.StoreScratch{Src: bpf.RegX, N: scratchTCP})
			p.endpoints(eps)
			p.pairs(pairs)
			p.add(bpf.RetConstant{Val: 0})
		}
	} else {
		p.add(bpf.RetConstant{Val: snapLen})
		p.label("drop")
		p.add(bpf.RetConstant{Val: 0})
	}
	p.tftpShapes(f != filterControl)
	return p.assemble()
}

// filterControl passes the segments of the command channels only (see
// OpenControl); it is not a filter LiveOptions can name.
const filterControl Filter = 100

// Scratch memory of the filter: the offsets of the IP and TCP headers and
// the IP version, for the data-channel endpoint table.
const (
	scratchIP = iota
	scratchTCP
	scratchFamily
)

// DataFilter names the data channels FilterFTP passes whole, besides what
// it always passes.
type DataFilter struct {
	// Endpoints are announced data-channel endpoints: every segment to or
	// from one passes.
	Endpoints []netip.AddrPort
	// Pairs are the two hosts of open command channels: segments between
	// them pass when both ports are 20 or unprivileged (1024 and up), as
	// every data connection's are. They let a data connection through
	// before its announcement is known (see package datachan); traffic
	// between other hosts, or to the pair's service ports, does not pass.
	Pairs [][2]netip.Addr
}

// MaxDataEndpoints and MaxHostPairs bound a DataFilter: an endpoint takes
// 14 (IPv4) or 26 (IPv6) instructions, a host pair up to 40, and a classic
// BPF program has at most 4096.
const (
	MaxDataEndpoints = 96
	MaxHostPairs     = 24
)

// pairs appends the host-pair table (see DataFilter.Pairs).
func (p *asm) pairs(pairs [][2]netip.Addr) {
	for k, pr := range pairs {
		a, b := pr[0].Unmap(), pr[1].Unmap()
		if a.Is4() != b.Is4() {
			continue
		}
		fam := uint32(6)
		src, dst := uint32(8), uint32(24)
		if a.Is4() {
			fam, src, dst = 4, 12, 16
		}
		next := fmt.Sprintf("pair%d_next", k)
		rev := fmt.Sprintf("pair%d_rev", k)
		ports := fmt.Sprintf("pair%d_ports", k)
		dport := fmt.Sprintf("pair%d_dport", k)
		pass := fmt.Sprintf("pair%d_pass", k)
		p.add(bpf.LoadScratch{Dst: bpf.RegA, N: scratchFamily})
		p.jeq(fam, "", next)
		p.add(bpf.LoadScratch{Dst: bpf.RegX, N: scratchIP})
		p.addr(src, a, rev)
		p.addr(dst, b, rev)
		p.ja(ports)
		p.label(rev)
		p.addr(src, b, next)
		p.addr(dst, a, next)
		p.label(ports)
		p.add(bpf.LoadScratch{Dst: bpf.RegX, N: scratchTCP})
		p.add(bpf.LoadIndirect{Off: 0, Size: 2})
		p.jeq(20, dport, "")
		p.jge(1024, dport, next)
		p.label(dport)
		p.add(bpf.LoadIndirect{Off: 2, Size: 2})
		p.jeq(20, pass, "")
		p.jge(1024, pass, next)
		p.label(pass)
		p.add(bpf.RetConstant{Val: snapLen})
		p.label(next)
	}
}

// addr compares the address at X+off with a, jumping to fail on the first
// word that differs.
func (p *asm) addr(off uint32, a netip.Addr, fail string) {
	b := a.AsSlice()
	for w := 0; w < len(b); w += 4 {
		p.add(bpf.LoadIndirect{Off: off + uint32(w), Size: 4})
		p.jeq(uint32(b[w])<<24|uint32(b[w+1])<<16|uint32(b[w+2])<<8|uint32(b[w+3]), "", fail)
	}
}

// endpoints appends the endpoint table: a segment whose source or
// destination is one of eps passes (its own return, so no jump reaches
// past 255 instructions); one that matches none falls through, past the
// table. The TCP header's offset is in scratch memory.
func (p *asm) endpoints(eps []netip.AddrPort) {
	var v4, v6 []netip.AddrPort
	for _, ep := range eps {
		if a := ep.Addr().Unmap(); a.Is4() {
			v4 = append(v4, netip.AddrPortFrom(a, ep.Port()))
		} else {
			v6 = append(v6, ep)
		}
	}
	n := 0
	side := func(ep netip.AddrPort, portOff, addrOff uint32, next string) {
		p.add(bpf.LoadScratch{Dst: bpf.RegX, N: scratchTCP})
		p.add(bpf.LoadIndirect{Off: portOff, Size: 2})
		p.jeq(uint32(ep.Port()), "", next)
		p.add(bpf.LoadScratch{Dst: bpf.RegX, N: scratchIP})
		b := ep.Addr().AsSlice()
		for w := 0; w < len(b); w += 4 {
			p.add(bpf.LoadIndirect{Off: addrOff + uint32(w), Size: 4})
			p.jeq(uint32(b[w])<<24|uint32(b[w+1])<<16|uint32(b[w+2])<<8|uint32(b[w+3]), "", next)
		}
		p.add(bpf.RetConstant{Val: snapLen})
	}
	table := func(fam uint32, eps []netip.AddrPort, src, dst uint32, end string) {
		if len(eps) == 0 {
			return
		}
		p.add(bpf.LoadScratch{Dst: bpf.RegA, N: scratchFamily})
		p.jeq(fam, end+"_body", "")
		p.ja(end) // another family: the whole table is skipped
		p.label(end + "_body")
		for _, ep := range eps {
			n++
			mid, next := fmt.Sprintf("ep%d_src", n), fmt.Sprintf("ep%d_next", n)
			side(ep, 2, dst, mid)
			p.label(mid)
			side(ep, 0, src, next)
			p.label(next)
		}
		p.label(end)
	}
	table(4, v4, 12, 16, "ep4_end")
	table(6, v6, 8, 24, "ep6_end")
}

// asm is a classic BPF program with symbolic jump targets.
type asm struct {
	ins    []bpf.Instruction
	jumps  []jump
	labels map[string]int
}

// jump is a jump instruction at index at, whose targets are labels ("" is
// the next instruction).
type jump struct {
	at     int
	jt, jf string
}

func (p *asm) add(i bpf.Instruction) { p.ins = append(p.ins, i) }

func (p *asm) label(name string) {
	if p.labels == nil {
		p.labels = make(map[string]int)
	}
	p.labels[name] = len(p.ins)
}

func (p *asm) jeq(v uint32, jt, jf string) {
	p.jumps = append(p.jumps, jump{len(p.ins), jt, jf})
	p.add(bpf.JumpIf{Cond: bpf.JumpEqual, Val: v})
}

func (p *asm) jge(v uint32, jt, jf string) {
	p.jumps = append(p.jumps, jump{len(p.ins), jt, jf})
	p.add(bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: v})
}

func (p *asm) jset(v uint32, jt, jf string) {
	p.jumps = append(p.jumps, jump{len(p.ins), jt, jf})
	p.add(bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: v})
}

func (p *asm) ja(target string) {
	p.jumps = append(p.jumps, jump{len(p.ins), target, ""})
	p.add(bpf.Jump{})
}

func (p *asm) assemble() ([]bpf.Instruction, error) {
	skip := func(from int, label string) (uint32, error) {
		if label == "" {
			return 0, nil
		}
		to, ok := p.labels[label]
		if !ok || to <= from {
			return 0, fmt.Errorf("tap: filter: bad jump to %q", label)
		}
		return uint32(to - from - 1), nil
	}
	for _, j := range p.jumps {
		t, err := skip(j.at, j.jt)
		if err != nil {
			return nil, err
		}
		switch in := p.ins[j.at].(type) {
		case bpf.Jump:
			in.Skip = t
			p.ins[j.at] = in
		case bpf.JumpIf:
			f, err := skip(j.at, j.jf)
			if err != nil {
				return nil, err
			}
			if t > 255 || f > 255 {
				return nil, fmt.Errorf("tap: filter: jump too long (too many control ports)")
			}
			in.SkipTrue, in.SkipFalse = uint8(t), uint8(f)
			p.ins[j.at] = in
		}
	}
	return p.ins, nil
}
