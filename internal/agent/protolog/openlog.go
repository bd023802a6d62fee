package protolog

import (
	"os"

	"github.com/mxprobe/mxprobe/internal/sharedfile"
)

// openLog opens a protocol log for reading without getting in the way of
// Exchange: the transport service keeps the current log open for writing
// and its retention renames and deletes old ones while the agent may be
// reading them. On Windows the file is opened sharing read, write and
// delete (internal/sharedfile); Go's os.Open does not share delete, so a
// rename or delete of a file the agent is reading would fail with a
// sharing violation for as long as the read lasts. Elsewhere it is os.Open.
func openLog(path string) (*os.File, error) { return sharedfile.Open(path) }
