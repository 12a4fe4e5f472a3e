package main

import (
	"io"
	"os"
)

// subcommands are chosen by the first argument; anything else is the
// proxy itself and its flags. Each gets the arguments after its name.
var subcommands = map[string]func(args []string, stdout, stderr io.Writer) int{
	"check":   check,
	"explain": explain,
	"hash-password": func(_ []string, stdout, stderr io.Writer) int {
		return hashPassword(os.Stdin, stdout, stderr)
	},
}

// runSubcommand runs the subcommand args[0] names, if any.
func runSubcommand(args []string, stdout, stderr io.Writer) (code int, ok bool) {
	if len(args) == 0 {
		return 0, false
	}
	cmd, ok := subcommands[args[0]]
	if !ok {
		return 0, false
	}
	return cmd(args[1:], stdout, stderr), true
}
