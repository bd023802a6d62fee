package eventlog_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	"github.com/mxprobe/mxprobe/internal/agent/eventlog"
	"github.com/mxprobe/mxprobe/internal/agent/eventlog/evtxtest"
)

// FuzzReadEVTX feeds arbitrary chunk contents (the bytes after the file
// header, padded to a chunk) to the EVTX reader: errors are fine, panics,
// hangs and unbounded results are not.
func FuzzReadEVTX(f *testing.F) {
	img := evtxtest.Bytes(sample())
	free := binary.LittleEndian.Uint32(img[4096+48:])
	f.Add(img[4096 : 4096+int(free)])
	f.Add(img[4096 : 4096+600])
	f.Add([]byte("ElfChnk\x00"))
	f.Fuzz(func(t *testing.T, chunk []byte) {
		if len(chunk) > 65536 {
			chunk = chunk[:65536]
		}
		file := append([]byte(nil), img[:4096]...)
		file = append(file, chunk...)
		file = append(file, make([]byte, 4096+65536-len(file))...)
		res, err := eventlog.ReadEVTX(context.Background(), bytes.NewReader(file), int64(len(file)), eventlog.Query{Max: 10})
		if err != nil {
			return
		}
		if len(res.Events) > 10 {
			t.Fatalf("%d events past Max", len(res.Events))
		}
		for _, e := range res.Events {
			if len(e.Data) > 64 {
				t.Fatalf("%d insertion strings", len(e.Data))
			}
		}
	})
}

func FuzzParseXML(f *testing.F) {
	f.Add([]byte(rendered12014))
	f.Add([]byte(rendered36888))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := eventlog.ParseXML(b)
		if err == nil && len(e.Data) > 64 {
			t.Fatalf("%d insertion strings", len(e.Data))
		}
	})
}
