package ftpstate

import "strings"

// strChunk is the size of the blocks strArena cuts strings from: a
// command or reply line is tens of bytes, so one block serves about a
// hundred events.
const strChunk = 4096

// strMax is the longest string taken from a block; longer ones get an
// allocation of their own, so that a block is not left mostly empty.
const strMax = strChunk / 8

// strArena makes strings of command and reply text, the arguments and
// texts of request and response events, without an allocation for each:
// it copies the bytes into the free end of a block and hands out a string
// of them. A block is only appended to, never written over (strings.Builder
// guarantees that what String returned stays as it is), so the strings are
// ordinary immutable strings; a block is freed once no string of it is
// left. Text the tracker keeps for long (a session's user, a transfer's
// file) is cloned instead, so that it does not pin a block of other text.
type strArena struct {
	b strings.Builder
}

// str returns p as a string.
func (a *strArena) str(p []byte) string {
	if len(p) == 0 {
		return ""
	}
	if len(p) > strMax {
		return string(p)
	}
	start := a.room(len(p))
	a.b.Write(p)
	return a.b.String()[start:]
}

// room makes room for n more bytes (at most strMax) in the arena, in a new
// chunk where the current one has too little left, and returns where they
// will start.
func (a *strArena) room(n int) int {
	if a.b.Cap()-a.b.Len() < n {
		a.b.Reset()
		a.b.Grow(strChunk)
	}
	return a.b.Len()
}

// upper returns p upper-cased (ASCII letters only) as a string.
func (a *strArena) upper(p []byte) string {
	lower := false
	for _, c := range p {
		if c >= 'a' && c <= 'z' {
			lower = true
			break
		}
	}
	if !lower {
		return a.str(p)
	}
	if len(p) > strMax {
		return upperASCII(p)
	}
	start := a.room(len(p))
	for _, c := range p {
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		a.b.WriteByte(c)
	}
	return a.b.String()[start:]
}
