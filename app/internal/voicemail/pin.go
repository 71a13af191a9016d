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

// guessable reports why a PIN is among the first an attacker tries, or "" if it is not: one
// digit repeated (0000), a run up or down (1234, 9876), a repeated pair (1212), the keypad's
// middle column (2580, 0852), or the mailbox number's own digits. Studies of leaked PINs put
// these at the top of every list (NIST SP 800-63B asks to refuse such "commonly used" secrets).
func guessable(number, pin string) string {
	up, down, pair := true, true, len(pin)%2 == 0
	for i := 1; i < len(pin); i++ {
		if pin[i] != pin[i-1]+1 {
			up = false
		}
		if pin[i] != pin[i-1]-1 {
			down = false
		}
		if i >= 2 && pin[i] != pin[i-2] {
			pair = false
		}
	}
	digits := strings.TrimPrefix(number, "+")
	switch {
	case strings.Count(pin, pin[:1]) == len(pin):
		return "one digit repeated"
	case up || down:
		return "a run of digits"
	case pair:
		return "a repeated pair of digits"
	case pin == "2580" || pin == "0852":
		return "a keypad column"
	case strings.HasSuffix(digits, pin) || strings.HasSuffix(pin, digits):
		return "the mailbox number"
	}
	return ""
}

// checkPINPolicy refuses guessable PINs unless the service allows them.
func (s *Service) checkPINPolicy(number, pin string) error {
	if err := checkPIN(pin); err != nil {
		return err
	}
	if s.opt.AllowGuessablePINs {
		return nil
	}
	if why := guessable(number, pin); why != "" {
		return fmt.Errorf("%w: PIN is too easy to guess (%s)", ErrInvalid, why)
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
