package auth

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// ParseHtpasswd reads user:hash lines (blank lines and # comments are
// skipped). Only bcrypt hashes ($2a$, $2b$, $2y$, as htpasswd -B makes)
// are accepted: any other kind is an error naming the line and the kind,
// since MD5, SHA-1 and crypt(3) hashes are too cheap to brute-force.
func ParseHtpasswd(name string, r io.Reader) (map[string][]byte, error) {
	users := map[string][]byte{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("%s:%d: want user:hash", name, n)
		}
		if _, dup := users[user]; dup {
			return nil, fmt.Errorf("%s:%d: user %q listed twice", name, n, user)
		}
		if err := CheckHash(hash); err != nil {
			return nil, fmt.Errorf("%s:%d: user %q: %v", name, n, user, err)
		}
		users[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return users, nil
}

// CheckHash accepts a well-formed bcrypt hash and names the kind of any
// other, with how to make a bcrypt one.
func CheckHash(hash string) error {
	if strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$") {
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return fmt.Errorf("malformed bcrypt hash: %v", err)
		}
		return nil
	}
	return fmt.Errorf("password hash is %s; ferry accepts only bcrypt (make one with htpasswd -B, or ferry hash-password)", hashKind(hash))
}

func hashKind(h string) string {
	switch {
	case strings.HasPrefix(h, "$apr1$"):
		return "Apache MD5 ($apr1$)"
	case strings.HasPrefix(h, "{SHA}"):
		return "SHA-1 ({SHA})"
	case strings.HasPrefix(h, "$1$"):
		return "MD5-crypt ($1$)"
	case strings.HasPrefix(h, "$5$"), strings.HasPrefix(h, "$6$"):
		return "SHA-crypt (" + h[:3] + ")"
	case strings.HasPrefix(h, "$argon2"):
		return "Argon2"
	case h == "":
		return "empty"
	}
	return "crypt(3) or plain text"
}
