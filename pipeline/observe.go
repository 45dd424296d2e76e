package pipeline

import (
	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/ftpstate"
	"github.com/ftptap/ftptap/tftpstate"
)

// Optional interfaces of a Sink. A sink that implements one of them is
// handed more than events, on the pipeline goroutine; AddSink and New find
// them by type assertion, as io.Copy finds io.WriterTo.

// Annotator is a sink that sees each event before any sink does and may
// fill in fields of it (the carver adds sha256, carved and gaps to
// transfer.end). It may call Pipeline.Emit; ev stays valid.
type Annotator interface {
	Annotate(ev *event.Event)
}

// DataObserver is a sink that receives the payload of every data-channel
// segment the tracker ties to a transfer, with its offset in the
// transfer's stream (see ftpstate.Config.OnData). It is called while the
// tracker handles the segment: before the events that segment causes are
// dispatched, so a transfer's last bytes come before its transfer.end.
type DataObserver interface {
	Data(seg *ftpstate.DataSegment)
}

// TFTPDataObserver is a sink that receives every DATA block of a TFTP
// transfer, repeats included, with its offset in the file (see
// tftpstate.Config.OnData). It is called while the TFTP tracker handles
// the datagram: before the events it causes, so a transfer's last block
// comes before its tftp.end.
type TFTPDataObserver interface {
	TFTPData(seg *tftpstate.DataSegment)
}

// PacketObserver is a sink that receives every frame after the tracker has
// handled it and the events it caused have been dispatched (so a
// session.start or data.open is known before the frame that opened it).
// pkt is the decoded TCP segment, nil for a frame that is not TCP over IP.
// Both are valid only during the call.
type PacketObserver interface {
	Packet(f *Frame, pkt *event.Packet)
}

// observe records the optional interfaces of s.
func (p *Pipeline) observe(s Sink) {
	p.needJSON = p.needJSON || NeedsJSON(s)
	if a, ok := s.(Annotator); ok {
		p.annotators = append(p.annotators, a)
	}
	if d, ok := s.(DataObserver); ok {
		p.dataObs = append(p.dataObs, d)
	}
	if d, ok := s.(TFTPDataObserver); ok {
		p.tftpDataObs = append(p.tftpDataObs, d)
	}
	if o, ok := s.(PacketObserver); ok {
		p.packetObs = append(p.packetObs, o)
	}
}

// onData is the tracker's OnData hook.
func (p *Pipeline) onData(seg *ftpstate.DataSegment) {
	for _, d := range p.dataObs {
		d.Data(seg)
	}
}

// onTFTPData is the TFTP tracker's OnData hook.
func (p *Pipeline) onTFTPData(seg *tftpstate.DataSegment) {
	for _, d := range p.tftpDataObs {
		d.TFTPData(seg)
	}
}

// observePacket hands a frame to the packet observers.
func (p *Pipeline) observePacket(f *Frame, pkt *event.Packet) {
	for _, o := range p.packetObs {
		o.Packet(f, pkt)
	}
}
