package natsbus

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func recs(from, n int) []record {
	out := make([]record, n)
	for i := range out {
		out[i] = record{subject: "ftptap.t.request.USER", id: fmt.Sprintf("t.b.%d", from+i), data: []byte(fmt.Sprintf(`{"seq":%d}`, from+i))}
	}
	return out
}

func ids(rs []record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.id
	}
	return out
}

func testSpoolOrder(t *testing.T, s spool) {
	t.Helper()
	if n, err := s.append(recs(1, 10)); n != 10 || err != nil {
		t.Fatalf("append = %d, %v", n, err)
	}
	got, err := s.peek(4)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ids(recs(1, 4)), ids(got)); diff != "" {
		t.Errorf("peek (-want +got):\n%s", diff)
	}
	if err := s.ack(3); err != nil {
		t.Fatal(err)
	}
	s.append(recs(11, 2))
	got, _ = s.peek(100)
	if diff := cmp.Diff(ids(recs(4, 9)), ids(got)); diff != "" {
		t.Errorf("peek after ack (-want +got):\n%s", diff)
	}
	if n, _ := s.pending(); n != 9 {
		t.Errorf("pending = %d, want 9", n)
	}
	if err := s.ack(9); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.pending(); n != 0 {
		t.Errorf("pending = %d after acking all, want 0", n)
	}
	if err := s.ack(1); err == nil {
		t.Error("ack beyond what was peeked: no error")
	}
}

func TestMemSpool(t *testing.T) {
	testSpoolOrder(t, newMemSpool(1<<20))
}

func TestFileSpool(t *testing.T) {
	s, err := openFileSpool(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	testSpoolOrder(t, s)
}

func TestSpoolLimit(t *testing.T) {
	one := recs(1, 1)[0].size()
	for _, s := range []spool{newMemSpool(10 * one), mustFileSpool(t, t.TempDir(), 10*(one+8))} {
		n, err := s.append(recs(1, 25))
		if err != nil {
			t.Fatal(err)
		}
		if n < 5 || n >= 25 {
			t.Errorf("%T: %d of 25 records fitted in a 10-record spool", s, n)
		}
		// What fitted is the oldest, in order.
		got, _ := s.peek(100)
		if diff := cmp.Diff(ids(recs(1, n)), ids(got)); diff != "" {
			t.Errorf("%T (-want +got):\n%s", s, diff)
		}
		// Acknowledging makes room again.
		s.ack(len(got))
		if m, _ := s.append(recs(100, 3)); m != 3 {
			t.Errorf("%T: %d of 3 records fitted after emptying", s, m)
		}
		s.close()
	}
}

func mustFileSpool(t *testing.T, dir string, limit int64) *fileSpool {
	t.Helper()
	s, err := openFileSpool(dir, limit)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A disk spool keeps unacknowledged records across a restart, over several
// segments, and does not hand back those acknowledged before it.
func TestFileSpoolReopen(t *testing.T) {
	dir := t.TempDir()
	s := mustFileSpool(t, dir, 1<<20)
	s.segMax = 256 // several segments
	s.append(recs(1, 40))
	got, _ := s.peek(15)
	s.ack(len(got))
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if len(segs) < 3 {
		t.Errorf("%d segments; want several", len(segs))
	}

	s = mustFileSpool(t, dir, 1<<20)
	if n, _ := s.pending(); n != 25 {
		t.Errorf("pending after reopen = %d, want 25", n)
	}
	got, _ = s.peek(100)
	if diff := cmp.Diff(ids(recs(16, 25)), ids(got)); diff != "" {
		t.Errorf("after reopen (-want +got):\n%s", diff)
	}
	s.append(recs(41, 2))
	got, _ = s.peek(100)
	if len(got) != 27 || got[26].id != "t.b.42" {
		t.Errorf("after append: %d records, last %q; want 27 ending t.b.42", len(got), got[len(got)-1].id)
	}
	s.ack(27)
	s.close()
	segs, _ = filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if len(segs) != 1 {
		t.Errorf("%d segments left after acknowledging everything, want 1 (empty tail)", len(segs))
	}
	s = mustFileSpool(t, dir, 1<<20)
	defer s.close()
	if n, b := s.pending(); n != 0 || b != 0 {
		t.Errorf("pending after all acknowledged = %d records, %d bytes; want none", n, b)
	}
	s.append(recs(43, 1))
	got, _ = s.peek(10)
	if len(got) != 1 || got[0].id != "t.b.43" {
		t.Errorf("got %v, want t.b.43 alone", ids(got))
	}
}

// A record torn by a power cut is cut off; the ones before it survive.
func TestFileSpoolTornTail(t *testing.T) {
	dir := t.TempDir()
	s := mustFileSpool(t, dir, 1<<20)
	s.append(recs(1, 5))
	s.close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if len(segs) != 1 {
		t.Fatalf("%d segments, want 1", len(segs))
	}
	st, _ := os.Stat(segs[0])
	if err := os.Truncate(segs[0], st.Size()-3); err != nil {
		t.Fatal(err)
	}
	s = mustFileSpool(t, dir, 1<<20)
	defer s.close()
	got, _ := s.peek(10)
	if diff := cmp.Diff(ids(recs(1, 4)), ids(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	s.append(recs(5, 1))
	got, _ = s.peek(10)
	if diff := cmp.Diff(ids(recs(1, 5)), ids(got)); diff != "" {
		t.Errorf("append after a cut (-want +got):\n%s", diff)
	}
}

func TestFileSpoolBadCursor(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, cursorFile), []byte("x\n"), 0o600)
	if _, err := openFileSpool(dir, 1<<20); err == nil {
		t.Error("a corrupt cursor file: no error")
	}
}
