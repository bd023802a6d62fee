// Package tempdir gives tests a temporary directory that also works when the
// test binary runs as a Windows program under Wine 8 (scripts/wine).
//
// On Linux and other systems New is exactly testing.TB.TempDir: nothing
// changes for those tests.
//
// On Windows, Go's os.RemoveAll deletes through
// NtSetInformationFile(FileDispositionInformationEx) with POSIX semantics
// and falls back to the older FileDispositionInformation only for the
// statuses Windows gives when the class is unsupported. Wine 8 answers
// STATUS_NOT_IMPLEMENTED instead ("unlinkat ...: Invalid function."), so
// t.TempDir's cleanup fails every test that wrote a file. New removes the
// directory with os.RemoveAll and, only for that exact error, again file by
// file with os.Remove (DeleteFileW / RemoveDirectoryW, which Wine
// implements). Any other failure, and any failure of the second pass (a file
// still open, for instance), fails the test as t.TempDir would: a leaked
// handle is a real bug on Windows.
package tempdir
