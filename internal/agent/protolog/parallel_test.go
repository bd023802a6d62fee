package protolog

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// parseBoth parses files (name -> content, in rotation order) with the
// chunked parallel path and with the sequential reference, and returns
// both summaries as JSON, each followed by the OnSession order.
func parseBoth(t testing.TB, dir string, files [][2]string, p Parser, chunk int) (par, seq string) {
	t.Helper()
	var paths []string
	for _, f := range files {
		path := filepath.Join(dir, f[0])
		if err := os.WriteFile(path, []byte(f[1]), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	run := func(parallel bool) string {
		q := p
		q.chunkBytes = chunk
		var order []Session
		q.OnSession = func(s Session) { order = append(order, s) }
		var sum *Summary
		var err error
		if parallel {
			sum, err = q.ParseFiles(context.Background(), paths)
		} else {
			sum, err = q.parseFilesSequential(context.Background(), paths)
		}
		if err != nil {
			t.Fatal(err)
		}
		// Summary.Sessions (sorted by Ord) without the callback, too.
		q.OnSession = nil
		var all *Summary
		if parallel {
			all, err = q.ParseFiles(context.Background(), paths)
		} else {
			all, err = q.parseFilesSequential(context.Background(), paths)
		}
		if err != nil {
			t.Fatal(err)
		}
		a, _ := json.Marshal(sum)
		b, _ := json.Marshal(order)
		c, _ := json.Marshal(all)
		return string(a) + "\n" + string(b) + "\n" + string(c)
	}
	return run(true), run(false)
}

// splitFiles cuts data into up to three rotated files at line boundaries
// near the given fractions.
func splitFiles(data []byte, cuts ...int) [][2]string {
	var out [][2]string
	names := []string{"SEND20200101-1.log", "SEND20200101-2.log", "SEND20200101-10.log"}
	prev := 0
	for i, c := range cuts {
		if i >= len(names)-1 {
			break
		}
		c = min(max(c, prev), len(data))
		if j := bytes.IndexByte(data[c:], '\n'); j >= 0 {
			c += j + 1
		} else {
			c = len(data)
		}
		out = append(out, [2]string{names[len(out)], string(data[prev:c])})
		prev = c
	}
	out = append(out, [2]string{names[len(out)], string(data[prev:])})
	return out
}

// The parallel path equals the sequential one on generated logs for many
// chunk sizes, worker counts and rotations (sessions spanning chunks and
// files), with and without the open-session cap biting.
func TestParallelEqualsSequential(t *testing.T) {
	send := genLog(genOptions{Sessions: 400, Interleave: 50, Seed: 11})
	recv := genLog(genOptions{Direction: DirectionReceive, Sessions: 200, Interleave: 30, Seed: 12})
	for _, tc := range []struct {
		name  string
		data  []byte
		p     Parser
		chunk int
	}{
		{"send/1k", send, Parser{Workers: 2}, 1 << 10},
		{"send/300", send, Parser{Workers: 3}, 300},
		{"send/64k", send, Parser{Workers: 1}, 64 << 10},
		{"send/cap", send, Parser{Workers: 2, MaxOpenSessions: 20}, 4 << 10},
		{"send/longlines", send, Parser{Workers: 2, MaxLineBytes: 150}, 700},
		{"recv/2k", recv, Parser{Workers: 2}, 2 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, files := range [][][2]string{
				{{"SEND20200101-1.log", string(tc.data)}},
				splitFiles(tc.data, len(tc.data)/3, 2*len(tc.data)/3),
			} {
				par, seq := parseBoth(t, tempdir.New(t), files, tc.p, tc.chunk)
				if par != seq {
					t.Fatalf("parallel differs from sequential:\n%s\n%s", clipDiff(par, seq), "")
				}
			}
		})
	}
}

// clipDiff shows where two long strings start to differ.
func clipDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-300)
	return "parallel:   ..." + a[lo:min(len(a), i+300)] + "\nsequential: ..." + b[lo:min(len(b), i+300)]
}

// FuzzParallel: for any input, cut into rotated files and chunks of any
// size, the chunked parallel parse (the fast path) gives exactly what the
// sequential engine does: the same Summary, the same sessions in the same
// OnSession order.
func FuzzParallel(f *testing.F) {
	f.Add(genLog(genOptions{Sessions: 6, Interleave: 3, Seed: 1}), uint16(200), uint16(900), uint16(1800))
	f.Add(genLog(genOptions{Direction: DirectionReceive, Sessions: 4, Interleave: 2, Seed: 2}), uint16(90), uint16(300), uint16(0))
	f.Add([]byte("#Fields: event,session-id,data,context\n*,S,,Sending certificate\n*,S,\"CN=a, O=b\",Certificate subject\n#Fields: session-id,event,data\nS,*,TLS negotiation failed with error NoCredentials\nS,-,\n"), uint16(20), uint16(40), uint16(80))
	f.Add([]byte("\xEF\xBB\xBF#Log-Type: SMTP Receive Protocol Log\r\n"+strings.Repeat("x", 600)+"\n\xEF\xBB\xBFa,b,S1,0,l,r,+,,\r\na,b,S1,1,l,r,>,220 x,\n#Log-Type: SMTP Send Protocol Log\na,b,S1,2,l,r,<,EHLO y,\na,b,S1,3,l,r,-,,\n"), uint16(33), uint16(10), uint16(700))
	f.Fuzz(func(t *testing.T, data []byte, chunk, cut1, cut2 uint16) {
		p := Parser{MaxLineBytes: 512, MaxOpenSessions: 8, Workers: 3}
		files := splitFiles(data, int(cut1), int(cut1)+int(cut2))
		par, seq := parseBoth(t, tempdir.New(t), files, p, 1+int(chunk)%700)
		if par != seq {
			t.Fatalf("parallel differs from sequential:\n%s", clipDiff(par, seq))
		}
	})
}
