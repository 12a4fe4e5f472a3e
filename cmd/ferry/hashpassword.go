package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// hashPasswordCmd is ferry hash-password: no arguments, the password on
// stdin. One given as an argument is refused rather than ignored: the
// command would wait on stdin (or hash what comes there), and the
// password would stay in the shell's history and in ps.
func hashPasswordCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ferry hash-password", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: ferry hash-password < password\n\n"+
			"Reads a password (one line, 1 to 72 bytes) on standard input and prints its bcrypt\n"+
			"hash, for [[auth.user]] bcrypt or an htpasswd line. It takes no argument: a\n"+
			"password on the command line stays in the shell's history.\n")
	}
	if code, ok := parseFlags(fs, args, 0); !ok {
		return code
	}
	return hashPassword(os.Stdin, stdout, stderr)
}

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
