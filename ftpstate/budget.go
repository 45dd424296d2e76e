package ftpstate

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
	return t.sessBytes + t.nData*DataConnBytes + len(t.expects)*expectBytes
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
	t.endSession(v, "evicted")
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
