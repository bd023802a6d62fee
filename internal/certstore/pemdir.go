package certstore

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// pemDirStore reads a directory of certificate and key files.
//
// Walk: the root and its subdirectories up to Options.MaxDepth levels
// (default 8) are read; entries whose name starts with "." are skipped;
// symbolic links to files are followed (/etc/ssl/certs is mostly hash links),
// symbolic links to directories are not (no cycles). Only regular files are
// opened, so FIFOs and devices cannot block a scan. Files are parsed by
// Options.Workers goroutines; each holds at most one file (<=
// Options.MaxFileBytes) in memory, and only public keys and certificates are
// retained.
type pemDirStore struct {
	dir  string
	opts Options
}

// OpenDir returns the Store that reads the directory tree dir (the pemdir:
// scheme). It does not touch the directory: errors surface from Read.
func OpenDir(dir string, opts Options) (Store, error) {
	if dir == "" {
		return nil, fmt.Errorf("certstore: pemdir: needs a directory path")
	}
	return &pemDirStore{dir: dir, opts: opts.WithDefaults()}, nil
}

// candidate is a file selected for parsing.
type candidate struct {
	path string
	size int64
}

func (s *pemDirStore) Read(ctx context.Context) (Contents, error) {
	inv := Contents{Location: SchemePEMDir + ":" + s.dir, ReadAt: s.opts.Now()}
	fi, err := os.Stat(s.dir)
	if err != nil {
		return Contents{}, fmt.Errorf("certstore: %s: %w", inv.Location, err)
	}
	if !fi.IsDir() {
		return Contents{}, fmt.Errorf("certstore: %s: not a directory", inv.Location)
	}

	files, problems, err := s.list(ctx)
	if err != nil {
		return Contents{}, err
	}
	results, err := s.parseAll(ctx, files)
	if err != nil {
		return Contents{}, err
	}
	inv.Examined = len(files)
	inv.Certificates, inv.Problems = assemble(results)
	inv.Problems = append(problems, inv.Problems...)
	sortProblems(inv.Problems)
	return inv, nil
}

// list walks the directory and returns the candidate files in lexical
// order, plus Problems for unreadable subdirectories and over-limit counts.
func (s *pemDirStore) list(ctx context.Context) ([]candidate, []Problem, error) {
	var files []candidate
	var problems []Problem
	tooMany := false
	var walk func(dir string, depth int) error
	walk = func(dir string, depth int) error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("certstore: listing %s: %w", dir, err)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			if depth == 0 {
				return fmt.Errorf("certstore: pemdir:%s: %w", dir, err)
			}
			problems = append(problems, Problem{Source: dir, Err: fmt.Errorf("certstore: cannot list directory: %w", err)})
		}
		for _, e := range entries { // sorted by name
			name := e.Name()
			if strings.HasPrefix(name, ".") {
				continue
			}
			p := filepath.Join(dir, name)
			typ := e.Type()
			if typ&fs.ModeSymlink != 0 {
				fi, err := os.Stat(p)
				if err != nil {
					problems = append(problems, Problem{Source: p, Err: fmt.Errorf("certstore: dangling or unreadable link: %w", err)})
					continue
				}
				if !fi.Mode().IsRegular() {
					continue // links to directories are not followed
				}
				typ = 0
			}
			switch {
			case typ.IsDir():
				if s.opts.MaxDepth >= 0 && depth < s.opts.MaxDepth {
					if err := walk(p, depth+1); err != nil {
						return err
					}
				}
			case typ.IsRegular():
				if len(files) >= s.opts.MaxFiles {
					tooMany = true
					continue
				}
				files = append(files, candidate{path: p, size: -1})
			}
		}
		return nil
	}
	if err := walk(s.dir, 0); err != nil {
		return nil, nil, err
	}
	if tooMany {
		problems = append(problems, problemf(s.dir, ErrTooManyFiles, "only the first %d files were read", s.opts.MaxFiles))
	}
	return files, problems, nil
}

// parseAll parses files concurrently; results[i] belongs to files[i].
func (s *pemDirStore) parseAll(ctx context.Context, files []candidate) ([]fileResult, error) {
	results := make([]fileResult, len(files))
	po := parseOptions{passwords: s.opts.PFXPasswords, maxIterations: s.opts.MaxPFXIterations}
	workers := s.opts.Workers
	if workers > len(files) {
		workers = len(files)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = readAndParse(files[i].path, s.opts.MaxFileBytes, po)
			}
		}()
	}
	var err error
feed:
	for i := range files {
		select {
		case next <- i:
		case <-ctx.Done():
			err = fmt.Errorf("certstore: reading pemdir:%s: %w", s.dir, ctx.Err())
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	return results, nil
}

// readAndParse reads one file (bounded by max bytes) and parses it.
func readAndParse(path string, max int64, po parseOptions) fileResult {
	data, p := readBounded(path, max)
	if p != nil {
		r := fileResult{source: path, problems: []Problem{*p}}
		if hasCertOrKeyExt(path) {
			if ext := strings.ToLower(filepath.Ext(path)); keyExts[ext] || pfxExts[ext] {
				r.opaque = []string{path + " (unreadable key file)"}
			}
		}
		return r
	}
	return parseFile(path, data, po)
}

// readBounded reads at most max bytes of a regular file; a larger file is
// a Problem and is not kept in memory.
func readBounded(path string, max int64) ([]byte, *Problem) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Problem{Source: path, Err: fmt.Errorf("certstore: cannot open: %w", err)}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &Problem{Source: path, Err: fmt.Errorf("certstore: cannot stat: %w", err)}
	}
	if !fi.Mode().IsRegular() {
		return nil, &Problem{Source: path, Err: fmt.Errorf("%w: not a regular file", ErrUnrecognized)}
	}
	if fi.Size() > max {
		p := problemf(path, ErrFileTooLarge, "%d bytes, limit %d; not read", fi.Size(), max)
		return nil, &p
	}
	var data []byte
	if n := fi.Size(); n > 0 {
		// One read for the common case; a file that shrank meanwhile is
		// reported, one that grew is read up to its stat size.
		data = make([]byte, n)
		_, err = io.ReadFull(f, data)
	} else {
		// Size unknown (pseudo files): read up to the cap.
		data, err = io.ReadAll(io.LimitReader(f, max+1))
	}
	if err != nil {
		return nil, &Problem{Source: path, Err: fmt.Errorf("certstore: read failed: %w", err)}
	}
	if int64(len(data)) > max { // grew while we were reading
		p := problemf(path, ErrFileTooLarge, "more than %d bytes; not read", max)
		return nil, &p
	}
	return data, nil
}
