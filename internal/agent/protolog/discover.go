package protolog

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// DefaultMaxDepth is how deep FindLogFiles descends below each root.
const DefaultMaxDepth = 8

// IsProtocolLogName reports whether path names an SMTP protocol log:
// SENDyyyymmdd-n.log / RECVyyyymmdd-n.log (any case), or any *.log inside
// a directory named SmtpSend or SmtpReceive.
func IsProtocolLogName(path string) bool {
	base := filepath.Base(path)
	if !strings.EqualFold(filepath.Ext(base), ".log") {
		return false
	}
	up := strings.ToUpper(base)
	if strings.HasPrefix(up, "SEND") || strings.HasPrefix(up, "RECV") {
		rest := strings.TrimSuffix(up[4:], ".LOG")
		date, n, ok := strings.Cut(rest, "-")
		if ok && len(date) == 8 && allDigits(date) && n != "" && allDigits(n) {
			return true
		}
	}
	for _, part := range strings.Split(filepath.ToSlash(filepath.Dir(path)), "/") {
		if strings.EqualFold(part, "SmtpSend") || strings.EqualFold(part, "SmtpReceive") {
			return true
		}
	}
	return false
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FindLogFiles walks each root (recursively, at most maxDepth levels below
// it; <= 0 means DefaultMaxDepth) and returns protocol log files in
// SortLogFiles order. Unreadable subdirectories are skipped; an unreadable
// root is an error. Symlinked directories are not followed.
func FindLogFiles(ctx context.Context, roots []string, maxDepth int) ([]string, error) {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	seen := map[string]bool{}
	var out []string
	for _, root := range roots {
		root = filepath.Clean(root)
		base := strings.Count(filepath.ToSlash(root), "/")
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			if err != nil {
				if p == root {
					return err
				}
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				if strings.Count(filepath.ToSlash(p), "/")-base >= maxDepth {
					return fs.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() && IsProtocolLogName(p) && !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return out, fmt.Errorf("scan protocol log dir %s: %w", root, err)
		}
	}
	SortLogFiles(out)
	return out, nil
}
