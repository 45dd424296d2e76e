package tap

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"container/heap"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/pipeline"
)

// maxFrame is the largest frame read from a capture file (the snap length
// of tcpdump -s 0).
const maxFrame = 262144

// FileSource reads one or more capture files and merges their frames by
// timestamp. Each file is one tap port: the first is port A, the second port
// B; with a single file the port is unknown. Frames of equal timestamps keep
// file order.
type FileSource struct {
	files []*capFile
	h     fileHeap
	err   error
}

type capFile struct {
	name   string
	idx    int
	f      *os.File
	src    gopacket.ZeroCopyPacketDataSource
	link   layers.LinkType
	buf    [2][]byte // the frame returned and the one read ahead: no allocation per frame
	cur    int
	side   event.Side
	data   []byte
	ci     gopacket.CaptureInfo
	frames int
	ng     *pcapgo.NgReader // a pcapng file: its interfaces may name tap ports
}

// OpenFiles opens the named capture files. The error names the file and
// says what is wrong with it.
func OpenFiles(names ...string) (*FileSource, error) {
	if len(names) == 0 {
		return nil, errors.New("tap: no capture file given")
	}
	s := &FileSource{}
	for i, name := range names {
		cf, err := openCapture(name)
		if err != nil {
			s.Close()
			return nil, err
		}
		cf.idx = i
		if len(names) > 1 && i < 2 {
			cf.side = event.Side(i + 1)
		}
		s.files = append(s.files, cf)
	}
	for _, cf := range s.files {
		if err := cf.next(); err != nil {
			if errors.Is(err, io.EOF) {
				continue
			}
			s.Close()
			return nil, err
		}
		s.h = append(s.h, cf)
	}
	heap.Init(&s.h)
	return s, nil
}

func openCapture(name string) (*capFile, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("tap: %w", err)
	}
	cf := &capFile{name: name, f: f}
	var r io.Reader = bufio.NewReaderSize(f, 1<<16)
	magic, _ := r.(*bufio.Reader).Peek(4)
	if len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(r)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("tap: %s: gzip: %w", name, err)
		}
		br := bufio.NewReaderSize(zr, 1<<16)
		r = br
		magic, _ = br.Peek(4)
	}
	switch {
	case len(magic) < 4:
		f.Close()
		return nil, fmt.Errorf("tap: %s: not a capture file (too short)", name)
	case bytes.Equal(magic, []byte{0x0a, 0x0d, 0x0d, 0x0a}):
		ng, err := pcapgo.NewNgReader(r, pcapgo.NgReaderOptions{})
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("tap: %s: pcapng: %w", name, err)
		}
		cf.src, cf.link, cf.ng = ng, ng.LinkType(), ng
	default:
		pr, err := pcapgo.NewReader(r)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("tap: %s: not a pcap or pcapng file: %w", name, err)
		}
		if pr.Snaplen() == 0 || pr.Snaplen() > maxFrame {
			// The reader sizes its buffer from each frame's length: a
			// hostile length must be an error, not an allocation.
			pr.SetSnaplen(maxFrame)
		}
		cf.src, cf.link = pr, pr.LinkType()
	}
	return cf, nil
}

// next reads the file's next frame into cf.data/cf.ci.
func (cf *capFile) next() (err error) {
	defer func() {
		// pcapgo trusts lengths from the file; a hostile file must not
		// bring the replay down.
		if r := recover(); r != nil {
			err = fmt.Errorf("tap: %s: frame %d: malformed capture (%v)", cf.name, cf.frames+1, r)
		}
	}()
	data, ci, err := cf.src.ZeroCopyReadPacketData()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("tap: %s: truncated after %d frames", cf.name, cf.frames)
		}
		return fmt.Errorf("tap: %s: frame %d: %w", cf.name, cf.frames+1, err)
	}
	cf.frames++
	// The reader reuses its buffer; the frame must outlive the read of the
	// next one (see ReadFrame), so it is copied into one of two buffers.
	cf.cur ^= 1
	b := append(cf.buf[cf.cur][:0], data...)
	cf.buf[cf.cur] = b
	cf.data, cf.ci = b, ci
	return nil
}

// ReadFrame returns the earliest frame of all files. After the last frame it
// returns io.EOF, or the first read error of any file (frames already
// returned stay valid events; the caller flushes and reports the error).
func (s *FileSource) ReadFrame() (pipeline.Frame, error) {
	if s.err != nil {
		return pipeline.Frame{}, s.err
	}
	if len(s.h) == 0 {
		return pipeline.Frame{}, io.EOF
	}
	cf := s.h[0]
	fr := pipeline.Frame{Data: cf.data, Info: cf.ci, Side: cf.side, LinkType: cf.link}
	if cf.ng != nil && len(s.files) == 1 {
		fr.Side, fr.LinkType = cf.ngPort(cf.ci.InterfaceIndex)
	}
	// fr.Data stays valid while the file reads ahead into its other
	// buffer.
	if err := cf.next(); err != nil {
		heap.Pop(&s.h)
		if !errors.Is(err, io.EOF) {
			s.err = err
		}
	} else {
		heap.Fix(&s.h, 0)
	}
	return fr, nil
}

// Close closes every file.
func (s *FileSource) Close() error {
	for _, cf := range s.files {
		cf.f.Close()
	}
	return nil
}

type fileHeap []*capFile

func (h fileHeap) Len() int { return len(h) }
func (h fileHeap) Less(i, j int) bool {
	if h[i].ci.Timestamp.Equal(h[j].ci.Timestamp) {
		return h[i].idx < h[j].idx
	}
	return h[i].ci.Timestamp.Before(h[j].ci.Timestamp)
}
func (h fileHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *fileHeap) Push(x any)   { *h = append(*h, x.(*capFile)) }
func (h *fileHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// ngPort returns the tap port and link type of a pcapng interface. An
// interface that ftptap saved (pcapsave) describes itself as "tap port A"
// or "tap port B", so a single saved file replays with both ports; any other
// interface is of no known port.
func (cf *capFile) ngPort(i int) (event.Side, layers.LinkType) {
	intf, err := cf.ng.Interface(i)
	if err != nil {
		return cf.side, cf.link
	}
	switch intf.Description {
	case "tap port A":
		return event.SideA, intf.LinkType
	case "tap port B":
		return event.SideB, intf.LinkType
	}
	return cf.side, intf.LinkType
}
