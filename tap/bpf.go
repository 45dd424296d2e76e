package tap

import (
	"fmt"
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
	prog, err := filterProgram(f, ports)
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
	switch f {
	case FilterAll:
		return []bpf.Instruction{bpf.RetConstant{Val: snapLen}}, nil
	case FilterFTP, FilterTCP:
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
	if f == FilterFTP {
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
		p.label("drop")
		p.add(bpf.RetConstant{Val: 0})
		p.label("pass")
		p.add(bpf.RetConstant{Val: snapLen})
	} else {
		p.add(bpf.RetConstant{Val: snapLen})
		p.label("drop")
		p.add(bpf.RetConstant{Val: 0})
	}
	p.tftpShapes()
	return p.assemble()
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
