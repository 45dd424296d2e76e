package tap

import "golang.org/x/net/bpf"

// tftpPort is the port TFTP servers take requests on (RFC 1350).
const tftpPort = 69

// TFTP opcodes the filter recognises a transfer's datagrams by.
const (
	tftpDATA  = 3
	tftpACK   = 4
	tftpERROR = 5
	tftpOACK  = 6
)

// tftpShapes appends the part of the filter that passes TFTP: requests to
// and replies from port 69, and the datagrams of transfers, which run
// between two ports nobody announced (the server answers from a new port
// of its own), recognised by their shape: opcode DATA with 0 to 65464
// bytes of data (RFC 2348's largest block), ACK of exactly 4 bytes, ERROR
// with a code and a string, OACK with at least one option. Also ICMP and
// ICMPv6 destination unreachables that quote a UDP datagram, which say
// nothing listens on a port. Other UDP, such as iperf3's (whose datagrams
// start with a timestamp) or DNS (an ID, so 4 in 65536 queries pass),
// stays in the kernel.
//
// It is entered at "udp4" and "udp6" with A holding the IP protocol (next
// header) and X the offset of the IP header, and jumps only within itself,
// so the TCP part's jump lengths do not change. With pass false (the
// command-channel socket's filter) it drops all of it.
func (p *asm) tftpShapes(pass bool) {
	if !pass {
		p.label("udp4")
		p.label("udp6")
		p.add(bpf.RetConstant{Val: 0})
		return
	}
	p.label("udp4")
	p.jeq(17, "", "icmp4")
	p.add(bpf.LoadIndirect{Off: 6, Size: 2}) // flags and fragment offset
	p.jset(0x1fff, "udrop", "")              // a later fragment: no UDP header
	p.ip4HeaderLen()
	p.ja("udp")

	p.label("icmp4")
	p.jeq(1, "", "udrop")
	p.add(bpf.LoadIndirect{Off: 6, Size: 2})
	p.jset(0x1fff, "udrop", "")
	p.ip4HeaderLen()
	p.add(bpf.LoadIndirect{Off: 0, Size: 1})     // ICMP type
	p.jeq(3, "", "udrop")                        // destination unreachable
	p.add(bpf.LoadIndirect{Off: 8 + 9, Size: 1}) // the quoted header's protocol
	p.jeq(17, "upass", "udrop")

	p.label("udp6")
	p.jeq(17, "", "icmp6")
	p.add(bpf.TXA{})
	p.add(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 40})
	p.add(bpf.TAX{})
	p.ja("udp")

	p.label("icmp6")
	p.jeq(58, "", "udrop")
	p.add(bpf.LoadIndirect{Off: 40, Size: 1})         // ICMPv6 type
	p.jeq(1, "", "udrop")                             // destination unreachable
	p.add(bpf.LoadIndirect{Off: 40 + 8 + 6, Size: 1}) // the quoted header's next header
	p.jeq(17, "upass", "udrop")

	// X is the offset of the UDP header.
	p.label("udp")
	p.add(bpf.LoadIndirect{Off: 2, Size: 2}) // destination port
	p.jeq(tftpPort, "upass", "")
	p.add(bpf.LoadIndirect{Off: 0, Size: 2}) // source port: a server that answers from 69
	p.jeq(tftpPort, "upass", "")
	p.add(bpf.LoadIndirect{Off: 8, Size: 2}) // opcode
	p.jeq(tftpDATA, "data", "")
	p.jeq(tftpACK, "ack", "")
	p.jeq(tftpERROR, "error", "")
	p.jeq(tftpOACK, "", "udrop")
	p.add(bpf.LoadIndirect{Off: 4, Size: 2}) // UDP length: header, opcode, "a\0b\0" at least
	p.jgt(8+2+4-1, "upass", "udrop")
	p.label("data")
	p.add(bpf.LoadIndirect{Off: 4, Size: 2})
	p.jgt(8+4+65464, "udrop", "")
	p.jgt(8+4-1, "upass", "udrop")
	p.label("ack")
	p.add(bpf.LoadIndirect{Off: 4, Size: 2})
	p.jeq(8+4, "upass", "udrop")
	p.label("error")
	p.add(bpf.LoadIndirect{Off: 4, Size: 2}) // opcode, code and at least the string's NUL
	p.jgt(8+5-1, "upass", "udrop")

	p.label("udrop")
	p.add(bpf.RetConstant{Val: 0})
	p.label("upass")
	p.add(bpf.RetConstant{Val: snapLen})
}

// ip4HeaderLen adds the IPv4 header's length (its IHL) to X.
func (p *asm) ip4HeaderLen() {
	p.add(bpf.LoadIndirect{Off: 0, Size: 1}) // version and IHL
	p.add(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x0f})
	p.add(bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 2})
	p.add(bpf.ALUOpX{Op: bpf.ALUOpAdd})
	p.add(bpf.TAX{})
}

func (p *asm) jgt(v uint32, jt, jf string) {
	p.jumps = append(p.jumps, jump{len(p.ins), jt, jf})
	p.add(bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: v})
}
