package store

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"sync"
	"time"
)

// idAlphabet is Crockford's base32 in lower case: ids sort as their bytes do.
const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

var (
	idMu   sync.Mutex
	lastMs uint64
	lastRn [10]byte
)

// NewID returns prefix + 26 characters: 48 bits of milliseconds then 80 random bits,
// monotonic within a process, so ids sort by creation time (ULID's layout).
func NewID(prefix string) string {
	ms := uint64(time.Now().UnixMilli())
	idMu.Lock()
	var rnd [10]byte
	if ms <= lastMs {
		ms = lastMs
		rnd = lastRn
		for i := len(rnd) - 1; i >= 0; i-- {
			rnd[i]++
			if rnd[i] != 0 {
				break
			}
		}
	} else {
		_, _ = rand.Read(rnd[:])
	}
	lastMs, lastRn = ms, rnd
	idMu.Unlock()

	var raw [16]byte
	binary.BigEndian.PutUint64(raw[:8], ms<<16)
	copy(raw[6:], rnd[:])
	return prefix + encodeID(raw)
}

// encodeID writes 128 bits as 26 base32 digits.
func encodeID(raw [16]byte) string {
	var sb strings.Builder
	sb.Grow(26)
	// 128 bits as 26 base32 digits; the first digit holds the top 3 bits.
	var acc uint64
	bits := 0
	sb.WriteByte(idAlphabet[raw[0]>>5])
	acc = uint64(raw[0] & 0x1f)
	bits = 5
	for _, b := range raw[1:] {
		acc = acc<<8 | uint64(b)
		bits += 8
		for bits >= 5 {
			bits -= 5
			sb.WriteByte(idAlphabet[(acc>>bits)&0x1f])
		}
	}
	return sb.String()
}

// NewIDAt returns the smallest id of the prefix for time t: every id made at or after t
// sorts at or after it.
func NewIDAt(prefix string, t time.Time) string {
	var raw [16]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(t.UnixMilli())<<16)
	return prefix + encodeID(raw)
}

// ValidID reports whether s is prefix followed by 26 id characters.
func ValidID(s, prefix string) bool {
	if !strings.HasPrefix(s, prefix) || len(s) != len(prefix)+26 {
		return false
	}
	for i := len(prefix); i < len(s); i++ {
		if strings.IndexByte(idAlphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}
