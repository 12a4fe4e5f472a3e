package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// subcommands are chosen by the first argument; anything else is the
// proxy itself and its flags. Each gets the arguments after its name.
var subcommands = map[string]func(args []string, stdout, stderr io.Writer) int{
	"check":         check,
	"explain":       explain,
	"hash-password": hashPasswordCmd, // hashpassword.go
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

// parseFlags parses args with fs, whose output is stderr, and wants
// exactly nargs arguments after the flags. When ok is false the command
// ends with code: exitOK after -h, exitUsage after a bad flag or a wrong
// number of arguments, the usage printed either way.
func parseFlags(fs *flag.FlagSet, args []string, nargs int) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	if fs.NArg() > nargs {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(nargs))
	}
	if fs.NArg() != nargs {
		fs.Usage()
		return exitUsage, false
	}
	return exitOK, true
}
