package natsbus

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// FuzzSpoolSegment opens a disk spool whose segment file and cursor hold
// any bytes: what a power cut, a full disk or a bad card leaves behind.
// Seeds: segments written by the spool itself from recorded events (whole,
// torn, with a flipped bit) and the cursors it writes.
// Invariants: opening never panics and either fails with a "natsbus:
// spool:" error or recovers; every record it then hands out re-encodes to
// bytes found in the segment (nothing made up); and an event appended
// after the recovery is handed out, exactly once, after the old ones
// (nothing accepted is lost).
func FuzzSpoolSegment(f *testing.F) {
	var seg []byte
	for _, r := range recs(1, 12) {
		seg = appendRecord(seg, &r)
	}
	f.Add(seg, "0\n")
	f.Add(seg, "5\n")
	f.Add(seg[:len(seg)-7], "3\n")
	flipped := bytes.Clone(seg)
	flipped[40] ^= 0x10
	f.Add(flipped, "0\n")
	f.Add([]byte{}, "")
	f.Add(seg, "18446744073709551615\n")
	f.Fuzz(func(t *testing.T, seg []byte, cursor string) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "00000000000000000000"+segSuffix), seg, 0o640); err != nil {
			t.Fatal(err)
		}
		if cursor != "" {
			if err := os.WriteFile(filepath.Join(dir, cursorFile), []byte(cursor), 0o640); err != nil {
				t.Fatal(err)
			}
		}
		s, err := openFileSpool(dir, 1<<20)
		if err != nil {
			if !bytes.HasPrefix([]byte(err.Error()), []byte("natsbus: spool: ")) {
				t.Fatalf("error %q has no prefix", err)
			}
			return
		}
		defer s.close()
		old, err := s.peek(1 << 20)
		if err != nil {
			t.Fatalf("peek after recovery: %v", err)
		}
		if n, _ := s.pending(); n != len(old) {
			t.Fatalf("pending %d, peeked %d", n, len(old))
		}
		for i := range old {
			if !bytes.Contains(seg, appendRecord(nil, &old[i])) {
				t.Fatalf("record %d (%q) is not in the segment", i, old[i].id)
			}
		}
		fresh := record{subject: "ftptap.t.status", id: "t.new." + strconv.Itoa(len(seg)), data: []byte(`{"v":1}`)}
		if n, err := s.append([]record{fresh}); n != 1 || err != nil {
			t.Fatalf("append after recovery: %d, %v", n, err)
		}
		got, err := s.peek(1 << 20)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(old)+1 || got[len(got)-1].id != fresh.id {
			t.Fatalf("after an append: %d records, want %d ending in %s", len(got), len(old)+1, fresh.id)
		}
		if err := s.ack(len(got)); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.pending(); n != 0 {
			t.Fatalf("%d pending after acking all", n)
		}
	})
}
