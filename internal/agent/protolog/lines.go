package protolog

import "bytes"

// lineFeeder turns arbitrary chunks into complete lines with bounded
// memory: only a partial trailing line is buffered, never more than max
// bytes. Longer lines are skipped up to their newline and counted.
type lineFeeder struct {
	max      int
	pending  []byte
	skipping bool
	long     int64 // lines skipped for length
}

// feed calls fn for each complete line in chunk (terminator stripped,
// including a CR before LF). The slice passed to fn is only valid during
// the call.
func (f *lineFeeder) feed(chunk []byte, fn func([]byte)) {
	if f.skipping {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			return
		}
		f.skipping = false
		chunk = chunk[i+1:]
	}
	if len(f.pending) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			if len(f.pending)+len(chunk) > f.max+1 {
				f.pending = f.pending[:0]
				f.skipping = true
				f.long++
				return
			}
			f.pending = append(f.pending, chunk...)
			return
		}
		if len(f.pending)+i > f.max+1 {
			f.long++
		} else {
			f.pending = append(f.pending, chunk[:i]...)
			fn(trimCR(f.pending))
		}
		f.pending = f.pending[:0]
		chunk = chunk[i+1:]
	}
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			if len(chunk) > f.max+1 {
				f.skipping = true
				f.long++
				return
			}
			f.pending = append(f.pending, chunk...)
			return
		}
		if i > f.max+1 {
			f.long++
		} else {
			fn(trimCR(chunk[:i]))
		}
		chunk = chunk[i+1:]
	}
}

// finish delivers a final unterminated line, if any.
func (f *lineFeeder) finish(fn func([]byte)) {
	if len(f.pending) > 0 {
		fn(trimCR(f.pending))
		f.pending = f.pending[:0]
	}
	f.skipping = false
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}
