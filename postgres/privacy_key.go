package postgres

import "fmt"

// CheckPrivacyKey reports a privacy key shorter than MinPrivacyKeyBytes.
func CheckPrivacyKey(key []byte) error {
	if len(key) < MinPrivacyKeyBytes {
		return fmt.Errorf("the key has %d bytes, want at least %d (openssl rand -hex 32 makes one)", len(key), MinPrivacyKeyBytes)
	}
	return nil
}
