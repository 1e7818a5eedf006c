package technician

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/tillbox/tillbox/store/atomicfile"
)

// PasswordFile is the name of the file, in the data directory, that holds
// the technician password's hash (written by `tillbox passwd`, mode 0600).
const PasswordFile = "technician.passwd"

// MinPassword is the shortest password HashPassword accepts.
const MinPassword = 10

// The argon2id cost: 19 MiB, two passes, one lane (OWASP's minimum), which a
// Raspberry Pi computes in a fraction of a second.
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// ErrMismatch is what CheckPassword returns for a wrong password.
var ErrMismatch = errors.New("technician: wrong password")

var b64 = base64.RawStdEncoding

// HashPassword returns password's argon2id hash in crypt form
// ($argon2id$v=19$m=…,t=…,p=…$salt$hash) with a fresh random salt.
func HashPassword(password string) (string, error) {
	if len([]rune(password)) < MinPassword {
		return "", fmt.Errorf("technician: the password must have at least %d characters", MinPassword)
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// hash is a parsed crypt-form argon2id hash.
type hash struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// parseHash parses a hash made by HashPassword (any cost within bounds).
func parseHash(s string) (hash, error) {
	var h hash
	bad := errors.New("technician: not an argon2id hash in crypt form: make one with `tillbox passwd`")
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return h, bad
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return h, bad
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.memory, &h.time, &h.threads); err != nil {
		return h, bad
	}
	if h.memory < 8*1024 || h.memory > 1<<20 || h.time < 1 || h.time > 16 || h.threads < 1 {
		return h, bad
	}
	var err error
	if h.salt, err = b64.DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return h, bad
	}
	if h.key, err = b64.DecodeString(parts[5]); err != nil || len(h.key) < 16 || len(h.key) > 64 {
		return h, bad
	}
	return h, nil
}

// CheckPassword returns nil when password matches encoded, ErrMismatch when
// it does not, and another error when encoded is not a hash.
func CheckPassword(encoded, password string) error {
	h, err := parseHash(encoded)
	if err != nil {
		return err
	}
	key := argon2.IDKey([]byte(password), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	if subtle.ConstantTimeCompare(key, h.key) != 1 {
		return ErrMismatch
	}
	return nil
}

// WritePasswordFile writes hash to dir/PasswordFile with mode 0600,
// replacing the file atomically.
func WritePasswordFile(dir, hash string) error {
	if _, err := parseHash(hash); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, PasswordFile), []byte(hash+"\n"), 0o600); err != nil {
		return fmt.Errorf("technician: password file: %w", err)
	}
	return nil
}

// CodeFile is the name of the file in the data directory that holds the
// one-time sign-in code while no technician password is set: mode 0600,
// readable by the service's user and root only, so that only someone with
// the box in hand (its console, ssh as root) reads it.
const CodeFile = "first-boot-code"

// writeCodeFile writes code to path (mode 0600, atomically), or removes
// the file when code is "".
func writeCodeFile(path, code string) error {
	if code == "" {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	return atomicfile.WriteFile(path, []byte(code+"\n"), 0o600)
}

// ReadPasswordFile returns the hash in dir/PasswordFile, or "" when there is
// no such file. A file others may read is refused.
func ReadPasswordFile(dir string) (string, error) {
	path := filepath.Join(dir, PasswordFile)
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("technician: password file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("technician: %s is readable by others (mode %v): chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("technician: password file: %w", err)
	}
	h := string(bytes.TrimSpace(b))
	if _, err := parseHash(h); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return h, nil
}

// newCode returns a one-time sign-in code: ten random digits, shown in two
// groups of five.
func newCode() (string, error) {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	var s strings.Builder
	for i, c := range b {
		if i == 5 {
			s.WriteByte('-')
		}
		s.WriteByte('0' + c%10) // 256 = 25·10 + 6: a negligible bias
	}
	return s.String(), nil
}

// sameCode compares a typed code with the code, ignoring spaces and dashes,
// in constant time.
func sameCode(typed, code string) bool {
	clean := func(s string) []byte {
		return []byte(strings.Map(func(r rune) rune {
			if r == ' ' || r == '-' {
				return -1
			}
			return r
		}, s))
	}
	return subtle.ConstantTimeCompare(clean(typed), clean(code)) == 1
}
