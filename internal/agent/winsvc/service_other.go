//go:build !windows

package winsvc

import (
	"context"
	"io"
	"time"
)

// On other systems every service operation says where to go instead.

func install(InstallOptions, io.Writer) error                        { return ErrNotWindows }
func uninstall(io.Writer) error                                      { return ErrNotWindows }
func start(io.Writer) error                                          { return ErrNotWindows }
func stop(io.Writer, time.Duration) error                            { return ErrNotWindows }
func runService(context.Context, Runner, string, string, bool) error { return ErrNotWindows }
