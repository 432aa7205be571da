package api

import (
	"bytes"
	"strings"
	"testing"
	"testing/iotest"
)

// readAllSized reads what the body holds, whatever length was announced.
func TestReadAllSized(t *testing.T) {
	body := strings.Repeat("memoryd ", 300)
	for _, tc := range []struct {
		name string
		size int64
	}{
		{"unknown", -1}, {"exact", int64(len(body))}, {"announced short", 10}, {"announced long", int64(len(body)) + 100},
		{"zero", 0}, {"above the presize bound", presizeMax + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAllSized(iotest.OneByteReader(strings.NewReader(body)), tc.size)
			if err != nil || !bytes.Equal(got, []byte(body)) {
				t.Fatalf("one byte at a time: %d bytes, %v", len(got), err)
			}
			got, err = readAllSized(strings.NewReader(body), tc.size)
			if err != nil || !bytes.Equal(got, []byte(body)) {
				t.Fatalf("%d bytes, %v", len(got), err)
			}
		})
	}
	if _, err := readAllSized(iotest.ErrReader(iotest.ErrTimeout), 10); err != iotest.ErrTimeout {
		t.Fatalf("error %v, want %v", err, iotest.ErrTimeout)
	}
}
