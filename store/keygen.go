package store

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"math/big"
	"time"
)

// KeyRandomLen is the number of random [A-Za-z0-9] characters after a key's mode
// prefix: 32 of them carry 190 bits.
const KeyRandomLen = 32

// KeyPrefixShown is how many leading characters of a key are kept for display.
const KeyPrefixShown = 12

const keyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// KeyModePrefix returns "mem_live_" or "mem_test_".
func KeyModePrefix(mode Mode) string { return "mem_" + string(mode) + "_" }

// GenerateKey returns a new secret key of the mode.
func GenerateKey(mode Mode) (string, error) {
	b := []byte(KeyModePrefix(mode))
	max := big.NewInt(int64(len(keyAlphabet)))
	for i := 0; i < KeyRandomLen; i++ {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", err
		}
		b = append(b, keyAlphabet[n.Int64()])
	}
	return string(b), nil
}

// HashKey is the keyed hash a key is stored and looked up under.
func (s *Store) HashKey(plain string) string {
	// Every authenticated request hashes its key: the keyed hashes are reused.
	mac, ok := s.keyMACs.Get().(hash.Hash)
	if ok {
		mac.Reset()
	} else {
		mac = hmac.New(sha256.New, s.keySecret)
	}
	defer s.keyMACs.Put(mac)
	mac.Write([]byte(plain))
	var hexSum [2 * sha256.Size]byte
	hex.Encode(hexSum[:], mac.Sum(nil))
	return string(hexSum[:])
}

// NewKey builds the stored form of a fresh key and returns it with the plaintext,
// which is shown once and never stored.
func (s *Store) NewKey(orgID, name string, scopes []string, mode Mode, expires *time.Time) (APIKey, string, error) {
	plain, err := GenerateKey(mode)
	if err != nil {
		return APIKey{}, "", err
	}
	return APIKey{
		ID:        NewID("key_"),
		OrgID:     orgID,
		Name:      name,
		Prefix:    plain[:KeyPrefixShown],
		Hash:      s.HashKey(plain),
		Scopes:    scopes,
		Mode:      mode,
		CreatedAt: s.now().UTC(),
		ExpiresAt: expires,
	}, plain, nil
}

// CreateOrgWithAdminKey creates an org and its first live admin key; the plaintext key
// is returned once.
func (s *Store) CreateOrgWithAdminKey(name, plan string) (Org, APIKey, string, error) {
	key, plain, err := s.NewKey("", "admin", []string{"admin"}, ModeLive, nil)
	if err != nil {
		return Org{}, APIKey{}, "", err
	}
	org, key, err := s.CreateOrg(name, plan, key)
	return org, key, plain, err
}
