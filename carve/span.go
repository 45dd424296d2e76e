package carve

// span is a range of stream offsets, [start, end).
type span struct{ start, end int64 }

// spans is a sorted list of disjoint, non-adjacent spans: the bytes of a
// transfer written to its file so far.
type spans []span

// missing calls f for each part of [start, end) that s does not cover, in
// order.
func (s spans) missing(start, end int64, f func(start, end int64)) {
	for _, x := range s {
		if x.end <= start {
			continue
		}
		if x.start >= end {
			break
		}
		if x.start > start {
			f(start, x.start)
		}
		start = max(start, x.end)
		if start >= end {
			return
		}
	}
	if start < end {
		f(start, end)
	}
}

// add adds [start, end) to s, merging what touches it.
func (s spans) add(start, end int64) spans {
	if start >= end {
		return s
	}
	i := 0
	for i < len(s) && s[i].end < start {
		i++
	}
	j := i
	for j < len(s) && s[j].start <= end {
		start = min(start, s[j].start)
		end = max(end, s[j].end)
		j++
	}
	if i == j {
		s = append(s, span{})
		copy(s[i+1:], s[i:])
		s[i] = span{start, end}
		return s
	}
	s[i] = span{start, end}
	return append(s[:i+1], s[j:]...)
}

// prefix returns the end of the bytes covered from offset 0 on.
func (s spans) prefix() int64 {
	if len(s) == 0 || s[0].start > 0 {
		return 0
	}
	return s[0].end
}

// covered returns the bytes s covers below limit.
func (s spans) covered(limit int64) int64 {
	var n int64
	for _, x := range s {
		if x.start >= limit {
			break
		}
		n += min(x.end, limit) - x.start
	}
	return n
}
