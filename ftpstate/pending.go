package ftpstate

// maxSparePending is how many empty command queues the tracker keeps for
// reuse.
const maxSparePending = 64

// pushPending appends pc to the commands of s awaiting a reply. A session
// whose queue is empty holds no array for it (an idle session costs no
// more); it takes one of the tracker's spares, so that a command and its
// reply allocate nothing.
func (t *Tracker) pushPending(s *session, pc pendingCmd) {
	if cap(s.pending) == 0 {
		if n := len(t.spare); n > 0 {
			s.pending = t.spare[n-1]
			t.spare[n-1] = nil
			t.spare = t.spare[:n-1]
		}
	}
	s.pending = append(s.pending, pc)
}

// popPending removes the oldest command awaiting a reply and returns it;
// the queue must not be empty. The rest move to the front, so the array
// keeps its capacity (there are few: at most cfg.MaxPending, mostly one).
func (t *Tracker) popPending(s *session) pendingCmd {
	pc := s.pending[0]
	n := copy(s.pending, s.pending[1:])
	s.pending[n] = pendingCmd{}
	s.pending = s.pending[:n]
	if n == 0 {
		t.releasePending(s)
	}
	return pc
}

// releasePending takes the queue's array from s, to the spares.
func (t *Tracker) releasePending(s *session) {
	clear(s.pending)
	if c := cap(s.pending); c > 0 && c <= 4 && len(t.spare) < maxSparePending {
		t.spare = append(t.spare, s.pending[:0])
	}
	s.pending = nil
}
