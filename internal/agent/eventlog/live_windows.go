//go:build windows

package eventlog

import (
	"context"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// wevtapi.dll, called directly: golang.org/x/sys/windows has no wrapper.
var (
	modwevtapi    = windows.NewLazySystemDLL("wevtapi.dll")
	procEvtQuery  = modwevtapi.NewProc("EvtQuery")
	procEvtNext   = modwevtapi.NewProc("EvtNext")
	procEvtRender = modwevtapi.NewProc("EvtRender")
	procEvtClose  = modwevtapi.NewProc("EvtClose")
)

const (
	evtQueryChannelPath         = 0x1
	evtQueryTolerateQueryErrors = 0x1000
	evtRenderEventXML           = 1
	evtNextBatch                = 32
	evtNextTimeoutMs            = 5000
	maxRenderBytes              = 4 * maxXMLBytes
)

func evtClose(h uintptr) {
	if h != 0 {
		_, _, _ = procEvtClose.Call(h)
	}
}

// lastErr turns a failed call's error into one that says what failed,
// including the case (Wine 8's stubs) where the call failed without
// setting an error code.
func lastErr(call string, err error) error {
	var errno windows.Errno
	if err == nil || (errors.As(err, &errno) && errno == 0) {
		return fmt.Errorf("%w: %s failed without an error code (a stub, as in Wine 8)", ErrUnavailable, call)
	}
	if errors.Is(err, windows.ERROR_CALL_NOT_IMPLEMENTED) || errors.Is(err, windows.ERROR_PROC_NOT_FOUND) || errors.Is(err, windows.ERROR_MOD_NOT_FOUND) {
		return fmt.Errorf("%w: %s: %v", ErrUnavailable, call, err)
	}
	return fmt.Errorf("eventlog: %s: %w", call, err)
}

func (Live) Read(ctx context.Context, q Query) (Result, error) {
	if err := modwevtapi.Load(); err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	query, err := windows.UTF16PtrFromString(StructuredQuery(q.Since))
	if err != nil {
		return Result{}, fmt.Errorf("eventlog: %w", err)
	}
	rs, _, callErr := procEvtQuery.Call(0, 0, uintptr(unsafe.Pointer(query)), evtQueryChannelPath|evtQueryTolerateQueryErrors)
	if rs == 0 {
		return Result{}, lastErr("EvtQuery", callErr)
	}
	defer evtClose(rs)
	c := collector{q: q}
	handles := make([]uintptr, evtNextBatch)
	buf := make([]uint16, 8192)
	for {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		var n uint32
		ok, _, callErr := procEvtNext.Call(rs, evtNextBatch, uintptr(unsafe.Pointer(&handles[0])), evtNextTimeoutMs, 0, uintptr(unsafe.Pointer(&n)))
		if ok == 0 {
			if errors.Is(callErr, windows.ERROR_NO_MORE_ITEMS) {
				return c.result(), nil
			}
			return Result{}, lastErr("EvtNext", callErr)
		}
		for _, h := range handles[:n] {
			var e Event
			e, buf, err = render(h, buf)
			evtClose(h)
			if err != nil {
				c.res.Scanned++
				c.res.Skipped++
				continue
			}
			c.add(e)
		}
	}
}

// render renders one event as XML and parses it; buf grows as needed.
func render(h uintptr, buf []uint16) (Event, []uint16, error) {
	for {
		var used, props uint32
		ok, _, callErr := procEvtRender.Call(0, h, evtRenderEventXML, uintptr(len(buf)*2), uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&used)), uintptr(unsafe.Pointer(&props)))
		if ok != 0 {
			e, err := ParseXML([]byte(windows.UTF16ToString(buf[:used/2])))
			return e, buf, err
		}
		if !errors.Is(callErr, windows.ERROR_INSUFFICIENT_BUFFER) || int(used) > maxRenderBytes {
			return Event{}, buf, lastErr("EvtRender", callErr)
		}
		buf = make([]uint16, used/2+1)
	}
}
