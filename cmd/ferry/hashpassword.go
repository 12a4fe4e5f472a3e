package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// hashPassword reads a password (one line) and prints its bcrypt hash,
// for [[auth.user]] bcrypt or an htpasswd line.
func hashPassword(stdin io.Reader, stdout, stderr io.Writer) int {
	line, err := bufio.NewReaderSize(stdin, 1024).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintf(stderr, "ferry hash-password: %v\n", err)
		return exitFailed
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" || len(pw) > 72 {
		fmt.Fprintln(stderr, "ferry hash-password: give the password (1 to 72 bytes) on standard input, one line")
		return exitUsage
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		fmt.Fprintf(stderr, "ferry hash-password: %v\n", err)
		return exitFailed
	}
	fmt.Fprintln(stdout, string(h))
	return exitOK
}
