package pipeline

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestWriter writes chunks of every size, and single bytes, to a file
// through a Writer with small buffers: after each Flush the file holds
// exactly what was written so far, in order, and Close leaves it whole.
func TestWriter(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := NewWriter(f, 4<<10)
	r := rand.New(rand.NewPCG(1, 2))
	var want bytes.Buffer
	for i := range 3000 {
		p := make([]byte, r.IntN(10<<10))
		for j := range p {
			p[j] = byte(r.Uint32())
		}
		if n, err := w.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write(%d bytes) = %d, %v", len(p), n, err)
		}
		want.Write(p)
		if err := w.WriteByte('\n'); err != nil {
			t.Fatal(err)
		}
		want.WriteByte('\n')
		if i%500 == 0 {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(f.Name()); !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("after Flush %d: the file holds %d bytes, want %d", i, len(got), want.Len())
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(f.Name()); !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("after Close: the file holds %d bytes, want %d", len(got), want.Len())
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Close: no error")
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestWriterError: a reader that goes away (the end of a pipe closed, as
// when ftptap replay | head exits) fails the writes; the error is kept and
// returned by Flush and Close, and the writes that follow neither block
// nor write.
func TestWriterError(t *testing.T) {
	r, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	r.Close()
	w := NewWriter(pw, 4<<10)
	for range 100 {
		w.Write(make([]byte, 3000))
	}
	if err := w.Flush(); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("Flush = %v, want EPIPE", err)
	}
	if _, err := w.Write([]byte("more")); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("Write after the error = %v, want EPIPE", err)
	}
	if err := w.Close(); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("Close = %v, want EPIPE", err)
	}
}
