package tap

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/ftptap/ftptap/decode"
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
	name string
	idx  int
	f    *os.File
	// stdin: f is standard input, never closed.
	stdin bool
	src   gopacket.ZeroCopyPacketDataSource
	link  layers.LinkType // of the frame read ahead
	// curLink is the link type of cf.data (pcapng: of its interface).
	curLink layers.LinkType
	size    int64            // the file's size; 0: not known (a pipe)
	read    atomic.Int64     // bytes read from the file so far
	ng      *ngFraming       // pcapng only
	ngr     *pcapgo.NgReader // pcapng only
	buf     [2][]byte        // the frame returned and the one read ahead: no allocation per frame
	cur     int
	// noCopy: the frame read ahead stays in the capture reader's buffer
	// (see FileSource.AppendFrame).
	noCopy bool
	side   event.Side
	data   []byte
	ci     gopacket.CaptureInfo
	frames int
}

// OpenFiles opens the named capture files: pcap or pcapng, either
// gzip-compressed; Stdin ("-") reads standard input. The error names the
// file and says what is wrong with it (files compressed otherwise are
// named as such, with how to decompress them). A pcapng file's frames carry
// the link type of their own interface. A file cut short (inside a frame or
// block) ends with an error "truncated after N frames", after those frames.
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

// Stdin is the file name that reads a capture from standard input
// (tcpdump -w - | ftptap replay -).
const Stdin = "-"

// compressed are the magic numbers of compressors whose files ftptap does
// not read itself, with how to decompress them.
var compressed = []struct {
	magic []byte
	name  string
	tool  string
}{
	{[]byte{0xfd, '7', 'z', 'X', 'Z', 0}, "xz", "xz -dc"},
	{[]byte{0x28, 0xb5, 0x2f, 0xfd}, "zstd", "zstd -dc"},
	{[]byte("BZh"), "bzip2", "bzip2 -dc"},
	{[]byte{0x04, 0x22, 0x4d, 0x18}, "lz4", "lz4 -dc"},
}

func openCapture(name string) (*capFile, error) {
	f := interruptibleStdin()
	stdin := f
	if name != Stdin {
		var err error
		if f, err = os.Open(name); err != nil {
			return nil, fmt.Errorf("tap: %w", err)
		}
	} else {
		name = "stdin"
	}
	cf, err := newCapture(name, f)
	if err != nil {
		if f != stdin {
			f.Close()
		}
		return nil, err
	}
	cf.f, cf.stdin = f, f == stdin
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		cf.size = st.Size()
	}
	return cf, nil
}

// newCapture reads the header of a pcap or pcapng stream, gzipped or not;
// name is for errors.
func newCapture(name string, in io.Reader) (cf *capFile, err error) {
	defer func() {
		// pcapgo's pcapng reader divides by a time resolution that can
		// overflow to zero, and trusts lengths in the header blocks: a
		// hostile header is one error, never a crash (FuzzCaptureFile).
		if r := recover(); r != nil {
			cf, err = nil, fmt.Errorf("tap: %s: malformed capture header (%v)", name, r)
		}
	}()
	cf = &capFile{name: name}
	fail := func(format string, args ...any) (*capFile, error) {
		return nil, fmt.Errorf("tap: %s: "+format, append([]any{name}, args...)...)
	}
	br := bufio.NewReaderSize(countingReader{in, &cf.read}, readBuffer(in))
	magic, _ := br.Peek(24)
	if len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fail("gzip: %w", err)
		}
		br = bufio.NewReaderSize(zr, pcapBuffer)
		magic, _ = br.Peek(24)
	}
	var r io.Reader = br
	for _, c := range compressed {
		if bytes.HasPrefix(magic, c.magic) {
			src := name
			if name == "stdin" {
				src = "FILE"
			}
			return fail("compressed with %s: decompress it first (%s %s | ftptap replay -)", c.name, c.tool, src)
		}
	}
	switch {
	case len(magic) < 4:
		return fail("not a capture file (%d bytes: too short)", len(magic))
	case bytes.Equal(magic[:4], []byte{0x0a, 0x0d, 0x0d, 0x0a}):
		cf.ng = newNgFraming(&ngGuard{r: r})
		ng, err := pcapgo.NewNgReader(cf.ng, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || cf.ng.cut() {
				return fail("pcapng: truncated in its section header (%d bytes): not a whole capture file", cf.ng.total)
			}
			return fail("pcapng: %v", err)
		}
		cf.src, cf.ngr = ng, ng
	case !isPcapMagic(magic[:4]):
		return fail("not a pcap or pcapng file (it starts with %q)", magic[:min(len(magic), 8)])
	default:
		// pcapgo checks the header (its own copy of it: the frames are
		// read from br by pcapFrames).
		pr, err := pcapgo.NewReader(bytes.NewReader(magic))
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fail("pcap: truncated in its file header (%d bytes): not a whole capture file", len(magic))
			}
			return fail("not a pcap or pcapng file: %v", err)
		}
		boundSnaplen(pr)
		// pcapgo keeps the link type's low byte only (see
		// decode.LinkTypeLinuxSLL2); the header holds 16 bits.
		var order binary.ByteOrder = binary.LittleEndian
		if magic[0] == 0xa1 { // a1b2c3d4 or a1b23c4d written big endian
			order = binary.BigEndian
		}
		full := order.Uint32(magic[20:24]) & 0xffff
		if err := checkLinkNumber(full); err != nil {
			return fail("%v", err)
		}
		br.Discard(len(magic))
		cf.src, cf.link = newPcapFrames(br, magic, pr.Snaplen()), pr.LinkType()
	}
	return cf, nil
}

// readBuffer is the size of the read buffer for in: pcapBuffer, or less
// for a file known to be smaller (a megabyte allocated for a capture of a
// few kilobytes sets the garbage collector off at the start of a
// replay: 3 to 6 ms of a replay that takes under one).
func readBuffer(in io.Reader) int {
	size := int64(-1)
	switch f := in.(type) {
	case interface{ Stat() (os.FileInfo, error) }:
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
	case interface{ Size() int64 }:
		size = f.Size()
	}
	if size < 0 || size+16 >= pcapBuffer {
		return pcapBuffer
	}
	// A frame is never longer than the file.
	return max(int(size)+16, 4096)
}

// boundSnaplen sets a pcap reader's snap length, the most a frame may
// claim, to maxFrame where the header says 0 or more: a hostile length
// must be an error, not an allocation.
func boundSnaplen(pr *pcapgo.Reader) {
	if pr.Snaplen() == 0 || pr.Snaplen() > maxFrame {
		pr.SetSnaplen(maxFrame)
	}
}

// isPcapMagic reports whether b starts a classic pcap file: microsecond
// or nanosecond timestamps, either byte order.
func isPcapMagic(b []byte) bool {
	for _, m := range []uint32{0xa1b2c3d4, 0xa1b23c4d} {
		if binary.LittleEndian.Uint32(b) == m || binary.BigEndian.Uint32(b) == m {
			return true
		}
	}
	return false
}

// checkLinkNumber refuses link types above 255 other than LINUX_SLL2:
// their low byte would pass for another link type.
func checkLinkNumber(full uint32) error {
	if full > 255 && full != decode.LinkTypeLinuxSLL2Number {
		return fmt.Errorf("link type %d is not supported (supported: Ethernet, raw IP, loopback, Linux cooked v1 and v2)", full)
	}
	return nil
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
		if errors.Is(err, io.EOF) && cf.ng != nil && cf.ng.cut() {
			// pcapgo's pcapng reader says io.EOF for a cut block too.
			err = io.ErrUnexpectedEOF
		}
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("tap: %s: truncated after %d frames", cf.name, cf.frames)
		}
		return fmt.Errorf("tap: %s: frame %d: %w", cf.name, cf.frames+1, err)
	}
	if cf.ngr != nil {
		// Each interface of a pcapng file has its own link type.
		low := ci.AncillaryData[0].(layers.LinkType)
		if full, ok := cf.ng.link(ci.InterfaceIndex, uint8(low)); ok {
			if err := checkLinkNumber(uint32(full)); err != nil {
				return fmt.Errorf("tap: %s: frame %d: interface %d: %w", cf.name, cf.frames+1, ci.InterfaceIndex, err)
			}
		}
		cf.link = low
		ci.AncillaryData = nil
	}
	cf.frames++
	if cf.noCopy {
		cf.data, cf.ci, cf.curLink = data, ci, cf.link
		return nil
	}
	// The reader reuses its buffer; the frame must outlive the read of the
	// next one (see ReadFrame), so it is copied into one of two buffers.
	cf.data, cf.ci, cf.curLink = cf.own(data), ci, cf.link
	return nil
}

// own copies data into the file's other buffer.
func (cf *capFile) own(data []byte) []byte {
	cf.cur ^= 1
	b := append(cf.buf[cf.cur][:0], data...)
	cf.buf[cf.cur] = b
	return b
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
	var fr pipeline.Frame
	s.frame(cf, &fr)
	if cf.noCopy {
		// Read by AppendFrame until now: cf.data is the reader's own
		// buffer, which the next read overwrites.
		cf.noCopy = false
		fr.Data = cf.own(cf.data)
	}
	// fr.Data stays valid while the file reads ahead into its other
	// buffer.
	s.advance(cf)
	return fr, nil
}

// AppendFrame is ReadFrame for a reader that keeps frames in a buffer of
// its own (pipeline.AheadSource): it sets *fr to the next frame, with its
// bytes appended to buf, and returns buf. The bytes are copied once, from
// the capture reader's buffer, where ReadFrame copies them into a buffer
// of the source first. *fr is left alone on an error.
func (s *FileSource) AppendFrame(buf []byte, fr *pipeline.Frame) ([]byte, error) {
	if s.err != nil {
		return buf, s.err
	}
	if len(s.h) == 0 {
		return buf, io.EOF
	}
	cf := s.h[0]
	off := len(buf)
	buf = append(buf, cf.data...)
	s.frame(cf, fr)
	fr.Data = buf[off:len(buf):len(buf)]
	cf.noCopy = true // the frame is copied: the next may stay where it is read
	s.advance(cf)
	return buf, nil
}

// frame sets *fr to the frame cf holds.
func (s *FileSource) frame(cf *capFile, fr *pipeline.Frame) {
	*fr = pipeline.Frame{Data: cf.data, Info: cf.ci, Side: cf.side, LinkType: cf.curLink}
	if cf.ngr != nil && len(s.files) == 1 {
		fr.Side = cf.ngPort(cf.ci.InterfaceIndex)
	}
}

// advance reads the next frame of cf, the file whose frame was taken.
func (s *FileSource) advance(cf *capFile) {
	if err := cf.next(); err != nil {
		heap.Pop(&s.h)
		if !errors.Is(err, io.EOF) {
			s.err = err
		}
	} else if len(s.h) > 1 {
		heap.Fix(&s.h, 0)
	}
}

// Progress returns the bytes read so far from all files and their total
// size; size is 0 when it is not known (standard input, a pipe). It may be
// called from any goroutine.
func (s *FileSource) Progress() (read, size int64) {
	for _, cf := range s.files {
		read += cf.read.Load()
		if cf.size == 0 {
			size = -1 << 62
		}
		size += cf.size
	}
	return read, max(size, 0)
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// Close closes every file (not standard input).
func (s *FileSource) Close() error {
	for _, cf := range s.files {
		if !cf.stdin {
			cf.f.Close()
		}
	}
	return nil
}

// Interrupt ends the reads in progress, and those to come, with an error:
// Ctrl-C while standard input waits for a writer that sends nothing. It may
// be called from another goroutine.
func (s *FileSource) Interrupt() {
	for _, cf := range s.files {
		cf.f.SetReadDeadline(time.Now())
	}
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

// ngPort returns the tap port of a pcapng interface. An interface that
// ftptap saved (pcapsave) describes itself as "tap port A" or "tap port B",
// so a single saved file replays with both ports; any other interface is of
// the file's own port.
func (cf *capFile) ngPort(i int) event.Side {
	intf, err := cf.ngr.Interface(i)
	if err != nil {
		return cf.side
	}
	switch intf.Description {
	case "tap port A":
		return event.SideA
	case "tap port B":
		return event.SideB
	}
	return cf.side
}
