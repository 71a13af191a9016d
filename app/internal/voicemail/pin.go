package voicemail

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

var pinRe = regexp.MustCompile(`^[0-9]{4,10}$`)

func checkPIN(pin string) error {
	if !pinRe.MatchString(pin) {
		return fmt.Errorf("%w: PIN must be 4-10 digits", ErrInvalid)
	}
	return nil
}

// pinIterations keeps a login around a millisecond: PINs are short, so the lockout, not the
// hash cost, is what stops guessing; the hash only protects PINs if rows leak.
const pinIterations = 4096

func hashPIN(pin string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	key, err := pbkdf2.Key(sha256.New, pin, salt, pinIterations, 32)
	if err != nil {
		return "", fmt.Errorf("hash PIN: %w", err)
	}
	return fmt.Sprintf("pbkdf2-sha256$%d$%s$%s", pinIterations, hex.EncodeToString(salt), hex.EncodeToString(key)), nil
}

func verifyPIN(hash, pin string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2-sha256" {
		return false
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 {
		return false
	}
	salt, err1 := hex.DecodeString(parts[2])
	want, err2 := hex.DecodeString(parts[3])
	if err1 != nil || err2 != nil {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, pin, salt, iter, len(want))
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}
