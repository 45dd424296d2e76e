package ftpstate

import (
	"time"

	"github.com/ftptap/ftptap/event"
)

// The tracker's memory budget and its eviction policy (Config.MaxBytes,
// Config.MaxSessions).
//
// Every live session is on one of two lists, each kept in order of last
// activity (the most recent at the head): sessions that have carried no
// command or reply yet, and the others. When the tracker is full it ends
// the session at the tail of the first list, or of the second when the
// first is empty: the session idle longest, among those with nothing to
// lose first. A flood of SYNs, or a server whose listen queue overflows,
// fills the first list and evicts from it, not the sessions in use.
//
// What a session holds is estimated after each of its segments and at each
// sweep (footprint), so that the check costs a comparison per packet.

// Eviction alert kinds: the session cap, and the memory budget.
const (
	tooManySessionsAlert = "too_many_sessions"
	MemoryBudgetAlert    = "memory_budget"
)

// lruList is one of the two lists of live sessions.
type lruList struct{ head, tail *session }

const (
	tierSilent = iota // no command or reply yet
	tierSpoken
)

// link puts s at the head of its list.
func (t *Tracker) link(s *session) {
	l := &t.lru[s.tier]
	s.lruPrev, s.lruNext = nil, l.head
	if l.head != nil {
		l.head.lruPrev = s
	} else {
		l.tail = s
	}
	l.head = s
	s.linked = true
}

// unlink takes s off its list.
func (t *Tracker) unlink(s *session) {
	if !s.linked {
		return
	}
	l := &t.lru[s.tier]
	if s.lruPrev != nil {
		s.lruPrev.lruNext = s.lruNext
	} else {
		l.head = s.lruNext
	}
	if s.lruNext != nil {
		s.lruNext.lruPrev = s.lruPrev
	} else {
		l.tail = s.lruPrev
	}
	s.lruPrev, s.lruNext, s.linked = nil, nil, false
}

// touch records activity on s: it goes to the head of its list, or of the
// list of sessions that have spoken when spoke is set.
func (t *Tracker) touch(s *session, spoke bool) {
	s.last = t.now
	if !s.linked {
		return // ended
	}
	if spoke && s.tier == tierSilent {
		t.unlink(s)
		s.tier = tierSpoken
		t.link(s)
		return
	}
	if t.lru[s.tier].head == s {
		return
	}
	t.unlink(s)
	t.link(s)
}

// footprint estimates the bytes s holds, its data connections and their
// announcements apart (counted by the tracker's maps).
func (s *session) footprint() int {
	n := SessionBytes + s.dir[0].oooSize + s.dir[1].oooSize + s.waitSize +
		cap(s.lines[0].buf) + cap(s.lines[1].buf) + len(s.user)
	for i := range s.pending {
		n += pendingBytes + len(s.pending[i].cmd) + len(s.pending[i].arg)
	}
	for _, l := range s.reply.lines {
		n += len(l)
	}
	for _, x := range s.transfers {
		n += transferBytes + len(x.file)
	}
	return n
}

// account updates the tracker's estimate with what s holds now.
func (t *Tracker) account(s *session) {
	n := 0
	if !s.ended {
		n = s.footprint()
	}
	t.sessBytes += n - s.counted
	s.counted = n
}

// Bytes returns the tracker's estimate of the memory it holds (see
// Config.MaxBytes).
func (t *Tracker) Bytes() int {
	return t.sessBytes + t.nData*DataConnBytes + len(t.expects)*expectBytes + len(t.evicted)*evictedBytes
}

// victim returns the session idle longest, silent ones first, other than
// keep; nil if there is none.
func (t *Tracker) victim(keep *session) *session {
	for tier := range t.lru {
		for s := t.lru[tier].tail; s != nil; s = s.lruPrev {
			if s != keep {
				return s
			}
		}
	}
	return nil
}

// evict ends the session v to make room, and counts it.
func (t *Tracker) evict(v *session) {
	t.stats.Evicted++
	t.rememberEvicted(v)
	t.endSession(v, "evicted")
}

// evictedSlots is how many evicted command channels are remembered, for
// evictedFor: a table of 1.75 MiB (counted in Bytes, and at most a
// sixteenth of MaxBytes), made at the first eviction. A storm that evicts 1,000 sessions a second fills it in half a
// minute; a later retransmission then starts a session that is soon
// evicted again, which costs events, not tracking.
const (
	evictedSlots = 32768
	evictedBytes = 56              // one slot
	evictedFor   = 2 * time.Minute // a Linux client retransmits its SYN for 127 s, a FIN for about 100 s
)

// evictedConn is a command channel evicted lately, and its client's ISN.
type evictedConn struct {
	key connKey
	at  instant
	isn uint32
	syn bool
}

// slot returns k's place in a table of n.
func (k connKey) slot(n int) int {
	h := k.ah ^ k.al*0x9e3779b97f4a7c15 ^ k.bh ^ k.bl*0xbf58476d1ce4e5b9 ^ k.ports*0x94d049bb133111eb
	h ^= h >> 31
	return int(h % uint64(n))
}

// rememberEvicted notes the command channel of s as evicted.
func (t *Tracker) rememberEvicted(s *session) {
	if t.evicted == nil {
		t.evicted = make([]evictedConn, max(1, min(evictedSlots, t.cfg.MaxBytes/16/evictedBytes)))
	}
	k := s.key()
	t.evicted[k.slot(len(t.evicted))] = evictedConn{key: k, at: instantOf(t.now), isn: s.isn[0], syn: s.syn[0]}
}

// evictedRetransmit reports whether p, a SYN or a FIN alone on a command
// channel not tracked, repeats what a session evicted lately already
// showed: the client's SYN again (same sequence number), or a FIN. Such a
// segment starts no session: under a storm each would evict another, and
// the evictions would feed themselves. Data on the connection still
// starts one, caught mid-way, and a SYN with a new sequence number is a
// new connection.
func (t *Tracker) evictedRetransmit(k connKey, p *event.Packet) bool {
	if t.evicted == nil {
		return false
	}
	e := &t.evicted[k.slot(len(t.evicted))]
	if e.key != k || e.at.IsZero() || t.now.Sub(e.at.Time()) > evictedFor {
		return false
	}
	if p.Flags.Has(event.FlagSYN) {
		return e.syn && p.Seq == e.isn
	}
	return true
}

// makeRoom evicts sessions while a new one would take the tracker past
// MaxSessions or MaxBytes. It reports whether there is room.
func (t *Tracker) makeRoom() bool {
	for t.sessionCount() >= t.cfg.MaxSessions {
		v := t.victim(nil)
		if v == nil {
			return false
		}
		t.capHit(nil, tooManySessionsAlert, "more than %d FTP sessions at once: the session idle longest is ended (reason evicted) to make room", t.cfg.MaxSessions)
		t.evict(v)
	}
	t.keepBudget(nil, SessionBytes)
	return true
}

// keepBudget evicts sessions other than keep while the tracker holds more
// than MaxBytes, with extra bytes still to come.
func (t *Tracker) keepBudget(keep *session, extra int) {
	for t.Bytes()+extra > t.cfg.MaxBytes {
		v := t.victim(keep)
		if v == nil {
			return
		}
		t.capHit(nil, MemoryBudgetAlert, "the sessions hold more than %d bytes (the memory budget): the session idle longest is ended (reason evicted) to make room", t.cfg.MaxBytes)
		t.evict(v)
	}
}
