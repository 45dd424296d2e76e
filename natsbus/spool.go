package natsbus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// record is one event waiting for delivery.
type record struct {
	subject string
	id      string // Nats-Msg-Id
	data    []byte
}

// recordOverhead is what a record costs beyond its strings and payload: the
// on-disk header and length prefixes.
const recordOverhead = 16

func (r *record) size() int64 {
	return int64(len(r.subject) + len(r.id) + len(r.data) + recordOverhead)
}

// spool keeps records in order until they are acknowledged. append is
// called by the writer goroutine, peek and ack by the sender; an
// implementation does its own locking.
type spool interface {
	// append adds recs in order and returns how many fitted; the rest are
	// dropped by the caller's count.
	append(recs []record) (int, error)
	// peek returns up to max of the oldest unacknowledged records. The
	// records stay valid after later calls.
	peek(max int) ([]record, error)
	// ack removes the n oldest records, which the last peek returned.
	ack(n int) error
	// pending returns the number of records and bytes held.
	pending() (int, int64)
	// sync makes appended records and the ack position durable.
	sync() error
	close() error
}

// memSpool is a spool in memory, bounded in bytes.
type memSpool struct {
	max int64

	mu    sync.Mutex // guards the fields below
	recs  []record
	head  int
	bytes int64
}

func newMemSpool(limit int64) *memSpool { return &memSpool{max: limit} }

func (s *memSpool) append(recs []record) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range recs {
		sz := recs[i].size()
		if s.bytes+sz > s.max {
			return i, nil
		}
		s.bytes += sz
		s.recs = append(s.recs, recs[i])
	}
	return len(recs), nil
}

func (s *memSpool) peek(limit int) ([]record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := min(limit, len(s.recs)-s.head)
	return slices.Clone(s.recs[s.head : s.head+n]), nil
}

func (s *memSpool) ack(n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n > len(s.recs)-s.head {
		return fmt.Errorf("natsbus: spool: ack %d of %d records", n, len(s.recs)-s.head)
	}
	for i := s.head; i < s.head+n; i++ {
		s.bytes -= s.recs[i].size()
		s.recs[i] = record{}
	}
	s.head += n
	// Compact once the acknowledged prefix dominates, so the backing array
	// does not grow without bound.
	if s.head > 1024 && s.head*2 > len(s.recs) {
		s.recs = slices.Clone(s.recs[s.head:])
		s.head = 0
	} else if s.head == len(s.recs) {
		s.recs = s.recs[:0]
		s.head = 0
	}
	return nil
}

func (s *memSpool) pending() (int, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs) - s.head, s.bytes
}

func (s *memSpool) sync() error  { return nil }
func (s *memSpool) close() error { return nil }

// fileSpool is a spool on disk: a directory of segment files, each named
// for the index of its first record, plus a cursor file with the index of
// the oldest unacknowledged record.
//
// A record on disk is a 4-byte little-endian body length, the body's
// CRC-32C, then the body: uvarint length and subject, uvarint length and
// message id, payload. A torn record at the end of a segment (power cut
// during a write) is cut off when the spool is opened.
//
// Appends go to the page cache; sync (called every SyncInterval by the
// publisher) fsyncs the tail segment and rewrites the cursor. Records
// acknowledged after the last cursor write are sent again after a crash,
// and JetStream drops them by their Nats-Msg-Id.
type fileSpool struct {
	dir    string
	max    int64 // bytes of all segments
	segMax int64 // bytes of one segment before a new one starts

	mu     sync.Mutex // guards the fields below
	segs   []*segment // oldest first; the last one is appended to
	tail   *os.File
	bytes  int64  // size of all segments
	count  int    // records not yet acknowledged
	next   uint64 // index of the next appended record
	acked  uint64 // index of the oldest unacknowledged record
	dirty  bool   // appended since the last sync
	moved  bool   // acked moved since the last cursor write
	rseg   int    // segment being read
	roff   int64  // offset in segs[rseg] after the last peeked record
	ridx   uint64 // index of the record at roff
	peeked []record
	rf     *os.File // open segs[rseg] for reading, or nil
	buf    []byte
}

type segment struct {
	first uint64 // index of its first record
	n     int    // records in it
	size  int64
	path  string
}

const (
	segSuffix   = ".seg"
	cursorFile  = "cursor"
	maxRecord   = 8 << 20
	defaultSeg  = 1 << 20
	crcTableKey = crc32.Castagnoli
)

var crcTable = crc32.MakeTable(crcTableKey)

// openFileSpool opens (creating if needed) the spool in dir, bounded to
// limit bytes, and recovers what a previous run left.
func openFileSpool(dir string, limit int64) (*fileSpool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("natsbus: spool: %w", err)
	}
	s := &fileSpool{dir: dir, max: limit, segMax: min(int64(defaultSeg), limit/4+1)}
	if b, err := os.ReadFile(filepath.Join(dir, cursorFile)); err == nil {
		v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("natsbus: spool: %s: bad cursor %q", filepath.Join(dir, cursorFile), b)
		}
		s.acked = v
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("natsbus: spool: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("natsbus: spool: %w", err)
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), segSuffix)
		if !ok {
			continue
		}
		first, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		s.segs = append(s.segs, &segment{first: first, path: filepath.Join(dir, e.Name())})
	}
	slices.SortFunc(s.segs, func(a, b *segment) int { return cmpU64(a.first, b.first) })
	for _, sg := range s.segs {
		if err := s.scan(sg); err != nil {
			return nil, err
		}
	}
	if len(s.segs) > 0 {
		// A cursor past the last record on disk: the records it counted
		// were acknowledged, but a power cut took their unsynced writes
		// while the cursor survived. Left as it is, it would hide every
		// record appended from now on (FuzzSpoolSegment found it).
		last := s.segs[len(s.segs)-1]
		s.acked = min(s.acked, last.first+uint64(last.n))
	}
	s.next = s.acked
	for i := 0; i < len(s.segs); i++ {
		sg := s.segs[i]
		// Drop segments that were fully acknowledged before the crash.
		if sg.first+uint64(sg.n) <= s.acked && i < len(s.segs)-1 {
			os.Remove(sg.path)
			s.segs = slices.Delete(s.segs, i, i+1)
			i--
			continue
		}
		s.bytes += sg.size
		s.next = max(s.next, sg.first+uint64(sg.n))
		if sg.first+uint64(sg.n) > s.acked {
			s.count += int(sg.first + uint64(sg.n) - max(sg.first, s.acked))
		}
	}
	if len(s.segs) > 0 {
		s.acked = max(s.acked, s.segs[0].first)
	}
	s.ridx = s.acked
	if len(s.segs) > 0 {
		s.ridx = s.segs[0].first
		last := s.segs[len(s.segs)-1]
		s.tail, err = os.OpenFile(last.path, os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return nil, fmt.Errorf("natsbus: spool: %w", err)
		}
	}
	return s, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// scan counts the records of sg and cuts off a torn or corrupt end.
func (s *fileSpool) scan(sg *segment) error {
	f, err := os.OpenFile(sg.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("natsbus: spool: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("natsbus: spool: %w", err)
	}
	var off int64
	for off < st.Size() {
		_, n, err := s.readAt(f, off, st.Size())
		if err != nil {
			break
		}
		off += n
		sg.n++
	}
	if off < st.Size() {
		if err := f.Truncate(off); err != nil {
			return fmt.Errorf("natsbus: spool: cut torn record: %w", err)
		}
	}
	sg.size = off
	return nil
}

var errTorn = errors.New("torn record")

// readAt decodes the record at off of f, whose valid data ends at end, and
// returns it with its encoded length.
func (s *fileSpool) readAt(f *os.File, off, end int64) (record, int64, error) {
	var hdr [8]byte
	if end-off < 8 {
		return record{}, 0, errTorn
	}
	if _, err := f.ReadAt(hdr[:], off); err != nil {
		return record{}, 0, err
	}
	n := int64(binary.LittleEndian.Uint32(hdr[:4]))
	if n > maxRecord || end-off-8 < n {
		return record{}, 0, errTorn
	}
	if cap(s.buf) < int(n) {
		s.buf = make([]byte, n)
	}
	body := s.buf[:n]
	if _, err := f.ReadAt(body, off+8); err != nil {
		return record{}, 0, err
	}
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(hdr[4:]) {
		return record{}, 0, errTorn
	}
	r, ok := decodeBody(body)
	if !ok {
		return record{}, 0, errTorn
	}
	return r, 8 + n, nil
}

func decodeBody(b []byte) (record, bool) {
	sl, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < sl {
		return record{}, false
	}
	subj := string(b[k : k+int(sl)])
	b = b[k+int(sl):]
	il, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < il {
		return record{}, false
	}
	id := string(b[k : k+int(il)])
	return record{subject: subj, id: id, data: slices.Clone(b[k+int(il):])}, true
}

func appendRecord(b []byte, r *record) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	b = binary.AppendUvarint(b, uint64(len(r.subject)))
	b = append(b, r.subject...)
	b = binary.AppendUvarint(b, uint64(len(r.id)))
	b = append(b, r.id...)
	b = append(b, r.data...)
	body := b[start+8:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(body, crcTable))
	return b
}

func (s *fileSpool) append(recs []record) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var buf []byte
	inBuf, done := 0, 0 // records in buf; records written
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		_, err := s.tail.Write(buf)
		if err != nil {
			// A full disk (ENOSPC) may have taken part of buf. Cut the
			// segment back to its last whole record, so that records
			// appended once there is room again follow a whole one, and
			// give the records back to the caller, who counts them as
			// dropped.
			tl := s.segs[len(s.segs)-1]
			n := int64(len(buf))
			tl.size -= n
			tl.n -= inBuf
			s.bytes -= n
			s.count -= inBuf
			s.next -= uint64(inBuf)
			if terr := s.tail.Truncate(tl.size); terr != nil {
				err = errors.Join(err, terr)
			}
			buf, inBuf = buf[:0], 0
			return fmt.Errorf("natsbus: spool: write: %w", err)
		}
		done += inBuf
		buf, inBuf = buf[:0], 0
		s.dirty = true
		return nil
	}
	for i := range recs {
		r := &recs[i]
		sz := int64(8 + len(r.subject) + len(r.id) + len(r.data) + 2*binary.MaxVarintLen16)
		if int64(len(r.data)) > maxRecord/2 || s.bytes+sz > s.max {
			return done, flush()
		}
		if s.tail == nil || (s.segs[len(s.segs)-1].size > 0 && s.segs[len(s.segs)-1].size+sz > s.segMax) {
			if err := flush(); err != nil {
				return done, err
			}
			if err := s.rotateLocked(); err != nil {
				return done, err
			}
		}
		before := len(buf)
		buf = appendRecord(buf, r)
		n := int64(len(buf) - before)
		tl := s.segs[len(s.segs)-1]
		tl.size += n
		tl.n++
		s.bytes += n
		s.count++
		s.next++
		inBuf++
	}
	err := flush()
	return done, err
}

// rotateLocked starts a new tail segment.
func (s *fileSpool) rotateLocked() error {
	if s.tail != nil {
		if err := s.tail.Sync(); err != nil {
			return fmt.Errorf("natsbus: spool: sync: %w", err)
		}
		s.tail.Close()
		s.tail = nil
	}
	path := filepath.Join(s.dir, fmt.Sprintf("%020d%s", s.next, segSuffix))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("natsbus: spool: %w", err)
	}
	s.tail = f
	s.segs = append(s.segs, &segment{first: s.next, path: path})
	if len(s.segs) == 1 {
		s.rseg, s.roff, s.ridx = 0, 0, s.next
	}
	return nil
}

func (s *fileSpool) peek(limit int) ([]record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.peeked) < limit && s.rseg < len(s.segs) {
		sg := s.segs[s.rseg]
		if s.roff >= sg.size {
			if s.rseg == len(s.segs)-1 {
				break
			}
			s.closeReaderLocked()
			s.rseg++
			s.roff = 0
			s.ridx = s.segs[s.rseg].first
			continue
		}
		if s.rf == nil {
			f, err := os.Open(sg.path)
			if err != nil {
				return nil, fmt.Errorf("natsbus: spool: %w", err)
			}
			s.rf = f
		}
		r, n, err := s.readAt(s.rf, s.roff, sg.size)
		if err != nil {
			return nil, fmt.Errorf("natsbus: spool: read %s at %d: %w", sg.path, s.roff, err)
		}
		s.roff += n
		idx := s.ridx
		s.ridx++
		if idx < s.acked {
			continue // acknowledged before a restart
		}
		s.peeked = append(s.peeked, r)
	}
	n := min(limit, len(s.peeked))
	return slices.Clone(s.peeked[:n]), nil
}

func (s *fileSpool) closeReaderLocked() {
	if s.rf != nil {
		s.rf.Close()
		s.rf = nil
	}
}

func (s *fileSpool) ack(n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n > len(s.peeked) {
		return fmt.Errorf("natsbus: spool: ack %d of %d peeked records", n, len(s.peeked))
	}
	clear(s.peeked[:n])
	s.peeked = s.peeked[n:]
	if len(s.peeked) == 0 {
		s.peeked = nil
	}
	s.acked += uint64(n)
	s.count -= n
	s.moved = s.moved || n > 0
	// Remove segments that are acknowledged through, except the tail.
	for len(s.segs) > 1 && s.segs[0].first+uint64(s.segs[0].n) <= s.acked {
		if s.rseg == 0 {
			s.closeReaderLocked()
			s.rseg, s.roff, s.ridx = 1, 0, s.segs[1].first
		}
		if err := os.Remove(s.segs[0].path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("natsbus: spool: %w", err)
		}
		s.bytes -= s.segs[0].size
		s.segs = s.segs[1:]
		s.rseg--
	}
	// An acknowledged tail is truncated rather than left to grow.
	if len(s.segs) == 1 && s.count == 0 && len(s.peeked) == 0 && s.segs[0].size > 0 {
		sg := s.segs[0]
		if s.tail != nil {
			if err := s.tail.Truncate(0); err != nil {
				return fmt.Errorf("natsbus: spool: %w", err)
			}
		}
		s.closeReaderLocked()
		// Renaming keeps the first-index-in-name invariant.
		np := filepath.Join(s.dir, fmt.Sprintf("%020d%s", s.next, segSuffix))
		if err := os.Rename(sg.path, np); err != nil {
			return fmt.Errorf("natsbus: spool: %w", err)
		}
		s.bytes -= sg.size
		sg.path, sg.first, sg.n, sg.size = np, s.next, 0, 0
		s.roff, s.ridx = 0, s.next
	}
	return nil
}

func (s *fileSpool) pending() (int, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count, s.bytes
}

func (s *fileSpool) sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.syncLocked()
}

func (s *fileSpool) syncLocked() error {
	if s.dirty && s.tail != nil {
		if err := s.tail.Sync(); err != nil {
			return fmt.Errorf("natsbus: spool: sync: %w", err)
		}
		s.dirty = false
	}
	if s.moved {
		tmp := filepath.Join(s.dir, cursorFile+".tmp")
		if err := os.WriteFile(tmp, []byte(strconv.FormatUint(s.acked, 10)+"\n"), 0o640); err != nil {
			return fmt.Errorf("natsbus: spool: %w", err)
		}
		if err := os.Rename(tmp, filepath.Join(s.dir, cursorFile)); err != nil {
			return fmt.Errorf("natsbus: spool: %w", err)
		}
		s.moved = false
	}
	return nil
}

func (s *fileSpool) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.syncLocked()
	s.closeReaderLocked()
	if s.tail != nil {
		if cerr := s.tail.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("natsbus: spool: %w", cerr)
		}
		s.tail = nil
	}
	return err
}
