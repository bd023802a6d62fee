package protolog

import "bytes"

// maxColumns bounds the number of CSV columns kept per line. Exchange
// writes 9; anything past maxColumns is dropped (not an error).
const maxColumns = 16

// splitCSV splits one line (without its line terminator) into fields
// following RFC 4180 quoting rules restricted to a single line.
//
// Fields are returned as sub-slices of line where possible. A quoted field
// containing doubled quotes is unescaped into scratch, which must have
// capacity >= len(line) so that appends never reallocate (earlier fields
// may point into it). The number of fields found is returned; fields past
// len(out) are counted but not stored.
//
// Lenient cases (accepted, like encoding/csv's LazyQuotes): a bare '"'
// inside an unquoted field is literal. Strict cases (ErrBadQuoting): an
// unterminated quoted field, or characters between a closing quote and the
// next comma.
func splitCSV(line []byte, out [][]byte, scratch []byte) (int, error) {
	n := 0
	i := 0
	for {
		var field []byte
		if i < len(line) && line[i] == '"' {
			i++
			start := i
			copied := false
			mark := len(scratch)
			for {
				j := bytes.IndexByte(line[i:], '"')
				if j < 0 {
					return n, ErrBadQuoting
				}
				j += i
				if j+1 < len(line) && line[j+1] == '"' {
					// Escaped quote: copy the run including one quote.
					if !copied {
						copied = true
						mark = len(scratch)
					}
					scratch = append(scratch, line[i:j+1]...)
					i = j + 2
					continue
				}
				if copied {
					scratch = append(scratch, line[i:j]...)
					field = scratch[mark:len(scratch):len(scratch)]
				} else {
					field = line[start:j:j]
				}
				i = j + 1
				break
			}
			if i < len(line) && line[i] != ',' {
				return n, ErrBadQuoting
			}
		} else {
			j := bytes.IndexByte(line[i:], ',')
			if j < 0 {
				field = line[i:len(line):len(line)]
				i = len(line)
			} else {
				field = line[i : i+j : i+j]
				i += j
			}
		}
		if n < len(out) {
			out[n] = field
		}
		n++
		if i >= len(line) {
			return n, nil
		}
		// line[i] == ','
		i++
		if i == len(line) {
			if n < len(out) {
				out[n] = nil
			}
			return n + 1, nil
		}
	}
}
