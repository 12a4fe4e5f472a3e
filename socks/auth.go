package socks

import (
	"fmt"
	"io"
)

// RFC 1929 username/password subnegotiation.
const (
	userPassVersion = 0x01
	userPassOK      = 0x00
	userPassFailed  = 0x01 // any non-zero status is a failure; the server then closes
)

// chooseMethod picks the SOCKS5 method (RFC 1928 §3) for what the client
// offers. A listener that requires auth takes only username/password.
// Elsewhere a client that offers username/password, when there are users,
// gets it, so its user rules apply (as HTTP credentials sent unasked are
// checked); otherwise no auth.
func chooseMethod(offered []byte, required, haveUsers bool) byte {
	switch {
	case (required || haveUsers) && hasMethod(offered, methodUserPass):
		return methodUserPass
	case !required && hasMethod(offered, methodNoAuth):
		return methodNoAuth
	}
	return methodNoAcceptable
}

// readUserPass reads VER ULEN UNAME PLEN PASSWD (RFC 1929 §2). Each field
// is at most 255 bytes by its length byte, so the read is bounded.
func readUserPass(r io.Reader) (user, pass string, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return "", "", err
	}
	if h[0] != userPassVersion {
		return "", "", fmt.Errorf("%w: username/password version %d", errMalformed, h[0])
	}
	if h[1] == 0 {
		return "", "", fmt.Errorf("%w: empty user name", errMalformed)
	}
	u := make([]byte, h[1])
	if _, err := io.ReadFull(r, u); err != nil {
		return "", "", err
	}
	var n [1]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return "", "", err
	}
	p := make([]byte, n[0])
	if _, err := io.ReadFull(r, p); err != nil {
		return "", "", err
	}
	return string(u), string(p), nil
}
