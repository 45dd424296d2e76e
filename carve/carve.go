package carve

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/ftpstate"
)

// Defaults of Config.
const (
	DefaultMaxFileBytes  = 4 << 30
	DefaultMaxTotalBytes = 64 << 30
	DefaultMinFreeBytes  = 256 << 20
	DefaultMaxOpen       = 256
)

// maxSpans caps the separate pieces of one file that are tracked: a peer
// that sends every other segment cannot grow the list without bound. A file
// that would need more stops being carved (and says so).
const maxSpans = 4096

// freeCheckEvery is how many bytes are written between two looks at the
// free space of the disk.
const freeCheckEvery = 4 << 20

// tmpDirName is the directory under Config.Dir where files are written
// until their transfer ends. Its leading dot keeps it out of the way of the
// date directories; nothing in it is a whole file.
const tmpDirName = ".incoming"

// Config configures a Carver. Zero fields take the defaults.
type Config struct {
	// Dir is the carving directory; it is created if missing.
	Dir string
	// MaxFileBytes caps one carved file; the rest of a larger transfer is
	// not written and the file is marked partial. Default: 4 GiB.
	MaxFileBytes int64
	// MaxTotalBytes caps the bytes carved in a run; reaching it stops
	// carving. Default: 64 GiB.
	MaxTotalBytes int64
	// MinFreeBytes is the free space carving leaves on the disk of Dir;
	// less stops carving. Default: 256 MiB.
	MinFreeBytes int64
	// MaxOpen caps the transfers being carved at once (one open file each);
	// a transfer beyond it is not carved. Default: 256.
	MaxOpen int
	// Emit, when not nil, reports alerts (kind carve_stopped, carve_file_cap,
	// carve_skipped, carve_tls) on the pipeline goroutine; pipeline.Emit fits.
	Emit func(event.Event)
	// Logf, when not nil, reports what cannot be an event: a sidecar that
	// could not be written.
	Logf func(format string, args ...any)
}

func (c Config) withDefaults() Config {
	if c.MaxFileBytes <= 0 {
		c.MaxFileBytes = DefaultMaxFileBytes
	}
	if c.MaxTotalBytes <= 0 {
		c.MaxTotalBytes = DefaultMaxTotalBytes
	}
	if c.MinFreeBytes < 0 {
		c.MinFreeBytes = 0
	} else if c.MinFreeBytes == 0 {
		c.MinFreeBytes = DefaultMinFreeBytes
	}
	if c.MaxOpen <= 0 {
		c.MaxOpen = DefaultMaxOpen
	}
	return c
}

// Stats are the carver's counters, safe to read from any goroutine.
type Stats struct {
	Files    atomic.Int64 // files carved (renamed into place)
	Bytes    atomic.Int64 // payload bytes written
	Partial  atomic.Int64 // carved files with gaps, cut short or incomplete
	Skipped  atomic.Int64 // transfers not carved: too many at once, TLS
	FileCaps atomic.Int64 // files cut at MaxFileBytes
	Errors   atomic.Int64 // write, rename and sidecar errors
	Stopped  atomic.Int64 // 1 once carving has stopped (a cap, a full disk)
}

// Carver writes the data of every transfer to a file. It is a
// pipeline.Sink with the Annotator and DataObserver interfaces; all its
// methods but Stats run on the pipeline goroutine.
type Carver struct {
	cfg       Config
	tmp       string
	files     map[uint64]*file     // by transfer id
	tftpFiles map[uint64]*file     // TFTP transfers, by their session id
	tftps     map[uint64]*tftpInfo // TFTP transfers under way, by session id
	sessions  map[uint64]*sessInfo // by session id
	total     int64
	unchecked int64  // bytes written since the last free-space check
	stopped   string // why carving stopped; "" while it goes on
	buf       []byte // for reading back what is hashed late
	stats     Stats
}

// sessInfo is what the carver keeps of a session, from its events.
type sessInfo struct {
	client, server netip.AddrPort
	tls, tlsSaid   bool
	restArg        int64   // the offset of a REST awaiting its reply, -1 none
	rest           int64   // accepted REST offset for the next transfer
	rests          []int64 // REST offsets of the transfers started, in order
}

// file is a transfer being carved.
type file struct {
	transfer uint64
	session  uint64
	tftp     *tftpInfo // the TFTP transfer's, nil for FTP
	f        *os.File
	tmp      string
	got      spans
	end      int64 // the end of the highest byte written
	hashed   int64 // bytes of the file hashed so far, from offset 0
	h        hash.Hash
	cut      string // why the file stopped growing ("" while it grows)
	// wbuf holds bytes not yet written, from stream offset woff on:
	// segments in order are written 64 KiB at a time, not one pwrite
	// each.
	wbuf []byte
	woff int64
}

// writeBufSize is the write buffer of each file being carved: with
// Config.MaxOpen files, memory stays under MaxOpen times this.
const writeBufSize = 64 << 10

// New returns a Carver writing under cfg.Dir.
func New(cfg Config) (*Carver, error) {
	if cfg.Dir == "" {
		return nil, errors.New("carve: no directory")
	}
	cfg = cfg.withDefaults()
	tmp := filepath.Join(cfg.Dir, tmpDirName)
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		return nil, fmt.Errorf("carve: %w", err)
	}
	return &Carver{
		cfg:       cfg,
		tmp:       tmp,
		files:     make(map[uint64]*file),
		tftpFiles: make(map[uint64]*file),
		tftps:     make(map[uint64]*tftpInfo),
		sessions:  make(map[uint64]*sessInfo),
		buf:       make([]byte, 64<<10),
	}, nil
}

// Stats returns the carver's counters.
func (c *Carver) Stats() *Stats { return &c.stats }

// Counters returns the counters as status-event figures.
func (c *Carver) Counters() []event.Counter {
	s := &c.stats
	return []event.Counter{
		{Name: "carve_files", Value: s.Files.Load()},
		{Name: "carve_bytes", Value: s.Bytes.Load()},
		{Name: "carve_partial", Value: s.Partial.Load()},
		{Name: "carve_skipped", Value: s.Skipped.Load()},
		{Name: "carve_file_caps", Value: s.FileCaps.Load()},
		{Name: "carve_errors", Value: s.Errors.Load()},
		{Name: "carve_stopped", Value: s.Stopped.Load()},
	}
}

// Event is the pipeline.Sink method; the carver does its work in Annotate.
func (c *Carver) Event(*event.Event, []byte) {}

// Annotate follows sessions (their endpoints, TLS, REST) and finishes a
// transfer's file at its transfer.end, filling in SHA256, Carved and Gaps.
func (c *Carver) Annotate(ev *event.Event) {
	if ev.Proto == event.ProtoTFTP {
		c.annotateTFTP(ev)
		return
	}
	if ev.Proto != event.ProtoFTP {
		return
	}
	switch ev.Type {
	case event.TypeSessionStart:
		c.sessions[ev.Session] = &sessInfo{client: ev.Client, server: ev.Server, restArg: -1}
	case event.TypeSessionEnd:
		delete(c.sessions, ev.Session)
	case event.TypeTLS:
		c.session(ev).tls = true
	case event.TypeRequest:
		s := c.session(ev)
		switch ev.Command {
		case "REST":
			s.restArg = -1
			if n, err := strconv.ParseInt(ev.Arg, 10, 64); err == nil && n >= 0 {
				s.restArg = n
			}
		case "RETR", "STOR", "STOU", "APPE", "LIST", "NLST", "MLSD":
			if len(s.rests) < 64 {
				s.rests = append(s.rests, s.rest)
			}
			s.rest = 0
		}
	case event.TypeResponse:
		// RFC 3659 section 5: 350 accepts the restart marker; it holds
		// for the next transfer command only.
		if s := c.session(ev); ev.Command == "REST" && s.restArg >= 0 {
			if ev.Code == 350 {
				s.rest = s.restArg
			}
			s.restArg = -1
		}
	case event.TypeTransferEnd:
		c.transferEnd(ev)
	}
}

func (c *Carver) session(ev *event.Event) *sessInfo {
	s := c.sessions[ev.Session]
	if s == nil {
		s = &sessInfo{client: ev.Client, server: ev.Server, restArg: -1}
		c.sessions[ev.Session] = s
	}
	return s
}

// Data writes a segment of a transfer's stream at its offset. Bytes already
// written are kept: the first copy of a byte the capture saw wins over a
// retransmission or an overlapping segment that disagrees with it, as the
// tracker does on command channels, so what is hashed never changes.
func (c *Carver) Data(seg *ftpstate.DataSegment) {
	if !seg.Sender || len(seg.Payload) == 0 {
		return
	}
	f := c.files[seg.Transfer]
	if f == nil {
		if f = c.open(seg); f == nil {
			return
		}
	}
	c.put(f, seg.Offset, seg.Payload)
}

// put writes p at stream offset off of f, within the per-file cap.
func (c *Carver) put(f *file, off int64, p []byte) {
	if f.cut != "" {
		return
	}
	if off < 0 {
		// Before the first byte the tracker saw of the connection (no SYN
		// in the capture): nowhere to put it.
		if int64(len(p)) <= -off {
			return
		}
		p = p[-off:]
		off = 0
	}
	if room := c.cfg.MaxFileBytes - off; int64(len(p)) > room {
		if room > 0 {
			c.write(f, off, p[:room])
		}
		if f.cut == "" {
			f.cut = fmt.Sprintf("file cap: only the first %d bytes are carved", c.cfg.MaxFileBytes)
			c.stats.FileCaps.Add(1)
			c.alertFile(f, "carve_file_cap", "transfer larger than the carving cap of %d bytes per file: the rest is not carved, and the file is marked partial", c.cfg.MaxFileBytes)
		}
		return
	}
	c.write(f, off, p)
}

// open starts carving a transfer, or returns nil if it is not carved.
func (c *Carver) open(seg *ftpstate.DataSegment) *file {
	if c.stopped != "" {
		return nil
	}
	s := c.sessions[seg.Session]
	if s != nil && s.tls {
		if !s.tlsSaid {
			s.tlsSaid = true
			c.stats.Skipped.Add(1)
			c.alert(seg.Session, "carve_tls", "the session's command channel went TLS (AUTH TLS): its data channels carry ciphertext and are not carved")
		}
		return nil
	}
	if len(c.files) >= c.cfg.MaxOpen {
		c.stats.Skipped.Add(1)
		c.alert(seg.Session, "carve_skipped", "more than %d transfers carved at once: this one is not carved", c.cfg.MaxOpen)
		// Remember it as cut, so the alert is not repeated per segment.
		f := &file{transfer: seg.Transfer, session: seg.Session, cut: "too many transfers at once"}
		c.files[seg.Transfer] = f
		return f
	}
	fh, err := os.CreateTemp(c.tmp, "t"+strconv.FormatUint(seg.Transfer, 10)+"-*")
	if err != nil {
		c.stop(fmt.Sprintf("cannot create a file: %v", err))
		return nil
	}
	f := &file{transfer: seg.Transfer, session: seg.Session, f: fh, tmp: fh.Name(), h: sha256.New()}
	c.files[seg.Transfer] = f
	return f
}

// write writes the parts of p (at stream offset off) that f does not have
// yet, then hashes what has become contiguous.
func (c *Carver) write(f *file, off int64, p []byte) {
	end := off + int64(len(p))
	var fresh int64
	f.got.missing(off, end, func(s, e int64) { fresh += e - s })
	if fresh == 0 {
		return
	}
	if c.total+fresh > c.cfg.MaxTotalBytes {
		c.stop(fmt.Sprintf("the carving cap of %d bytes in all was reached", c.cfg.MaxTotalBytes))
		return
	}
	if len(f.got) >= maxSpans {
		f.cut = fmt.Sprintf("more than %d separate pieces", maxSpans)
		c.alertFile(f, "carve_skipped", "a transfer arrived in more than %d separate pieces: the rest of it is not carved, and the file is marked partial", maxSpans)
		return
	}
	var werr error
	f.got.missing(off, end, func(s, e int64) {
		if werr != nil {
			return
		}
		if werr = f.put(p[s-off:e-off], s); werr == nil {
			f.got = f.got.add(s, e)
		}
	})
	if werr != nil {
		c.stats.Errors.Add(1)
		if errors.Is(werr, syscall.ENOSPC) {
			c.stop("the disk is full")
		} else {
			c.stop(fmt.Sprintf("write: %v", werr))
		}
		return
	}
	c.total += fresh
	c.stats.Bytes.Add(fresh)
	f.end = max(f.end, end)
	// The common case, in order: hash straight from the segment.
	if off <= f.hashed && end > f.hashed && f.got.prefix() == end && fresh == end-f.hashed {
		f.h.Write(p[f.hashed-off:])
		f.hashed = end
	} else if err := c.hashTo(f, f.got.prefix()); err != nil {
		c.stats.Errors.Add(1)
		c.stop(fmt.Sprintf("read back: %v", err))
		return
	}
	c.unchecked += fresh
	if c.unchecked >= freeCheckEvery {
		c.unchecked = 0
		c.checkFree()
	}
}

// put writes b at stream offset off, through the write buffer when it
// continues what the buffer holds.
func (f *file) put(b []byte, off int64) error {
	if len(f.wbuf) > 0 && off == f.woff+int64(len(f.wbuf)) && len(f.wbuf)+len(b) <= writeBufSize {
		f.wbuf = append(f.wbuf, b...)
		return nil
	}
	if err := f.flush(); err != nil {
		return err
	}
	if len(b) >= writeBufSize {
		_, err := f.f.WriteAt(b, off)
		return err
	}
	if f.wbuf == nil {
		f.wbuf = make([]byte, 0, writeBufSize)
	}
	f.wbuf, f.woff = append(f.wbuf, b...), off
	return nil
}

// flush writes out the write buffer.
func (f *file) flush() error {
	if len(f.wbuf) == 0 {
		return nil
	}
	_, err := f.f.WriteAt(f.wbuf, f.woff)
	f.wbuf = f.wbuf[:0]
	return err
}

// hashTo hashes the file's bytes from f.hashed up to n, reading them back.
func (c *Carver) hashTo(f *file, n int64) error {
	if f.hashed < n {
		if err := f.flush(); err != nil {
			return err
		}
	}
	for f.hashed < n {
		b := c.buf[:min(int64(len(c.buf)), n-f.hashed)]
		k, err := f.f.ReadAt(b, f.hashed)
		if k < len(b) {
			if err == nil {
				err = errors.New("short read")
			}
			return err
		}
		f.h.Write(b)
		f.hashed += int64(k)
	}
	return nil
}

// checkFree stops carving when the disk is short of space.
func (c *Carver) checkFree() {
	free, err := freeBytes(c.cfg.Dir)
	if err != nil || free < 0 {
		return // unknown here: the write errors still tell
	}
	if free < c.cfg.MinFreeBytes {
		c.stop(fmt.Sprintf("less than %d bytes free on the disk (%d)", c.cfg.MinFreeBytes, free))
	}
}

// stop ends carving for the rest of the run: one alert, the Stopped metric,
// and every file being carved is finished with what it has when its
// transfer ends.
func (c *Carver) stop(why string) {
	if c.stopped != "" {
		return
	}
	c.stopped = why
	c.stats.Stopped.Store(1)
	for _, fs := range []map[uint64]*file{c.files, c.tftpFiles} {
		for _, f := range fs {
			if f.cut == "" {
				f.cut = "carving stopped: " + why
			}
		}
	}
	c.alert(0, "carve_stopped", "carving stopped: %s; the tap goes on, transfers are no longer carved", why)
}

func (c *Carver) alert(session uint64, kind, format string, args ...any) {
	if c.cfg.Emit == nil {
		return
	}
	ev := event.Event{Type: event.TypeAlert, Proto: event.ProtoFTP, Session: session, Kind: kind, Detail: fmt.Sprintf(format, args...)}
	if s := c.sessions[session]; s != nil && session != 0 {
		ev.Client, ev.Server = s.client, s.server
	}
	c.cfg.Emit(ev)
}

// alertFile raises an alert about the transfer of f.
func (c *Carver) alertFile(f *file, kind, format string, args ...any) {
	if f.tftp == nil {
		c.alert(f.session, kind, format, args...)
		return
	}
	if c.cfg.Emit == nil {
		return
	}
	c.cfg.Emit(event.Event{Type: event.TypeAlert, Proto: event.ProtoTFTP, Session: f.session, Client: f.tftp.client, Server: f.tftp.server,
		Kind: kind, Detail: fmt.Sprintf(format, args...)})
}

func (c *Carver) logf(format string, args ...any) {
	if c.cfg.Logf != nil {
		c.cfg.Logf(format, args...)
	}
}

// transferEnd finishes the file of the transfer ev ends.
func (c *Carver) transferEnd(ev *event.Event) {
	s := c.session(ev)
	var rest int64
	if len(s.rests) > 0 {
		rest = s.rests[0]
		s.rests = s.rests[1:]
	}
	f := c.files[ev.Transfer]
	delete(c.files, ev.Transfer)
	if f == nil {
		// No byte of it was carved. An empty transfer that worked is an
		// empty file; anything else has nothing to show.
		if s.tls || c.stopped != "" || !ev.Complete || ev.Bytes != 0 {
			return
		}
		fh, err := os.CreateTemp(c.tmp, "t"+strconv.FormatUint(ev.Transfer, 10)+"-*")
		if err != nil {
			c.stats.Errors.Add(1)
			c.logf("carve: %v", err)
			return
		}
		f = &file{transfer: ev.Transfer, session: ev.Session, f: fh, tmp: fh.Name(), h: sha256.New()}
	}
	if f.f == nil {
		return // not carved (too many at once)
	}
	c.finish(f, ev, rest)
}

// sidecar is the JSON file beside each carved file.
type sidecar struct {
	Proto     string `json:"proto"` // ftp or tftp
	Session   string `json:"session"`
	Client    string `json:"client"`
	Server    string `json:"server"`
	Command   string `json:"command"`
	File      string `json:"file"` // as the client sent it (or the server named it, STOU)
	Direction string `json:"direction"`
	Mode      string `json:"mode"`
	End       string `json:"ts"`
	Code      int    `json:"code"` // FTP: the reply code that ended the transfer; TFTP: the ERROR code, 0 without one
	Complete  bool   `json:"complete"`
	Bytes     int64  `json:"bytes"` // the transfer's bytes, from sequence numbers
	Rest      int64  `json:"rest"`  // REST offset: the file starts this far into the original
	Gaps      int64  `json:"gaps"`  // bytes missing from the capture: zeros in the file
	Cut       string `json:"cut,omitempty"`
	SHA256    string `json:"sha256"`
	// TFTP only.
	Error   string `json:"error,omitempty"`  // the ERROR's RFC name
	Reason  string `json:"reason,omitempty"` // done, error, timeout, shutdown
	Blocks  int64  `json:"blocks,omitempty"`
	BlkSize int    `json:"blksize,omitempty"`
}

// finish sizes, hashes, closes and renames f into place, writes its
// sidecar and fills in ev.
func (c *Carver) finish(f *file, ev *event.Event, rest int64) {
	name := ev.Command + ".txt"
	if ev.Direction != event.DirListing {
		name = SafeName(ev.File)
	}
	sess := "s" + strconv.FormatUint(ev.Session, 10)
	k, ok := c.keep(f, ev, max(ev.Bytes, f.end), sess, name)
	if !ok {
		return
	}
	c.writeSidecar(k, sidecar{
		Proto: "ftp", Session: sess, Client: ev.Client.String(), Server: ev.Server.String(),
		Command: ev.Command, File: ev.File, Direction: ev.Direction.String(), Mode: ev.Mode.String(),
		End: ev.Time.UTC().Format(time.RFC3339Nano), Code: ev.Code, Complete: ev.Complete,
		Bytes: ev.Bytes, Rest: rest, Gaps: k.gaps, Cut: f.cut, SHA256: k.sum,
	})
}

// kept is a carved file in its place.
type kept struct {
	path, rel, sum string
	gaps           int64
}

// keep sizes f to size (its transfer's bytes; what was kept if it was cut
// short), hashes, closes and renames it to name under DIR/<date>/sess
// (name ending .partial if it has gaps, was cut or its transfer did not
// complete), and fills in ev's SHA256, Carved and Gaps. It reports false
// when the file could not be kept (the error is logged and counted).
func (c *Carver) keep(f *file, ev *event.Event, size int64, sess, name string) (kept, bool) {
	if f.cut != "" {
		size = f.end // what was kept, not what was meant
	}
	err := f.flush()
	if err == nil && size > f.end {
		// The missing tail reads as zeros, like the holes.
		err = f.f.Truncate(size)
	}
	if err == nil {
		err = c.hashTo(f, size)
	}
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		c.stats.Errors.Add(1)
		c.logf("carve: transfer %d: %v", f.transfer, err)
		os.Remove(f.tmp)
		return kept{}, false
	}
	gaps := size - f.got.covered(size)
	partial := gaps > 0 || !ev.Complete || f.cut != ""
	if partial {
		name += ".partial"
	}
	date := ev.Time.UTC().Format("2006-01-02")
	if ev.Time.IsZero() {
		date = "undated"
	}
	dir := filepath.Join(c.cfg.Dir, date, sess)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		c.stats.Errors.Add(1)
		c.logf("carve: %v", err)
		os.Remove(f.tmp)
		return kept{}, false
	}
	final, err := place(f.tmp, dir, name)
	if err != nil {
		c.stats.Errors.Add(1)
		c.logf("carve: %v", err)
		os.Remove(f.tmp)
		return kept{}, false
	}
	sum := hex.EncodeToString(f.h.Sum(nil))
	rel := date + "/" + sess + "/" + filepath.Base(final)
	ev.SHA256, ev.Carved, ev.Gaps = sum, rel, gaps
	c.stats.Files.Add(1)
	if partial {
		c.stats.Partial.Add(1)
	}
	return kept{path: final, rel: rel, sum: sum, gaps: gaps}, true
}

// writeSidecar writes the sidecar of a kept file beside it.
func (c *Carver) writeSidecar(k kept, sc sidecar) {
	js, _ := json.MarshalIndent(&sc, "", " ")
	if err := os.WriteFile(k.path+sidecarSuffix, append(js, '\n'), 0o640); err != nil {
		c.stats.Errors.Add(1)
		c.logf("carve: sidecar of %s: %v", k.rel, err)
	}
}

// sidecarSuffix ends the name of a carved file's sidecar.
const sidecarSuffix = ".ftptap.json"

// place renames tmp to name in dir, or to name numbered 2, 3... when the
// name or its sidecar's is taken, and returns the path it took.
func place(tmp, dir, name string) (string, error) {
	for n := 1; n < 10000; n++ {
		cand := name
		if n > 1 {
			cand = numbered(name, n)
		}
		p := filepath.Join(dir, cand)
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if _, err := os.Lstat(p + sidecarSuffix); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := os.Rename(tmp, p); err != nil {
			return "", err
		}
		return p, nil
	}
	return "", fmt.Errorf("no free name for %q in %s", name, dir)
}

// Close finishes what no transfer.end finished (the pipeline's flush ends
// every transfer, so normally nothing): such files are kept, marked
// partial, under the date of the last one's start. It returns the first
// error.
func (c *Carver) Close() error {
	var first error
	for id, f := range c.files {
		delete(c.files, id)
		if f.f == nil {
			continue
		}
		ev := event.Event{Type: event.TypeTransferEnd, Session: f.session, Transfer: id, Command: "transfer", File: "transfer-" + strconv.FormatUint(id, 10), Direction: event.DirUnknown}
		c.finish(f, &ev, 0)
		if ev.Carved == "" && first == nil {
			first = fmt.Errorf("carve: transfer %d could not be kept", id)
		}
	}
	for id, f := range c.tftpFiles {
		delete(c.tftpFiles, id)
		if f.f == nil {
			continue
		}
		ev := event.Event{Type: event.TypeTFTPEnd, Proto: event.ProtoTFTP, Session: id, File: f.tftp.file,
			TFTP: &event.TFTP{Op: f.tftp.op, Mode: f.tftp.mode, ErrorCode: -1}}
		c.finishTFTP(f, &ev)
		if ev.Carved == "" && first == nil {
			first = fmt.Errorf("carve: TFTP transfer t%d could not be kept", id)
		}
	}
	return first
}
