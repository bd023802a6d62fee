package spool

import "sort"

// entry locates one held record: 32 bytes of memory per batch.
type entry struct {
	seq     uint64
	off     int64
	size    int64  // whole record, header included
	results uint32 // check results in the batch (for loss accounting)
}

// index is the in-memory map from seq to segment/offset. Segments are kept
// oldest first and each segment's entries in seq order, so the whole index
// is sorted by seq. Only live records (not trimmed, not dropped) are held.
type index struct {
	segs  []*segment
	count int
	bytes int64
}

// add appends a record to sg, which must be the newest segment.
func (ix *index) add(sg *segment, e entry) {
	sg.entries = append(sg.entries, e)
	ix.count++
	ix.bytes += e.size
}

// first returns the seq of the oldest live record (0, false if none).
func (ix *index) first() (uint64, bool) {
	for _, sg := range ix.segs {
		if len(sg.entries) > 0 {
			return sg.entries[0].seq, true
		}
	}
	return 0, false
}

// dropThrough removes every live record with seq <= upTo and returns how
// many were removed.
func (ix *index) dropThrough(upTo uint64) int {
	n := 0
	for _, sg := range ix.segs {
		i := sort.Search(len(sg.entries), func(i int) bool { return sg.entries[i].seq > upTo })
		for _, e := range sg.entries[:i] {
			ix.bytes -= e.size
		}
		n += i
		ix.count -= i
		sg.entries = sg.entries[i:]
		if len(sg.entries) == 0 {
			sg.entries = nil // let the backing array go
		}
		if len(sg.entries) > 0 {
			break // later segments only hold higher seqs
		}
	}
	return n
}

// dropOldest removes the oldest live record and returns it.
func (ix *index) dropOldest() (entry, bool) {
	for _, sg := range ix.segs {
		if len(sg.entries) == 0 {
			continue
		}
		e := sg.entries[0]
		sg.entries = sg.entries[1:]
		if len(sg.entries) == 0 {
			sg.entries = nil
		}
		ix.count--
		ix.bytes -= e.size
		return e, true
	}
	return entry{}, false
}

// remove deletes the record with seq from sg (used when a record turns out
// unreadable).
func (ix *index) remove(sg *segment, seq uint64) {
	i := sort.Search(len(sg.entries), func(i int) bool { return sg.entries[i].seq >= seq })
	if i == len(sg.entries) || sg.entries[i].seq != seq {
		return
	}
	ix.count--
	ix.bytes -= sg.entries[i].size
	sg.entries = append(sg.entries[:i:i], sg.entries[i+1:]...)
}

// cursor is a position in the index.
type cursor struct{ seg, ent int }

// after returns the position of the first live record with seq > after.
func (ix *index) after(after uint64) (cursor, bool) {
	for si, sg := range ix.segs {
		n := len(sg.entries)
		if n == 0 || sg.entries[n-1].seq <= after {
			continue
		}
		i := sort.Search(n, func(i int) bool { return sg.entries[i].seq > after })
		return cursor{si, i}, true
	}
	return cursor{}, false
}

// dead returns the segments, other than keep, with no live records.
func (ix *index) dead(keep *segment) []*segment {
	var out []*segment
	for _, sg := range ix.segs {
		if sg != keep && len(sg.entries) == 0 {
			out = append(out, sg)
		}
	}
	return out
}

// removeSegs forgets the given segments.
func (ix *index) removeSegs(gone []*segment) {
	if len(gone) == 0 {
		return
	}
	drop := make(map[*segment]bool, len(gone))
	for _, sg := range gone {
		drop[sg] = true
	}
	kept := ix.segs[:0]
	for _, sg := range ix.segs {
		if !drop[sg] {
			kept = append(kept, sg)
		}
	}
	clear(ix.segs[len(kept):])
	ix.segs = kept
}
