package pipeline

import (
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/tftpstate"
)

// feedPacket hands the decoded packet to its tracker: TCP segments to
// ftpstate, UDP datagrams and ICMP unreachables to tftpstate. Both run on
// packet time; the TFTP tracker's timeouts advance with every packet.
func (p *Pipeline) feedPacket() {
	if p.in.Transport == event.TransportTCP {
		p.tracker.Feed(p.in)
		p.last = p.tracker.Now() // ftpstate's clock, clock steps taken out
		p.advanceTFTP(p.in.Time)
		return
	}
	p.Stats.NotTCP.Add(1) // the counter's meaning stays: frames that are not TCP
	p.tftp.Feed(p.in)
	p.tftpStats()
}

// advanceTFTP lets the TFTP tracker's time pass (its timeouts run).
func (p *Pipeline) advanceTFTP(now time.Time) {
	p.tftp.Advance(now)
	p.tftpStats()
}

// tftpStats runs at every packet: a store only when a count changed (an
// atomic store costs as much as a locked instruction).
func (p *Pipeline) tftpStats() {
	if n := int64(p.tftp.OpenTransfers()); p.Stats.TFTPOpen.Load() != n {
		p.Stats.TFTPOpen.Store(n)
	}
	if n := p.tftp.Stats().Ended; p.Stats.TFTPEnded.Load() != n {
		p.Stats.TFTPEnded.Store(n)
	}
}

// tcpPacket is the decoded packet for the packet observers, whose
// contract is TCP segments only: nil for a UDP datagram or an ICMP error.
func (p *Pipeline) tcpPacket() *event.Packet {
	if p.in.Transport != event.TransportTCP {
		return nil
	}
	return p.in
}

// TFTP returns the pipeline's TFTP tracker, for reading its counters on the
// pipeline goroutine (from a sink).
func (p *Pipeline) TFTP() *tftpstate.Tracker { return p.tftp }
