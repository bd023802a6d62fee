// Package sharedfile opens files for reading without getting in the way of
// the processes that write, rename and delete them.
//
// On Windows, Go's os.Open shares read and write but not delete: while the
// handle is open, renaming the file (also MoveFileEx over it, which is how
// os.Rename replaces a file) or deleting it fails with a sharing violation.
// Open shares read, write and delete, so a reader never blocks a writer's
// rotation, an atomic replace or a removal; the handle keeps reading the
// bytes of the file it opened, wherever it moved. Elsewhere Open is os.Open.
//
// Users: the protocol-log reader (Exchange renames and deletes old logs while
// the agent reads them) and the spool's readers (`agent status` reads the
// spool while the service replaces its meta file and deletes segments).
package sharedfile
