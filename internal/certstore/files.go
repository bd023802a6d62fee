package certstore

import (
	"context"
	"fmt"
	"strings"
)

// ReadFiles reads certificate and key files that are not (yet) in a store,
// such as a renewal's PFX, PEM bundle or keyless .cer, with the same parsers,
// limits and key matching as the pemdir backend. Keys are matched to
// certificates by public key across all the files. Contents.Location is
// "files:" followed by the paths.
func ReadFiles(ctx context.Context, paths []string, opts Options) (Contents, error) {
	opts = opts.WithDefaults()
	inv := Contents{Location: "files:" + strings.Join(paths, ","), ReadAt: opts.Now(), Examined: len(paths)}
	po := parseOptions{passwords: opts.PFXPasswords, maxIterations: opts.MaxPFXIterations}
	results := make([]fileResult, 0, len(paths))
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return Contents{}, fmt.Errorf("certstore: %w", err)
		}
		results = append(results, readAndParse(p, opts.MaxFileBytes, po))
	}
	inv.Certificates, inv.Problems = assemble(results)
	sortProblems(inv.Problems)
	return inv, nil
}

// Data is one file's name and contents, for ReadData.
type Data struct {
	Name  string
	Bytes []byte
}

// ReadData is ReadFiles on contents already in memory (an upload): the
// names are only sources and extension hints. Contents larger than
// opts.MaxFileBytes are a Problem, as for files.
func ReadData(ctx context.Context, files []Data, opts Options) (Contents, error) {
	opts = opts.WithDefaults()
	names := make([]string, 0, len(files))
	for _, f := range files {
		names = append(names, f.Name)
	}
	inv := Contents{Location: "files:" + strings.Join(names, ","), ReadAt: opts.Now(), Examined: len(files)}
	po := parseOptions{passwords: opts.PFXPasswords, maxIterations: opts.MaxPFXIterations}
	results := make([]fileResult, 0, len(files))
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return Contents{}, fmt.Errorf("certstore: %w", err)
		}
		if int64(len(f.Bytes)) > opts.MaxFileBytes {
			results = append(results, fileResult{source: f.Name, problems: []Problem{{Source: f.Name, Err: fmt.Errorf("certstore: larger than %d bytes", opts.MaxFileBytes)}}})
			continue
		}
		results = append(results, parseFile(f.Name, f.Bytes, po))
	}
	inv.Certificates, inv.Problems = assemble(results)
	sortProblems(inv.Problems)
	return inv, nil
}
